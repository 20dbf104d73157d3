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


def _check_parents(name: str, path: str, dest: str) -> None:
    """Refuse a path whose parent directories in ``dest`` include a symlink."""
    parent = dest
    for part in path.split("/")[:-1]:
        parent = os.path.join(parent, part)
        if os.path.islink(parent):
            raise InvalidArgument(f"layer entry {name!r} would be written through "
                                  f"the symlink {os.path.relpath(parent, dest)!r}")


def check_member(member: tarfile.TarInfo, dest: str) -> str:
    """Check one tar entry against ``dest``; return its clean relative path."""
    path = _normalise(member.name)
    # [IMG-LAYER-003] never write through a symlink an earlier entry (or layer) made
    _check_parents(member.name, path, dest)
    if member.islnk():
        # [IMG-LAYER-002] a hard link's target must stay in the layer, also through symlinks
        if member.linkname.startswith("/") or "/../" in f"/{member.linkname}/":
            raise InvalidArgument(f"hard link {member.name!r} points at {member.linkname!r}, "
                                  "outside the layer")
        _check_parents(member.name, posixpath.normpath(member.linkname), dest)
    return path


def _clear_the_way(member: tarfile.TarInfo, path: str, dest: str) -> None:
    """A later entry replaces an earlier one: remove a file or symlink at its place first.

    Without this, a regular file named like an earlier symlink would be written
    through that symlink (open(2) follows it).
    """
    target = os.path.join(dest, path)
    if os.path.islink(target) or (os.path.exists(target) and not os.path.isdir(target)):
        os.unlink(target)
    elif os.path.isdir(target) and not member.isdir():
        raise InvalidArgument(f"layer entry {member.name!r} would replace a directory")


def unpack(fileobj: BinaryIO, dest: str) -> list[str]:
    """Extract the layer tar ``fileobj`` into ``dest``, entry by entry, checking each first."""
    names = []
    with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
        for member in tar:
            path = check_member(member, dest)
            _clear_the_way(member, path, dest)
            names.append(path)
            # the checks above are ours; 'fully_trusted' keeps tarfile from
            # second-guessing ownership and modes a rootfs needs (setuid, devices)
            extra = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}
            tar.extract(member, dest, set_attrs=True, **extra)
    return names
