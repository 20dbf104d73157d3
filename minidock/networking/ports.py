"""Published ports: `-p` specs, the API's PortBindings, and how inspect and `ps` show them.

Implements: spec/networking.md NET-030 .. NET-036
Explained:  chapters/07-networking.md#published-ports
Modelled on: docker/go-connections nat.ParsePortSpecs, and moby's daemon/network.go

    parse_publish("127.0.0.1:8080:80/udp") -> [("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"})]
    parse_publish("8000-8001:80-81") -> [("80/tcp", {.. "8000"}), ("81/tcp", {.. "8001"})]   one a port
    parse_publish("8000-8005:80") -> [("80/tcp", {"HostIp": "", "HostPort": "8000-8005"})]   one of a range
    parse_expose("7000-7002/udp") -> ["7000/udp", "7001/udp", "7002/udp"]
    plan(port_bindings, exposed, publish_all) -> [Binding]       what to open for one container
    inspect_ports(exposed, published) -> NetworkSettings.Ports
    summary_ports(published) -> the Ports of `GET /containers/json`

Rules: pure. A host port "" (or 0) is an ephemeral port, chosen when the
container starts; a host IP "" is every address (0.0.0.0). A range of container
ports is a binding per port (as the docker CLI sends them); a host port range
for one container port ("8000-8005") reaches the API as it is, and the first
free port of it is taken at start.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from minidock.errors import InvalidArgument


@dataclasses.dataclass(frozen=True)
class Binding:
    """One published port: host address and port (0 = any free one) to the container's port."""

    protocol: str          # "tcp" or "udp"
    container_port: int
    host_ip: str           # "0.0.0.0" for every address
    host_port: int         # 0 until chosen
    host_port_end: int = 0  # [NET-035] the last port of a host port range (HostPort "8000-8005"), else 0

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"

    def to_api(self) -> dict[str, str]:
        return {"HostIp": self.host_ip, "HostPort": str(self.host_port)}


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        # [NET-033] Docker's words
        raise InvalidArgument(f"invalid {what}: {text}")
    return int(text)


def parse_range(text: str, what: str) -> tuple[int, int]:
    """"80" -> (80, 80), "8000-8002" -> (8000, 8002); an empty, inverted or bad range in Docker's words."""
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        # [NET-033] Docker's words
        raise InvalidArgument(f"invalid {what}: {text}")
    start, end = _port(first, what), _port(last, what) if dash else int(first)
    if end < start:
        raise InvalidArgument(f"invalid {what}: {text}")  # the docker CLI's words for "82-80"
    return start, end


def parse_expose(spec: str) -> list[str]:
    """[NET-036] One --expose: a port or a range, with its protocol -> the ExposedPorts keys."""
    port, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {protocol}")
    try:
        start, end = parse_range(port, "port")
    except InvalidArgument:
        # the docker CLI's words
        raise InvalidArgument(f"invalid range format for --expose: {spec}") from None
    return [f"{number}/{protocol}" for number in range(start, end + 1)]


def parse_port_key(key: str) -> tuple[int, str]:
    """"80/tcp" -> (80, "tcp"); the protocol defaults to tcp."""
    port, _, protocol = key.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {protocol}")
    if "-" in port:
        raise InvalidArgument(f"port ranges are not supported by minidock: {key}")
    return _port(port, "containerPort"), protocol


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """[NET-035] One `-p` value: [ip:][hostPort[-end]:]containerPort[-end][/proto] -> [(port key, binding)]."""
    rest, _, protocol = spec.partition("/")
    parts = rest.rsplit(":", 2)
    if len(parts) == 3:
        host_ip, host_port, container_port = parts
    elif len(parts) == 2:
        host_ip, (host_port, container_port) = "", parts
    else:
        host_ip, host_port, container_port = "", "", parts[0]
    host_ip = host_ip.strip("[]")
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise InvalidArgument(f"invalid IP address: {host_ip}") from None
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {protocol}")
    start, end = parse_range(container_port, "containerPort")
    if not host_port:
        return [(f"{port}/{protocol}", {"HostIp": host_ip, "HostPort": ""}) for port in range(start, end + 1)]
    host_start, host_end = parse_range(host_port, "hostPort")
    if end - start != host_end - host_start:
        if end != start:
            # [NET-035] the docker CLI's words
            raise InvalidArgument(f"invalid ranges specified for container and host Ports: {container_port} "
                                  f"and {host_port}")
        return [(f"{start}/{protocol}", {"HostIp": host_ip, "HostPort": host_port})]  # one port of the range
    return [(f"{port}/{protocol}", {"HostIp": host_ip, "HostPort": str(host_start + n)})
            for n, port in enumerate(range(start, end + 1))]


def host_ports(text: str) -> tuple[int, int]:
    """A binding's HostPort: "" or "0" -> (0, 0) ephemeral, "8080" -> (8080, 0), "8000-8005" -> (8000, 8005)."""
    if text in ("", "0"):
        return 0, 0
    start, end = parse_range(text, "hostPort")
    return start, (end if end != start else 0)


def plan(port_bindings: dict | None, exposed: dict | None, publish_all: bool) -> list[Binding]:
    """[NET-030] The ports to publish: each binding, and with -P every exposed port on an ephemeral one."""
    out: list[Binding] = []
    for key, entries in (port_bindings or {}).items():
        port, protocol = parse_port_key(key)
        for entry in entries or [{}]:
            host_port, host_port_end = host_ports(str((entry or {}).get("HostPort") or ""))
            out.append(Binding(protocol, port, (entry or {}).get("HostIp") or "0.0.0.0", host_port, host_port_end))
    if publish_all:
        bound = {b.key for b in out}
        for key in exposed or {}:
            port, protocol = parse_port_key(key)
            if f"{port}/{protocol}" not in bound:
                out.append(Binding(protocol, port, "0.0.0.0", 0))
    return out


def check(port_bindings: dict | None) -> None:
    """Refuse a bad PortBindings at create, not at start."""
    if port_bindings is not None and not isinstance(port_bindings, dict):
        raise InvalidArgument("invalid port bindings: an object is expected")
    plan(port_bindings, None, False)


def inspect_ports(exposed: dict | None, published: list[dict]) -> dict[str, list[dict] | None]:
    """NetworkSettings.Ports: every exposed or published port; None for one not published."""
    ports: dict[str, list[dict] | None] = {key if "/" in key else f"{key}/tcp": None for key in exposed or {}}
    for entry in published:
        ports.setdefault(entry["key"], None)
        ports[entry["key"]] = [*(ports[entry["key"]] or []), {"HostIp": entry["host_ip"],
                                                               "HostPort": str(entry["host_port"])}]
    return ports


def summary_ports(published: list[dict], exposed: dict | None = None) -> list[dict]:
    """The Ports of one `GET /containers/json` row: each binding, then each exposed port not published."""
    rows = [{"IP": e["host_ip"], "PrivatePort": int(e["key"].split("/")[0]), "PublicPort": e["host_port"],
             "Type": e["key"].split("/")[1]} for e in published]
    bound = {e["key"] for e in published}
    for key in exposed or {}:
        port, protocol = parse_port_key(key)
        if f"{port}/{protocol}" not in bound:
            rows.append({"PrivatePort": port, "Type": protocol})
    return rows
