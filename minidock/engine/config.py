"""The daemon's configuration: dockerd's flags, parsed and checked.

Implements: spec/engine.md ENGINE-D-001 .. ENGINE-D-003, ENGINE-D-006
Explained:  chapters/05-engine.md#the-daemon

    parse_args(argv) -> DaemonConfig     flags and daemon.json (--config-file); errors are InvalidArgument
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


DEFAULT_CONFIG_FILE = "/etc/minidock/daemon.json"
# daemon.json's keys (dockerd's names) -> our flag's dest, and the default when neither sets it
FILE_KEYS = {
    "hosts": ("host", [DEFAULT_HOST]), "data-root": ("data_root", DEFAULT_DATA_ROOT),
    "exec-root": ("exec_root", DEFAULT_EXEC_ROOT), "bridge": ("bridge", DEFAULT_BRIDGE),
    "bip": ("bip", DEFAULT_BIP), "live-restore": ("live_restore", False),
    "insecure-registries": ("insecure_registry", []), "debug": ("debug", False),
    "shutdown-timeout": ("shutdown_timeout", 15),
}


def build_parser() -> argparse.ArgumentParser:
    """dockerd's flags; every default is None so that a flag given can be told from one not given."""
    parser = argparse.ArgumentParser(prog="minidockd", description="The minidock daemon.")
    parser.add_argument("--config-file", default=None,
                        help=f"daemon configuration file (JSON, dockerd's keys; default {DEFAULT_CONFIG_FILE})")
    parser.add_argument("-H", "--host", action="append", default=None, help="socket to listen on")
    parser.add_argument("--data-root", default=None, help="root of persistent state")
    parser.add_argument("--exec-root", default=None, help="root of run-time state")
    parser.add_argument("-b", "--bridge", default=None, help="name of the default bridge")
    parser.add_argument("--bip", default=None, help="the bridge's address and subnet (CIDR)")
    parser.add_argument("--live-restore", action="store_true", default=None,
                        help="keep containers running while the daemon is down")
    parser.add_argument("--insecure-registry", action="append", default=None, help="a registry reached over plain HTTP")
    parser.add_argument("--shutdown-timeout", type=int, default=None,
                        help="seconds running containers get to stop when the daemon stops")
    parser.add_argument("-D", "--debug", action="store_true", default=None, help="log every request")
    return parser


def read_config_file(path: str, explicit: bool) -> dict:
    """daemon.json as {dest: value}; a missing default file is an empty config."""
    import json

    try:
        with open(path) as file:
            document = json.load(file)
    except FileNotFoundError:
        if explicit:
            raise InvalidArgument(f"unable to configure the daemon with file {path}: no such file") from None
        return {}
    except ValueError as error:
        # [ENGINE-D-006] dockerd's words, with the place of the error
        raise InvalidArgument(f"unable to configure the daemon with file {path}: {error}") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"unable to configure the daemon with file {path}: a JSON object is expected")
    unknown = sorted(set(document) - set(FILE_KEYS))
    if unknown:
        raise InvalidArgument("the following directives don't match any configuration option: "
                              + ", ".join(unknown))
    return {FILE_KEYS[key][0]: value for key, value in document.items()}


def merge(flags: dict, from_file: dict) -> dict:
    """Flags and file together; one setting in both is refused, as dockerd refuses it."""
    both = sorted(dest for dest, value in flags.items() if value is not None and dest in from_file)
    if both:
        details = ", ".join(f"{dest}: (from flag: {flags[dest]}, from file: {from_file[dest]})" for dest in both)
        raise InvalidArgument("the following directives are specified both as a flag and in the "
                              f"configuration file: {details}")
    merged = {dest: default for dest, default in FILE_KEYS.values()}
    merged.update(from_file)
    merged.update({dest: value for dest, value in flags.items() if value is not None})
    return merged


def parse_args(argv: list[str] | None) -> DaemonConfig:
    """Parse dockerd-style flags (and daemon.json) into a checked DaemonConfig."""
    flags = vars(build_parser().parse_args(argv))
    config_file = flags.pop("config_file")
    args = argparse.Namespace(**merge(flags, read_config_file(config_file or DEFAULT_CONFIG_FILE,
                                                              explicit=config_file is not None)))
    hosts = args.host if isinstance(args.host, list) else [args.host]
    if len(hosts) != 1:
        raise InvalidArgument(f"minidockd listens on exactly one socket, not {len(hosts)}: {', '.join(hosts)}")
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
        socket_path=parse_host(hosts[0]),
        data_root=args.data_root,
        exec_root=args.exec_root,
        bridge=args.bridge,
        bip=args.bip,
        live_restore=bool(args.live_restore),
        insecure_registries=tuple(args.insecure_registry),
        debug=bool(args.debug),
        shutdown_timeout=int(args.shutdown_timeout),
    )
