"""IPv6 on user-defined bridge networks: dual-stack containers, AAAA names, isolation, bad input.

Each worker's IPv6 subnets are fd00:<its index>:<k>::/64 (the tests' own, nobody else's).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess

import pytest

from minidock.engine.config import parse_args
from minidock.errors import InvalidArgument
from tests.harness.engine import spare_network_flags, stop_daemon, wait_for_ping
from tests.networking.conftest import API, run_in
from tests.networking.test_cleanup import _daemon, only_minidock  # noqa: F401 - a fixture


def subnet6(networks, k: int) -> str:
    return f"fd00:{networks.index}:{k}::/64"


def dual_stack(networks, stem: str, k: int) -> tuple[str, str]:
    return networks.create(stem, EnableIPv6=True,
                           IPAM={"Config": [{"Subnet": networks.subnet(k)}, {"Subnet": subnet6(networks, k)}]})


def started(containers, network: str, *cmd: str, name: str | None = None, **endpoint) -> tuple[str, dict]:
    container_id = containers.create(*(cmd or ("sleep", "60")), name=name, HostConfig={"NetworkMode": network},
                                     NetworkingConfig={"EndpointsConfig": {network: endpoint}})
    containers.start(container_id)
    return container_id, containers.inspect(container_id)["NetworkSettings"]["Networks"][network]


@pytest.mark.spec("NET-080")
def test_network_create_ipv6_keeps_both_subnets(engine, networks):
    name = networks.name("v6cli")
    engine.cli("network", "create", "--ipv6", "--subnet", networks.subnet(4), "--subnet", subnet6(networks, 4),
               name)
    record = networks.inspect(name)
    assert record["EnableIPv6"] is True
    configs = {c["Subnet"]: c.get("Gateway") for c in record["IPAM"]["Config"]}
    assert set(configs) == {networks.subnet(4), subnet6(networks, 4)}
    gateway = configs[subnet6(networks, 4)]
    assert gateway in (None, "", f"fd00:{networks.index}:4::1")  # dockerd 20.10 leaves it out of inspect


@pytest.mark.spec("NET-081")
def test_a_container_is_dual_stack(networks, containers):
    network, _ = dual_stack(networks, "v6run", 5)
    subnet = ipaddress.IPv6Network(subnet6(networks, 5))
    name = f"mdn-six-{secrets.token_hex(3)}"
    server, entry = started(containers, network, "nc", "-l", "-p", "80", "-e", "echo", "over-six", name=name)
    address = ipaddress.IPv6Address(entry["GlobalIPv6Address"])
    assert address in subnet and entry["GlobalIPv6PrefixLen"] == 64
    assert entry["IPv6Gateway"] == str(subnet.network_address + 1)
    assert entry["IPAddress"]  # and its IPv4 address, as before
    members = networks.inspect(network)["Containers"]
    assert members[server]["IPv6Address"] == f"{address}/64"
    code, out = run_in(containers, "sh", "-c", f"ip -6 addr show eth0; ip -6 route; cat /etc/hosts; "
                       f"nc -w 5 {address} 80 < /dev/null", HostConfig={"NetworkMode": network})
    assert code == 0, out
    assert f"default via {subnet.network_address + 1}" in out
    assert "over-six" in out
    hosts = [line.split() for line in out.splitlines() if line.startswith(str(subnet.network_address)[:-1])]
    assert any(len(words) == 2 and ipaddress.ip_address(words[0]) in subnet for words in hosts), out


@pytest.mark.spec("NET-081")
def test_ip6_gives_the_container_that_address(networks, containers):
    network, _ = dual_stack(networks, "v6ip", 6)
    wanted = f"fd00:{networks.index}:6::66"
    _, entry = started(containers, network, IPAMConfig={"IPv6Address": wanted})
    assert entry["GlobalIPv6Address"] == wanted
    # taken now: a second container asking for it is refused
    second = containers.create("true", HostConfig={"NetworkMode": network},
                               NetworkingConfig={"EndpointsConfig": {network: {"IPAMConfig": {"IPv6Address": wanted}}}})
    status, _, raw = containers.engine.api("POST", f"{API}/containers/{second}/start")
    assert status >= 400 and b"in use" in raw.lower(), raw


@pytest.mark.spec("NET-082")
def test_names_answer_aaaa_on_an_ipv6_network(networks, containers):
    network, _ = dual_stack(networks, "v6dns", 7)
    name = f"mdn-aaaa-{secrets.token_hex(3)}"
    _, entry = started(containers, network, name=name, Aliases=["six-alias"])
    for wanted in (name, "six-alias"):
        code, out = run_in(containers, "nslookup", "-type=AAAA", wanted, HostConfig={"NetworkMode": network})
        assert code == 0 and f"Address: {entry['GlobalIPv6Address']}" in out, (wanted, out)


@pytest.mark.spec("NET-084")
def test_ipv6_networks_are_isolated(engine, networks, containers):
    if engine.kind != "minidock":
        pytest.skip("the comparison dockerd runs with --ip6tables=false: it does not isolate")
    first, first_id = dual_stack(networks, "v6a", 8)
    second, second_id = dual_stack(networks, "v6b", 9)
    _, entry = started(containers, first, "nc", "-l", "-p", "80", "-e", "echo", "reached")
    target = entry["GlobalIPv6Address"]
    code, out = run_in(containers, "sh", "-c", f"nc -w 2 {target} 80 < /dev/null",
                       HostConfig={"NetworkMode": second})
    assert "reached" not in out
    if engine.kind == "minidock":
        rules = subprocess.run(["ip6tables-save", "-t", "filter"], capture_output=True, text=True).stdout
        for network_id in (first_id, second_id):
            assert f"-o br-{network_id[:12]} -j DROP" in rules  # as the IPv4 half: no other bridge reaches it


@pytest.mark.spec("NET-083")
@pytest.mark.parametrize("body, status, words", [
    ({"EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:1::zz/64"}]}}, 400, "invalid cidr address"),
    ({"IPAM": {"Config": [{"Subnet": "fd00:{index}:3::/64"}]}}, 400, "ipv6"),
    ({"EnableIPv6": True}, 400, "non-overlapping ipv6 address pool"),
    ({"EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:{index}:3::/64", "Gateway": "fd00:9::1"}]}},
     403, "no matching subnet for gateway"),
])
def test_bad_ipv6_networks_are_refused(engine, networks, body, status, words):
    if engine.kind != "minidock" and "EnableIPv6" not in body:
        pytest.skip("dockerd 20.10 accepts an IPv6 subnet without --ipv6 (and gives no container an address of it)")
    name = networks.name("v6bad")
    raw_body = json.loads(json.dumps(body).replace("{index}", str(networks.index)))
    answer, _, raw = engine.api("POST", f"{API}/networks/create", {"Name": name, **raw_body})
    if engine.kind == "minidock":
        assert answer == status and words in raw.decode().lower(), raw
    else:
        assert answer >= 400, raw
    assert engine.api("GET", f"{API}/networks/{name}")[0] == 404  # nothing made


@pytest.mark.spec("NET-083")
def test_overlapping_ipv6_subnets_and_bad_ip6_are_refused(engine, networks, containers):
    network, _ = dual_stack(networks, "v6one", 2)
    name = networks.name("v6two")
    status, _, raw = engine.api("POST", f"{API}/networks/create", {
        "Name": name, "EnableIPv6": True,
        "IPAM": {"Config": [{"Subnet": networks.subnet(3)}, {"Subnet": f"fd00:{networks.index}:2::/80"}]}})
    assert status == 403 and b"overlaps" in raw, raw
    only_four, _ = networks.create("v4only", subnet=networks.subnet(3))
    for target, address in ((network, "fd00:99::5"), (only_four, f"fd00:{networks.index}:2::5")):
        status, _, raw = engine.api("POST", f"{API}/containers/create", {
            "Image": containers.image, "Cmd": ["true"], "HostConfig": {"NetworkMode": target},
            "NetworkingConfig": {"EndpointsConfig": {target: {"IPAMConfig": {"IPv6Address": address}}}}})
        if status == 201:  # dockerd refuses these when the container starts
            container_id = json.loads(raw)["Id"]
            containers.made.append(container_id)
            status, _, raw = engine.api("POST", f"{API}/containers/{container_id}/start")
        assert status >= 400, raw


@pytest.mark.spec("NET-085")
def test_the_default_bridge_takes_fixed_cidr_v6(only_minidock, tmp_path):
    flags = spare_network_flags()
    subnet = ipaddress.IPv6Network(f"fd00:{0x2000 + int(flags[1][3:]):x}::/64")
    engine, process = _daemon(tmp_path / "d", [*flags, "--ipv6", "--fixed-cidr-v6", str(subnet)])
    try:
        wait_for_ping(engine, process)
        engine.cli("image", "bootstrap", "busybox", timeout=120)
        bridge = json.loads(engine.api("GET", f"{API}/networks/bridge")[2])
        assert bridge["EnableIPv6"] is True and str(subnet) in {c["Subnet"] for c in bridge["IPAM"]["Config"]}
        container_id = engine.cli("run", "-d", "busybox", "sleep", "60").stdout.strip()
        settings = json.loads(engine.api("GET", f"{API}/containers/{container_id}/json")[2])["NetworkSettings"]
        assert ipaddress.IPv6Address(settings["GlobalIPv6Address"]) in subnet  # at the top level, as Docker shows it
        assert settings["IPv6Gateway"] == str(subnet.network_address + 1) and settings["GlobalIPv6PrefixLen"] == 64
        reached = engine.cli("exec", container_id, "ping", "-c", "1", "-W", "2", settings["IPv6Gateway"], check=False)
        assert reached.returncode == 0, reached.stdout
        engine.cli("rm", "-f", container_id)
    finally:
        stop_daemon(process)


@pytest.mark.spec("NET-085")
def test_ipv6_flags_of_the_daemon_go_together():
    for argv, words in ((["--ipv6"], "go together"), (["--fixed-cidr-v6", "fd00:1::/64"], "go together"),
                        (["--ipv6", "--fixed-cidr-v6", "fd00:1::zz/64"], "invalid CIDR address")):
        with pytest.raises(InvalidArgument, match=words):
            parse_args(argv)
    assert parse_args(["--ipv6", "--fixed-cidr-v6", "fd00:1::/64"]).fixed_cidr_v6 == "fd00:1::/64"


@pytest.mark.spec("NET-081", "NET-083")
def test_connect_with_ip6(engine, networks, containers):
    network, _ = dual_stack(networks, "v6con", 3)
    only_four, _ = networks.create("v6con4", subnet=networks.subnet(4))
    container_id = containers.create("sleep", "60")
    wanted = f"fd00:{networks.index}:3::33"
    status, _, raw = engine.api("POST", f"{API}/networks/{network}/connect",
                                {"Container": container_id, "EndpointConfig": {"IPAMConfig": {"IPv6Address": wanted}}})
    assert status == 200, raw
    status, _, raw = engine.api("POST", f"{API}/networks/{only_four}/connect",
                                {"Container": container_id, "EndpointConfig": {"IPAMConfig": {"IPv6Address": wanted}}})
    assert status >= 400, raw  # dockerd refuses it when the container starts
    if status < 400:
        return
    containers.start(container_id)
    entry = containers.inspect(container_id)["NetworkSettings"]["Networks"][network]
    assert entry["GlobalIPv6Address"] == wanted


@pytest.mark.spec("NET-083")
def test_an_overlay_refuses_ipv6(engine, networks):
    if engine.kind != "minidock":
        pytest.skip("dockerd needs a swarm for an overlay")
    name = networks.name("v6ovl")
    status, _, raw = engine.api("POST", f"{API}/networks/create", {
        "Name": name, "Driver": "overlay", "EnableIPv6": True,
        "IPAM": {"Config": [{"Subnet": networks.subnet(5)}, {"Subnet": f"fd00:{networks.index}:5::/64"}]}})
    assert status == 400 and b"bridge networks only" in raw, raw


@pytest.mark.spec("NET-086")
def test_a_published_port_answers_on_the_hosts_ipv6_loopback(engine, networks, containers):
    if engine.kind != "minidock":
        pytest.skip("the comparison dockerd runs with --ip6tables=false and no IPv6 proxy rules")
    from tests.networking.test_port_ranges import base
    from tests.networking.test_ports import HTTPD, _get

    network, _ = dual_stack(networks, "v6pub", 1)
    port = base(engine) + 9
    container_id = containers.create(*HTTPD, ExposedPorts={"80/tcp": {}},
                                     HostConfig={"NetworkMode": network, "PortBindings": {"80/tcp": [{"HostPort": str(port)}]}})
    containers.start(container_id)
    assert b"hello" in _get("::1", port, attempts=50)
    assert b"hello" in _get("127.0.0.1", port)
    bindings = containers.inspect(container_id)["NetworkSettings"]["Ports"]["80/tcp"]
    assert bindings == [{"HostIp": "0.0.0.0", "HostPort": str(port)}, {"HostIp": "::", "HostPort": str(port)}]
    assert f"80/tcp -> :::{port}" in engine.cli("port", container_id).stdout
