"""The daemon's configuration: dockerd's flags, parsed and checked.

Implements: spec/engine.md ENGINE-D-001 .. ENGINE-D-003
Explained:  chapters/05-engine.md#the-daemon

    parse_args(argv) -> DaemonConfig     pure; errors are InvalidArgument
    parse_host("unix:///run/x.sock") -> "/run/x.sock"

Rules: every path a daemon writes comes from here, so several daemons with
different --data-root, --exec-root, socket, bridge and subnet run side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import re

from minidock.errors import InvalidArgument

DEFAULT_HOST = "unix:///run/minidock/minidock.sock"
DEFAULT_DATA_ROOT = "/var/lib/minidock"
DEFAULT_EXEC_ROOT = "/run/minidock"
DEFAULT_BRIDGE = "minidock0"
DEFAULT_BIP = "172.29.0.1/16"
_BRIDGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # IFNAMSIZ - 1


@dataclasses.dataclass(frozen=True)
class DaemonConfig:
    """Everything a daemon is told at start-up."""

    socket_path: str
    data_root: str
    exec_root: str
    bridge: str
    bip: str
    live_restore: bool = False
    insecure_registries: tuple[str, ...] = ()
    debug: bool = False
    shutdown_timeout: int = 15


def parse_host(host: str) -> str:
    """Return the socket path of a ``unix://`` host; other schemes are refused."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if path.startswith("/"):
            return path
    # [ENGINE-D-002] only unix sockets: a TCP API without TLS would be open to anyone
    raise InvalidArgument(f"invalid host {host!r}: minidock listens on unix:///absolute/path only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minidockd", description="The minidock daemon.")
    parser.add_argument("-H", "--host", default=DEFAULT_HOST, help="socket to listen on")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="root of persistent state")
    parser.add_argument("--exec-root", default=DEFAULT_EXEC_ROOT, help="root of run-time state")
    parser.add_argument("-b", "--bridge", default=DEFAULT_BRIDGE, help="name of the default bridge")
    parser.add_argument("--bip", default=DEFAULT_BIP, help="the bridge's address and subnet (CIDR)")
    parser.add_argument("--live-restore", action="store_true", help="keep containers running while the daemon is down")
    parser.add_argument("--insecure-registry", action="append", default=[], help="a registry reached over plain HTTP")
    parser.add_argument("--shutdown-timeout", type=int, default=15,
                        help="seconds running containers get to stop when the daemon stops")
    parser.add_argument("-D", "--debug", action="store_true", help="log every request")
    return parser


def parse_args(argv: list[str] | None) -> DaemonConfig:
    """Parse dockerd-style flags into a checked DaemonConfig."""
    args = build_parser().parse_args(argv)
    if not _BRIDGE_NAME.match(args.bridge):
        raise InvalidArgument(f"invalid bridge name {args.bridge!r}: 1-15 letters, digits, '_', '.', '-'")
    try:
        if "/" not in args.bip:
            raise ValueError("no prefix")
        ipaddress.ip_interface(args.bip)
    except ValueError:
        # [ENGINE-D-003] a bad --bip is refused at start-up, not when the first container starts
        raise InvalidArgument(f"invalid --bip {args.bip!r}: expected an address with a prefix, like 172.29.0.1/16") from None
    return DaemonConfig(
        socket_path=parse_host(args.host),
        data_root=args.data_root,
        exec_root=args.exec_root,
        bridge=args.bridge,
        bip=args.bip,
        live_restore=args.live_restore,
        insecure_registries=tuple(args.insecure_registry),
        debug=args.debug,
        shutdown_timeout=args.shutdown_timeout,
    )
