"""Describe and build directory trees for the layer, diff and snapshot tests."""

from __future__ import annotations

import io
import os
import stat
import tarfile

from minidock.images.diff import read_xattrs


def describe(root: str, *, mtimes: bool = True) -> dict[str, tuple]:
    """Everything a layer carries about each path under ``root`` (root itself left out).

    Hard links show as a group number: the order in which their inode was first met.
    """
    found: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], int] = {}
    for directory, subdirectories, files in os.walk(root):
        subdirectories.sort()
        for name in sorted(subdirectories + files):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            mode = info.st_mode
            if stat.S_ISREG(mode):
                with open(path, "rb") as file:
                    content: object = file.read()
            elif stat.S_ISLNK(mode):
                content = os.readlink(path)
            else:
                content = None
            group = None
            if not stat.S_ISDIR(mode) and info.st_nlink > 1:
                group = inodes.setdefault((info.st_dev, info.st_ino), len(inodes))
            found[os.path.relpath(path, root)] = (
                stat.filemode(mode), info.st_uid, info.st_gid,
                info.st_mtime_ns if mtimes else None,
                content, info.st_rdev, group, read_xattrs(path))
    return found


def layer(*entries: tuple, compress: bool = False) -> io.BytesIO:
    """A layer tar from (name, type, data-or-linkname, {attribute: value}) tuples.

    type is a tarfile type; for REGTYPE the third item is the content (bytes), for
    links the link name. Attributes: mode, uid, gid, mtime, devmajor, devminor, pax_headers.
    """
    out = io.BytesIO()
    mode = "w:gz" if compress else "w"
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, *rest in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.mtime = 1_600_000_000
            data = None
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload
            elif kind == tarfile.REGTYPE:
                data = io.BytesIO(payload)
                info.size = len(payload)
            for key, value in (rest[0] if rest else {}).items():
                setattr(info, key, value)
            tar.addfile(info, data)
    out.seek(0)
    return out


REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
CHR, BLK, FIFO = tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE


def names(archive: io.BytesIO | bytes) -> list[str]:
    """The entry names of a tar, in order."""
    data = archive if isinstance(archive, bytes) else archive.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()
