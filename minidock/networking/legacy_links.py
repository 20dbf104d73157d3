"""Docker's legacy container links (`--link name[:alias]`): a hosts line and environment variables.

Implements: spec/networking.md NET-037 .. NET-039
Explained:  chapters/07-networking.md#legacy-links
Modelled on: moby's daemon/links (the env variables of a link) and the default bridge's
             sandbox options (a link is an extra hosts line)

Not to be confused with links.py, which is about netlink's links (bridges, veths).

    parse_link("db:web") -> ("db", "web")     "db" -> ("db", "db"); "/db:/app/web" (inspect's form) too
    hosts_entry("web", child_hostname, "db", "172.17.0.2") -> "web 1c2d3e4f5a6b db:172.17.0.2"
    link_env("app", "web", "172.17.0.2", ["80/tcp", "53/udp"], ["DB_USER=me"]) -> ["WEB_PORT=tcp://...", ...]

Rules: pure. A link is resolved when its container starts (the child must run then,
on the default bridge), and never again: a child that restarts with another address
leaves its old address in the parent's files and environment, as in Docker.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument


def parse_link(entry: str) -> tuple[str, str]:
    """[NET-038] One link: (the child's name, the alias); the docker CLI's words when malformed."""
    parts = entry.split(":")
    if len(parts) > 2 or not parts[0].strip("/"):
        raise InvalidArgument(f"bad format for links: {entry}")
    name = parts[0].lstrip("/")
    alias = parts[1].rsplit("/", 1)[-1] if len(parts) == 2 else name  # "/parent/alias" as inspect shows it
    if not alias:
        raise InvalidArgument(f"bad format for links: {entry}")
    return name, alias


def hosts_entry(alias: str, child_hostname: str, child_name: str, address: str) -> str:
    """[NET-037] The parent's /etc/hosts line for a link, as an --add-host entry ("names:address")."""
    names = [alias, child_hostname] + ([child_name] if child_name != alias else [])
    return f"{' '.join(names)}:{address}"


def _sorted_ports(exposed: list[str]) -> list[tuple[int, str]]:
    """Ports by number, tcp before udp for the same number (the first is the link's default port)."""
    found = [(int(key.split("/")[0]), (key.split("/") + ["tcp"])[1].lower()) for key in exposed]
    return sorted(set(found), key=lambda port: (port[0], port[1] != "tcp", port[1]))


def link_env(parent_name: str, alias: str, address: str, exposed: list[str], child_env: list[str]) -> list[str]:
    """[NET-039] The environment a link gives the parent: <ALIAS>_PORT, _PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO],
    _START/_END for runs of consecutive ports, <ALIAS>_NAME and <ALIAS>_ENV_<name> for the child's variables."""
    prefix = alias.upper().replace("-", "_")
    ports = _sorted_ports(exposed)
    env = []
    if ports:
        number, protocol = ports[0]
        env.append(f"{prefix}_PORT={protocol}://{address}:{number}")
    at = 0
    while at < len(ports):
        last = at  # the end of a run of consecutive ports of one protocol
        while last + 1 < len(ports) and ports[last + 1] == (ports[last][0] + 1, ports[at][1]):
            last += 1
        first_number, protocol = ports[at]
        key = f"{prefix}_PORT_{first_number}_{protocol.upper()}"
        if last > at:
            end_number = ports[last][0]
            env += [f"{key}_START={protocol}://{address}:{first_number}", f"{key}_ADDR={address}",
                    f"{key}_PROTO={protocol}", f"{key}_PORT_START={first_number}",
                    f"{key}_END={protocol}://{address}:{end_number}", f"{key}_PORT_END={end_number}"]
        for number, _ in ports[at:last + 1]:
            each = f"{prefix}_PORT_{number}_{protocol.upper()}"
            env += [f"{each}={protocol}://{address}:{number}", f"{each}_ADDR={address}", f"{each}_PORT={number}",
                    f"{each}_PROTO={protocol}"]
        at = last + 1
    env.append(f"{prefix}_NAME=/{parent_name.lstrip('/')}/{alias}")
    for entry in child_env:
        key, sep, value = entry.partition("=")
        if sep and key not in ("HOME", "PATH"):  # as Docker: the build's own two are left out
            env.append(f"{prefix}_ENV_{key}={value}")
    return env
