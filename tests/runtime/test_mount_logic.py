"""Pure logic of mounts: options into flags, and secure_join (no root needed)."""

from __future__ import annotations

import os

import pytest

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.runtime.mounts import parse, recursive_attributes, secure_join, split_options


@pytest.mark.spec("RT-MNT-004")
def test_options_split_into_flags_propagation_and_data():
    flags, propagation, data = split_options(["rbind", "ro", "nosuid", "rprivate", "mode=755", "size=1m"])
    assert flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY | sc.MS_NOSUID
    assert propagation == sc.MS_PRIVATE | sc.MS_REC
    assert data == "mode=755,size=1m"
    assert split_options(["ro", "rw"])[0] == 0  # the last word wins, as in mount(8)


@pytest.mark.spec("RT-MNT-002")
def test_secure_join_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/", root / "etc" / "to-slash")
    os.symlink("../../../..", root / "etc" / "up")
    os.symlink("/etc", root / "abs-etc")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    assert secure_join(str(root), "/etc/to-slash/x") == str(root / "x")
    assert secure_join(str(root), "/etc/up/y") == str(root / "y")
    assert secure_join(str(root), "/abs-etc/z") == str(root / "etc" / "z")
    assert secure_join(str(root), "/../../a/./b/..") == str(root / "a")
    with pytest.raises(InvalidArgument, match="too many symlinks"):
        secure_join(str(root), "/loop1/x")


@pytest.mark.spec("RT-MNT-001")
@pytest.mark.parametrize("entries, message", [
    ("not a list", "must be a list"),
    ([42], "must be an object"),
    ([{"destination": "/x", "options": "ro"}], "options must be a list"),
    ([{"type": "tmpfs"}], "destination must be an absolute path"),
])
def test_malformed_mount_entries(tmp_path, entries, message):
    with pytest.raises(InvalidArgument, match=message):
        parse(entries, str(tmp_path))


@pytest.mark.spec("RT-MNT-008")
def test_recursive_options_become_mount_setattr_attributes():
    assert recursive_attributes(["rbind", "ro", "nosuid"]) == (0, 0)  # plain words are not recursive
    assert recursive_attributes(["rro", "rnosuid"]) == (sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID, 0)
    assert recursive_attributes(["rro", "rrw"]) == (0, sc.MOUNT_ATTR_RDONLY)  # the last word wins
    # an atime mode is a value in a 3-bit field: the whole field is cleared, one value set
    assert recursive_attributes(["rnoatime"]) == (sc.MOUNT_ATTR_NOATIME, sc.MOUNT_ATTR__ATIME)
    assert recursive_attributes(["rnoatime", "rstrictatime"]) == (sc.MOUNT_ATTR_STRICTATIME, sc.MOUNT_ATTR__ATIME)
    assert recursive_attributes(["rnoatime", "ratime"]) == (sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME)
