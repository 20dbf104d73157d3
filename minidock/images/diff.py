"""Diffs: the changes of a container's file system, written back into a layer tar.

Implements: spec/images.md IMG-DIFF-001 .. IMG-DIFF-005
Explained:  chapters/04-images.md#diffs
Modelled on: docker's pkg/archive (changes.go and the overlay whiteout converter),
             containerd's archive.WriteDiff

    diff_upper(upper, out)               an overlayfs upper directory -> layer tar
    diff_directories(lower, upper, out)  two plain trees (the copy snapshotter) -> layer tar
    read_xattrs(path)                    a file's extended attributes, overlay's own left out

Two ways to know what changed:

    overlayfs already knows: its upper directory holds exactly what was added or changed,
    a deletion is a 0/0 character device and a directory made anew over a lower one
    carries the xattr trusted.overlay.opaque=y. We translate those into the OCI spellings
    `.wh.NAME` and `.wh..wh..opq` (layers.py reads them back).

    Two plain trees must be compared: a path only in `upper` was added; one in both
    changed if its type, mode, owner, size, mtime, link count, link target, device
    number or xattrs differ (or, when asked, its bytes); one only in `lower` was deleted.

Rules: both walk in sorted order, a directory before its contents, so the same changes
give the same entries in the same order; `mtime=` gives every entry that one mtime (as
SOURCE_DATE_EPOCH does), so they give the same bytes too. A file seen again through a
hard link is written as a hard-link entry to the first path.
"""

from __future__ import annotations

import filecmp
import os
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from minidock.images.layers import (OPAQUE_WHITEOUT, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX,
                                    XATTR_PAX_PREFIX)

OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_NS = 1_000_000_000


def read_xattrs(path: str) -> dict[str, bytes]:
    """The extended attributes of ``path`` (not followed), overlayfs's own markers left out."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:  # a file system without xattrs
        return {}
    return {name: os.getxattr(path, name, follow_symlinks=False)
            for name in sorted(names) if not name.startswith(OVERLAY_XATTR_PREFIX)}


def _is_overlay_whiteout(info: os.stat_result) -> bool:
    """overlayfs writes a deletion as a character device with device number 0/0."""
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _children(path: str) -> list[str]:
    """The names in a directory, sorted (bytes order, as the tar's readers sort)."""
    return sorted(os.listdir(path), key=os.fsencode)


class _LayerWriter:
    """Writes entries into a PAX tar, turning repeated inodes into hard links."""

    def __init__(self, out: BinaryIO, mtime: int | None) -> None:
        # "w|", a stream: ``out`` may be a pipe or a gzip stream that cannot tell() or seek()
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.mtime = mtime
        self.seen: dict[tuple[int, int], str] = {}  # (st_dev, st_ino) -> first path written

    def _header(self, name: str, info: os.stat_result) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.mode = stat.S_IMODE(info.st_mode)
        entry.uid, entry.gid = info.st_uid, info.st_gid
        entry.uname = entry.gname = ""  # numeric owners only: names mean nothing in an image
        if self.mtime is not None:
            entry.mtime = self.mtime
        else:
            entry.mtime = info.st_mtime_ns // _NS
            if info.st_mtime_ns % _NS:  # PAX keeps the nanoseconds a ustar header cannot
                seconds, fraction = divmod(info.st_mtime_ns, _NS)
                entry.pax_headers["mtime"] = f"{seconds}.{fraction:09d}"
        return entry

    def add(self, name: str, path: str, info: os.stat_result) -> None:
        """Write the file at ``path`` (lstat ``info``) as the entry ``name``."""
        entry = self._header(name, info)
        data = None
        if stat.S_ISREG(info.st_mode):
            first = self.seen.get((info.st_dev, info.st_ino)) if info.st_nlink > 1 else None
            if first is not None:
                # [IMG-DIFF-003] a second path of one inode: a hard link to the first
                entry.type, entry.linkname = tarfile.LNKTYPE, first
            else:
                self.seen[(info.st_dev, info.st_ino)] = name
                entry.type, entry.size = tarfile.REGTYPE, info.st_size
                data = open(path, "rb")
        elif stat.S_ISDIR(info.st_mode):
            entry.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(info.st_mode):
            entry.type, entry.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
            entry.type = tarfile.CHRTYPE if stat.S_ISCHR(info.st_mode) else tarfile.BLKTYPE
            entry.devmajor, entry.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
        elif stat.S_ISFIFO(info.st_mode):
            entry.type = tarfile.FIFOTYPE
        else:
            return  # a socket: docker leaves them out of layers too
        if entry.type != tarfile.LNKTYPE:
            for key, value in read_xattrs(path).items():
                entry.pax_headers[XATTR_PAX_PREFIX + key] = value.decode("utf-8", "surrogateescape")
        try:
            self.tar.addfile(entry, data)
        finally:
            if data is not None:
                data.close()

    def whiteout(self, directory: str, name: str) -> None:
        """Write `.wh.NAME` (or, with OPAQUE_WHITEOUT as name, the opaque marker) in ``directory``."""
        base = name if name == OPAQUE_WHITEOUT else WHITEOUT_PREFIX + name
        entry = tarfile.TarInfo(f"{directory}/{base}" if directory else base)
        entry.mode = 0o600  # as docker writes them: an empty regular file
        entry.mtime = self.mtime or 0
        self.tar.addfile(entry)

    def close(self) -> None:
        self.tar.close()


def _walk(root: str, relative: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """(name in the layer, path on disk, lstat) for everything under ``root``, sorted, pre-order."""
    for name in _children(os.path.join(root, relative)):
        child = f"{relative}/{name}" if relative else name
        path = os.path.join(root, child)
        info = os.lstat(path)
        yield child, path, info
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(root, child)


def diff_upper(upper: str, out: BinaryIO, *, mtime: int | None = None) -> None:
    """Write the layer tar of an overlayfs upper directory ``upper`` to ``out``."""
    writer = _LayerWriter(out, mtime)
    try:
        for name, path, info in _walk(upper):
            if _is_overlay_whiteout(info):
                # [IMG-DIFF-001] overlay's deletion marker -> the OCI whiteout
                directory, _, base = name.rpartition("/")
                writer.whiteout(directory, base)
                continue
            writer.add(name, path, info)
            if stat.S_ISDIR(info.st_mode) and _is_opaque(path):
                # [IMG-DIFF-001] a directory made anew over a lower one -> opaque whiteout,
                # written before its contents (the walk yields them next)
                writer.whiteout(name, OPAQUE_WHITEOUT)
    finally:
        writer.close()


def _changed(lower: str, upper: str, old: os.stat_result, new: os.stat_result,
             compare_content: bool) -> bool:
    """Whether the path differs between the two trees, docker's changes.go's way (plus nlink)."""
    if (old.st_mode, old.st_uid, old.st_gid) != (new.st_mode, new.st_uid, new.st_gid):
        return True
    if old.st_mtime_ns != new.st_mtime_ns or old.st_rdev != new.st_rdev:
        return True
    if stat.S_ISDIR(new.st_mode):
        return read_xattrs(lower) != read_xattrs(upper)
    # a new hard link to an unchanged file changes its link count, not its mtime:
    # writing the old path again keeps the two paths one inode in the layer
    if old.st_size != new.st_size or old.st_nlink != new.st_nlink:
        return True
    if stat.S_ISLNK(new.st_mode) and os.readlink(lower) != os.readlink(upper):
        return True
    if read_xattrs(lower) != read_xattrs(upper):
        return True
    return compare_content and stat.S_ISREG(new.st_mode) and not filecmp.cmp(lower, upper, shallow=False)


def diff_directories(lower: str | None, upper: str, out: BinaryIO, *, mtime: int | None = None,
                     compare_content: bool = False) -> None:
    """Write the layer tar that turns the tree ``lower`` into the tree ``upper`` to ``out``.

    ``lower`` None means an empty tree (a snapshot with no parent: everything is added).
    ``compare_content`` also reads the bytes of files whose metadata is the same
    (slow; for trees whose mtimes cannot be trusted).
    """
    writer = _LayerWriter(out, mtime)

    def visit(relative: str, lower_has: bool) -> None:
        here_upper = os.path.join(upper, relative)
        new_names = set(os.listdir(here_upper))
        old_names = set(os.listdir(os.path.join(lower, relative))) if lower_has else set()
        for name in sorted(set(new_names) | old_names, key=os.fsencode):
            child = f"{relative}/{name}" if relative else name
            if name not in new_names:
                # [IMG-DIFF-002] deleted: a whiteout, one for a whole directory
                writer.whiteout(relative, name)
                continue
            path = os.path.join(upper, child)
            new = os.lstat(path)
            before = os.path.join(lower, child) if name in old_names else ""  # type: ignore[arg-type]
            old = os.lstat(before) if before else None
            if old is None or _changed(before, path, old, new, compare_content):
                # [IMG-DIFF-002] added or modified
                writer.add(child, path, new)
            if stat.S_ISDIR(new.st_mode):
                visit(child, old is not None and stat.S_ISDIR(old.st_mode))

    try:
        visit("", lower is not None)
    finally:
        writer.close()
