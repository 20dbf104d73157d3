"""Chapter 7's figures: a packet's path through the bridge and netfilter, in and out.

Explained:  chapters/07-networking.md#netfilter

    packet_path()   a container's packet out (FORWARD, MASQUERADE) and a published port's in
                    (DNAT, FORWARD), each hook labelled with the rule `firewall` writes there
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, quoted

DAEMON_ID = "3f2a9c1e"
BRIDGE, SUBNET, CONTAINER_IP = "minidock0", "172.18.0.0/16", "172.18.0.2"
PUBLISHED = ("tcp", "", 8080, 80)  # docker run -p 8080:80
VETH_NOTE = "\n(one end of a veth pair)"
BRIDGE_NOTE = "\n(the bridge: the veth's other end is its port)"


def _rules(batch: dict[str, list[tuple[str, str]]], table: str, chain: str) -> list[str]:
    return [rule for owner, rule in batch.get(table, []) if owner == chain]


def packet_path() -> str:
    """`docker run -p 8080:80` on the default bridge: the rules of `network_rules()` and `port_rules()` at the netfilter hooks a packet crosses. Going out (left), the container's packet is forwarded from the bridge and leaves with the host's address (MASQUERADE); coming in (right), a packet to the host's port 8080 gets the container's address before routing (DNAT) and is let through to the bridge. Conntrack undoes each rewrite on the replies."""
    from minidock.networking import firewall

    code_name("minidock.networking.firewall:network_rules")
    code_name("minidock.networking.firewall:port_rules")
    chains = firewall.chains(DAEMON_ID)
    network = firewall.network_rules(chains, BRIDGE, SUBNET, internal=False)
    port = firewall.port_rules(chains, BRIDGE, CONTAINER_IP, *PUBLISHED)

    def hook(node: str, title: str, rules: list[str], fill: str = NEW) -> str:
        text = title + "\n" + "\n".join(rules)
        return f"{node} [label={quoted(text)}, fillcolor={quoted(fill)}, nojustify=true];"

    forward_out = [rule for rule in _rules(network, "filter", chains.main) if rule.endswith("ACCEPT")][-1:]
    lines = [
        'subgraph cluster_container { label="the container\'s network namespace"; style="rounded,filled"; '
        f'fillcolor="{FILL}"; color="#90a4ae";',
        f"  app [label={quoted('eth0 ' + CONTAINER_IP + VETH_NOTE)}, fillcolor=white];",
        "}",
        'subgraph cluster_host { label="the host\'s network namespace"; style="rounded,filled"; '
        f'fillcolor="{HOST}"; color="#bcaaa4";',
        f"  bridge [label={quoted(BRIDGE + BRIDGE_NOTE)}, fillcolor=white];",
        "  " + hook("forward_out", f"filter FORWARD -> {chains.main}", forward_out),
        "  " + hook("postrouting", f"nat POSTROUTING -> {chains.post}", _rules(network, "nat", chains.post)),
        "  " + hook("prerouting", f"nat PREROUTING -> {chains.main}", _rules(port, "nat", chains.main)),
        "  " + hook("forward_in", f"filter FORWARD -> {chains.main}", _rules(port, "filter", chains.main)),
        "  uplink [label=\"the host's own interface (eth0)\", fillcolor=white];",
        "}",
        'outside [label="another host", shape=ellipse, fillcolor=white];',
        "app -> bridge [label=\" out\"];",
        "bridge -> forward_out -> postrouting -> uplink;",
        "uplink -> outside [label=\" source: the host's address\"];",
        f"outside -> prerouting [label=\" to the host, port {PUBLISHED[2]}\", constraint=false];",
        f"prerouting -> forward_in [label=\" to {CONTAINER_IP}:{PUBLISHED[3]}\"];",
        "forward_in -> bridge [label=\" in\", constraint=false];",
    ]
    return digraph(lines)
