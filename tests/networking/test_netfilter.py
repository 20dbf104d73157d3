"""NAT to another host, --internal, isolation between networks: traffic the kernel's rules shape."""

from __future__ import annotations

import json

import pytest

from tests.networking.conftest import API, run_in


@pytest.mark.spec("NET-040")
def test_outbound_traffic_leaves_with_the_hosts_address(containers, outside):
    code, out = run_in(containers, "nc", "-w", "3", outside.address, str(outside.port))
    assert code == 0, out
    assert out.strip() == outside.host_address  # not the container's address: MASQUERADE


@pytest.mark.spec("NET-040")
def test_outbound_nat_on_a_user_network(networks, containers, outside):
    name, _ = networks.create(subnet=networks.subnet(5))
    code, out = run_in(containers, "nc", "-w", "3", outside.address, str(outside.port),
                       HostConfig={"NetworkMode": name})
    assert code == 0 and out.strip() == outside.host_address


@pytest.mark.spec("NET-041")
def test_an_internal_network_has_no_way_out(networks, containers, outside):
    name, _ = networks.create(subnet=networks.subnet(6), Internal=True)
    code, out = run_in(containers, "nc", "-w", "2", outside.address, str(outside.port),
                       HostConfig={"NetworkMode": name})
    assert code != 0 and outside.host_address not in out
    assert networks.inspect(name)["Internal"] is True


@pytest.mark.spec("NET-042")
def test_networks_are_isolated_unless_connected_to_both(engine, networks, containers):
    first, _ = networks.create("a", subnet=networks.subnet(7))
    second, _ = networks.create("b", subnet=networks.subnet(8))
    server = containers.create("sh", "-c", "echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
                               HostConfig={"NetworkMode": second})
    containers.start(server)
    address = containers.inspect(server)["NetworkSettings"]["Networks"][second]["IPAddress"]
    # busybox-static's wget crashes in getaddrinfo here: plain HTTP through nc
    fetch = ("sh", "-c", f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {address} 80")
    code, out = run_in(containers, *fetch, HostConfig={"NetworkMode": first})
    assert code != 0 and "hello" not in out
    # a container on both networks reaches it
    both = containers.create(*fetch, HostConfig={"NetworkMode": first})
    status, _, raw = engine.api("POST", f"{API}/networks/{second}/connect", {"Container": both})
    assert status == 200, raw
    containers.start(both)
    assert containers.wait(both) == 0
    assert "hello" in containers.output(both)
    networks_of = containers.inspect(both)["NetworkSettings"]["Networks"]
    assert set(networks_of) == {first, second}
    assert json.dumps(networks_of)  # serialisable as the API sends it
