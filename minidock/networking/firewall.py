"""Netfilter through iptables: outbound NAT, isolation of networks, published ports (DNAT).

Implements: spec/networking.md NET-040 .. NET-042
Explained:  chapters/07-networking.md#netfilter
Modelled on: libnetwork's drivers/bridge/setup_ip_tables.go and iptables/iptables.go

    chains(daemon_id) -> Chains             the daemon's own chains: MINIDOCK-<id>, -ISO, -POST
    network_rules(chains, bridge, subnet, internal) -> {table: [rule]}    pure
    port_rules(chains, bridge, container_ip, binding) -> {table: [rule]}  pure
    Iptables(chains): setup(), teardown(), add(rules), delete(rules)      the thin shell

    choose(daemon_id) -> Iptables | nftables.Nftables   at start: iptables if the host has it

    filter FORWARD     -> MINIDOCK-<id>        isolation, internal networks, accepts
                          MINIDOCK-<id>-ISO    "-o <other bridge> -j DROP" for each network
    nat PREROUTING/OUTPUT (to a local address) -> MINIDOCK-<id>     DNAT of published ports
    nat POSTROUTING    -> MINIDOCK-<id>-POST   MASQUERADE of each non-internal subnet

Rules: a daemon's rules live in chains named after it (and every jump to them
carries the comment "minidock:<id>"), so several daemons never step on each
other and teardown() finds everything, even after a crash. Each change is one
iptables-restore --noflush call: the whole batch or nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

from minidock.errors import MinidockError, Unavailable


@dataclasses.dataclass(frozen=True)
class Chains:
    """The names of one daemon's chains and the comment on its jumps."""

    main: str       # filter: isolation and accepts; nat: DNAT
    isolation: str  # filter: drops between this daemon's bridges
    post: str       # nat: masquerade
    comment: str


def chains(daemon_id: str) -> Chains:
    base = f"MINIDOCK-{daemon_id}"  # iptables allows 28 characters
    return Chains(base, f"{base}-ISO", f"{base}-POST", f"minidock:{daemon_id}")


def jumps(c: Chains, loopback: str = "127.0.0.0/8") -> dict[str, list[tuple[str, str]]]:
    """The jumps from the built-in chains to ours: {table: [(built-in chain, rule)]} (``loopback``: ::1/128 for ip6tables)."""
    tag = f"-m comment --comment {c.comment}"
    return {
        "filter": [("FORWARD", f"{tag} -j {c.main}")],
        "nat": [("PREROUTING", f"-m addrtype --dst-type LOCAL {tag} -j {c.main}"),
                # the host's own connections to its addresses, but not to loopback: the proxy has those
                ("OUTPUT", f"! -d {loopback} -m addrtype --dst-type LOCAL {tag} -j {c.main}"),
                ("POSTROUTING", f"{tag} -j {c.post}")],
    }


def network_rules(c: Chains, bridge: str, subnet: str, internal: bool) -> dict[str, list[tuple[str, str]]]:
    """[NET-040] [NET-041] [NET-042] The rules one bridge network adds."""
    if internal:
        return {"filter": [(c.main, f"-i {bridge} ! -o {bridge} -j DROP"),
                           (c.main, f"-o {bridge} ! -i {bridge} -j DROP")], "nat": []}
    return {
        "filter": [
            (c.isolation, f"-o {bridge} -j DROP"),                     # nobody else's bridge reaches it
            (c.main, f"-i {bridge} ! -o {bridge} -j {c.isolation}"),   # its traffic to other bridges: checked
            (c.main, f"-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            (c.main, f"-i {bridge} -j ACCEPT"),                         # out (a DROP policy would stop it)
        ],
        "nat": [(c.main, f"-i {bridge} -j RETURN"),                     # its own: the proxy answers
                (c.post, f"-s {subnet} ! -o {bridge} -j MASQUERADE")],
    }


def port_rules(c: Chains, bridge: str, container_ip: str, protocol: str, host_ip: str,
               host_port: int, container_port: int) -> dict[str, list[tuple[str, str]]]:
    """[NET-030] DNAT of one published port, and its accept for a DROP policy."""
    destination = "" if host_ip in ("", "0.0.0.0") else f"-d {host_ip}/32 "
    return {
        "nat": [(c.main, f"{destination}! -i {bridge} -p {protocol} -m {protocol} --dport {host_port} "
                         f"-j DNAT --to-destination {container_ip}:{container_port}")],
        "filter": [(c.main, f"-d {container_ip}/32 ! -i {bridge} -o {bridge} -p {protocol} -m {protocol} "
                            f"--dport {container_port} -j ACCEPT")],
    }


def merge(*batches: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for batch in batches:
        for table, rules in batch.items():
            out.setdefault(table, []).extend(rules)
    return out


class Iptables:
    """The shell: iptables-save to read, iptables-restore --noflush to change, nothing else."""

    def __init__(self, c: Chains, binary: str = "iptables") -> None:
        self.chains = c
        self.binary = binary

    def network_rules(self, bridge: str, subnet: str, internal: bool) -> dict[str, list[tuple[str, str]]]:
        return network_rules(self.chains, bridge, subnet, internal)

    def port_rules(self, bridge: str, container_ip: str, protocol: str, host_ip: str, host_port: int,
                   container_port: int) -> dict[str, list[tuple[str, str]]]:
        return port_rules(self.chains, bridge, container_ip, protocol, host_ip, host_port, container_port)

    def _restore(self, text: str) -> None:
        result = subprocess.run([f"{self.binary}-restore", "--noflush", "-w"], input=text,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise MinidockError(f"iptables-restore failed: {result.stderr.strip()}\n{text}")

    def _batch(self, verb: str, rules: dict[str, list[tuple[str, str]]]) -> str:
        lines = []
        for table, entries in rules.items():
            if entries:
                lines += [f"*{table}", *(f"{verb} {chain} {rule}" for chain, rule in entries), "COMMIT"]
        return "\n".join(lines) + "\n"

    def add(self, rules: dict[str, list[tuple[str, str]]]) -> None:
        if any(rules.values()):
            self._restore(self._batch("-A", rules))

    def delete(self, rules: dict[str, list[tuple[str, str]]]) -> None:
        """Delete ``rules``; each that is gone already is skipped (a crash may have left half)."""
        present = self.listed()
        wanted = {table: [(chain, rule) for chain, rule in entries
                          if _normal(f"-A {chain} {rule}") in present.get(table, set())]
                  for table, entries in rules.items()}
        if any(wanted.values()):
            self._restore(self._batch("-D", wanted))

    def listed(self) -> dict[str, set[str]]:
        """The rules of our chains and the jumps to them, per table, as iptables-save prints them."""
        out: dict[str, set[str]] = {}
        for table in ("filter", "nat"):
            result = subprocess.run([f"{self.binary}-save", "-t", table], capture_output=True, text=True)
            mine = self.chains.main
            out[table] = {_normal(line) for line in result.stdout.splitlines()
                          if line.startswith("-A ") and mine in line}
        return out

    def setup(self) -> None:
        """Our empty chains and the jumps to them (after removing whatever an earlier run left)."""
        self.teardown()
        c = self.chains
        loopback = "::1/128" if self.binary == "ip6tables" else "127.0.0.0/8"
        text = (f"*filter\n:{c.main} - [0:0]\n:{c.isolation} - [0:0]\n"
                + "".join(f"-I {chain} 1 {rule}\n" for chain, rule in jumps(c, loopback)["filter"])
                + f"COMMIT\n*nat\n:{c.main} - [0:0]\n:{c.post} - [0:0]\n"
                + "".join(f"-A {chain} {rule}\n" for chain, rule in jumps(c, loopback)["nat"]) + "COMMIT\n")
        self._restore(text)

    def teardown(self) -> None:
        """[NET-005] Remove our jumps and chains, wherever they are."""
        c = self.chains
        ours = {c.main, c.isolation, c.post}
        lines = []
        for table in ("filter", "nat"):
            result = subprocess.run([f"{self.binary}-save", "-t", table], capture_output=True, text=True)
            declared = {line[1:].split()[0] for line in result.stdout.splitlines() if line.startswith(":")}
            present = ours & declared
            jumps_to_us = [line for line in result.stdout.splitlines()
                           if line.startswith("-A ") and line.split()[1] not in ours and _jump_target(line) in ours]
            if not present and not jumps_to_us:
                continue
            lines.append(f"*{table}")
            lines += ["-D " + line[3:] for line in jumps_to_us]
            lines += [f"-F {name}" for name in sorted(present)]
            lines += [f"-X {name}" for name in sorted(present)]
            lines.append("COMMIT")
        if lines:
            self._restore("\n".join(lines) + "\n")


def _jump_target(line: str) -> str:
    words = line.split()
    return words[words.index("-j") + 1] if "-j" in words else ""


def _normal(line: str) -> str:
    """A rule as a comparable set of words (iptables-save reorders nothing we write, but spacing)."""
    return " ".join(line.replace('"', "").split())


def has_ip6tables() -> bool:
    """[NET-084] Whether the host has ip6tables for the IPv6 half of the rules."""
    return bool(shutil.which("ip6tables-restore") and shutil.which("ip6tables-save"))


def choose(daemon_id: str, wanted: str = ""):
    """[NET-018] The backend, chosen at start: iptables when the host has it, else nftables.

    ``wanted`` ("iptables" or "nftables", from $MINIDOCK_FIREWALL) overrides the choice.
    Both answer the same calls: setup, teardown, add, delete, network_rules, port_rules.
    """
    from minidock.networking.nftables import Nftables

    has_iptables = bool(shutil.which("iptables-restore") and shutil.which("iptables-save"))
    if wanted not in ("", "iptables", "nftables"):
        raise Unavailable(f"unknown firewall {wanted!r}: iptables or nftables")
    if wanted == "nftables" or (not wanted and not has_iptables and shutil.which("nft")):
        if not shutil.which("nft"):
            raise Unavailable("nftables was asked for and the host has no nft")
        return Nftables(daemon_id)
    if has_iptables:
        return Iptables(chains(daemon_id))
    raise Unavailable("minidock needs iptables (iptables-restore and iptables-save) or nft for bridge networks")
