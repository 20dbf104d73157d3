"""Links through netlink (pyroute2): bridges, veth pairs, addresses, routes.

Implements: spec/networking.md NET-001, NET-005, NET-015, NET-112, NET-113
Explained:  chapters/07-networking.md#bridges-and-veths
Modelled on: libnetwork's drivers/bridge (setupDevice, setupBridgeIPv4) and netlink calls

    Links(tag)                       one netlink socket for the daemon's namespace, behind a lock
    links.ensure_bridge(name, "10.1.0.1/24")   make (or adopt our own) bridge, address it, up
    links.check_subnet_free(subnet, bridge)    refuse a subnet the host already routes elsewhere
    links.add_veth(host, bridge, netns_path, mac, label, "eth0", big_tcp=True, steer=True)
                                     the peer moved into the namespace, the host's end on the bridge
    links.remove(name), links.ours() -> [(name, kind, alias)]
    configure_inside(netns_path, "eth0", "10.1.0.2/24", gateway)  address, up, default route, in the netns

Rules: every link minidock makes carries an ifalias "minidock:<daemon id>:..."
(the tag), so a daemon finds what it left after a crash and never touches a link
it did not make: a bridge of that name without our tag is someone else's.
"""

from __future__ import annotations

import ipaddress
import threading

from minidock.errors import Conflict, Forbidden, MinidockError
from minidock.networking import bigtcp, steering
from minidock.networking.ipam import mac_for

CONTAINER_IFNAME = "eth0"


class Links:
    """The daemon's netlink socket in its own namespace (pyroute2's IPRoute is not thread-safe)."""

    def __init__(self, tag: str) -> None:
        from pyroute2 import IPRoute

        self.tag = tag                   # "minidock:<daemon id>"
        self._ipr = IPRoute()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._ipr.close()

    def _index(self, name: str) -> int | None:
        found = self._ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def alias_of(self, name: str) -> str | None:
        """The ifalias of link ``name`` ("" for none), or None if there is no such link."""
        with self._lock:
            index = self._index(name)
            if index is None:
                return None
            return self._ipr.get_links(index)[0].get_attr("IFLA_IFALIAS") or ""

    def ensure_bridge(self, name: str, address: str, mtu: int = 1500) -> None:
        """[NET-015] The bridge ``name`` with ``address`` (CIDR), up; ours or refused."""
        with self._lock:
            index = self._index(name)
            if index is not None:
                link = self._ipr.get_links(index)[0]
                alias = link.get_attr("IFLA_IFALIAS") or ""
                if not alias.startswith(self.tag):
                    # [NET-015] another daemon's (or the host's) bridge: never take it over
                    raise Conflict(f"bridge {name} already exists and is not this daemon's "
                                   f"(ifalias {alias!r}): choose another --bridge")
            else:
                self._ipr.link("add", ifname=name, kind="bridge")
                index = self._index(name)
                self._ipr.link("set", index=index, ifalias=f"{self.tag}:bridge")
            interface = ipaddress.IPv4Interface(address)
            # [NET-063] a MAC of its own, set once: a bridge without one takes the lowest of its
            # ports' MACs, so removing a container would change the gateway's MAC under the
            # others' ARP caches (their DNS and traffic to the gateway then stall for a while)
            self._ipr.link("set", index=index, address=mac_for(str(interface.ip)))
            have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in self._ipr.get_addr(index=index, family=2)}
            for found, prefix in have - {(str(interface.ip), interface.network.prefixlen)}:
                self._ipr.addr("del", index=index, address=found, prefixlen=prefix)
            if (str(interface.ip), interface.network.prefixlen) not in have:
                self._ipr.addr("add", index=index, address=str(interface.ip), prefixlen=interface.network.prefixlen)
            self._ipr.link("set", index=index, mtu=mtu, state="up")

    def check_subnet_free(self, subnet: ipaddress.IPv4Network, bridge: str) -> None:
        """[NET-015] Refuse ``subnet`` when a link other than ``bridge`` has an address or route in it."""
        with self._lock:
            own = self._index(bridge)
            names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in self._ipr.get_links()}
            for entry in self._ipr.get_addr(family=2):
                if entry["index"] == own:
                    continue
                network = ipaddress.IPv4Interface(f"{entry.get_attr('IFA_ADDRESS')}/{entry['prefixlen']}").network
                if network.overlaps(subnet) and not network.is_loopback:
                    raise Forbidden(f"Pool overlaps with other one on this address space "
                                    f"({subnet} overlaps {network} of {names.get(entry['index'], '?')})")
            for route in self._ipr.get_routes(family=2, table=254):
                destination = route.get_attr("RTA_DST")
                if destination is None or route.get_attr("RTA_OIF") == own:
                    continue
                network = ipaddress.IPv4Network(f"{destination}/{route['dst_len']}", strict=False)
                if route["dst_len"] > 0 and network.overlaps(subnet):
                    raise Forbidden(f"Pool overlaps with other one on this address space "
                                    f"({subnet} overlaps the route to {network})")

    def host_networks(self) -> list[ipaddress.IPv4Network]:
        """Every IPv4 network the host has a route or an address in (for choosing a free subnet)."""
        with self._lock:
            found = [ipaddress.IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}").network
                     for a in self._ipr.get_addr(family=2)]
            for route in self._ipr.get_routes(family=2, table=254):
                if route.get_attr("RTA_DST") and route["dst_len"] > 0:
                    found.append(ipaddress.IPv4Network(f"{route.get_attr('RTA_DST')}/{route['dst_len']}",
                                                       strict=False))
            return found

    def add_veth(self, host_name: str, bridge: str, netns_path: str, mac: str, label: str,
                 ifname: str = CONTAINER_IFNAME, mtu: int = 1500, big_tcp: bool = False,
                 steer: bool = False) -> None:
        """A veth pair: ``host_name`` on ``bridge``; its peer in the namespace as ``ifname`` with ``mac``.

        ``big_tcp``: both ends get the GSO/GRO limits of BIG TCP (bigtcp.py), set before the
        peer moves (a link keeps them across namespaces). ``steer``: the host's end spreads
        what it receives over the CPUs (RPS, steering.py).
        """
        import os

        peer = "t" + host_name[1:]  # a temporary name on the host, eth0 once moved
        with self._lock:
            self._ipr.link("add", ifname=host_name, kind="veth", peer=peer)
            try:
                host_index, peer_index = self._index(host_name), self._index(peer)
                self._ipr.link("set", index=host_index, ifalias=f"{self.tag}:{label}")
                self._ipr.link("set", index=peer_index, address=mac, mtu=mtu)
                self._ipr.link("set", index=host_index, mtu=mtu)
                if big_tcp:
                    bigtcp.raise_limits(host_index)  # [NET-112]
                    bigtcp.raise_limits(peer_index)
                fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    # moved and renamed in one request: eth0 exists only in the container's namespace
                    self._ipr.link("set", index=peer_index, net_ns_fd=fd, ifname=ifname)
                finally:
                    os.close(fd)
                if steer:
                    steering.spread_receive(host_name, host_index)  # [NET-113]
                self._ipr.link("set", index=host_index, master=self._index(bridge), state="up")
            except BaseException:
                self._remove(host_name)
                raise

    def remove(self, name: str) -> bool:
        """Delete our link ``name`` (a veth takes its peer along); False if not there or not ours."""
        with self._lock:
            return self._remove(name)

    def _remove(self, name: str) -> bool:
        index = self._index(name)
        if index is None:
            return False
        try:
            alias = self._ipr.get_links(index)[0].get_attr("IFLA_IFALIAS") or ""
            if not alias.startswith(self.tag + ":"):
                return False  # not ours (another daemon's bridge of the same name): never deleted
            self._ipr.link("del", index=index)
        except Exception as error:  # noqa: BLE001 - gone meanwhile: a namespace's end of a veth
            # goes when the kernel destroys that namespace, later than its last reference
            if self._index(name) is not None:
                raise MinidockError(f"cannot delete link {name}: {error}") from None
        return True

    def ours(self) -> list[tuple[str, str, str]]:
        """(name, kind, ifalias) of every link carrying this daemon's tag."""
        with self._lock:
            found = []
            for link in self._ipr.get_links():
                alias = link.get_attr("IFLA_IFALIAS") or ""
                if alias.startswith(self.tag + ":"):
                    info = link.get_attr("IFLA_LINKINFO")
                    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
                    found.append((link.get_attr("IFLA_IFNAME"), kind, alias))
            return found


def configure_inside(netns_path: str, ifname: str, address: str, gateway: str | None) -> None:
    """In the container's namespace: ``ifname`` up with ``address`` (CIDR), the default route via ``gateway``."""
    from pyroute2 import IPRoute

    from minidock.networking import sandbox

    interface = ipaddress.IPv4Interface(address)
    with sandbox.inside(netns_path), IPRoute() as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=index, address=str(interface.ip), prefixlen=interface.network.prefixlen)
        ipr.link("set", index=index, state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
