"""The daemon's configuration: dockerd's flags, parsed and checked.

Implements: spec/engine.md ENGINE-D-001 .. ENGINE-D-003, ENGINE-D-006, ENGINE-D-011
Explained:  chapters/05-engine.md#the-daemon

    parse_args(argv) -> DaemonConfig     flags and daemon.json (--config-file); errors are InvalidArgument
    parse_host("unix:///run/x.sock") -> ("unix", "/run/x.sock")   parse_host("tcp://0.0.0.0:2376") -> ("tcp", ("0.0.0.0", 2376))
    server_tls(flags) -> ServerTLS | None   what -H tcp:// needs: TLS, or --tls=false said out loud

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
class ServerTLS:
    """The daemon's certificate, and the CA its clients' certificates must be signed by (--tlsverify)."""

    cert: str
    key: str
    ca: str | None = None  # set: clients without a certificate signed by it are refused


@dataclasses.dataclass(frozen=True)
class DaemonConfig:
    """Everything a daemon is told at start-up."""

    socket_path: str | None  # the unix socket, if one of the -H is unix://
    data_root: str
    exec_root: str
    bridge: str
    bip: str
    live_restore: bool = False
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()  # Docker Hub's mirrors, tried first (http(s)://host[:port])
    debug: bool = False
    shutdown_timeout: int = 15
    tcp: tuple[tuple[str, int], ...] = ()  # the -H tcp://HOST:PORT
    tls: ServerTLS | None = None           # None on TCP only after an explicit --tls=false
    pid_file: str = ""
    dns: tuple[str, ...] = ()              # [NET-062] nameservers for containers and the embedded DNS
    fixed_cidr_v6: str = ""                # [NET-085] --ipv6 --fixed-cidr-v6: the default bridge's IPv6 subnet


def parse_host(host: str) -> tuple[str, object]:
    """``unix:///path`` -> ("unix", path); ``tcp://host:port`` -> ("tcp", (host, port))."""
    if host.startswith("unix://") and host[len("unix://"):].startswith("/"):
        return "unix", host[len("unix://"):]
    if host.startswith("tcp://"):
        address, colon, port = host[len("tcp://"):].rstrip("/").rpartition(":")
        if colon and port.isdigit() and 0 < int(port) < 65536:
            return "tcp", (address.strip("[]") or "0.0.0.0", int(port))
    # [ENGINE-D-002] a host is a unix socket or a TCP address with its port
    raise InvalidArgument(f"invalid host {host!r}: expected unix:///absolute/path or tcp://ADDRESS:PORT")


def _flag_bool(text: str) -> bool:
    """dockerd's boolean flags take --flag, --flag=true and --flag=false."""
    if text.lower() in ("1", "true"):
        return True
    if text.lower() in ("0", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def server_tls(tls: bool | None, verify: bool, ca: str | None, cert: str | None, key: str | None,
               tcp: list[str]) -> ServerTLS | None:
    """The TLS a TCP listener gets, or an error: no plain TCP unless --tls=false says so."""
    import os

    if not (tls or verify):
        if tcp and tls is None:
            # [ENGINE-D-011] the API is root on this host: plain TCP only when asked for by name
            raise InvalidArgument(
                f"refusing to listen on {', '.join(tcp)} without TLS: anyone who can reach the port would be "
                "root on this host. Use --tlsverify with --tlscacert, --tlscert and --tlskey, "
                "or --tls=false to accept that risk")
        return None
    folder = os.path.expanduser("~/.minidock")  # dockerd's default is ~/.docker
    cert, key = cert or os.path.join(folder, "cert.pem"), key or os.path.join(folder, "key.pem")
    ca = (ca or os.path.join(folder, "ca.pem")) if verify else None
    for what, path in (("--tlscert", cert), ("--tlskey", key), ("--tlscacert", ca)):
        if path is not None and not os.path.isfile(path):
            raise InvalidArgument(f"could not load TLS material: {what} {path}: no such file")
    return ServerTLS(cert=cert, key=key, ca=ca)


DEFAULT_CONFIG_FILE = "/etc/minidock/daemon.json"
# daemon.json's keys (dockerd's names) -> our flag's dest, and the default when neither sets it
FILE_KEYS = {
    "hosts": ("host", [DEFAULT_HOST]), "data-root": ("data_root", DEFAULT_DATA_ROOT),
    "exec-root": ("exec_root", DEFAULT_EXEC_ROOT), "bridge": ("bridge", DEFAULT_BRIDGE),
    "bip": ("bip", DEFAULT_BIP), "live-restore": ("live_restore", False),
    "insecure-registries": ("insecure_registry", []), "registry-mirrors": ("registry_mirror", []),
    "debug": ("debug", False), "dns": ("dns", []), "ipv6": ("ipv6", False), "fixed-cidr-v6": ("fixed_cidr_v6", ""),
    "shutdown-timeout": ("shutdown_timeout", 15), "pidfile": ("pidfile", None),
    "tls": ("tls", None), "tlsverify": ("tlsverify", False), "tlscacert": ("tlscacert", None),
    "tlscert": ("tlscert", None), "tlskey": ("tlskey", None),
}


def build_parser() -> argparse.ArgumentParser:
    """dockerd's flags; every default is None so that a flag given can be told from one not given."""
    parser = argparse.ArgumentParser(prog="minidockd", description="The minidock daemon.")
    parser.add_argument("--config-file", default=None,
                        help=f"daemon configuration file (JSON, dockerd's keys; default {DEFAULT_CONFIG_FILE})")
    parser.add_argument("-H", "--host", action="append", default=None,
                        help="where to listen: unix:///path (the default) or tcp://ADDRESS:PORT (TLS)")
    parser.add_argument("-p", "--pidfile", default=None, help="pid file (default EXEC_ROOT/minidockd.pid)")
    parser.add_argument("--tls", nargs="?", const=True, type=_flag_bool, default=None,
                        help="serve TCP with TLS (implied by --tlsverify); --tls=false: plain TCP, open to all")
    parser.add_argument("--tlsverify", action="store_true", default=None,
                        help="TLS, and clients must show a certificate signed by --tlscacert")
    parser.add_argument("--tlscacert", default=None, help="trust client certificates signed by this CA")
    parser.add_argument("--tlscert", default=None, help="the daemon's TLS certificate")
    parser.add_argument("--tlskey", default=None, help="the daemon's TLS key")
    parser.add_argument("--data-root", default=None, help="root of persistent state")
    parser.add_argument("--exec-root", default=None, help="root of run-time state")
    parser.add_argument("-b", "--bridge", default=None, help="name of the default bridge")
    parser.add_argument("--bip", default=None, help="the bridge's address and subnet (CIDR)")
    parser.add_argument("--live-restore", action="store_true", default=None,
                        help="keep containers running while the daemon is down")
    parser.add_argument("--insecure-registry", action="append", default=None, help="a registry reached over plain HTTP")
    parser.add_argument("--registry-mirror", action="append", default=None,
                        help="a mirror of Docker Hub (http(s)://HOST[:PORT]), tried before it on pulls")
    parser.add_argument("--shutdown-timeout", type=int, default=None,
                        help="seconds running containers get to stop when the daemon stops")
    parser.add_argument("--dns", action="append", default=None,
                        help="a DNS server for the containers (and the embedded DNS's upstream)")
    parser.add_argument("--ipv6", action="store_true", default=None, help="IPv6 on the default bridge")
    parser.add_argument("--fixed-cidr-v6", default=None, help="the default bridge's IPv6 subnet (with --ipv6)")
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


def _mirror(url: str) -> str:
    """A registry mirror is a URL with a scheme and a host, as dockerd checks it."""
    if not re.fullmatch(r"https?://[^/\s]+/?", url):
        raise InvalidArgument(f"invalid mirror: {url!r}: expected http(s)://HOST[:PORT]")
    return url.rstrip("/")


def parse_args(argv: list[str] | None) -> DaemonConfig:
    """Parse dockerd-style flags (and daemon.json) into a checked DaemonConfig."""
    flags = vars(build_parser().parse_args(argv))
    config_file = flags.pop("config_file")
    args = argparse.Namespace(**merge(flags, read_config_file(config_file or DEFAULT_CONFIG_FILE,
                                                              explicit=config_file is not None)))
    hosts = args.host if isinstance(args.host, list) else [args.host]
    parsed = [parse_host(host) for host in hosts]
    sockets = [where for kind, where in parsed if kind == "unix"]
    if len(sockets) > 1:
        raise InvalidArgument(f"minidockd listens on one unix socket at most, not {len(sockets)}: {', '.join(sockets)}")
    tcp = [host for host in hosts if host.startswith("tcp://")]
    tls = server_tls(args.tls, bool(args.tlsverify), args.tlscacert, args.tlscert, args.tlskey, tcp)
    if not _BRIDGE_NAME.match(args.bridge):
        raise InvalidArgument(f"invalid bridge name {args.bridge!r}: 1-15 letters, digits, '_', '.', '-'")
    try:
        if "/" not in args.bip:
            raise ValueError("no prefix")
        ipaddress.ip_interface(args.bip)
    except ValueError:
        # [ENGINE-D-003] a bad --bip is refused at start-up, not when the first container starts
        raise InvalidArgument(f"invalid --bip {args.bip!r}: expected an address with a prefix, like 172.29.0.1/16") from None
    if bool(args.ipv6) != bool(args.fixed_cidr_v6):
        # [NET-085] minidock has no link-local-only default bridge (dockerd's --ipv6 alone)
        raise InvalidArgument("--ipv6 and --fixed-cidr-v6 go together: IPv6 on the default bridge needs its subnet")
    if args.fixed_cidr_v6:
        from minidock.networking.ipv6 import make_pool6

        make_pool6(args.fixed_cidr_v6)  # a bad subnet refuses the start, in Docker's words
    for server in args.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            # [NET-062] dockerd's words
            raise InvalidArgument(f"invalid argument \"{server}\" for \"--dns\" flag: {server} is not an ip address") from None
    return DaemonConfig(
        socket_path=sockets[0] if sockets else None,
        tcp=tuple(where for kind, where in parsed if kind == "tcp"),
        tls=tls,
        pid_file=args.pidfile or f"{args.exec_root}/minidockd.pid",
        data_root=args.data_root,
        exec_root=args.exec_root,
        bridge=args.bridge,
        bip=args.bip,
        live_restore=bool(args.live_restore),
        insecure_registries=tuple(args.insecure_registry),
        registry_mirrors=tuple(_mirror(url) for url in args.registry_mirror),
        debug=bool(args.debug),
        shutdown_timeout=int(args.shutdown_timeout),
        dns=tuple(args.dns),
        fixed_cidr_v6=args.fixed_cidr_v6 or "",
    )
