"""`minidock`: the command line. Docker's verbs and flags, spoken over HTTP to minidockd.

Implements: spec/engine.md ENGINE-CLI-001 .. ENGINE-CLI-004
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli (cobra commands -> API client calls)

    minidock [-H unix:///path] version | info
    minidock image bootstrap busybox [-o FILE | --bundle DIR]
    minidock lab list | start N | check N | reset N

Rules: the CLI never touches the daemon's data; it sends requests. Imports are
lazy (inside each command) so that `minidock --version` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys

import minidock
from minidock.errors import MinidockError

DEFAULT_HOST = "unix:///run/minidock/minidock.sock"


def _client(args: argparse.Namespace):
    from minidock.engine.client import Client

    return Client(args.host)


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


def cmd_image_bootstrap(args: argparse.Namespace) -> int:
    """Build busybox:latest from the host's busybox-static, then load, save or unpack it."""
    from minidock.images import bootstrap

    if args.name != "busybox":
        raise MinidockError(f"cannot bootstrap {args.name!r}: the only embedded image is 'busybox'")
    layer = bootstrap.busybox_layer()
    if args.bundle:
        return _write_bundle(layer, args.bundle)
    archive = bootstrap.image_archive(layer, "busybox:latest")
    if args.output:
        with open(args.output, "wb") as file:
            file.write(archive)
        print(f"wrote busybox:latest ({bootstrap.image_id(layer)}) to {args.output}")
        return 0
    # the Docker way: the client builds an archive and the daemon loads it
    _client(args).json("POST", "/images/load?quiet=1", archive, content_type="application/x-tar")
    print(f"Loaded image: busybox:latest ({bootstrap.image_id(layer)})")
    return 0


def _write_bundle(layer: bytes, bundle: str) -> int:
    """Unpack the busybox layer as an OCI bundle for minidock-runtime."""
    import io
    import json

    from minidock.images import layers
    from minidock.runtime.config import default_config

    rootfs = os.path.join(bundle, "rootfs")
    if os.path.exists(rootfs):
        raise MinidockError(f"{rootfs} already exists: remove it or choose another --bundle")
    os.makedirs(rootfs)
    layers.unpack(io.BytesIO(layer), rootfs)
    with open(os.path.join(bundle, "config.json"), "w") as file:
        json.dump(default_config(), file, indent=2)
    print(f"wrote an OCI bundle of busybox:latest to {bundle}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minidock", description="A readable Docker, in Python.")
    parser.add_argument("-H", "--host", default=os.environ.get("MINIDOCK_HOST", DEFAULT_HOST),
                        help="daemon socket to connect to (env MINIDOCK_HOST)")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and quit")
    verbs = parser.add_subparsers(dest="verb")

    verbs.add_parser("version", help="show client and server versions").set_defaults(handler=cmd_version)
    verbs.add_parser("info", help="show system-wide information").set_defaults(handler=cmd_info)

    image = verbs.add_parser("image", help="manage images").add_subparsers(dest="image_verb", required=True)
    boot = image.add_parser("bootstrap", help="build the embedded busybox image (no network)")
    boot.add_argument("name", help="the embedded image to build: busybox")
    where = boot.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help="write the image archive here instead of loading it")
    where.add_argument("--bundle", help="unpack it as an OCI bundle for minidock-runtime")
    boot.set_defaults(handler=cmd_image_bootstrap)

    from minidock.lab.cli import add_parser as add_lab_parser

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
