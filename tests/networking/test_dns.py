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
