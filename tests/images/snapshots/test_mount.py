"""The mount shell: pure mount(2) plans, then the real thing, and overlay_supported."""

from __future__ import annotations

import os

import pytest

from minidock.images.snapshots import Mount, MountCall, mount_all, mount_calls, overlay_supported, unmount
from minidock.images.snapshots.overlay import OverlaySnapshotter
from minidock.kernel import syscalls as sc
from minidock.kernel.syscalls import SyscallError

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


@pytest.mark.spec("IMG-SNAP-014")
def test_a_read_only_bind_is_a_bind_then_a_read_only_remount():
    calls = mount_calls(Mount("bind", "/src", ("ro", "rbind")), "/t")
    assert calls == [MountCall("/src", "/t", None, sc.MS_BIND | sc.MS_REC, None),
                     MountCall(None, "/t", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY, None)]


@pytest.mark.spec("IMG-SNAP-014", "IMG-SNAP-010")
def test_overlay_options_go_to_the_data_string():
    mount = Mount("overlay", "overlay", ("ro", "index=off", "lowerdir=/a:/b"))
    assert mount_calls(mount, "/t") == [MountCall("overlay", "/t", "overlay", sc.MS_RDONLY, "index=off,lowerdir=/a:/b")]


@pytest.mark.spec("IMG-SNAP-010")
def test_the_overlay_snapshotter_stacks_the_chain_nearest_first(tmp_path):
    snapshots = OverlaySnapshotter(str(tmp_path))
    snapshots.prepare("a")
    snapshots.commit("A", "a")
    assert snapshots.view("va", "A") == [Mount("bind", snapshots.fs("1"), ("ro", "rbind"))]
    snapshots.prepare("b", "A")
    snapshots.commit("B", "b")
    [mount] = snapshots.prepare("c", "B")
    assert mount.type == "overlay"
    assert f"lowerdir={snapshots.fs('3')}:{snapshots.fs('1')}" in mount.options
    assert f"upperdir={snapshots.fs('4')}" in mount.options
    assert f"workdir={snapshots.directory('4')}/work" in mount.options
    [view] = snapshots.view("vb", "B")
    assert view.type == "overlay" and "ro" in view.options and not any(
        option.startswith("upperdir") for option in view.options)


@needs_root
@pytest.mark.spec("IMG-SNAP-014")
def test_mount_all_undoes_its_mounts_when_one_fails(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "target").mkdir()
    target = str(tmp_path / "target")
    with pytest.raises(SyscallError):
        mount_all([Mount("bind", str(tmp_path / "src"), ("rw", "rbind")),
                   Mount("bind", str(tmp_path / "missing"), ("rw", "rbind"))], target)
    assert not [line for line in open("/proc/self/mountinfo") if target in line]
    unmount(target)  # nothing mounted: fine


@needs_root
@pytest.mark.spec("IMG-SNAP-013")
def test_overlay_is_supported_here_and_the_check_leaves_nothing(tmp_path):
    assert overlay_supported(str(tmp_path)) is True
    assert not [line for line in open("/proc/self/mountinfo") if str(tmp_path) in line]
    assert os.listdir(tmp_path) == []


@needs_root
@pytest.mark.spec("IMG-SNAP-011")
def test_the_copy_snapshotter_copies_the_whole_parent_tree_faithfully(tmp_path):
    from minidock.images import layers
    from minidock.images.snapshots import CopySnapshotter
    from tests.images.snapshots.trees import describe
    from tests.images.test_diff import base_layer
    snapshots = CopySnapshotter(str(tmp_path / "root"))
    snapshots.prepare("a")
    layers.apply(base_layer(), snapshots.fs("1"))
    snapshots.commit("A", "a")
    [mount] = snapshots.prepare("c", "A")
    assert mount == Mount("bind", snapshots.fs("2"), ("rw", "rbind"))
    assert describe(snapshots.fs("2")) == describe(snapshots.fs("1"))  # links, devices, xattrs, times
    assert os.stat(os.path.join(snapshots.fs("2"), "etc/passwd")).st_ino != \
        os.stat(os.path.join(snapshots.fs("1"), "etc/passwd")).st_ino  # a copy, not the same files
