"""Netfilter through nftables: the same rules as firewall.py's, in a table of the daemon's own.

Implements: spec/networking.md NET-018, NET-084
Explained:  chapters/07-networking.md#netfilter
Modelled on: netavark's nftables firewall driver (podman), one table per owner

    table ip minidock-<id>     (and table ip6 minidock-<id> for IPv6 networks, the same chains)
      chain forward      filter hook forward      isolation, internal networks, accepts
      chain isolation                              "oifname <bridge> drop" for each network
      chain prerouting   nat hook prerouting       to a local address -> jump published
      chain output       nat hook output           to a local address, not loopback -> jump published
      chain published                              published ports (DNAT)
      chain postrouting  nat hook postrouting      MASQUERADE of each non-internal subnet

    network_rules(bridge, subnet, internal) / port_rules(...) -> [(chain, rule)]   pure
    Nftables(daemon_id): setup(), teardown(), add(rules), delete(rules)            the shell

Rules: every rule carries a comment naming it (a digest of its text), which is how
delete() finds its handle; teardown() deletes the table, and with it everything.
An accept here does not overrule a drop of another table (iptables-nft's, say):
each base chain of a hook sees the packet, and any drop is final.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

from minidock.errors import MinidockError

Rules = list[tuple[str, str]]  # (chain, rule)


def table_name(daemon_id: str) -> str:
    return f"minidock-{daemon_id}"


def network_rules(bridge: str, subnet: str, internal: bool, family: str = "ip") -> Rules:
    """[NET-018] What one bridge network adds, as firewall.network_rules does with iptables."""
    if internal:
        return [("forward", f'iifname "{bridge}" oifname != "{bridge}" drop'),
                ("forward", f'oifname "{bridge}" iifname != "{bridge}" drop')]
    return [("isolation", f'oifname "{bridge}" drop'),
            ("forward", f'iifname "{bridge}" oifname != "{bridge}" jump isolation'),
            ("forward", f'oifname "{bridge}" ct state related,established accept'),
            ("forward", f'iifname "{bridge}" accept'),
            ("published", f'iifname "{bridge}" return'),
            ("postrouting", f'{family} saddr {subnet} oifname != "{bridge}" masquerade')]


def port_rules(bridge: str, container_ip: str, protocol: str, host_ip: str, host_port: int,
               container_port: int) -> Rules:
    """[NET-018] DNAT of one published port, and its accept."""
    destination = "" if host_ip in ("", "0.0.0.0") else f"ip daddr {host_ip} "
    return [("published", f'{destination}iifname != "{bridge}" {protocol} dport {host_port} '
                     f"dnat to {container_ip}:{container_port}"),
            ("forward", f'ip daddr {container_ip} iifname != "{bridge}" oifname "{bridge}" {protocol} '
                        f"dport {container_port} accept")]


def _tag(chain: str, rule: str) -> str:
    return "md-" + hashlib.sha256(f"{chain} {rule}".encode()).hexdigest()[:16]


class Nftables:
    """The shell: `nft -f -` to change, `nft -j list table` to find rules by their comments."""

    def __init__(self, daemon_id: str, family: str = "ip") -> None:
        self.daemon_id = daemon_id
        self.table = table_name(daemon_id)
        self.family = family  # "ip6": the same chains for IPv6 networks (NET-084), in a table of that family

    def network_rules(self, bridge: str, subnet: str, internal: bool) -> Rules:
        return network_rules(bridge, subnet, internal, self.family)

    def port_rules(self, bridge: str, container_ip: str, protocol: str, host_ip: str, host_port: int,
                   container_port: int) -> Rules:
        return port_rules(bridge, container_ip, protocol, host_ip, host_port, container_port)

    def _nft(self, script: str) -> None:
        result = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
        if result.returncode != 0:
            raise MinidockError(f"nft failed: {result.stderr.strip()}\n{script}")

    def _exists(self) -> bool:
        return subprocess.run(["nft", "list", "table", self.family, self.table], capture_output=True).returncode == 0

    def setup(self) -> None:
        """The table and its chains, empty (after removing what an earlier run left)."""
        self.teardown()
        loopback = "ip6 daddr != ::1" if self.family == "ip6" else "ip daddr != 127.0.0.0/8"
        self._nft(f"""table {self.family} {self.table} {{
  chain forward {{ type filter hook forward priority filter; policy accept; }}
  chain isolation {{ }}
  chain published {{ }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump published; }}
  chain output {{ type nat hook output priority -100; policy accept; {loopback} fib daddr type local jump published; }}
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
}}
""")

    def teardown(self) -> None:
        """[NET-005] The table, and every rule in it."""
        if self._exists():
            self._nft(f"delete table {self.family} {self.table}\n")

    def add(self, rules: Rules) -> None:
        if rules:
            self._nft("".join(f'add rule {self.family} {self.table} {chain} {rule} comment "{_tag(chain, rule)}"\n'
                              for chain, rule in rules))

    def delete(self, rules: Rules) -> None:
        """Delete ``rules`` by the handles their comments lead to; one already gone is skipped."""
        wanted = {_tag(chain, rule): chain for chain, rule in rules}
        listed = subprocess.run(["nft", "-j", "-a", "list", "table", self.family, self.table], capture_output=True,
                                text=True)
        if listed.returncode != 0 or not wanted:
            return
        lines = []
        for item in json.loads(listed.stdout).get("nftables", []):
            rule = item.get("rule")
            if rule and rule.get("comment") in wanted:
                lines.append(f"delete rule {self.family} {self.table} {rule['chain']} handle {rule['handle']}\n")
        if lines:
            self._nft("".join(lines))
