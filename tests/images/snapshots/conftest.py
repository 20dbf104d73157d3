"""The snapshotter suite's fixtures: each test runs once per driver, and unmounts what it mounts."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

import pytest

from minidock.images.snapshots import CopySnapshotter, Mount, OverlaySnapshotter, mount_all, unmount

DRIVERS = {"overlay": OverlaySnapshotter, "copy": CopySnapshotter}


@pytest.fixture(params=sorted(DRIVERS))
def snapshotter(request, tmp_path):
    """A fresh snapshotter of each driver, its root under tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("snapshots are mounted: needs root")
    return DRIVERS[request.param](str(tmp_path / "root"))


@contextlib.contextmanager
def mounted(mounts: list[Mount]) -> Iterator[str]:
    """Mount a snapshot on a temporary directory; always unmount and remove it after."""
    target = tempfile.mkdtemp(prefix="minidock-snapshot-")
    try:
        mount_all(mounts, target)
        try:
            yield target
        finally:
            unmount(target)
    finally:
        os.rmdir(target)
