"""Overlay snapshots: copy-on-write trees from overlayfs, one upper directory per container.

Implements: spec/images.md IMG-SNAP-010, IMG-SNAP-013
Explained:  chapters/04-images.md#snapshots
Modelled on: containerd's overlay snapshotter (snapshots/overlay/overlay.go, overlayutils)

    OverlaySnapshotter(root)   the LocalSnapshotter bookkeeping, plus:
        an active snapshot    overlay: lowerdir = the parent chain's fs dirs, nearest first,
                              upperdir = its own fs, workdir = its own work
        an active, no parent  a read-write bind of its own (empty) fs
        a view of one layer   a read-only bind of that layer's fs
        a view of a chain     a read-only overlay of the lower dirs alone
    overlay_supported(root)   try an overlay mount under root (then undo it)

Rules: a committed snapshot's fs is an upper directory, a diff against its parent: it is
never changed again, only stacked. The diff of an active snapshot is its upper directory,
read with overlay's conventions (diff.diff_upper). `index=off`, `redirect_dir=off` and
`metacopy=off`: renaming a lower directory or copying up metadata only would leave
overlay-private xattrs in the upper directory that a layer cannot carry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import BinaryIO

from minidock.images import diff
from minidock.images.snapshots.mount import mount_all, unmount
from minidock.images.snapshots.snapshotter import Kind, LocalSnapshotter, Mount
from minidock.kernel.syscalls import SyscallError

OVERLAY_OPTIONS = ("index=off", "redirect_dir=off", "metacopy=off")


def overlay_mount(lower: list[str], upper: str | None = None, work: str | None = None) -> Mount:
    """An overlay Mount: ``lower`` nearest first (overlayfs(5): the rightmost is the bottom)."""
    options = [*OVERLAY_OPTIONS]
    if upper is None:
        options.insert(0, "ro")
    else:
        options += [f"upperdir={upper}", f"workdir={work}"]
    options.append("lowerdir=" + ":".join(lower))
    return Mount("overlay", "overlay", tuple(options))


class OverlaySnapshotter(LocalSnapshotter):
    """Snapshots as overlayfs layers under ``root`` (which must be able to hold an upper dir)."""

    def _populate(self, kind: Kind, directory: str, parent_ids: list[str]) -> None:
        os.mkdir(os.path.join(directory, "fs"), 0o755)
        if kind is Kind.ACTIVE and parent_ids:
            os.mkdir(os.path.join(directory, "work"), 0o700)  # overlayfs(5): on upperdir's fs, empty

    def _mounts(self, kind: Kind, directory: str, parent_ids: list[str]) -> list[Mount]:
        own = os.path.join(directory, "fs")
        lower = [self.fs(parent_id) for parent_id in parent_ids]
        if kind is Kind.ACTIVE:
            if not lower:
                return [Mount("bind", own, ("rw", "rbind"))]
            # [IMG-SNAP-010] the parent chain as lowerdir, nearest first; upper and work our own
            return [overlay_mount(lower, own, os.path.join(directory, "work"))]
        if len(lower) <= 1:
            # [IMG-SNAP-010] a view of one layer (or of nothing) needs no overlay at all
            return [Mount("bind", lower[0] if lower else own, ("ro", "rbind"))]
        return [overlay_mount(lower)]

    def _diff(self, directory: str, parent_ids: list[str], out: BinaryIO, mtime: int | None) -> None:
        # [IMG-SNAP-012] the upper directory is the change set already
        diff.diff_upper(os.path.join(directory, "fs"), out, mtime=mtime)


def overlay_supported(root: str) -> bool:
    """Whether overlayfs can be mounted with its upper directory under ``root``.

    As containerd's overlayutils.Supported: the only sure test is a mount (the module may
    be missing, the file system under root may not hold an upper directory, we may not be
    root). Two lower dirs, an upper and a work dir, mounted and unmounted in a temp dir.
    """
    if os.geteuid() != 0:
        return False
    os.makedirs(root, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=root, prefix=".overlay-check-")
    try:
        for name in ("lower1", "lower2", "upper", "work", "merged"):
            os.mkdir(os.path.join(scratch, name))
        mount = overlay_mount([os.path.join(scratch, "lower2"), os.path.join(scratch, "lower1")],
                              os.path.join(scratch, "upper"), os.path.join(scratch, "work"))
        merged = os.path.join(scratch, "merged")
        try:
            mount_all([mount], merged)
        except SyscallError:
            return False
        unmount(merged)
        return True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
