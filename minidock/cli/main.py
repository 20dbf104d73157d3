"""`minidock`: the command line. Docker's verbs and flags, spoken over HTTP to minidockd.

Implements: spec/engine.md ENGINE-CLI-001 .. ENGINE-CLI-004
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli (cobra commands -> API client calls)

    minidock [-H unix:///path] version | info
    minidock image ... / images / load / ...   minidock/cli/images.py
    minidock run / ps / logs / ...             minidock/cli/containers.py
    minidock lab list | start N | check N | reset N

Rules: the CLI never touches the daemon's data; it sends requests. Imports are
lazy (inside each command) so that `minidock --version` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys

import minidock
from minidock.cli.common import client as _client
from minidock.errors import MinidockError

DEFAULT_HOST = "unix:///run/minidock/minidock.sock"


def cmd_version(args: argparse.Namespace) -> int:
    """Print client and server versions, like `docker version`."""
    import platform

    print("Client:")
    print(f" Version:           {minidock.__version__}")
    print(f" API version:       {minidock.API_VERSION}")
    print(f" Python version:    {platform.python_version()}")
    print(f" OS/Arch:           linux/{platform.machine()}")
    server = _client(args).json("GET", "/version")
    print()
    print(f"Server: {server.get('Platform', {}).get('Name', '')}")
    print(" Engine:")
    print(f"  Version:          {server['Version']}")
    print(f"  API version:      {server['ApiVersion']} (minimum version {server['MinAPIVersion']})")
    print(f"  OS/Arch:          {server['Os']}/{server['Arch']}")
    print(f"  Kernel version:   {server['KernelVersion']}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print what the daemon knows about itself and the host, like `docker info`."""
    info = _client(args).json("GET", "/info")
    rows = [("Containers", info["Containers"]), ("Images", info["Images"]),
            ("Server Version", info["ServerVersion"]), ("Storage Driver", info["Driver"]),
            ("Cgroup Driver", info["CgroupDriver"]), ("Cgroup Version", info["CgroupVersion"]),
            ("Kernel Version", info["KernelVersion"]), ("Operating System", info["OperatingSystem"]),
            ("CPUs", info["NCPU"]), ("Total Memory", f"{info['MemTotal'] / 2**30:.2f}GiB"),
            ("Name", info["Name"]), ("ID", info["ID"]), ("Minidock Root Dir", info["DockerRootDir"])]
    print("Server:")
    for key, value in rows:
        print(f" {key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minidock", description="A readable Docker, in Python.")
    parser.add_argument("-H", "--host", default=os.environ.get("MINIDOCK_HOST", DEFAULT_HOST),
                        help="daemon socket to connect to (env MINIDOCK_HOST)")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and quit")
    verbs = parser.add_subparsers(dest="verb")

    verbs.add_parser("version", help="show client and server versions").set_defaults(handler=cmd_version)
    verbs.add_parser("info", help="show system-wide information").set_defaults(handler=cmd_info)

    # each topic adds its own verbs; their handlers import what they need when run
    from minidock.cli import containers, events, images, system
    from minidock.lab.cli import add_parser as add_lab_parser

    images.add_parsers(verbs)
    containers.add_parsers(verbs)
    events.add_parsers(verbs)
    system.add_parsers(verbs)
    add_lab_parser(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"minidock version {minidock.__version__}, API {minidock.API_VERSION}")
        return 0
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args) or 0
    except MinidockError as error:
        # Docker's prefix for what the daemon answered; ours for what failed here
        prefix = "Error response from daemon" if getattr(error, "from_daemon", False) else "minidock"
        print(f"{prefix}: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
