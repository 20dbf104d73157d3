"""IPAM: address pools, the gateway, static and dynamic addresses, and which subnet is free.

Implements: spec/networking.md NET-010 .. NET-014
Explained:  chapters/07-networking.md#ipam
Modelled on: libnetwork's ipam/allocator.go (address spaces, pools, RequestAddress)

    make_pool("10.1.0.0/24", gateway=None, ip_range=None) -> Pool     checked, Docker's words
    allocate(pool, used, wanted=None) -> "10.1.0.2"                     static or the first free
    overlapping(subnet, others) -> the first one it overlaps, or None
    choose_subnet(taken) -> the first default pool that overlaps nothing taken

Rules: pure. The addresses in use are the caller's (the network's record keeps
them, so they survive a restart); the network and broadcast addresses and the
gateway are never given out.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Iterable

from minidock.errors import Forbidden, InvalidArgument

# dockerd's default-address-pools, in the order it tries them: 172.17-31/16, then 192.168/20s
DEFAULT_POOLS = [f"172.{n}.0.0/16" for n in range(18, 32)] + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


@dataclasses.dataclass(frozen=True)
class Pool:
    """One IPv4 subnet of a network, its gateway, and the range containers get addresses from."""

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    ip_range: ipaddress.IPv4Network

    def to_api(self) -> dict[str, str]:
        """The IPAM.Config entry of a network's inspect."""
        entry = {"Subnet": str(self.subnet), "Gateway": str(self.gateway)}
        if self.ip_range != self.subnet:
            entry["IPRange"] = str(self.ip_range)
        return entry


def parse_network(text: str) -> ipaddress.IPv4Network:
    """A CIDR subnet ("10.1.0.0/24"); host bits set are refused as dockerd refuses them."""
    try:
        interface = ipaddress.IPv4Interface(text)
        if "/" not in text:
            raise ValueError(text)
    except ValueError:
        # [NET-011] Docker's words
        raise InvalidArgument(f"invalid CIDR address: {text}") from None
    return interface.network


def parse_address(text: str, what: str = "address") -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None


def make_pool(subnet: str, gateway: str | None = None, ip_range: str | None = None) -> Pool:
    """A checked pool: the gateway inside the subnet (default: its first address), the range too."""
    network = parse_network(subnet)
    if network.num_addresses < 4:
        raise InvalidArgument(f"invalid subnet {subnet}: too small for a gateway and a container")
    if gateway:
        address = parse_address(gateway, "gateway")
        if address not in network:
            # [NET-011] Docker's words
            raise Forbidden(f"no matching subnet for gateway {gateway}")
    else:
        address = network.network_address + 1
    addresses = parse_network(ip_range) if ip_range else network
    if not addresses.subnet_of(network):
        raise Forbidden(f"no matching subnet for range {ip_range}")
    return Pool(network, address, addresses)


def allocate(pool: Pool, used: Iterable[str], wanted: str | None = None) -> str:
    """An address for a new endpoint: ``wanted`` if free and inside, else the first free one."""
    # lab 07: begin: give out wanted (checked) or the first free address of the range
    taken = {ipaddress.IPv4Address(a) for a in used} | {pool.gateway}
    if wanted:
        address = parse_address(wanted)
        if address not in pool.subnet:
            # [NET-012] Docker's words
            raise InvalidArgument(f"Invalid address {wanted}: It does not belong to any of this network's subnets")
        if address in taken or address in (pool.subnet.network_address, pool.subnet.broadcast_address):
            # [NET-012] no address twice
            raise Forbidden("Address already in use")
        return str(address)
    for address in pool.ip_range.hosts():
        if address not in taken and address != pool.subnet.broadcast_address:
            return str(address)
    # Docker's words
    raise Forbidden(f"no available IPv4 addresses on this network's address pools: {pool.subnet}")
    # lab 07: end


def overlapping(subnet: ipaddress.IPv4Network,
                others: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    """The first of ``others`` that shares an address with ``subnet``."""
    for other in others:
        if subnet.overlaps(other):
            return other
    return None


def choose_subnet(taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """[NET-013] The first default pool that overlaps no network and no route the host has."""
    taken = list(taken)
    for candidate in DEFAULT_POOLS:
        network = ipaddress.IPv4Network(candidate)
        if overlapping(network, taken) is None:
            return network
    raise Forbidden("could not find an available, non-overlapping IPv4 address pool among "
                    "the defaults to assign to the network")


def mac_for(address: str) -> str:
    """Docker's MAC for an address: 02:42 then the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)
