"""`minidock` image verbs: image bootstrap / ls / inspect / rm / tag / history / prune, save, load, import.

Implements: spec/images.md IMG-BOOT-001 .. IMG-BOOT-003
Explained:  chapters/04-images.md#from-the-engine
Modelled on: docker/cli's cli/command/image

    add_parsers(verbs)      the `image` group and its top-level aliases (images, rmi, save, load, ...)

Rules: handlers import what they need when they run (the CLI starts fast).
"""

from __future__ import annotations

import argparse
import os

from minidock.cli.common import client as _client
from minidock.errors import MinidockError


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


def add_parsers(verbs) -> None:
    """Add the image verbs to the top-level subparsers ``verbs``."""
    image = verbs.add_parser("image", help="manage images").add_subparsers(dest="image_verb", required=True)
    boot = image.add_parser("bootstrap", help="build the embedded busybox image (no network)")
    boot.add_argument("name", help="the embedded image to build: busybox")
    where = boot.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help="write the image archive here instead of loading it")
    where.add_argument("--bundle", help="unpack it as an OCI bundle for minidock-runtime")
    boot.set_defaults(handler=cmd_image_bootstrap)
