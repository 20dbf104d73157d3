"""The pure parts of networking, without root: IPAM, port specs, /etc files, rules, DNS answers."""

from __future__ import annotations

import ipaddress

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from minidock.errors import Forbidden, InvalidArgument
from minidock.networking import dns, etcfiles, firewall, ipam, ports


@pytest.mark.spec("NET-010", "NET-013")
def test_allocate_gives_the_first_free_address_of_the_range():
    pool = ipam.make_pool("10.9.0.0/24", "10.9.0.1", "10.9.0.128/25")
    assert ipam.allocate(pool, []) == "10.9.0.129"
    assert ipam.allocate(pool, ["10.9.0.129"]) == "10.9.0.130"
    small = ipam.make_pool("10.9.1.0/30")  # .1 gateway, .2 the one address left
    assert ipam.allocate(small, []) == "10.9.1.2"
    with pytest.raises(Forbidden, match="no available IPv4 addresses"):
        ipam.allocate(small, ["10.9.1.2"])


@pytest.mark.spec("NET-012")
def test_allocate_checks_a_wanted_address():
    pool = ipam.make_pool("10.9.0.0/24")
    assert ipam.allocate(pool, [], "10.9.0.77") == "10.9.0.77"
    with pytest.raises(InvalidArgument, match="does not belong to any of this network's subnets"):
        ipam.allocate(pool, [], "10.9.1.5")
    for taken in ("10.9.0.1", "10.9.0.0", "10.9.0.255"):
        with pytest.raises(Forbidden, match="Address already in use"):
            ipam.allocate(pool, [], taken)
    with pytest.raises(Forbidden, match="Address already in use"):
        ipam.allocate(pool, ["10.9.0.77"], "10.9.0.77")


@pytest.mark.spec("NET-011")
def test_pools_are_checked():
    with pytest.raises(InvalidArgument, match="invalid CIDR address: 10.0.0.0/33"):
        ipam.make_pool("10.0.0.0/33")
    with pytest.raises(Forbidden, match="no matching subnet for gateway"):
        ipam.make_pool("10.0.0.0/24", "10.0.1.1")
    assert ipam.make_pool("10.0.0.0/24").gateway == ipaddress.IPv4Address("10.0.0.1")


@pytest.mark.spec("NET-013")
def test_choose_subnet_skips_what_is_taken():
    taken = [ipaddress.ip_network("172.18.0.0/16"), ipaddress.ip_network("172.19.5.0/24")]
    assert str(ipam.choose_subnet(taken)) == "172.20.0.0/16"
    assert ipam.mac_for("10.1.2.3") == "02:42:0a:01:02:03"


@pytest.mark.spec("NET-030", "NET-031", "NET-033")
def test_publish_specs():
    assert ports.parse_publish("8080:80") == [("80/tcp", {"HostIp": "", "HostPort": "8080"})]
    assert ports.parse_publish("127.0.0.1:8080:80/udp") == [("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"})]
    assert ports.parse_publish("80") == [("80/tcp", {"HostIp": "", "HostPort": ""})]
    for bad in ("abc", "8080:99999", "1.2.3:80:80", "80/icmp"):
        with pytest.raises(InvalidArgument):
            ports.parse_publish(bad)
    plan = ports.plan({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, {"80/tcp": {}, "53/udp": {}}, True)
    assert [(b.key, b.host_ip, b.host_port) for b in plan] == [("80/tcp", "0.0.0.0", 8080), ("53/udp", "0.0.0.0", 0)]


@pytest.mark.spec("NET-020", "NET-021")
def test_etc_files():
    text = etcfiles.hosts("web", ["10.1.0.2"], ["db:10.1.0.9"])
    assert "127.0.0.1\tlocalhost\n" in text and "10.1.0.9\tdb\n" in text and text.endswith("10.1.0.2\tweb\n")
    with pytest.raises(InvalidArgument, match="invalid IP address in add-host"):
        etcfiles.hosts("web", [], ["db:nonsense"])
    host = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\n"
    assert etcfiles.resolv_conf(host) == "nameserver 192.0.2.1\nsearch lan\n"
    assert etcfiles.resolv_conf("nameserver 127.0.0.53\n").startswith("nameserver 8.8.8.8\n")
    assert etcfiles.resolv_conf(host, embedded="10.1.0.1").startswith("nameserver 10.1.0.1\n")


@pytest.mark.spec("NET-040", "NET-041", "NET-042")
def test_rules_are_in_the_daemons_own_chains():
    c = firewall.chains("abcd1234")
    assert (c.main, c.isolation, c.post) == ("MINIDOCK-abcd1234", "MINIDOCK-abcd1234-ISO", "MINIDOCK-abcd1234-POST")
    rules = firewall.network_rules(c, "br0", "10.1.0.0/24", internal=False)
    assert (c.post, "-s 10.1.0.0/24 ! -o br0 -j MASQUERADE") in rules["nat"]
    assert (c.isolation, "-o br0 -j DROP") in rules["filter"]
    internal = firewall.network_rules(c, "br1", "10.2.0.0/24", internal=True)
    assert internal["nat"] == [] and (c.main, "-i br1 ! -o br1 -j DROP") in internal["filter"]
    port = firewall.port_rules(c, "br0", "10.1.0.2", "tcp", "0.0.0.0", 8080, 80)
    assert port["nat"] == [(c.main, "! -i br0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80")]


@pytest.mark.spec("NET-004", "NET-060")
def test_dns_answers_names_and_says_nxdomain_for_others():
    records = {"web": ["10.1.0.2"], "alias": ["10.1.0.2", "10.1.0.3"]}
    reply = DNSRecord.parse(dns.answer(DNSRecord.question("web").pack(), records))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.1.0.2"]
    reply = DNSRecord.parse(dns.answer(DNSRecord.question("alias.").pack(), records))
    assert sorted(str(rr.rdata) for rr in reply.rr) == ["10.1.0.2", "10.1.0.3"]
    reply = DNSRecord.parse(dns.answer(DNSRecord.question("gone").pack(), records))
    assert reply.header.rcode == RCODE.NXDOMAIN
    reply = DNSRecord.parse(dns.answer(DNSRecord.question("web", "AAAA").pack(), records))
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.q.qtype == QTYPE.AAAA
    assert dns.answer(DNSRecord.question("example.com").pack(), records) is None  # forwarded


@pytest.mark.spec("NET-018")
def test_nftables_rules_mirror_the_iptables_ones():
    from minidock.networking import nftables

    rules = nftables.network_rules("br0", "10.1.0.0/24", internal=False)
    assert ("postrouting", 'ip saddr 10.1.0.0/24 oifname != "br0" masquerade') in rules
    assert ("isolation", 'oifname "br0" drop') in rules
    assert all(chain == "forward" and rule.endswith("drop") for chain, rule in
               nftables.network_rules("br1", "10.2.0.0/24", internal=True))
    [dnat, accept] = nftables.port_rules("br0", "10.1.0.2", "udp", "127.0.0.1", 5353, 53)
    assert dnat == ("published", 'ip daddr 127.0.0.1 iifname != "br0" udp dport 5353 dnat to 10.1.0.2:53')
    assert accept[0] == "forward" and "udp dport 53 accept" in accept[1]


@pytest.mark.spec("NET-080", "NET-081", "NET-083")
def test_ipv6_pools_and_addresses():
    from minidock.networking import ipv6

    v4, v6 = ipv6.split_configs([{"Subnet": "10.1.0.0/24"}, {"Subnet": "fd00:1::/64"}], True)
    assert v4 == {"Subnet": "10.1.0.0/24"} and v6 == {"Subnet": "fd00:1::/64"}
    for configs, enable in (([{"Subnet": "fd00:1::/64"}, {"Subnet": "fd00:2::/64"}], True),
                            ([{"Subnet": "fd00:1::/64"}], False), ([], True)):
        with pytest.raises(InvalidArgument):
            ipv6.split_configs(configs, enable)
    pool = ipv6.make_pool6("fd00:1::/126")
    assert str(pool.gateway) == "fd00:1::1" and pool.to_api() == {"Subnet": "fd00:1::/126", "Gateway": "fd00:1::1"}
    assert ipv6.allocate6(pool, []) == "fd00:1::2"
    assert ipv6.allocate6(pool, ["fd00:1::2"]) == "fd00:1::3"
    with pytest.raises(Forbidden, match="no available IPv6 addresses"):
        ipv6.allocate6(pool, ["fd00:1::2", "fd00:1::3"])
    with pytest.raises(InvalidArgument, match="does not belong"):
        ipv6.allocate6(pool, [], "fd00:9::2")
    with pytest.raises(Forbidden, match="Address already in use"):
        ipv6.allocate6(pool, ["fd00:1::2"], "fd00:1::2")
    for bad in ("10.1.0.0/24", "fd00:1::", "fd00::zz/64"):
        with pytest.raises(InvalidArgument, match="invalid CIDR address"):
            ipv6.make_pool6(bad)
    with pytest.raises(Forbidden, match="no matching subnet for gateway"):
        ipv6.make_pool6("fd00:1::/64", "fd00:2::1")
    assert ipv6.overlapping6(ipaddress.IPv6Network("fd00:1::/80"), [{"Subnet": "10.1.0.0/24"}, {"Subnet": "fd00:1::/64"}])
