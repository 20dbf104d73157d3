"""Names on user-defined networks: container names, aliases, short IDs; gone with the container."""

from __future__ import annotations

import secrets

import pytest

from tests.networking.conftest import run_in


def _lookup(containers, network: str, name: str) -> tuple[int, str]:
    return run_in(containers, "nslookup", name, HostConfig={"NetworkMode": network})


@pytest.mark.spec("NET-004")
def test_names_aliases_and_short_ids_resolve(networks, containers):
    network, _ = networks.create(subnet=networks.subnet(0))
    name = f"mdn-web-{secrets.token_hex(3)}"
    server = containers.create("sleep", "60", name=name, HostConfig={"NetworkMode": network},
                               NetworkingConfig={"EndpointsConfig": {network: {"Aliases": ["db-alias"]}}})
    containers.start(server)
    address = containers.inspect(server)["NetworkSettings"]["Networks"][network]["IPAddress"]
    for wanted in (name, "db-alias", server[:12]):
        code, out = _lookup(containers, network, wanted)
        assert code == 0 and f"Address: {address}" in out, (wanted, out)


@pytest.mark.spec("NET-060")
def test_names_go_when_the_container_stops(engine, networks, containers):
    network, _ = networks.create(subnet=networks.subnet(1))
    name = f"mdn-gone-{secrets.token_hex(3)}"
    server = containers.create("sleep", "60", name=name, HostConfig={"NetworkMode": network})
    containers.start(server)
    assert _lookup(containers, network, name)[0] == 0
    engine.api("POST", f"/v1.41/containers/{server}/kill")
    containers.wait(server)
    code, out = _lookup(containers, network, name)
    assert code != 0 and "Address: 10." not in out.split("Name:")[-1]


@pytest.mark.spec("NET-061")
def test_a_name_resolves_only_on_its_networks(networks, containers):
    first, _ = networks.create("a", subnet=networks.subnet(2))
    second, _ = networks.create("b", subnet=networks.subnet(3))
    name = f"mdn-only-{secrets.token_hex(3)}"
    server = containers.create("sleep", "60", name=name, HostConfig={"NetworkMode": first})
    containers.start(server)
    assert _lookup(containers, first, name)[0] == 0
    assert _lookup(containers, second, name)[0] != 0
    # a container on both networks asks the second's resolver (its first network) and finds it
    both = containers.create("nslookup", name, HostConfig={"NetworkMode": second})
    status, _, raw = containers.engine.api("POST", f"/v1.41/networks/{first}/connect", {"Container": both})
    assert status == 200, raw
    containers.start(both)
    assert containers.wait(both) == 0 and "Address" in containers.output(both).split("Name:")[-1]


@pytest.mark.spec("NET-063")
def test_removing_a_container_does_not_stall_the_others(engine, networks, containers):
    if engine.kind != "minidock":
        pytest.skip("reads the bridge minidock names br-<network id>")
    network, network_id = networks.create("mac", subnet=networks.subnet(9))
    name = f"mdn-stays-{secrets.token_hex(3)}"
    stays = containers.create("sleep", "60", name=name, HostConfig={"NetworkMode": network})
    containers.start(stays)
    with open(f"/sys/class/net/br-{network_id[:12]}/address") as file:
        mac = file.read()
    for _ in range(6):  # each comes with a veth of a random MAC, and goes: a bridge without its own MAC changes
        other = containers.create("sleep", "60", HostConfig={"NetworkMode": network})
        containers.start(other)
        assert engine.cli("exec", name, "nslookup", name, timeout=30).returncode == 0  # ARP learnt now
        status, _, _ = engine.api("DELETE", f"/v1.41/containers/{other}?force=1")
        assert status == 204
        with open(f"/sys/class/net/br-{network_id[:12]}/address") as file:
            assert file.read() == mac
        # at once, not after the ARP cache's entry went stale: the gateway kept its MAC
        answer = engine.cli("exec", name, "timeout", "3", "nslookup", name, check=False, timeout=30)
        assert answer.returncode == 0 and "Address" in answer.stdout.split("Name:")[-1]
