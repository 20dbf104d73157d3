"""Overlay networks across two hosts: VXLAN, peers, service VIPs, the routing mesh, and what network rm leaves.

Two "hosts" on this machine: two network namespaces (ov-h1-*, ov-h2-*) joined by a veth
pair, 192.168.250.1 and .2, each running a minidockd of its own (entered with nsenter
--net, its own data root, exec root and socket). The same overlay (same VNI, same subnet)
is made on both; the peers are given to each engine through minidock's extension API, as
the swarm agent gives them. Every request goes through the engines' API and CLI; the
kernel is looked at (vxlan counters, links) only inside the test's own namespaces.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.engine.conftest import Containers
from tests.harness.engine import Engine, python_module, remove_tree, stop_daemon, wait_for_ping

API = "/v1.41"
SUBNET = "10.200.0.0/24"
OTHER_SUBNET = "10.201.0.0/24"
VNI = 4242
OTHER_VNI = 4243
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
VTEP_OPTION = "minidock.overlay.vtep"


def sh(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, input=input)


class Host:
    """A network namespace with an address on the test's underlay and a minidockd inside."""

    def __init__(self, name: str, address: str) -> None:
        self.netns = name
        self.address = address
        self.root = Path(tempfile.mkdtemp(prefix=f"minidock-{name}-"))
        self.engine = Engine(kind="minidock", host=f"unix://{self.root}/minidock.sock",
                             log_path=self.root / "daemon.log", cli_argv=python_module("minidock.cli.main"))
        self.process: subprocess.Popen | None = None
        self.containers: Containers | None = None

    def inside(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """A command in the host's namespace."""
        return sh("nsenter", f"--net=/run/netns/{self.netns}", *argv, check=check)

    def start(self) -> None:
        argv = [*python_module("minidock.engine.daemon"), "-H", self.engine.host,
                "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                "--bridge", "ovbr0", "--bip", "10.249.0.1/24", "--shutdown-timeout", "3"]
        with open(self.engine.log_path, "ab") as log:
            self.process = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.netns}", *argv],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.root, start_new_session=True)
        wait_for_ping(self.engine, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_daemon(self.process)
            self.process = None

    def api(self, method: str, path: str, body=None) -> tuple[int, dict | list | str]:
        status, _, raw = self.engine.api(method, API + path, body)
        try:
            return status, json.loads(raw) if raw else ""
        except ValueError:
            return status, raw.decode()

    def overlay(self, name: str, vni: int, subnet: str) -> str:
        """The network's ID, made through the API with this host's VTEP."""
        status, answer = self.api("POST", "/networks/create", {
            "Name": name, "Driver": "overlay", "Attachable": True,
            "IPAM": {"Config": [{"Subnet": subnet}]},
            "Options": {VNI_OPTION: str(vni), VTEP_OPTION: self.address}})
        assert status == 201, answer
        return answer["Id"]

    def serve(self, name: str, network: str, address: str) -> dict:
        """A container answering HTTP on port 80 with its hostname; (its address, MAC) on ``network``."""
        container_id = self.containers.create(
            "sh", "-c", "mkdir /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www",
            Hostname=name, HostConfig={"NetworkMode": network},
            NetworkingConfig={"EndpointsConfig": {network: {"IPAMConfig": {"IPv4Address": address}}}})
        self.containers.start(container_id)
        entry = self.containers.inspect(container_id)["NetworkSettings"]["Networks"][network]
        return {"id": container_id, "IP": entry["IPAddress"], "MAC": entry["MacAddress"], "VTEP": self.address}

    def exec(self, container: dict, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return self.engine.cli("exec", container["id"], *argv, check=False, timeout=timeout)

    def fetch(self, container: dict, address: str, wait: int = 3) -> str:
        """The page at http://address/ fetched from inside ``container`` ("" when unreachable)."""
        # busybox-static's wget crashes in getaddrinfo here: plain HTTP through nc
        done = self.exec(container, "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w {wait} {address} 80")
        return done.stdout.strip().splitlines()[-1] if "200 OK" in done.stdout else ""

    def tunnel_packets(self, network_id: str) -> int:
        """Packets the network's vxlan device has sent."""
        shown = json.loads(self.inside("ip", "-s", "-j", "link", "show", f"vx-{network_id[:12]}").stdout)
        return shown[0]["stats64"]["tx"]["packets"]


def peer(container: dict) -> dict:
    return {key: container[key] for key in ("IP", "MAC", "VTEP")}


@pytest.fixture(scope="module")
def hosts(pytestconfig) -> Iterator[tuple[Host, Host]]:
    if pytestconfig.getoption("engine") != "minidock":
        pytest.skip("minidock's own daemons and API extension (dockerd learns its peers by gossip, in swarm mode)")
    tag = secrets.token_hex(2)
    first, second = Host(f"ov-h1-{tag}", "192.168.250.1"), Host(f"ov-h2-{tag}", "192.168.250.2")
    try:
        for host in (first, second):
            sh("ip", "netns", "add", host.netns)
            host.inside("ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", f"ova{tag}", "netns", first.netns, "type", "veth",
           "peer", "name", f"ovb{tag}", "netns", second.netns)
        for host, link in ((first, f"ova{tag}"), (second, f"ovb{tag}")):
            host.inside("ip", "addr", "add", f"{host.address}/24", "dev", link)
            host.inside("ip", "link", "set", link, "up")
            host.start()
            host.engine.cli("image", "bootstrap", "busybox", timeout=120)
            host.containers = Containers(host.engine, "busybox:latest")
        yield first, second
    finally:
        for host in (first, second):
            if host.containers is not None:
                host.containers.remove_all()
            host.stop()
            sh("ip", "netns", "del", host.netns, check=False)
            remove_tree(host.root)


@pytest.fixture(scope="module")
def overlay(hosts) -> Iterator[dict]:
    """The overlay "ovnet" on both hosts, a server on each, each told of the other."""
    first, second = hosts
    first_id = first.engine.cli("network", "create", "-d", "overlay", "--attachable", "--subnet", SUBNET,
                                "--opt", f"{VNI_OPTION}={VNI}", "--opt", f"{VTEP_OPTION}={first.address}",
                                "ovnet").stdout.strip()
    second_id = second.overlay("ovnet", VNI, SUBNET)
    one = first.serve("ov-one", "ovnet", "10.200.0.2")
    two = second.serve("ov-two", "ovnet", "10.200.0.3")
    assert first.api("POST", "/networks/ovnet/peers", {"Peers": [peer(two)]})[0] == 200
    assert second.api("POST", "/networks/ovnet/peers", {"Peers": [peer(one)]})[0] == 200
    yield {"ids": (first_id, second_id), "one": one, "two": two}


@pytest.mark.spec("NET-100")
def test_an_overlay_network_is_shown_as_dockerd_shows_one(hosts, overlay):
    first, _ = hosts
    status, shown = first.api("GET", "/networks/ovnet")
    assert status == 200
    assert shown["Driver"] == "overlay" and shown["Scope"] == "swarm" and shown["Attachable"] is True
    assert shown["Options"][VNI_OPTION] == str(VNI)
    assert shown["IPAM"]["Config"][0]["Subnet"] == SUBNET
    mtu = first.exec(overlay["one"], "cat", "/sys/class/net/eth0/mtu")
    assert mtu.stdout.strip() == "1450", mtu  # room for VXLAN's 50 bytes
    link = json.loads(first.inside("ip", "-d", "-j", "link", "show", f"vx-{overlay['ids'][0][:12]}").stdout)[0]
    vxlan = link["linkinfo"]["info_data"]
    assert vxlan["id"] == VNI and vxlan["port"] == 4789 and vxlan["learning"] is False and vxlan["proxy"] is True
    assert vxlan["local"] == first.address


@pytest.mark.spec("NET-100", "NET-102")
def test_containers_on_two_hosts_reach_each_other_through_the_tunnel(hosts, overlay):
    first, second = hosts
    before = first.tunnel_packets(overlay["ids"][0])
    ping = first.exec(overlay["one"], "ping", "-c", "2", "-W", "2", overlay["two"]["IP"])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert first.fetch(overlay["one"], overlay["two"]["IP"]) == "ov-two"
    assert second.fetch(overlay["two"], overlay["one"]["IP"]) == "ov-one"
    assert first.tunnel_packets(overlay["ids"][0]) >= before + 4  # the pings and the TCP went over VXLAN


@pytest.mark.spec("NET-101")
def test_another_overlay_cannot_reach_them(hosts, overlay):
    first, second = hosts
    first.overlay("ovother", OTHER_VNI, OTHER_SUBNET)
    second.overlay("ovother", OTHER_VNI, OTHER_SUBNET)
    try:
        stranger = second.serve("ov-stranger", "ovother", "10.201.0.2")
        assert second.fetch(stranger, overlay["one"]["IP"], 2) == ""
        second.api("DELETE", f"/containers/{stranger['id']}?force=1")
    finally:
        second.api("DELETE", "/networks/ovother")
        first.api("DELETE", "/networks/ovother")


@pytest.mark.spec("NET-103")
def test_removing_a_peer_cuts_it_off(hosts, overlay):
    first, _ = hosts
    two = overlay["two"]
    assert first.api("DELETE", f"/networks/ovnet/peers/{two['IP']}")[0] == 204
    try:
        assert first.api("GET", "/networks/ovnet/peers")[1] == {"Peers": []}
        assert first.fetch(overlay["one"], two["IP"], 2) == ""
    finally:
        assert first.api("POST", "/networks/ovnet/peers", {"Peers": [peer(two)]})[0] == 200
    # back again: the container's ARP entry for it failed meanwhile, its next probe is answered
    assert any(first.fetch(overlay["one"], two["IP"]) == "ov-two" for _ in range(3))
    assert first.api("DELETE", "/networks/ovnet/peers/10.200.0.99")[0] == 404


@pytest.mark.spec("NET-102")
def test_a_peer_given_again_replaces_its_entries(hosts, overlay):
    first, _ = hosts
    two = overlay["two"]
    vxlan = f"vx-{overlay['ids'][0][:12]}"
    try:
        moved = peer(two) | {"VTEP": "192.168.250.9"}  # its task moved to another host
        assert first.api("POST", "/networks/ovnet/peers", {"Peers": [moved]})[1] == {"Peers": [moved]}
        fdb = first.inside("bridge", "fdb", "show", "dev", vxlan).stdout
        assert f"{two['MAC']} dst 192.168.250.9" in fdb and "dst 192.168.250.2" not in fdb, fdb
    finally:
        assert first.api("POST", "/networks/ovnet/peers", {"Peers": [peer(two)]})[0] == 200
    assert first.fetch(overlay["one"], two["IP"]) == "ov-two"


@pytest.mark.spec("NET-107", "NET-108")
def test_a_service_vip_spreads_connections_over_tasks_on_both_hosts(hosts, overlay):
    first, second = hosts
    three = first.serve("ov-three", "ovnet", "10.200.0.4")
    client = first.serve("ov-client", "ovnet", "10.200.0.5")
    assert second.api("POST", "/networks/ovnet/peers", {"Peers": [peer(three), peer(client)]})[0] == 200
    service = {"Name": "web", "VIP": "10.200.0.100", "Aliases": ["www"],
               "Backends": [overlay["one"]["IP"], overlay["two"]["IP"], three["IP"]]}
    for host in (first, second):
        status, answer = host.api("POST", "/networks/ovnet/vips", service)
        assert status == 200, answer
    answers = [first.fetch(client, service["VIP"]) for _ in range(6)]
    assert set(answers) == {"ov-one", "ov-two", "ov-three"}, answers  # round robin, the remote task too
    assert second.fetch(overlay["two"], service["VIP"]) in {"ov-one", "ov-two", "ov-three"}
    for name in ("web", "www"):  # busybox's nslookup: its own resolver (its wget and nc crash in getaddrinfo)
        looked_up = first.exec(client, "nslookup", name)
        assert f"Address: {service['VIP']}" in looked_up.stdout, looked_up
    late = first.serve("ov-late", "ovnet", "10.200.0.6")  # a container that joins after the VIP was made
    assert second.api("POST", "/networks/ovnet/peers", {"Peers": [peer(late)]})[0] == 200
    assert {first.fetch(late, service["VIP"]) for _ in range(3)} == {"ov-one", "ov-two", "ov-three"}
    # a scale down: the VIP's backends changed in place, on every container of the network
    service["Backends"] = [overlay["two"]["IP"]]
    assert first.api("POST", "/networks/ovnet/vips", service)[0] == 200
    answers = {first.fetch(client, service["VIP"]) for _ in range(3)}
    assert answers == {"ov-two"}
    assert first.api("GET", "/networks/ovnet/vips")[1]["VIPs"][0]["Backends"] == [overlay["two"]["IP"]]


def mesh_fetch(host: Host, address: str, port: int) -> str:
    """The page at address:port fetched from the host's own namespace ("" when nothing answers)."""
    done = host.inside("busybox", "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {address} {port}",
                       check=False)
    return done.stdout.strip().splitlines()[-1] if "200 OK" in done.stdout else ""


@pytest.mark.spec("NET-110")
def test_the_routing_mesh_answers_on_every_node_from_tasks_on_any_node(hosts, overlay):
    first, second = hosts
    mesh = {"Ports": [{"Protocol": "tcp", "PublishedPort": 8080, "TargetPort": 80,
                       "Backends": [overlay["one"]["IP"], overlay["two"]["IP"]]}]}
    sandboxes = {}
    for host, address in ((first, "10.200.0.250"), (second, "10.200.0.251")):
        status, answer = host.api("POST", "/networks/ovnet/ingress", mesh | {"Address": address})
        assert status == 200 and answer["Address"] == address, answer
        sandboxes[host.netns] = {"IP": address, "MAC": answer["MAC"], "VTEP": host.address}
    # each node's ingress sandbox is a peer of the other's: the tasks answer it through the tunnel
    assert first.api("POST", "/networks/ovnet/peers", {"Peers": [sandboxes[second.netns]]})[0] == 200
    assert second.api("POST", "/networks/ovnet/peers", {"Peers": [sandboxes[first.netns]]})[0] == 200
    try:
        from_second = [mesh_fetch(second, first.address, 8080) for _ in range(4)]
        assert set(from_second) == {"ov-one", "ov-two"}, from_second   # node 1's port, tasks on both nodes
        from_first = [mesh_fetch(first, second.address, 8080) for _ in range(4)]
        assert set(from_first) == {"ov-one", "ov-two"}, from_first
        assert mesh_fetch(second, second.address, 8080) in {"ov-one", "ov-two"}  # the node's own address too
        assert first.api("GET", "/networks/ovnet/ingress")[1]["Ports"] == mesh["Ports"]
        status, answer = first.api("POST", "/networks/ovnet/ingress",
                                   {"Address": "10.200.0.250", "Ports": [{"PublishedPort": 0, "TargetPort": 80}]})
        assert status == 400 and "PublishedPort" in answer["message"]
        status, answer = first.api("POST", "/networks/ovnet/ingress", {"Address": overlay["one"]["IP"], "Ports": []})
        assert status == 409, answer
        assert mesh_fetch(second, first.address, 8080) in {"ov-one", "ov-two"}  # a refused change changed nothing
    finally:
        for host in (first, second):
            host.api("DELETE", "/networks/ovnet/ingress")
        first.api("DELETE", f"/networks/ovnet/peers/{sandboxes[second.netns]['IP']}")
        second.api("DELETE", f"/networks/ovnet/peers/{sandboxes[first.netns]['IP']}")
    assert mesh_fetch(second, first.address, 8080) == ""
    assert first.api("DELETE", "/networks/ovnet/ingress")[0] == 404
    links = first.inside("ip", "-o", "link").stdout
    assert "ving" not in links and not list((first.root / "exec" / "netns").glob("ingress-*"))
    assert ":8080" not in first.inside("iptables-save").stdout


@pytest.mark.spec("NET-109")
def test_a_vip_without_tasks_refuses_and_a_removed_one_is_gone(hosts, overlay):
    first, _ = hosts
    one = overlay["one"]
    assert first.api("POST", "/networks/ovnet/vips", {"Name": "empty", "VIP": "10.200.0.101", "Backends": []})[0] == 200
    started = time.monotonic()
    assert first.fetch(one, "10.200.0.101", 5) == ""
    assert time.monotonic() - started < 4  # refused at once, not a timeout
    assert first.api("DELETE", "/networks/ovnet/vips/empty")[0] == 204
    looked_up = first.exec(one, "nslookup", "empty")
    assert "10.200.0.101" not in looked_up.stdout
    assert first.api("DELETE", "/networks/ovnet/vips/empty")[0] == 404


@pytest.mark.spec("NET-101", "NET-104", "NET-107", "NET-052", "NET-011")
def test_bad_input_is_refused_and_changes_nothing(hosts, overlay):
    first, _ = hosts
    status, answer = first.api("POST", "/networks/create", {"Name": "ovdup", "Driver": "overlay",
                                                             "Options": {VNI_OPTION: str(VNI)}})
    assert status == 409 and f"vxlan id {VNI} is already in use by network ovnet" in answer["message"]
    status, answer = first.api("POST", "/networks/create", {"Name": "ovbadvni", "Driver": "overlay",
                                                             "Options": {VNI_OPTION: "16777216"}})
    assert status == 400 and VNI_OPTION in answer["message"]
    status, answer = first.api("POST", "/networks/create", {"Name": "ovoverlap", "Driver": "overlay",
                                                             "IPAM": {"Config": [{"Subnet": "10.200.0.128/25"}]}})
    assert status == 403 and "Pool overlaps" in answer["message"]
    assert not {"ovdup", "ovbadvni", "ovoverlap"} & {n["Name"] for n in first.api("GET", "/networks")[1]}
    bad_peers = [({"IP": "10.200.0.9", "MAC": "02:42:zz:00:00:09", "VTEP": "192.168.250.2"}, "invalid peer MAC"),
                 ({"IP": "10.200.0.9", "MAC": "01:00:5e:00:00:01", "VTEP": "192.168.250.2"}, "invalid peer MAC"),
                 ({"IP": "10.9.9.9", "MAC": "02:42:0a:09:09:09", "VTEP": "192.168.250.2"}, "not a container address"),
                 ({"IP": "10.200.0.9", "MAC": "02:42:0a:c8:00:09", "VTEP": "nowhere"}, "invalid peer VTEP"),
                 ({"IP": "not-an-ip", "MAC": "02:42:0a:c8:00:09", "VTEP": "192.168.250.2"}, "invalid peer IP")]
    for bad, words in bad_peers:
        status, answer = first.api("POST", "/networks/ovnet/peers", {"Peers": [peer(overlay["two"]), bad]})
        assert status == 400 and words in answer["message"], (bad, answer)
    status, answer = first.api("POST", "/networks/ovnet/peers", {"Peers": [peer(overlay["one"])]})
    assert status == 409 and "already in use on this host" in answer["message"]
    assert [p["IP"] for p in first.api("GET", "/networks/ovnet/peers")[1]["Peers"]] == [overlay["two"]["IP"]]
    assert first.api("POST", "/networks/bridge/peers", {"Peers": []})[0] == 400
    status, answer = first.api("POST", "/networks/ovnet/vips", {"Name": "web2", "VIP": "10.9.9.9", "Backends": []})
    assert status == 400 and "VIP 10.9.9.9" in answer["message"]
    status, answer = first.api("POST", "/networks/ovnet/vips", {"Name": "web2", "VIP": overlay["one"]["IP"]})
    assert status == 409
    status, answer = first.api("DELETE", "/networks/ovnet")
    assert status == 403 and "has active endpoints" in answer["message"]


@pytest.mark.spec("NET-105", "NET-106")
def test_a_restart_keeps_the_overlay_and_rm_leaves_nothing(hosts, overlay):
    first, second = hosts
    first.containers.remove_all()
    first.containers.made.clear()
    service = {"Name": "kept", "VIP": "10.200.0.102", "Backends": [overlay["two"]["IP"]], "Aliases": []}
    assert first.api("POST", "/networks/ovnet/vips", service)[0] == 200
    mesh = {"Address": "10.200.0.252", "Ports": [{"Protocol": "tcp", "PublishedPort": 8081, "TargetPort": 80,
                                                   "Backends": [overlay["two"]["IP"]]}]}
    sandbox = {"IP": mesh["Address"], "MAC": first.api("POST", "/networks/ovnet/ingress", mesh)[1]["MAC"],
               "VTEP": first.address}
    assert second.api("POST", "/networks/ovnet/peers", {"Peers": [sandbox]})[0] == 200
    first.stop()
    first.start()
    network_id = overlay["ids"][0]
    status, shown = first.api("GET", "/networks/ovnet")
    assert status == 200 and shown["Options"][VNI_OPTION] == str(VNI)
    assert service in first.api("GET", "/networks/ovnet/vips")[1]["VIPs"]
    client = first.serve("ov-after", "ovnet", "10.200.0.7")  # the VIP's name and rules, from the record
    assert "Address: 10.200.0.102" in first.exec(client, "nslookup", "kept").stdout
    assert second.api("POST", "/networks/ovnet/peers", {"Peers": [peer(client)]})[0] == 200
    assert first.fetch(client, service["VIP"]) == "ov-two"
    first.api("DELETE", f"/containers/{client['id']}?force=1")
    second.api("DELETE", f"/networks/ovnet/peers/{client['IP']}")
    assert mesh_fetch(second, first.address, 8081) == "ov-two"  # the routing mesh made again from the record
    assert first.api("GET", "/networks/ovnet/ingress")[1] == mesh
    second.api("DELETE", f"/networks/ovnet/peers/{mesh['Address']}")
    assert [p["IP"] for p in first.api("GET", "/networks/ovnet/peers")[1]["Peers"]] == [overlay["two"]["IP"]]
    fdb = first.inside("bridge", "fdb", "show", "dev", f"vx-{network_id[:12]}").stdout
    assert f"{overlay['two']['MAC']} dst {overlay['two']['VTEP']}" in fdb
    status, answer = first.api("DELETE", "/networks/ovnet")
    assert status == 204, answer
    links = first.inside("ip", "-o", "link").stdout
    assert f"vx-{network_id[:12]}" not in links and f"br-{network_id[:12]}" not in links
    assert "veth" not in links and "ving" not in links
    assert not list((first.root / "exec" / "netns").glob("ingress-*"))
    rules = first.inside("iptables-save").stdout + first.inside("nft", "list", "ruleset", check=False).stdout
    assert f"br-{network_id[:12]}" not in rules and "10.200.0.0/24" not in rules
