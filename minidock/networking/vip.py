"""Service VIPs and the routing mesh: connections to a service spread over the service's tasks.

Implements: spec/networking.md NET-107 .. NET-110
Explained:  chapters/07-networking.md#service-vips
Modelled on: libnetwork's service_linux.go (a VIP per service, balanced in each container's
             own namespace) with nftables' numgen where dockerd uses IPVS

    parse_vip(body, pool) -> Vip           {"Name", "VIP", "Backends", "Aliases"} checked   (pure)
    ruleset(vips) -> str                   the nft script of one container's namespace      (pure)
    apply(netns_path, vips)                `nft -f` in that namespace: the whole table at once

    parse_ingress(body, pool) -> (address, [MeshPort])   a node's routing mesh, checked        (pure)
    ingress_ruleset(address, ports) -> str               the nft script of its ingress sandbox (pure)
    load(netns_path, script)

    table ip minidock-vip                  (in each container's namespace on the network)
      chain balance  nat hook output       ip daddr VIP dnat to numgen inc mod N map {0: task, ...}
      chain refuse   filter hook output    ip daddr VIP (no task left) -> reject

    table ip minidock-ingress              (in a node's ingress sandbox, for published ports)
      chain balance  nat hook prerouting   ip daddr SANDBOX tcp dport T dnat to numgen ... map {0: task, ...}
      chain leave    nat hook postrouting  ct status dnat masquerade (the task answers the sandbox)

Rules: the balancing happens where the connection starts, in the client's own
namespace, so the answer comes back to the conntrack entry that rewrote it, on
whichever host the chosen task runs (a balancer in the middle would need SNAT).
Only a connection's first packet goes through the nat hook: each new connection
takes the next task (round robin), its packets all go to that one. A VIP applies
to every port, as dockerd's (its IPVS service is keyed by a firewall mark). The
kernel here has no IPVS (CONFIG_IP_VS is not set), which dockerd needs; numgen does
the same job for round robin. The routing mesh balances in the middle, so its
sandbox rewrites the source too (masquerade), as dockerd's ingress-sbox does.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

from minidock.errors import InvalidArgument, MinidockError
from minidock.networking.ipam import Pool, parse_address

TABLE = "minidock-vip"
INGRESS_TABLE = "minidock-ingress"
PROTOCOLS = ("tcp", "udp")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Vip:
    """A service's virtual address on one network, the addresses of its tasks, its DNS names."""

    name: str
    address: str
    backends: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    def to_api(self) -> dict:
        return {"Name": self.name, "VIP": self.address, "Backends": list(self.backends),
                "Aliases": list(self.aliases)}


def parse_vip(body: object, pool: Pool) -> Vip:
    """[NET-107] A VIP, checked: a name, an address of the subnet, backends in the subnet."""
    if not isinstance(body, dict):
        raise InvalidArgument("a VIP is an object {\"Name\", \"VIP\", \"Backends\"}")
    name = body.get("Name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(f"invalid service name {name!r}: [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    address = parse_address(str(body.get("VIP") or ""), "VIP")
    if address not in pool.subnet or address in (pool.gateway, pool.subnet.network_address,
                                                 pool.subnet.broadcast_address):
        raise InvalidArgument(f"VIP {address} is not a free-standing address of the subnet {pool.subnet}")
    backends = body.get("Backends") or []
    aliases = body.get("Aliases") or []
    if not isinstance(backends, list) or not isinstance(aliases, list):
        raise InvalidArgument("Backends and Aliases are lists")
    checked = []
    for backend in backends:
        backend_address = parse_address(str(backend), "backend")
        if backend_address not in pool.subnet or backend_address == address:
            raise InvalidArgument(f"backend {backend_address} is not a task address of the subnet {pool.subnet}")
        if str(backend_address) not in checked:
            checked.append(str(backend_address))
    for alias in aliases:
        if not isinstance(alias, str) or not _NAME.match(alias):
            raise InvalidArgument(f"invalid alias {alias!r}")
    return Vip(name, str(address), tuple(checked), tuple(aliases))


def ruleset(vips: list[Vip]) -> str:
    """[NET-108] The nft script that makes a namespace's VIP table what ``vips`` say (atomically)."""
    # "table" first makes sure the delete finds one; nft -f runs the file as one transaction
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}"]
    if not vips:
        return "\n".join(lines) + "\n"
    lines += [f"table ip {TABLE} {{",
              "  chain balance {", "    type nat hook output priority -100; policy accept;"]
    for vip in vips:
        if vip.backends:
            choices = ", ".join(f"{n} : {backend}" for n, backend in enumerate(vip.backends))
            lines.append(f"    ip daddr {vip.address} dnat to numgen inc mod {len(vip.backends)} map {{ {choices} }}")
    lines += ["  }", "  chain refuse {", "    type filter hook output priority 0; policy accept;"]
    for vip in vips:
        # [NET-109] reached only by what the nat chain left alone: a VIP with no task refuses at once
        lines.append(f"    ip daddr {vip.address} meta l4proto tcp reject with tcp reset")
        lines.append(f"    ip daddr {vip.address} reject")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class MeshPort:
    """A service's published port: on every node's addresses, to the target port of its tasks."""

    protocol: str
    published: int
    target: int
    backends: tuple[str, ...]

    def to_api(self) -> dict:
        return {"Protocol": self.protocol, "PublishedPort": self.published, "TargetPort": self.target,
                "Backends": list(self.backends)}


def _port(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidArgument(f"invalid {what} {value!r}: 1 to 65535")
    return value


def parse_ingress(body: object, pool: Pool) -> tuple[str, list[MeshPort]]:
    """[NET-110] {"Address", "Ports": [{"Protocol", "PublishedPort", "TargetPort", "Backends"}]}, checked."""
    if not isinstance(body, dict) or not isinstance(body.get("Ports", []), list):
        raise InvalidArgument("a body {\"Address\", \"Ports\": [...]} is required")
    address = parse_address(str(body.get("Address") or ""), "ingress address")
    if address not in pool.subnet or address in (pool.gateway, pool.subnet.network_address,
                                                 pool.subnet.broadcast_address):
        raise InvalidArgument(f"ingress address {address} is not a free-standing address of {pool.subnet}")
    ports, seen = [], set()
    for entry in body.get("Ports") or []:
        if not isinstance(entry, dict):
            raise InvalidArgument(f"a port is an object, not {entry!r}")
        protocol = entry.get("Protocol") or "tcp"
        if protocol not in PROTOCOLS:
            raise InvalidArgument(f"invalid protocol {protocol!r}: tcp or udp")
        published = _port(entry.get("PublishedPort"), "PublishedPort")
        target = _port(entry.get("TargetPort"), "TargetPort")
        if (protocol, published) in seen:
            raise InvalidArgument(f"port {published}/{protocol} is published twice")
        seen.add((protocol, published))
        backends = parse_vip({"Name": "mesh", "VIP": str(address), "Backends": entry.get("Backends") or []},
                             pool).backends
        ports.append(MeshPort(protocol, published, target, backends))
    return str(address), ports


def ingress_ruleset(address: str, ports: list[MeshPort]) -> str:
    """[NET-110] The ingress sandbox's table: each target port balanced over its tasks, the source rewritten."""
    lines = [f"table ip {INGRESS_TABLE}", f"delete table ip {INGRESS_TABLE}",
             f"table ip {INGRESS_TABLE} {{", "  chain balance {",
             "    type nat hook prerouting priority -100; policy accept;"]
    for port in ports:
        if port.backends:
            choices = ", ".join(f"{n} : {backend}" for n, backend in enumerate(port.backends))
            lines.append(f"    ip daddr {address} {port.protocol} dport {port.target} "
                         f"dnat to numgen inc mod {len(port.backends)} map {{ {choices} }}")
    lines += ["  }", "  chain leave {", "    type nat hook postrouting priority 100; policy accept;",
              # the task must answer the sandbox, not the client: it would drop an answer from the task
              "    ct status dnat masquerade", "  }", "}"]
    return "\n".join(lines) + "\n"


def apply(netns_path: str, vips: list[Vip]) -> None:
    """Load ``ruleset(vips)`` in the namespace at ``netns_path``."""
    load(netns_path, ruleset(vips))


def load(netns_path: str, script: str) -> None:
    """Run an nft script in the namespace at ``netns_path`` (one transaction)."""
    result = subprocess.run(["nsenter", f"--net={netns_path}", "nft", "-f", "-"], input=script,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise MinidockError(f"cannot load the nftables rules in {netns_path}: {result.stderr.strip()}")
