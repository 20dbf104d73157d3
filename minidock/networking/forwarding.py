"""IP forwarding: the host routes between its bridges and the rest, turned on as dockerd does.

Implements: spec/networking.md NET-043
Explained:  chapters/07-networking.md#netfilter
Modelled on: libnetwork's drivers/bridge/setup_ip_forwarding.go

    enable(rules) -> bool     at the daemon's start, in its network namespace: True if it
                              turned forwarding on (and then set the FORWARD policy to DROP)

Why: a container's packet to another host comes in on the bridge and goes out on
another link, and a published port's packet the other way: the kernel forwards
either only with net.ipv4.ip_forward = 1. It is 0 on a fresh Debian host, and in
every new network namespace (the swarm tests' hosts).

Rules: a host that forwards already is left as it is. One that did not gets
ip_forward = 1 and, with iptables, the filter table's FORWARD policy DROP, as dockerd
does: turning forwarding on must not make the host a router between all its other
links. Our chains accept what our networks need (firewall.network_rules,
port_rules). With nftables there is no shared FORWARD chain to set a policy on:
forwarding is turned on, and nothing else changes.
"""

from __future__ import annotations

import subprocess

from minidock.errors import MinidockError

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def enable(rules, path: str = IP_FORWARD) -> bool:
    """[NET-043] Turn IPv4 forwarding on if it is off; return whether this call did."""
    with open(path) as file:
        if file.read().strip() == "1":
            return False
    binary = getattr(rules, "binary", None)  # firewall.Iptables; nftables.Nftables has none
    if binary is not None:
        # the policy first: if it cannot be set, forwarding stays off rather than open to all
        result = subprocess.run([binary, "-w", "-t", "filter", "-P", "FORWARD", "DROP"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise MinidockError(f"cannot set the FORWARD policy to DROP: {result.stderr.strip()}")
    with open(path, "w") as file:
        file.write("1")
    return True
