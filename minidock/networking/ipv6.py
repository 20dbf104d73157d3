"""IPv6 on bridge networks: a second subnet beside the IPv4 one, dual-stack endpoints.

Implements: spec/networking.md NET-080 .. NET-084
Explained:  chapters/07-networking.md#ipv6
Modelled on: libnetwork's bridge driver (setupBridgeIPv6, the endpoint's IPv6 address and
             its default route) and the IPv6 half of its IPAM

    split_configs(IPAM.Config, enable_ipv6) -> (IPv4 config | None, IPv6 config | None)   pure
    make_pool6("fd00:1::/64", gateway=None) -> Pool6                checked, Docker's words
    allocate6(pool6, used, wanted=None) -> "fd00:1::2"                static or the first free
    address_bridge(bridge, pool6)                    the gateway's address on the bridge (no DAD)
    configure_inside6(netns_path, "eth0", "fd00:1::2/64", gateway)   address and ::/0 route, in the netns

Rules: the pure half has no I/O. Addresses are set with IFA_F_NODAD: duplicate address
detection would hold each address "tentative" for a second or more, and the IPAM
already gives every address once. The host's IPv6 forwarding is left as it is:
containers on one network reach each other (one link, no routing) and the gateway;
nothing routes their IPv6 traffic off the bridge, so there is no NAT66 either.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Iterable

from minidock.errors import Forbidden, InvalidArgument

IFA_F_NODAD = 0x02  # linux/if_addr.h


@dataclasses.dataclass(frozen=True)
class Pool6:
    """The IPv6 subnet of a network and its gateway."""

    subnet: ipaddress.IPv6Network
    gateway: ipaddress.IPv6Address

    def to_api(self) -> dict[str, str]:
        """The IPAM.Config entry of a network's inspect."""
        return {"Subnet": str(self.subnet), "Gateway": str(self.gateway)}


def is_ipv6(config: dict) -> bool:
    return ":" in str(config.get("Subnet") or "")


def split_configs(configs: list[dict], enable_ipv6: bool) -> tuple[dict | None, dict | None]:
    """[NET-080] One IPv4 and one IPv6 IPAM config at most; an IPv6 one only with EnableIPv6."""
    v4 = [c for c in configs if not is_ipv6(c)]
    v6 = [c for c in configs if is_ipv6(c)]
    if len(v4) > 1 or len(v6) > 1:
        raise InvalidArgument("minidock networks have one IPv4 subnet and, with --ipv6, one IPv6 subnet")
    if v6 and not enable_ipv6:
        # [NET-083] dockerd 20.10 keeps such a subnet in inspect and gives nobody an address of it
        raise InvalidArgument(f"an IPv6 subnet ({v6[0]['Subnet']}) needs --ipv6 (EnableIPv6)")
    if enable_ipv6 and not v6:
        # [NET-083] dockerd's words (it has no default IPv6 pool for user networks; it answers 404)
        raise InvalidArgument("could not find an available, non-overlapping IPv6 address pool among the "
                              "defaults to assign to the network")
    return (v4[0] if v4 else None), (v6[0] if v6 else None)


def parse_network6(text: str) -> ipaddress.IPv6Network:
    """An IPv6 CIDR ("fd00:1::/64"); anything else is refused in Docker's words."""
    try:
        interface = ipaddress.IPv6Interface(text)
        if "/" not in text:
            raise ValueError(text)
    except ValueError:
        # [NET-083] Docker's words
        raise InvalidArgument(f"invalid CIDR address: {text}") from None
    return interface.network


def make_pool6(subnet: str, gateway: str | None = None) -> Pool6:
    """[NET-080] A checked IPv6 pool: the gateway inside the subnet (default: its first address)."""
    network = parse_network6(subnet)
    if network.prefixlen > 126:
        raise InvalidArgument(f"invalid subnet {subnet}: too small for a gateway and a container")
    if gateway:
        try:
            address = ipaddress.IPv6Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway: {gateway}") from None
        if address not in network:
            # Docker's words
            raise Forbidden(f"no matching subnet for gateway {gateway}")
    else:
        address = network.network_address + 1
    return Pool6(network, address)


def allocate6(pool: Pool6, used: Iterable[str], wanted: str | None = None) -> str:
    """[NET-081] ``wanted`` if free and inside the subnet, else the first free address after the gateway."""
    taken = {ipaddress.IPv6Address(a) for a in used} | {pool.gateway, pool.subnet.network_address}
    if wanted:
        try:
            address = ipaddress.IPv6Address(wanted)
        except ValueError:
            raise InvalidArgument(f"invalid IPv6 address: {wanted}") from None
        if address not in pool.subnet:
            # Docker's words
            raise InvalidArgument(f"Invalid address {wanted}: It does not belong to any of this network's subnets")
        if address in taken:
            raise Forbidden("Address already in use")
        return str(address)
    address = pool.subnet.network_address + 1
    for _ in range(65536):  # a /64 never runs out; a small subnet does
        address += 1
        if address not in pool.subnet:
            break
        if address not in taken:
            return str(address)
    raise Forbidden(f"no available IPv6 addresses on this network's address pools: {pool.subnet}")


def overlapping6(subnet: ipaddress.IPv6Network, others: Iterable[dict]) -> bool:
    """Whether ``subnet`` shares an address with one of the IPAM configs ``others``."""
    return any(is_ipv6(c) and subnet.overlaps(ipaddress.IPv6Network(c["Subnet"])) for c in others)


# -- the thin shell ---------------------------------------------------------------------------

def _enable(ifname: str) -> None:
    """IPv6 on for the link (a host or an image may have turned it off by default)."""
    with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as file:
        file.write("0")


def address_bridge(bridge: str, pool: Pool6) -> None:
    """[NET-080] The gateway's IPv6 address on the network's bridge (again after a restart)."""
    from pyroute2 import IPRoute

    _enable(bridge)
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=bridge)[0]
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=10)}
        if str(pool.gateway) not in have:
            ipr.addr("add", index=index, address=str(pool.gateway), prefixlen=pool.subnet.prefixlen,
                     family=10, flags=IFA_F_NODAD)


def configure_inside6(netns_path: str, ifname: str, address: str, prefixlen: int, gateway: str | None) -> None:
    """[NET-081] In the container's namespace: the IPv6 address on ``ifname``, the ::/0 route via ``gateway``."""
    from pyroute2 import IPRoute

    from minidock.networking import sandbox

    with sandbox.inside(netns_path), IPRoute() as ipr:
        _enable(ifname)  # /proc/sys/net is the namespace's own once inside it
        index = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, family=10, flags=IFA_F_NODAD)
        if gateway:
            ipr.route("add", dst="::/0", gateway=gateway, family=10)
