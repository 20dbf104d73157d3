"""The overlay driver: one layer-2 network across hosts, a VXLAN tunnel between them.

Implements: spec/networking.md NET-100 .. NET-106
Explained:  chapters/07-networking.md#overlay-networks
Modelled on: libnetwork's drivers/overlay (a bridge and a vxlan device per network, the
             forwarding entries pushed from the cluster's store, no flooding, no learning)

    OverlayDriver(links, rules)       the bridge driver, plus a vxlan link on each network's bridge
    Tunnels(tag)                      netlink for vxlan links: add_vxlan, add_forwarding, remove_forwarding
    driver.create_network(spec)       bridge (gateway address, NAT, isolation) + vx-<id> (VNI, UDP 4789)
    driver.add_peer(spec, peer)       FDB: peer's MAC -> its host's VTEP; neighbour: peer's IP -> MAC
    driver.remove_peer(spec, peer)    both entries gone: the peer is unreachable from here

    parse_peer(entry, pool) -> Peer               {"IP", "MAC", "VTEP"} checked     (pure)
    overlay_options(options, taken) -> options    the VNI checked or chosen        (pure)

    host A                                          host B
    container eth0 ─veth─ br-X ─ vx-X ═══UDP 4789═══ vx-X ─ br-X ─veth─ eth0 container
                          10.200.0.1 (gateway, on every host)

Rules: the vxlan device learns nothing and floods nothing (nolearning, no default
destination): a frame reaches another host only through an FDB entry that add_peer
wrote, and an ARP request is answered by the vxlan device itself (proxy) from the
neighbour entries, so no broadcast crosses the tunnel. The peers are the engine's
record of the network, given back after a restart; here nothing is kept.
The bridge and the vxlan device live in the daemon's namespace, not in a namespace
per network as dockerd's do (chapter 07 says why).
"""

from __future__ import annotations

import dataclasses
import errno
import re

from minidock.errors import Conflict, InvalidArgument
from minidock.networking.driver import BridgeDriver, NetworkSpec
from minidock.networking.ipam import Pool, parse_address
from minidock.networking.links import Links

VXLAN_PORT = 4789                  # IANA's VXLAN port, Docker's default data path port
OVERLAY_MTU = 1450                 # 1500 less VXLAN's 50 bytes (outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14)
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
VTEP_OPTION = "minidock.overlay.vtep"  # this host's tunnel address (minidock's; swarm gives dockerd its own)
FIRST_VNI = 4096                   # dockerd's first automatic VNI
MAX_VNI = (1 << 24) - 1
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NTF_SELF = 0x02                    # an FDB entry of the vxlan device itself (with a dst), not of its bridge


@dataclasses.dataclass(frozen=True)
class Peer:
    """A container on another host: its address and MAC on the overlay, and its host's VTEP."""

    address: str
    mac: str
    vtep: str

    def to_api(self) -> dict[str, str]:
        return {"IP": self.address, "MAC": self.mac, "VTEP": self.vtep}


def vxlan_name(network_id: str) -> str:
    """The vxlan device of a network: vx-<12 hex digits> (15 characters, IFNAMSIZ less one)."""
    return f"vx-{network_id[:12]}"


def parse_peer(entry: object, pool: Pool) -> Peer:
    """[NET-104] One {"IP", "MAC", "VTEP"}, checked: the IP in the subnet, a unicast MAC, an IPv4 VTEP."""
    if not isinstance(entry, dict):
        raise InvalidArgument(f"a peer is an object {{\"IP\", \"MAC\", \"VTEP\"}}, not {entry!r}")
    address = parse_address(str(entry.get("IP") or ""), "peer IP")
    if address not in pool.subnet or address in (pool.gateway, pool.subnet.network_address,
                                                 pool.subnet.broadcast_address):
        raise InvalidArgument(f"peer IP {address} is not a container address of the subnet {pool.subnet}")
    mac = str(entry.get("MAC") or "").lower()
    if not _MAC.match(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise InvalidArgument(f"invalid peer MAC {entry.get('MAC')!r}: six hex bytes, a unicast address")
    vtep = parse_address(str(entry.get("VTEP") or ""), "peer VTEP")
    if vtep.is_unspecified or vtep.is_multicast or vtep in pool.subnet:
        raise InvalidArgument(f"invalid peer VTEP {vtep}: the address of the peer's host, outside the overlay")
    return Peer(str(address), mac, str(vtep))


def overlay_options(options: dict[str, str], taken: dict[int, str]) -> dict[str, str]:
    """[NET-101] The network's options with its VNI: the one asked for (free, in range) or the first free.

    ``taken`` maps the VNIs of this daemon's other overlays to their names.
    """
    out = dict(options)
    wanted = str(options.get(VNI_OPTION) or "").strip()
    if wanted:
        if not wanted.isdigit() or not 1 <= int(wanted) <= MAX_VNI:
            raise InvalidArgument(f"invalid {VNI_OPTION} {wanted!r}: one VXLAN id, 1 to {MAX_VNI}")
        vni = int(wanted)
        if vni in taken:
            # [NET-101] one network per VNI: a second would get the first one's frames
            raise Conflict(f"vxlan id {vni} is already in use by network {taken[vni]}")
    else:
        vni = next(n for n in range(FIRST_VNI, MAX_VNI) if n not in taken)
    out[VNI_OPTION] = str(vni)
    vtep = options.get(VTEP_OPTION)
    if vtep:
        out[VTEP_OPTION] = str(parse_address(vtep, VTEP_OPTION))
    return out


class Tunnels(Links):
    """Netlink for vxlan links, on a socket of its own: the link, its FDB and neighbour entries."""

    def add_vxlan(self, name: str, vni: int, vtep: str, bridge: str, mtu: int) -> None:
        """[NET-100] A vxlan link ``name`` on ``bridge``: no learning, ARP answered from its entries."""
        from pyroute2.netlink.exceptions import NetlinkError

        settings = {"vxlan_id": vni, "vxlan_port": VXLAN_PORT,
                    "vxlan_learning": 0,   # the FDB is written by add_peer, never learnt from traffic
                    "vxlan_proxy": 1}      # ARP for a peer answered here, from the neighbour entries
        if vtep:
            settings["vxlan_local"] = vtep
        with self._lock:
            try:
                self._ipr.link("add", ifname=name, kind="vxlan", **settings)
            except NetlinkError as error:
                if error.code == errno.EEXIST:
                    # [NET-101] the kernel has one link per VNI and port in a namespace
                    raise Conflict(f"vxlan id {vni} is already in use on this host "
                                   f"(by another daemon's overlay or a link of the host)") from None
                raise
            index = self._index(name)
            try:
                self._ipr.link("set", index=index, ifalias=f"{self.tag}:vxlan")
                self._ipr.link("set", index=index, master=self._index(bridge), mtu=mtu, state="up")
            except BaseException:
                self._ipr.link("del", index=index)
                raise

    def add_forwarding(self, name: str, peer: Peer) -> None:
        """[NET-102] Frames to the peer's MAC go to its host's VTEP; its ARP is answered from here."""
        with self._lock:
            index = self._index(name)
            # NTF_SELF: an entry of the vxlan link itself (with a dst), not of the bridge above it
            self._ipr.fdb("replace", ifindex=index, lladdr=peer.mac, dst=peer.vtep, flags=NTF_SELF,
                          state=NUD_NOARP | NUD_PERMANENT)
            self._ipr.neigh("replace", ifindex=index, dst=peer.address, lladdr=peer.mac, state=NUD_PERMANENT)

    def remove_forwarding(self, name: str, peer: Peer) -> None:
        """[NET-103] Both entries gone (either one missing already is not an error)."""
        from pyroute2.netlink.exceptions import NetlinkError

        with self._lock:
            index = self._index(name)
            if index is None:
                return
            for call, arguments in ((self._ipr.fdb, {"lladdr": peer.mac, "dst": peer.vtep, "flags": NTF_SELF}),
                                    (self._ipr.neigh, {"dst": peer.address, "lladdr": peer.mac})):
                try:
                    call("del", ifindex=index, **arguments)
                except NetlinkError as error:
                    if error.code != errno.ENOENT:
                        raise


class OverlayDriver(BridgeDriver):
    """The bridge driver's bridge, veths and rules, with a vxlan link as the bridge's uplink."""

    name = "overlay"
    # No BIG TCP on its veths: their packets leave through the vxlan link, whose limit is
    # 64 KiB, and a bigger one would be cut in software into MTU-sized segments (5x slower)
    big_tcp = False
    # No RPS on its veths' host ends (NET-113) either: measured only between two containers on
    # one host's bridge; the overlay benchmark's daemons live in namespaces whose links /sys
    # does not show, so it could not tell what steering does to a tunnel's traffic
    steer_receive = False

    def __init__(self, links: Links, rules) -> None:
        super().__init__(links, rules)
        self.tunnels = Tunnels(links.tag)

    def close(self) -> None:
        self.tunnels.close()

    def create_network(self, network: NetworkSpec) -> None:
        """[NET-100] The bridge (as a bridge network's), then the vxlan link on it."""
        super().create_network(network)
        try:
            self.tunnels.remove(vxlan_name(network.id))  # ours from before a crash: made again from the record
            self.tunnels.add_vxlan(vxlan_name(network.id), network.vni, network.vtep, network.bridge, network.mtu)
        except BaseException:
            super().delete_network(network)
            raise

    def delete_network(self, network: NetworkSpec) -> None:
        """[NET-106] The vxlan link (its FDB and neighbour entries go with it), then the bridge."""
        self.tunnels.remove(vxlan_name(network.id))
        super().delete_network(network)

    def add_peer(self, network: NetworkSpec, peer: Peer) -> None:
        """[NET-102] A container on another host, reachable from this one."""
        self.tunnels.add_forwarding(vxlan_name(network.id), peer)

    def remove_peer(self, network: NetworkSpec, peer: Peer) -> None:
        """[NET-103] That container, unreachable from here."""
        self.tunnels.remove_forwarding(vxlan_name(network.id), peer)
