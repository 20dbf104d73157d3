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


# Each topic module defines its verbs with add_parsers(verbs). A command line imports
# only the module of its verb (ENGINE-CLI-026): argparse for every verb and the
# imports behind them would cost the CLI more than the daemon takes to run a container.
# tests/engine/test_cli_startup.py checks this table against what each module defines.
TOPICS = {
    "minidock.cli.containers:add_parsers": (
        "attach", "commit", "container", "cp", "create", "diff", "exec", "export", "inspect", "kill",
        "logs", "pause", "port", "ps", "rename", "restart", "rm", "run", "start", "stop", "top",
        "unpause", "wait"),
    "minidock.cli.build:add_parsers": ("build",),
    "minidock.cli.compose:add_parsers": ("compose",),
    "minidock.cli.events:add_parsers": ("events",),
    "minidock.cli.networks:add_parsers": ("network",),
    "minidock.cli.images:add_parsers": ("history", "image", "images", "import", "load", "rmi", "save", "tag"),
    "minidock.cli.registry:add_parsers": ("login", "logout", "pull", "push", "registry"),
    "minidock.cli.services:add_parsers": ("service",),
    "minidock.cli.swarm:add_parsers": ("config", "node", "secret", "swarm"),
    "minidock.cli.system:add_parsers": ("stats", "system", "update"),
    "minidock.cli.trace:add_parsers": ("trace",),
    "minidock.lab.cli:add_parsers": ("lab",),
    "minidock.cli.volumes:add_parsers": ("volume",),
}
# global options that take a value: the verb is the first word that is neither these nor their values
_VALUED = {"-H", "--host", "--tlscacert", "--tlscert", "--tlskey"}


def first_verb(argv: list[str]) -> str | None:
    """The verb of a command line, skipping the global options before it."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUED:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``verb`` only, or for every verb when it is None or unknown (help, typos)."""
    parser = argparse.ArgumentParser(prog="minidock", description="A readable Docker, in Python.")
    parser.add_argument("-H", "--host", default=os.environ.get("MINIDOCK_HOST", DEFAULT_HOST),
                        help="daemon socket to connect to: unix:///path or tcp://host:port (env MINIDOCK_HOST)")
    parser.add_argument("--tls", action="store_true", help="use TLS; implied by --tlsverify")
    parser.add_argument("--tlsverify", action="store_true",
                        default=os.environ.get("MINIDOCK_TLS_VERIFY", "") not in ("", "0"),
                        help="use TLS and verify the daemon (env MINIDOCK_TLS_VERIFY)")
    parser.add_argument("--tlscacert", help="trust certificates signed by this CA (default $MINIDOCK_CERT_PATH/ca.pem)")
    parser.add_argument("--tlscert", help="TLS certificate file (default $MINIDOCK_CERT_PATH/cert.pem)")
    parser.add_argument("--tlskey", help="TLS key file (default $MINIDOCK_CERT_PATH/key.pem)")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and quit")
    verbs = parser.add_subparsers(dest="verb")

    verbs.add_parser("version", help="show client and server versions").set_defaults(handler=cmd_version)
    verbs.add_parser("info", help="show system-wide information").set_defaults(handler=cmd_info)
    if verb in ("version", "info"):
        return parser
    import importlib

    wanted = [topic for topic, words in TOPICS.items() if verb in words]
    for topic in wanted or TOPICS:
        module, _, function = topic.partition(":")
        getattr(importlib.import_module(module), function)(verbs, only=verb if wanted else None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verb = first_verb(argv)
    if verb is None and ("-v" in argv or "--version" in argv):
        verb = "version"  # the version flag needs no verb's parser
    parser = build_parser(verb)
    args = parser.parse_args(argv)
    if args.version:
        print(f"minidock version {minidock.__version__}, API {minidock.API_VERSION}")
        return 0
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args) or 0
    except BrokenPipeError:
        # `minidock build . | head`: the reader left; say nothing more, as a Go CLI dies of SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MinidockError as error:
        # Docker's prefix for what the daemon answered; ours for what failed here
        prefix = "Error response from daemon" if getattr(error, "from_daemon", False) else "minidock"
        print(f"{prefix}: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
