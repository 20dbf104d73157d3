"""The pure parts of overlays, without root: VNIs, peers, VIPs, the nftables scripts."""

from __future__ import annotations

import pytest

from minidock.errors import Conflict, InvalidArgument
from minidock.networking import ipam, overlay, vip

POOL = ipam.make_pool("10.200.0.0/24")


@pytest.mark.spec("NET-101")
def test_a_vni_is_taken_as_asked_or_the_first_free_from_4096():
    assert overlay.overlay_options({}, {})[overlay.VNI_OPTION] == "4096"
    assert overlay.overlay_options({}, {4096: "a", 4097: "b"})[overlay.VNI_OPTION] == "4098"
    assert overlay.overlay_options({overlay.VNI_OPTION: "42"}, {4096: "a"})[overlay.VNI_OPTION] == "42"
    with pytest.raises(Conflict, match="vxlan id 42 is already in use by network a"):
        overlay.overlay_options({overlay.VNI_OPTION: "42"}, {42: "a"})
    for bad in ("0", "16777216", "1,2", "x"):
        with pytest.raises(InvalidArgument, match="vxlanid_list"):
            overlay.overlay_options({overlay.VNI_OPTION: bad}, {})
    with pytest.raises(InvalidArgument, match="minidock.overlay.vtep"):
        overlay.overlay_options({overlay.VTEP_OPTION: "nowhere"}, {})


@pytest.mark.spec("NET-104")
def test_a_peer_is_checked_field_by_field():
    good = {"IP": "10.200.0.3", "MAC": "02:42:0A:C8:00:03", "VTEP": "192.168.250.2"}
    assert overlay.parse_peer(good, POOL) == overlay.Peer("10.200.0.3", "02:42:0a:c8:00:03", "192.168.250.2")
    for change, words in (({"IP": "10.200.0.1"}, "not a container address"),      # the gateway
                          ({"IP": "10.200.0.255"}, "not a container address"),    # the broadcast
                          ({"MAC": "03:42:0a:c8:00:03"}, "invalid peer MAC"),     # multicast bit set
                          ({"MAC": "02:42:0a:c8:00"}, "invalid peer MAC"),
                          ({"VTEP": "10.200.0.9"}, "invalid peer VTEP"),          # inside the overlay
                          ({"VTEP": "0.0.0.0"}, "invalid peer VTEP")):
        with pytest.raises(InvalidArgument, match=words):
            overlay.parse_peer(good | change, POOL)
    with pytest.raises(InvalidArgument):
        overlay.parse_peer("10.200.0.3", POOL)


@pytest.mark.spec("NET-107", "NET-109")
def test_a_vip_becomes_one_round_robin_rule_and_a_refusal():
    web = vip.parse_vip({"Name": "web", "VIP": "10.200.0.100", "Backends": ["10.200.0.2", "10.200.0.3", "10.200.0.2"]},
                        POOL)
    assert web.backends == ("10.200.0.2", "10.200.0.3")  # each task once
    script = vip.ruleset([web])
    assert script.startswith("table ip minidock-vip\ndelete table ip minidock-vip\n")  # replaced whole
    assert "ip daddr 10.200.0.100 dnat to numgen inc mod 2 map { 0 : 10.200.0.2, 1 : 10.200.0.3 }" in script
    assert "ip daddr 10.200.0.100 meta l4proto tcp reject with tcp reset" in script
    empty = vip.ruleset([vip.Vip("idle", "10.200.0.101", ())])
    assert "dnat" not in empty and "ip daddr 10.200.0.101 reject" in empty
    assert vip.ruleset([]) == "table ip minidock-vip\ndelete table ip minidock-vip\n"
    for bad in ({"Name": "web", "VIP": "10.9.9.9"}, {"Name": "-web", "VIP": "10.200.0.100"},
                {"Name": "web", "VIP": "10.200.0.100", "Backends": ["10.9.9.9"]},
                {"Name": "web", "VIP": "10.200.0.100", "Backends": "10.200.0.2"}):
        with pytest.raises(InvalidArgument):
            vip.parse_vip(bad, POOL)


@pytest.mark.spec("NET-110")
def test_the_mesh_balances_each_target_port_and_masquerades():
    address, ports = vip.parse_ingress({"Address": "10.200.0.250", "Ports": [
        {"PublishedPort": 8080, "TargetPort": 80, "Backends": ["10.200.0.2", "10.200.0.3"]},
        {"Protocol": "udp", "PublishedPort": 5353, "TargetPort": 53, "Backends": ["10.200.0.4"]}]}, POOL)
    assert ports[0] == vip.MeshPort("tcp", 8080, 80, ("10.200.0.2", "10.200.0.3"))
    script = vip.ingress_ruleset(address, ports)
    assert "ip daddr 10.200.0.250 tcp dport 80 dnat to numgen inc mod 2 map { 0 : 10.200.0.2, 1 : 10.200.0.3 }" in script
    assert "ip daddr 10.200.0.250 udp dport 53 dnat to numgen inc mod 1 map { 0 : 10.200.0.4 }" in script
    assert "ct status dnat masquerade" in script
    for bad in ({"Address": "10.200.0.250", "Ports": [{"PublishedPort": 8080, "TargetPort": 80, "Protocol": "sctp"}]},
                {"Address": "10.200.0.250", "Ports": [{"PublishedPort": 8080, "TargetPort": True}]},
                {"Address": "10.200.0.250", "Ports": [{"PublishedPort": 80, "TargetPort": 80}] * 2},
                {"Address": "10.200.0.1", "Ports": []}):
        with pytest.raises(InvalidArgument):
            vip.parse_ingress(bad, POOL)
