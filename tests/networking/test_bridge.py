"""Containers on bridges: addresses, routes, host and none, container:<name>, the /etc files, IPAM."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.networking.conftest import API, gateway_of, host, run_in


def _bridge(engine) -> dict:
    status, _, raw = engine.api("GET", f"{API}/networks/bridge")
    assert status == 200, raw
    return json.loads(raw)


@pytest.mark.spec("NET-001")
def test_default_bridge_gives_an_address_a_route_and_the_gateway(engine, containers):
    bridge = _bridge(engine)
    subnet, gateway = ipaddress.ip_network(bridge["IPAM"]["Config"][0]["Subnet"]), gateway_of(bridge)
    container_id = containers.create("sh", "-c", f"ip -o -4 addr show eth0; ip route; ping -c1 -W2 {gateway}")
    containers.start(container_id)
    assert containers.wait(container_id) == 0
    out = containers.output(container_id)
    address = out.split()[3].split("/")[0]
    assert ipaddress.ip_address(address) in subnet
    assert f"default via {gateway} dev eth0" in out
    assert "1 packets received" in out


@pytest.mark.spec("NET-001")
def test_inspect_shows_the_address_while_running(engine, containers):
    container_id = containers.create("sleep", "30")
    containers.start(container_id)
    settings = containers.inspect(container_id)["NetworkSettings"]
    assert settings["IPAddress"] and settings["IPAddress"] == settings["Networks"]["bridge"]["IPAddress"]
    assert settings["Gateway"] == gateway_of(_bridge(engine))
    assert settings["MacAddress"].startswith("02:42:")
    code, out = run_in(containers, "ping", "-c1", "-W2", settings["IPAddress"])
    assert code == 0, out  # one container reaches another on the bridge


@pytest.mark.spec("NET-002")
def test_none_has_only_loopback(containers):
    code, out = run_in(containers, "sh", "-c", "ls /sys/class/net; ip -o -4 addr",
                       HostConfig={"NetworkMode": "none"})
    assert code == 0
    assert out.split("\n")[0].split() == ["lo"]
    assert "127.0.0.1" in out and "eth0" not in out


@pytest.mark.spec("NET-002")
def test_host_shares_the_hosts_namespace(containers):
    code, out = run_in(containers, "ls", "/sys/class/net", HostConfig={"NetworkMode": "host"})
    assert code == 0
    with open("/proc/net/dev") as file:
        mine = {line.split(":")[0].strip() for line in file.readlines()[2:]}
    assert set(out.split()) & mine >= {"lo"} and len(set(out.split()) & mine) >= 2


@pytest.mark.spec("NET-006")
def test_container_mode_shares_another_containers_stack(containers):
    first = containers.create("sleep", "30")
    containers.start(first)
    address = containers.inspect(first)["NetworkSettings"]["IPAddress"]
    code, out = run_in(containers, "ip", "-o", "-4", "addr", "show", "eth0",
                       HostConfig={"NetworkMode": f"container:{first}"})
    assert code == 0 and f"{address}/" in out


@pytest.mark.spec("NET-006")
def test_container_mode_needs_a_running_container(engine, containers):
    stopped = containers.create("true")
    second = containers.create("true", HostConfig={"NetworkMode": f"container:{stopped}"})
    status, _, raw = engine.api("POST", f"{API}/containers/{second}/start")
    assert status in (409, 500), raw
    assert "non running container" in json.loads(raw)["message"] or "not running" in json.loads(raw)["message"]


@pytest.mark.spec("NET-010")
def test_user_network_with_subnet_gateway_and_range(networks, containers):
    subnet = networks.subnet(0)
    base = subnet.rsplit(".", 1)[0]
    name, _ = networks.create(IPAM={"Config": [{"Subnet": subnet, "Gateway": f"{base}.254",
                                                "IPRange": f"{base}.128/25"}]})
    code, out = run_in(containers, "sh", "-c", "ip -o -4 addr show eth0; ip route",
                       HostConfig={"NetworkMode": name})
    assert code == 0
    address = ipaddress.ip_address(out.split()[3].split("/")[0])
    assert address in ipaddress.ip_network(f"{base}.128/25")
    assert f"default via {base}.254" in out
    assert networks.inspect(name)["IPAM"]["Config"][0]["Gateway"] == f"{base}.254"


@pytest.mark.spec("NET-011")
@pytest.mark.parametrize("subnet", ["10.300.0.0/24", "10.1.2.0/33", "nonsense"])
def test_an_invalid_cidr_is_refused(engine, networks, subnet):
    status, _, raw = engine.api("POST", f"{API}/networks/create",
                                {"Name": networks.name(), "IPAM": {"Config": [{"Subnet": subnet}]}})
    assert status == (400 if engine.kind == "minidock" else 500), raw  # dockerd 20.10: 500 (NET-011)
    assert "invalid CIDR address" in json.loads(raw)["message"]


@pytest.mark.spec("NET-011")
def test_an_overlapping_subnet_is_refused(engine, networks):
    subnet = networks.subnet(1)
    networks.create(subnet=subnet)
    status, _, raw = engine.api("POST", f"{API}/networks/create",
                                {"Name": networks.name(), "IPAM": {"Config": [{"Subnet": subnet}]}})
    assert status == 403, raw
    assert "Pool overlaps with other one on this address space" in json.loads(raw)["message"]


@pytest.mark.spec("NET-012")
def test_static_address_and_no_duplicate(engine, networks, containers):
    subnet = networks.subnet(2)
    wanted = subnet.replace(".0/24", ".77")
    name, _ = networks.create(subnet=subnet)
    endpoints = {"EndpointsConfig": {name: {"IPAMConfig": {"IPv4Address": wanted}}}}
    first = containers.create("sleep", "30", HostConfig={"NetworkMode": name}, NetworkingConfig=endpoints)
    containers.start(first)
    assert containers.inspect(first)["NetworkSettings"]["Networks"][name]["IPAddress"] == wanted
    second = containers.create("true", HostConfig={"NetworkMode": name}, NetworkingConfig=endpoints)
    status, _, raw = engine.api("POST", f"{API}/containers/{second}/start")
    assert status in (403, 500), raw
    assert "Address already in use" in json.loads(raw)["message"]


@pytest.mark.spec("NET-012")
def test_static_address_outside_the_subnet_or_on_the_default_bridge(engine, networks, busybox):
    name, _ = networks.create(subnet=networks.subnet(3))
    for mode, address, words in ((name, "192.0.2.9", "does not belong to any of this network's subnets"),
                                 ("bridge", "10.213.0.9", "supported on user defined networks only")):
        body = {"Image": busybox, "Cmd": ["true"], "HostConfig": {"NetworkMode": mode},
                "NetworkingConfig": {"EndpointsConfig": {mode: {"IPAMConfig": {"IPv4Address": address}}}}}
        status, _, raw = engine.api("POST", f"{API}/containers/create", body)
        if status == 201 and engine.kind == "docker":  # dockerd checks the subnet when the container starts
            container_id = json.loads(raw)["Id"]
            status, _, raw = engine.api("POST", f"{API}/containers/{container_id}/start")
            engine.api("DELETE", f"{API}/containers/{container_id}?force=1")
        assert status in ((400,) if engine.kind == "minidock" else (400, 403, 500)), raw
        assert words in json.loads(raw)["message"]


@pytest.mark.spec("NET-013")
def test_an_address_is_released_when_the_container_stops(networks, containers):
    subnet = networks.subnet(4)
    wanted = subnet.replace(".0/24", ".50")
    name, _ = networks.create(subnet=subnet)
    endpoints = {"EndpointsConfig": {name: {"IPAMConfig": {"IPv4Address": wanted}}}}
    for _ in range(2):  # the second gets the same address: the first gave it back
        code, out = run_in(containers, "ip", "-o", "-4", "addr", "show", "eth0",
                           HostConfig={"NetworkMode": name}, NetworkingConfig=endpoints)
        assert code == 0 and f"{wanted}/24" in out
    assert networks.inspect(name)["Containers"] == {}


@pytest.mark.spec("NET-013")
def test_a_network_without_subnet_gets_one_that_overlaps_nothing(networks):
    name, _ = networks.create()
    subnet = ipaddress.ip_network(networks.inspect(name)["IPAM"]["Config"][0]["Subnet"])
    routes = host("ip", "-j", "route").stdout
    others = [ipaddress.ip_network(r["dst"]) for r in json.loads(routes)
              if r["dst"] not in ("default",) and not r.get("dev", "").startswith("br-" + "")
              and "/" in r["dst"] and ipaddress.ip_network(r["dst"]) != subnet]
    assert not any(subnet.overlaps(other) for other in others)


@pytest.mark.spec("NET-020")
def test_etc_hosts_names_the_container_and_the_added_hosts(containers):
    code, out = run_in(containers, "sh", "-c", "cat /etc/hosts; ip -o -4 addr show eth0",
                       Hostname="probe", HostConfig={"ExtraHosts": ["db.example:192.0.2.10"]})
    assert code == 0
    address = out.strip().split("\n")[-1].split()[3].split("/")[0]
    assert "127.0.0.1\tlocalhost" in out
    assert f"{address}\tprobe" in out
    assert "192.0.2.10\tdb.example" in out


@pytest.mark.spec("NET-021")
def test_resolv_conf_takes_dns_and_search(containers):
    code, out = run_in(containers, "cat", "/etc/resolv.conf",
                       HostConfig={"Dns": ["192.0.2.53"], "DnsSearch": ["example.org"]})
    assert code == 0
    assert "nameserver 192.0.2.53" in out and "search example.org" in out


@pytest.mark.spec("NET-022")
def test_etc_files_are_the_containers_own(containers):
    container_id = containers.create("sh", "-c", "cat /etc/hostname; grep -c . /etc/resolv.conf")
    containers.start(container_id)
    assert containers.wait(container_id) == 0
    assert containers.output(container_id).split("\n")[0] == container_id[:12]
    document = containers.inspect(container_id)
    assert document["ResolvConfPath"] and document["HostsPath"] and document["HostnamePath"]


@pytest.mark.spec("NET-017")
def test_the_mtu_option(engine, networks, containers):
    name, network_id = networks.create(subnet=networks.subnet(5), Options={"com.docker.network.driver.mtu": "9000"})
    code, out = run_in(containers, "cat", "/sys/class/net/eth0/mtu", HostConfig={"NetworkMode": name})
    assert code == 0 and out.strip() == "9000"
    code, out = run_in(containers, "cat", "/sys/class/net/eth0/mtu")
    assert out.strip() == "1500"
    status, _, raw = engine.api("POST", f"{API}/networks/create",
                                {"Name": networks.name(), "Options": {"com.docker.network.driver.mtu": "huge"}})
    assert status == (400 if engine.kind == "minidock" else 500), raw  # dockerd 20.10: 500 (NET-017)
