"""Diffs: an upper directory or two trees back into a layer tar, and the round trip through apply."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from minidock.images import diff, layers
from minidock.images.snapshots import copy_tree
from tests.images.snapshots.trees import BLK, CHR, DIR, FIFO, LNK, REG, SYM, describe, layer, names

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="owners, devices and trusted xattrs need root")


def base_layer() -> io.BytesIO:
    """A small rootfs with one of everything."""
    return layer(
        ("bin", DIR, None), ("bin/busybox", REG, b"\x7fELF" * 100, {"mode": 0o755}),
        ("bin/sh", LNK, "bin/busybox"), ("bin/ls", SYM, "busybox"),
        ("etc", DIR, None), ("etc/passwd", REG, b"root:x:0:0::/root:/bin/sh\n"),
        ("etc/shadow", REG, b"root:*:1::::::\n", {"mode": 0o600, "gid": 42}),
        ("etc/motd", REG, b"hi"),
        ("usr", DIR, None), ("usr/bin", DIR, None), ("usr/bin/su", REG, b"su", {"mode": 0o4755}),
        ("var", DIR, None), ("var/cache", DIR, None), ("var/cache/a", REG, b"a"),
        ("var/cache/sub", DIR, None), ("var/cache/sub/b", REG, b"b"),
        ("var/lib", DIR, None), ("var/lib/x", REG, b"x"),
        ("dev", DIR, None), ("dev/null", CHR, None, {"devmajor": 1, "devminor": 3, "mode": 0o666}),
        ("opt", DIR, None, {"pax_headers": {"SCHILY.xattr.user.tag": "old"}}),
        ("opt/tool", REG, b"t", {"uid": 1000, "gid": 1000}),
    )


def _entries(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {member.name: member for member in tar.getmembers()}


@pytest.mark.spec("IMG-DIFF-001")
def test_an_overlay_upper_dir_becomes_whiteouts_and_opaque_markers(tmp_path):
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/motd").write_text("changed")
    os.mknod(upper / "etc/passwd", 0o000 | 0o020000, os.makedev(0, 0))  # overlay's whiteout
    (upper / "var/cache").mkdir(parents=True)
    os.setxattr(upper / "var/cache", "trusted.overlay.opaque", b"y")
    (upper / "var/cache/new").write_text("n")
    os.setxattr(upper, "trusted.overlay.uuid", b"\x01" * 16)  # overlay's own: not content
    os.mknod(upper / "var/tty", 0o620 | 0o020000, os.makedev(4, 1))  # a real device stays one
    out = io.BytesIO()
    diff.diff_upper(str(upper), out)
    entries = _entries(out.getvalue())
    assert list(entries) == ["etc", "etc/motd", "etc/.wh.passwd", "var", "var/cache",
                             "var/cache/.wh..wh..opq", "var/cache/new", "var/tty"]
    assert entries["etc/.wh.passwd"].isreg() and entries["etc/.wh.passwd"].size == 0
    assert entries["var/tty"].ischr() and (entries["var/tty"].devmajor, entries["var/tty"].devminor) == (4, 1)
    assert not any(key.startswith("SCHILY.xattr.trusted.overlay")
                   for entry in entries.values() for key in entry.pax_headers)


@pytest.mark.spec("IMG-DIFF-002")
def test_two_trees_give_added_modified_and_deleted(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    layers.apply(base_layer(), str(lower))
    copy_tree(str(lower), str(upper))
    out = io.BytesIO()
    diff.diff_directories(str(lower), str(upper), out)
    assert names(out) == []  # a faithful copy has no changes
    (upper / "etc/motd").write_bytes(b"ho")                 # same size, new mtime
    os.chmod(upper / "etc/passwd", 0o640)                   # mode only
    os.chown(upper / "opt/tool", 1000, 1001)                # owner only
    os.setxattr(upper / "opt", "user.tag", b"new")          # xattr only
    os.unlink(upper / "var/lib/x")
    os.rename(upper / "var/cache", tmp_path / "gone")       # a whole directory
    (upper / "new").write_text("added")
    out = io.BytesIO()
    diff.diff_directories(str(lower), str(upper), out)
    assert names(out) == ["etc/motd", "etc/passwd", "new", "opt", "opt/tool",
                          "var", "var/.wh.cache", "var/lib", "var/lib/.wh.x"]


@pytest.mark.spec("IMG-DIFF-002")
def test_content_comparison_finds_a_change_that_kept_size_and_mtime(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for tree in (lower, upper):
        tree.mkdir()
        (tree / "f").write_bytes(b"aaaa" if tree == lower else b"bbbb")
        os.utime(tree / "f", ns=(10**18, 10**18))
    quick, careful = io.BytesIO(), io.BytesIO()
    diff.diff_directories(str(lower), str(upper), quick)
    diff.diff_directories(str(lower), str(upper), careful, compare_content=True)
    assert names(quick) == [] and names(careful) == ["f"]


@pytest.mark.spec("IMG-DIFF-004")
def test_a_diff_is_sorted_and_with_a_fixed_mtime_byte_for_byte_stable(tmp_path):
    outputs = []
    for attempt in ("one", "two"):
        upper = tmp_path / attempt
        for name in ("b", "a/z", "a/b", "c/d/e"):
            (upper / name).parent.mkdir(parents=True, exist_ok=True)
            (upper / name).write_text(name)
        out = io.BytesIO()
        diff.diff_upper(str(upper), out, mtime=0)
        outputs.append(out.getvalue())
    assert names(outputs[0]) == ["a", "a/b", "a/z", "b", "c", "c/d", "c/d/e"]
    assert outputs[0] == outputs[1]
    assert {member.mtime for member in _entries(outputs[0]).values()} == {0}


def _change_everything(upper, *, lower_hard_links: bool = True) -> None:
    """The changes a container makes, one of each kind.

    ``lower_hard_links=False`` leaves out changing a file that is hard-linked in the
    lower layer: overlayfs(5) without index=on breaks such a link on copy-up, so the
    container sees two files where the layer below has one (docker's overlay2 too).
    """
    (upper / "etc/motd").write_bytes(b"ho")                   # modified in place
    os.unlink(upper / "etc/shadow")                            # deleted file
    import shutil
    shutil.rmtree(upper / "var/cache")                         # deleted directory ...
    (upper / "var/cache").mkdir()                              # ... made anew: opaque in overlay
    (upper / "var/cache/fresh").write_text("f")
    os.unlink(upper / "var/lib/x")
    (upper / "var/lib/x").mkdir()                              # a file became a directory
    shutil.rmtree(upper / "opt")
    (upper / "opt").write_text("a directory became a file")
    os.link(upper / "etc/passwd", upper / "etc/passwd-")       # a new hard link to an old file
    (upper / "new").mkdir()
    (upper / "new/a").write_text("a")
    os.link(upper / "new/a", upper / "new/b")                  # a hard link within the change
    os.symlink("../etc/passwd", upper / "new/link")
    os.unlink(upper / "bin/ls")
    os.symlink("/bin/busybox", upper / "bin/ls")               # a symlink retargeted
    os.chmod(upper / "usr/bin/su", 0o755)                      # setuid dropped
    if lower_hard_links:
        os.chown(upper / "bin/busybox", 0, 10)                 # owner changed (both links)
    os.mkfifo(upper / "new/fifo", 0o600)
    os.mknod(upper / "new/sda", 0o660 | 0o060000, os.makedev(8, 0))
    os.setxattr(upper / "new/a", "user.note", b"\xff\x01")


@pytest.mark.spec("IMG-DIFF-003", "IMG-DIFF-005")
def test_apply_base_then_diff_gives_the_changed_tree_back(tmp_path):
    lower, upper, fresh = tmp_path / "lower", tmp_path / "upper", tmp_path / "fresh"
    for tree in (lower, upper, fresh):
        tree.mkdir()
    layers.apply(base_layer(), str(lower))
    copy_tree(str(lower), str(upper))
    assert describe(str(upper)) == describe(str(lower))
    _change_everything(upper)
    out = io.BytesIO()
    diff.diff_directories(str(lower), str(upper), out)
    layers.apply(base_layer(), str(fresh))
    out.seek(0)
    layers.apply(out, str(fresh))
    assert describe(str(fresh)) == describe(str(upper))
    links = _entries(out.getvalue())
    assert links["new/b"].islnk() and links["new/b"].linkname == "new/a"
    assert links["etc/passwd-"].islnk() and links["etc/passwd-"].linkname == "etc/passwd"
