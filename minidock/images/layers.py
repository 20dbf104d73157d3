"""Layers: unpack a layer tar into a directory, refusing anything that escapes it.

Implements: spec/images.md IMG-LAYER-001 .. IMG-LAYER-003
Explained:  chapters/04-images.md#layers
Modelled on: containerd's archive.Apply (the checks, not the code)

    check_member(member, dest)   raise InvalidArgument if this entry would escape dest
    unpack(fileobj, dest)        check every entry, then extract; returns the names

Rules: a layer is untrusted input. Absolute names, `..` components, hard
links that point outside, and entries that would be written *through* a
symlink are refused before anything is written.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from typing import BinaryIO

from minidock.errors import InvalidArgument


def _normalise(name: str) -> str:
    """Return a layer path relative to the layer root, or raise if it climbs out."""
    if name.startswith("/"):
        # [IMG-LAYER-001] absolute names are refused
        raise InvalidArgument(f"layer entry {name!r} has an absolute path")
    clean = posixpath.normpath(name)
    if clean == ".." or clean.startswith("../") or "/../" in f"/{name}/":
        # [IMG-LAYER-001] `..` components are refused, even when they cancel out
        raise InvalidArgument(f"layer entry {name!r} climbs out of the layer with '..'")
    return clean


def check_member(member: tarfile.TarInfo, dest: str) -> str:
    """Check one tar entry against ``dest``; return its clean relative path."""
    path = _normalise(member.name)
    if member.islnk():
        _normalise(member.linkname)  # [IMG-LAYER-002] a hard link must stay in the layer
    # [IMG-LAYER-003] never write through a symlink an earlier entry (or layer) made
    parent = dest
    for part in path.split("/")[:-1]:
        parent = os.path.join(parent, part)
        if os.path.islink(parent):
            raise InvalidArgument(f"layer entry {member.name!r} would be written through "
                                  f"the symlink {os.path.relpath(parent, dest)!r}")
    return path


def unpack(fileobj: BinaryIO, dest: str) -> list[str]:
    """Extract the layer tar ``fileobj`` into ``dest``, entry by entry, checking each first."""
    names = []
    with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
        for member in tar:
            names.append(check_member(member, dest))
            # the checks above are ours; 'fully_trusted' keeps tarfile from
            # second-guessing ownership and modes a rootfs needs (setuid, devices)
            extra = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}
            tar.extract(member, dest, set_attrs=True, **extra)
    return names
