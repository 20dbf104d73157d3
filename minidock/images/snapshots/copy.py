"""Copy snapshots: each container gets a full copy of its image's tree (no overlayfs needed).

Implements: spec/images.md IMG-SNAP-011
Explained:  chapters/04-images.md#snapshots
Modelled on: containerd's native snapshotter (snapshots/native), docker's vfs graph driver

    CopySnapshotter(root)     the LocalSnapshotter bookkeeping, plus:
        prepare               copy the parent's fs into the new snapshot's fs; a rw bind of it
        a view                a read-only bind of the parent's fs (committed: it never changes)
        diff                  compare the two trees (diff.diff_directories)
    copy_tree(source, dest)   a copy that keeps owners, modes, mtimes, xattrs, hard links,
                              symlinks, devices and FIFOs (`cp -a`, in Python)

Rules: every snapshot's fs is a whole tree, so a chain costs one copy per layer in disk
space and time: the price of working on any file system, where overlayfs does not.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import BinaryIO

from minidock.images import diff
from minidock.images.layers import set_attributes
from minidock.images.snapshots.snapshotter import Kind, LocalSnapshotter, Mount


def _copy_one(source: str, target: str, info: os.stat_result) -> None:
    """Create ``target`` like ``source`` (not its attributes; not a directory's contents)."""
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(target, 0o700)
    elif stat.S_ISREG(mode):
        shutil.copyfile(source, target, follow_symlinks=False)  # copy_file_range(2)/sendfile(2)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(target, stat.S_IFMT(mode) | 0o600, info.st_rdev)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(target, 0o600)
    # sockets are left out, as in a layer


def copy_tree(source: str, dest: str) -> None:
    """Copy the contents of the directory ``source`` into the existing directory ``dest``."""
    links: dict[tuple[int, int], str] = {}  # (st_dev, st_ino) -> the first copy
    directories: list[tuple[str, os.stat_result, str]] = [(dest, os.lstat(source), source)]

    def visit(here: str, there: str) -> None:
        for name in sorted(os.listdir(here)):
            path, target = os.path.join(here, name), os.path.join(there, name)
            info = os.lstat(path)
            if stat.S_ISSOCK(info.st_mode):
                continue
            if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
                first = links.setdefault((info.st_dev, info.st_ino), target)
                if first != target:  # [IMG-SNAP-011] a hard link stays a hard link
                    os.link(first, target, follow_symlinks=False)
                    continue
            _copy_one(path, target, info)
            if stat.S_ISDIR(info.st_mode):
                directories.append((target, info, path))
                visit(path, target)
            else:
                _attributes(path, target, info)

    visit(source, dest)
    for target, info, path in reversed(directories):  # children first: they change the mtime
        _attributes(path, target, info)


def _attributes(source: str, target: str, info: os.stat_result) -> None:
    set_attributes(target, uid=info.st_uid, gid=info.st_gid, mode=info.st_mode,
                   mtime_ns=info.st_mtime_ns, xattrs=diff.read_xattrs(source),
                   symlink=stat.S_ISLNK(info.st_mode))


class CopySnapshotter(LocalSnapshotter):
    """Snapshots as whole directory trees under ``root``, on any file system."""

    def _populate(self, kind: Kind, directory: str, parent_ids: list[str]) -> None:
        own = os.path.join(directory, "fs")
        os.mkdir(own, 0o755)
        if kind is Kind.ACTIVE and parent_ids:
            # [IMG-SNAP-011] the whole parent tree: the parent's fs is a full tree too
            copy_tree(self.fs(parent_ids[0]), own)

    def _mounts(self, kind: Kind, directory: str, parent_ids: list[str]) -> list[Mount]:
        if kind is Kind.ACTIVE:
            return [Mount("bind", os.path.join(directory, "fs"), ("rw", "rbind"))]
        # a view: the committed parent never changes, so no copy is needed
        source = self.fs(parent_ids[0]) if parent_ids else os.path.join(directory, "fs")
        return [Mount("bind", source, ("ro", "rbind"))]

    def _diff(self, directory: str, parent_ids: list[str], out: BinaryIO, mtime: int | None) -> None:
        # [IMG-SNAP-012] compare with the parent's tree (or with nothing)
        lower = self.fs(parent_ids[0]) if parent_ids else None
        diff.diff_directories(lower, os.path.join(directory, "fs"), out, mtime=mtime)
