"""The swarm's pure helpers: service specs checked, addresses shared out, secrets' wrapper, log lines framed."""

from __future__ import annotations

import asyncio
import io

import pytest

from minidock.errors import Forbidden, InvalidArgument
from minidock.swarm.agent import container_config, container_name, has_healthcheck
from minidock.swarm.logs import frame, frames, read_frames, split, with_details
from minidock.swarm.networks import (NETWORK_LABEL, TASKS, VIPS, VNI_OPTION, attachments, create_network,
                                     free_address, in_the_way, remove_network, used_addresses)
from minidock.swarm.objects import check_service_spec, join_token, seconds_of, timestamp, view
from minidock.swarm.secrets import TaskFile, plan_files, with_files, wrapper
from minidock.swarm.store import Entry

BUSYBOX = {"TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}


@pytest.mark.spec("SWARM-027")
def test_a_service_spec_gets_dockers_defaults():
    spec = check_service_spec({"Name": "web", **BUSYBOX})
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["UpdateConfig"]["Order"] == "stop-first" and spec["UpdateConfig"]["FailureAction"] == "pause"
    assert spec["TaskTemplate"]["RestartPolicy"] == {"Condition": "any", "Delay": 5 * 10**9, "MaxAttempts": 0}
    assert len(check_service_spec(BUSYBOX)["Name"]) == 12  # a name made up when none is given


@pytest.mark.spec("SWARM-027")
@pytest.mark.parametrize("spec, words", [
    ({"Name": "web", "TaskTemplate": {}}, "image reference must be provided"),
    ({"Name": "we b", **BUSYBOX}, "name must be valid as a DNS name component"),
    ({"Name": "web", "Mode": {"Sometimes": {}}, **BUSYBOX}, "invalid mode"),
    ({"Name": "web", "Mode": {"Replicated": {"Replicas": "3"}}, **BUSYBOX}, "invalid replicas value"),
    ({"Name": "web", "Mode": {"Replicated": {"Replicas": -1}}, **BUSYBOX}, "invalid replicas value"),
    ({"Name": "web", "UpdateConfig": {"Order": "random"}, **BUSYBOX}, "invalid UpdateConfig order"),
    ({"Name": "web", "UpdateConfig": {"FailureAction": "panic"}, **BUSYBOX}, "failure action"),
    ({"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"},
                                      "Placement": {"Constraints": ["zone"]}}}, "invalid constraint"),
    ({"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"},
                                      "RestartPolicy": {"Condition": "always"}}}, "invalid restart condition"),
])
def test_a_bad_service_spec_is_refused_in_dockers_words(spec, words):
    with pytest.raises(InvalidArgument, match=words):
        check_service_spec(spec)


@pytest.mark.spec("SWARM-024")
def test_ids_tokens_times_and_views():
    token = join_token("worker", "c" * 50)
    assert token.startswith("SWMTKN-1-" + "c" * 50 + "-") and len(token.split("-")[3]) == 25
    stamp = timestamp(1700000000.25)
    assert stamp == "2023-11-14T22:13:20.250000000Z" and seconds_of(stamp) == 1700000000.25
    assert view({"ID": "x", "_spec_version": 3}) == {"ID": "x"}


class InterleavedStore:
    """A fake of the store's get / prefix / create / delete that yields at each call, as a
    round trip to etcd does, so that two coroutines' reads and writes interleave."""

    def __init__(self) -> None:
        self.keys: dict[str, dict] = {}

    async def get(self, key: str) -> Entry | None:
        await asyncio.sleep(0)
        return Entry(key, self.keys[key], 1) if key in self.keys else None

    async def prefix(self, key: str) -> list[Entry]:
        await asyncio.sleep(0)
        return [Entry(k, v, 1) for k, v in sorted(self.keys.items()) if k.startswith(key)]

    async def create(self, key: str, value: dict) -> bool:
        await asyncio.sleep(0)
        return self.keys.setdefault(key, value) is value

    async def delete(self, key: str) -> None:
        await asyncio.sleep(0)
        self.keys.pop(key, None)


@pytest.mark.spec("SWARM-054")
def test_two_networks_made_at_once_claim_different_indexes():
    store = InterleavedStore()

    async def scenario() -> list[dict]:
        await asyncio.gather(*(create_network(store, {"Name": name}) for name in ("red", "blue", "green")))
        await remove_network(store, "blue", [])  # its index is free again: the next network takes it
        await create_network(store, {"Name": "violet"})
        return [store.keys[f"networks/{name}"] for name in ("red", "green", "violet")]

    records = asyncio.run(scenario())
    assert sorted(r["VNI"] for r in records) == [4097, 4098, 4099]
    assert len({r["Subnet"] for r in records}) == 3
    assert sorted(k for k in store.keys if k.startswith("network-indexes/")) == [
        "network-indexes/1", "network-indexes/2", "network-indexes/3"]


@pytest.mark.spec("SWARM-055")
def test_a_network_with_a_live_nodes_standalone_claim_is_not_removed():
    store = InterleavedStore()
    claim = {"ID": "t" * 25, "Network": "app", "Address": "10.0.1.199", "NodeID": "n1", "MAC": "", "Created": 0}

    async def scenario() -> None:
        network_id = (await create_network(store, {"Name": "app", "Attachable": True}))["Id"]
        store.keys.update({"attachments/app/10.0.1.199": claim, "alive/n1": {}})
        with pytest.raises(Forbidden, match=f"network {network_id} is in use by task {'t' * 25}$"):
            await remove_network(store, "app", [])
        assert "networks/app" in store.keys
        del store.keys["alive/n1"]  # its node is dead: the claim holds nothing
        await remove_network(store, "app", [])
        assert "networks/app" not in store.keys

    asyncio.run(scenario())

@pytest.mark.spec("SWARM-004")
def test_addresses_come_from_their_own_ranges():
    assert free_address("10.0.1.0/24", set(), *TASKS) == "10.0.1.2"
    assert free_address("10.0.1.0/24", {"10.0.1.2", "10.0.1.3"}, *TASKS) == "10.0.1.4"
    assert free_address("10.0.1.0/24", set(), *VIPS) == "10.0.1.220"
    network = {"ID": "n1", "Name": "appnet", "Subnet": "10.0.1.0/24"}
    service = {"Endpoint": {"VirtualIPs": [{"NetworkID": "n1", "Addr": "10.0.1.220/24"}]}}
    used = used_addresses([{"NetworksAttachments": [{"Network": {"ID": "n1", "Spec": {"Name": "appnet"}},
                                                     "Addresses": ["10.0.1.2/24"]}]}])
    first = attachments(service, {"appnet": network}, used)
    second = attachments(service, {"appnet": network}, used)  # the same pass: the first one's address is taken
    assert [a["Addresses"] for a in first + second] == [["10.0.1.3/24"], ["10.0.1.4/24"]]


@pytest.mark.spec("SWARM-053")
def test_a_removed_networks_copy_in_the_way_of_a_new_one_is_stale():
    new = {"ID": "new", "Name": "second", "Subnet": "10.0.1.0/24", "VNI": 4097}

    def copy(name: str, cluster_id: str, subnet: str, vni: int) -> dict:
        return {"Id": f"engine-{name}", "Name": name, "Labels": {NETWORK_LABEL: cluster_id} if cluster_id else {},
                "Options": {VNI_OPTION: str(vni)}, "IPAM": {"Config": [{"Subnet": subnet}]}}

    copies = [copy("first", "gone", "10.30.0.0/24", 4097),      # the same VNI
              copy("second", "gone2", "10.31.0.0/24", 4098),    # the same name
              copy("wide", "gone3", "10.0.0.0/16", 4099),       # an overlapping subnet
              copy("apart", "gone4", "10.32.0.0/24", 4100),     # removed, but in nobody's way
              copy("live", "kept", "10.0.1.0/24", 4097),        # a live network's copy is never stale
              copy("local", "", "10.0.1.0/24", 4097)]           # nor the engine's own network
    assert [c["Name"] for c in in_the_way(new, copies, {"new", "kept"})] == ["first", "second", "wide"]
    assert in_the_way(new, [], {"new"}) == []


@pytest.mark.spec("SWARM-028")
def test_a_task_with_secrets_waits_for_them_on_a_tmpfs():
    config = {"Image": "busybox", "Cmd": ["sleep", "9"], "HostConfig": {"Memory": 0}}
    secret = [TaskFile("/run/secrets/pw", b"x")]
    wrapped = with_files(dict(config), {"Entrypoint": None, "Cmd": ["sh"]}, secret)
    assert wrapped["Entrypoint"] == wrapper("/run/secrets/.minidock-ready") and wrapped["Cmd"] == ["sleep", "9"]
    assert wrapped["HostConfig"]["Tmpfs"] == {"/run/secrets": "mode=0755,size=1m"}
    image_only = with_files({"Image": "busybox", "HostConfig": {}}, {"Entrypoint": ["/init"], "Cmd": ["-v"]}, secret)
    assert image_only["Cmd"] == ["/init", "-v"]
    own = with_files({"Image": "busybox", "Entrypoint": ["top"], "HostConfig": {}}, {"Cmd": ["sh"]}, secret)
    assert own["Cmd"] == ["top"]  # a new entrypoint drops the image's Cmd, as in Docker


@pytest.mark.spec("SWARM-041", "SWARM-028")
def test_a_configs_data_goes_on_a_tmpfs_and_its_target_links_there():
    spec = {"Secrets": [{"SecretID": "s1", "SecretName": "pw", "File": {"Name": "pw", "UID": "0", "GID": "0",
                                                                          "Mode": 0o400}}],
            "Configs": [{"ConfigID": "c1", "ConfigName": "app", "File": {"Name": "app", "UID": "0", "GID": "0",
                                                                           "Mode": 0o444}},
                        {"ConfigID": "c1", "ConfigName": "app", "File": {"Name": "/etc/app/app.conf", "UID": "1000",
                                                                           "GID": "100", "Mode": 0o440}}]}
    files = plan_files(spec, {"s1": b"secret", "c1": b"port=80\n"})
    assert files == [TaskFile("/run/secrets/pw", b"secret", mode=0o400),
                     TaskFile("/run/configs/0-app", b"port=80\n", link="/app"),  # Docker's default target: /NAME
                     TaskFile("/run/configs/1-app", b"port=80\n", "1000", "100", 0o440, link="/etc/app/app.conf")]
    only_configs = with_files({"Image": "busybox", "HostConfig": {}}, {"Cmd": ["sh"]}, files[1:])
    assert only_configs["HostConfig"]["Tmpfs"] == {"/run/configs": "mode=0755,size=1m"}
    assert only_configs["Entrypoint"] == wrapper("/run/configs/.minidock-ready")
    both = with_files({"Image": "busybox", "HostConfig": {}}, {"Cmd": ["sh"]}, files)
    assert list(both["HostConfig"]["Tmpfs"]) == ["/run/secrets", "/run/configs"]


@pytest.mark.spec("SWARM-030")
def test_log_lines_are_framed_again_with_their_details():
    raw = frame(1, b"one\ntwo\n") + frame(2, b"oops\n")
    assert frames(raw) == [(1, b"one\ntwo\n"), (2, b"oops\n")]
    again = with_details(raw, "com.docker.swarm.task.id=t1")
    assert frames(again) == [(1, b"com.docker.swarm.task.id=t1 one\n"), (1, b"com.docker.swarm.task.id=t1 two\n"),
                             (2, b"com.docker.swarm.task.id=t1 oops\n")]
    assert frames(with_details(raw, "")) == [(1, b"one\n"), (1, b"two\n"), (2, b"oops\n")]


@pytest.mark.spec("SWARM-002")
def test_a_task_becomes_a_container_with_dockers_name_labels_limits_and_mounts():
    task = {"ID": "t1", "ServiceID": "s1", "NodeID": "n1", "Slot": 3, "_service_name": "web",
            "_ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}],
            "Spec": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "9"], "Env": ["A=1"],
                                       "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data"}]},
                     "Resources": {"Limits": {"MemoryBytes": 64 << 20, "NanoCPUs": 500_000_000}}}}
    config = container_config(task)
    assert container_name(task) == "web.3.t1"
    assert config["Cmd"] == ["sleep", "9"] and "Entrypoint" not in config and config["Env"] == ["A=1"]
    assert config["Labels"]["com.docker.swarm.task.id"] == "t1" and config["Labels"]["com.docker.swarm.node.id"] == "n1"
    host = config["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["RestartPolicy"]) == (64 << 20, 500_000_000, {"Name": "no"})
    assert host["Mounts"] == [{"Type": "volume", "Source": "data", "Target": "/data"}]
    assert host["PortBindings"] == {"80/tcp": [{"HostPort": "8080"}]}


@pytest.mark.spec("SWARM-050")
def test_a_followed_log_is_cut_into_frames_as_they_come():
    raw = frame(1, b"one\n") + frame(2, b"two\n")
    assert split(raw[:5]) == ([], raw[:5])  # not even a header yet
    assert split(raw[:14]) == ([(1, b"one\n")], raw[12:14])
    assert split(raw) == ([(1, b"one\n"), (2, b"two\n")], b"")
    assert list(read_frames(io.BytesIO(raw))) == [(1, b"one\n"), (2, b"two\n")]


@pytest.mark.spec("SWARM-051")
def test_a_tasks_health_check_goes_to_its_container():
    check = {"Test": ["CMD-SHELL", "test -e /ok"], "Interval": 2 * 10**9, "Retries": 1}
    task = {"ID": "t1", "ServiceID": "s1", "NodeID": "n1", "Slot": 1, "_service_name": "web",
            "Spec": {"ContainerSpec": {"Image": "busybox", "Healthcheck": check}}}
    assert container_config(task)["Healthcheck"] == check and has_healthcheck(container_config(task))
    assert not has_healthcheck({"Healthcheck": {"Test": ["NONE"]}}) and not has_healthcheck({})
