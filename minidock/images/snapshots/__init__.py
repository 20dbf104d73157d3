"""Snapshots: the writable and read-only trees containers and builds run on.

Implements: spec/images.md IMG-SNAP-001 .. IMG-SNAP-013
Explained:  chapters/04-images.md#snapshots
Modelled on: containerd's snapshotters (overlay, native) and their common test suite

    snapshotter  Snapshotter (the interface), Mount, Info, Kind, ALLOWED (the rules),
                 LocalSnapshotter (the bookkeeping both drivers share)
    overlay      OverlaySnapshotter, overlay_supported(root)
    copy         CopySnapshotter, copy_tree(source, dest)
    mount        mount_all(mounts, target), unmount(target), mount_calls() (pure)
"""

from minidock.images.snapshots.copy import CopySnapshotter, copy_tree
from minidock.images.snapshots.mount import MountCall, mount_all, mount_calls, unmount
from minidock.images.snapshots.overlay import OverlaySnapshotter, overlay_supported
from minidock.images.snapshots.snapshotter import (ALLOWED, Info, Kind, LocalSnapshotter, Mount,
                                                   Snapshotter)

__all__ = [
    "ALLOWED", "CopySnapshotter", "Info", "Kind", "LocalSnapshotter", "Mount", "MountCall",
    "OverlaySnapshotter", "Snapshotter", "copy_tree", "mount_all", "mount_calls",
    "overlay_supported", "unmount",
]
