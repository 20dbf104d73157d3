"""Layers are untrusted input: escapes are refused before anything is written."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from minidock.errors import InvalidArgument
from minidock.images import layers


def _tar(*entries) -> io.BytesIO:
    """Build a tar from (name, kind, linkname) entries; files hold b'x'."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            data = b"x" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


@pytest.mark.spec("IMG-LAYER-001")
@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/evil", "a/../b/../../evil", "a/.."])
def test_absolute_and_dotdot_names_are_refused(tmp_path, name):
    dest = tmp_path / "root"
    dest.mkdir()
    with pytest.raises(InvalidArgument, match="absolute|'\\.\\.'"):
        layers.unpack(_tar((name, tarfile.REGTYPE, "")), str(dest))
    assert not (tmp_path / "evil").exists()
    assert os.listdir(dest) == []


@pytest.mark.spec("IMG-LAYER-002")
def test_hard_links_leaving_the_layer_are_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="outside the layer"):
        layers.unpack(_tar(("passwd", tarfile.LNKTYPE, "../../etc/passwd")), str(tmp_path))
    assert not (tmp_path / "passwd").exists()


@pytest.mark.spec("IMG-LAYER-002")
def test_hard_links_through_a_symlink_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host data")
    dest = tmp_path / "root"
    dest.mkdir()
    archive = _tar(("evil", tarfile.SYMTYPE, str(outside)), ("grab", tarfile.LNKTYPE, "evil/secret"))
    with pytest.raises(InvalidArgument, match="through the symlink 'evil'"):
        layers.unpack(archive, str(dest))
    assert not (dest / "grab").exists()


@pytest.mark.spec("IMG-LAYER-003")
def test_a_file_replacing_a_symlink_does_not_write_through_it(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("untouched")
    dest = tmp_path / "root"
    dest.mkdir()
    layers.unpack(_tar(("same", tarfile.SYMTYPE, str(outside)), ("same", tarfile.REGTYPE, "")), str(dest))
    assert outside.read_text() == "untouched"
    assert not (dest / "same").is_symlink() and (dest / "same").read_bytes() == b"x"


@pytest.mark.spec("IMG-LAYER-003")
def test_writing_through_a_symlink_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "root"
    dest.mkdir()
    archive = _tar(("escape", tarfile.SYMTYPE, str(outside)), ("escape/owned", tarfile.REGTYPE, ""))
    with pytest.raises(InvalidArgument, match="through the symlink 'escape'"):
        layers.unpack(archive, str(dest))
    assert os.listdir(outside) == []


@pytest.mark.spec("IMG-LAYER-001")
def test_a_good_layer_unpacks_with_its_links(tmp_path):
    names = layers.unpack(_tar(("bin", tarfile.DIRTYPE, ""), ("bin/tool", tarfile.REGTYPE, ""),
                               ("bin/alias", tarfile.SYMTYPE, "tool"),
                               ("bin/hard", tarfile.LNKTYPE, "bin/tool")), str(tmp_path))
    assert names == ["bin", "bin/tool", "bin/alias", "bin/hard"]
    assert os.readlink(tmp_path / "bin/alias") == "tool"
    assert (tmp_path / "bin/hard").read_bytes() == b"x"


# -- applying: compression, bad streams, whiteouts, every kind of entry (issue 4) --------------

import gzip  # noqa: E402
import stat  # noqa: E402

from tests.images.snapshots.trees import BLK, CHR, DIR, FIFO, LNK, REG, SYM, describe, layer  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown, mknod and trusted xattrs need root")


@pytest.mark.spec("IMG-LAYER-004")
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_plain_and_gzip_layers_apply_alike(tmp_path, compress):
    archive = layer(("etc", DIR, None), ("etc/hostname", REG, b"box\n"), compress=compress)
    assert archive.getvalue().startswith(b"\x1f\x8b") == compress
    assert layers.apply(archive, str(tmp_path)) == ["etc", "etc/hostname"]
    assert (tmp_path / "etc/hostname").read_bytes() == b"box\n"


@pytest.mark.spec("IMG-LAYER-004")
def test_a_stream_that_cannot_seek_applies_too(tmp_path):
    raw = layer(("a", REG, b"1"), compress=True).getvalue()
    read, write = os.pipe()
    os.write(write, raw)
    os.close(write)
    with open(read, "rb", buffering=0) as pipe:
        layers.apply(pipe, str(tmp_path))
    assert (tmp_path / "a").read_bytes() == b"1"


@pytest.mark.spec("IMG-LAYER-004")
def test_zstd_is_refused_by_name(tmp_path):
    with pytest.raises(InvalidArgument, match="zstd"):
        layers.apply(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 64), str(tmp_path))


def _broken_layers() -> dict[str, bytes]:
    plain = layer(("a", REG, b"first"), ("b", REG, b"x" * 5000), ("c", REG, b"last")).getvalue()
    zipped = gzip.compress(plain)
    corrupt = bytearray(zipped)
    corrupt[len(corrupt) // 2] ^= 0xFF
    bad_crc = bytearray(zipped)
    bad_crc[-8] ^= 0xFF
    return {
        "gzip-cut": zipped[: len(zipped) // 2],
        "gzip-corrupt": bytes(corrupt),
        "gzip-bad-crc": bytes(bad_crc),
        "tar-cut-in-data": plain[:512 * 4],        # a's header and data, b's header, part of b
        "tar-cut-in-header": plain[:512 * 2 + 100],  # a whole, then a piece of b's pax header
        "tar-garbage-after": plain[:512 * 2] + b"\x7f" * 1024,
        "not-a-tar": b"hello, this is no tar" * 40,
    }


@pytest.mark.spec("IMG-LAYER-005")
@pytest.mark.parametrize("kind", sorted(_broken_layers()))
def test_corrupt_and_truncated_layers_are_refused_before_any_write(tmp_path, kind):
    with pytest.raises(InvalidArgument, match="not a valid gzip|not a valid tar|truncated or corrupt"):
        layers.apply(io.BytesIO(_broken_layers()[kind]), str(tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.spec("IMG-LAYER-001")
def test_a_bad_name_late_in_the_layer_stops_it_before_the_first_write(tmp_path):
    with pytest.raises(InvalidArgument, match="'\\.\\.'"):
        layers.apply(layer(("good", REG, b"1"), ("../evil", REG, b"2")), str(tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.spec("IMG-LAYER-001")
@pytest.mark.parametrize("name", ["dir/.wh..", "dir/.wh.", ".wh.."])
def test_a_whiteout_of_no_name_is_refused(tmp_path, name):
    (tmp_path / "dir").mkdir()
    with pytest.raises(InvalidArgument, match="whiteout of no name"):
        layers.apply(layer((name, REG, b"")), str(tmp_path))
    assert (tmp_path / "dir").is_dir()


@pytest.mark.spec("IMG-LAYER-003")
def test_a_whiteout_is_not_applied_through_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(InvalidArgument, match="through the symlink 'link'"):
        layers.apply(layer(("link/.wh.precious", REG, b"")), str(root))
    assert (outside / "precious").read_text() == "keep"


def _lower(root) -> None:
    """A lower layer: files, a directory tree, a symlink."""
    layers.apply(layer(("etc", DIR, None), ("etc/passwd", REG, b"root"), ("etc/group", REG, b"g"),
                       ("var", DIR, None), ("var/cache", DIR, None), ("var/cache/old", REG, b"o"),
                       ("var/cache/deep", DIR, None), ("var/cache/deep/er", REG, b"d"),
                       ("var/keep", REG, b"k"), ("lib", SYM, "usr/lib")), str(root))


@pytest.mark.spec("IMG-LAYER-006")
def test_whiteouts_delete_lower_files_directories_and_symlinks(tmp_path):
    _lower(tmp_path)
    names = layers.apply(layer(("etc/.wh.group", REG, b""), ("var/.wh.cache", REG, b""),
                               (".wh.lib", REG, b""), ("var/.wh.missing", REG, b"")), str(tmp_path))
    assert names == ["etc/.wh.group", "var/.wh.cache", ".wh.lib", "var/.wh.missing"]
    assert sorted(describe(str(tmp_path))) == ["etc", "etc/passwd", "var", "var/keep"]


@pytest.mark.spec("IMG-LAYER-006")
def test_a_whiteout_never_hides_what_its_own_layer_adds(tmp_path):
    _lower(tmp_path)
    layers.apply(layer(("etc/group", REG, b"new"), ("etc/.wh.group", REG, b"")), str(tmp_path))
    assert (tmp_path / "etc/group").read_bytes() == b"new"


@pytest.mark.spec("IMG-LAYER-007")
@pytest.mark.parametrize("marker_first", [True, False], ids=["marker-first", "marker-last"])
def test_an_opaque_directory_hides_its_lower_contents_whatever_the_order(tmp_path, marker_first):
    _lower(tmp_path)
    marker = ("var/cache/.wh..wh..opq", REG, b"")
    added = [("var/cache", DIR, None), ("var/cache/new", REG, b"n"),
             ("var/cache/deep", DIR, None), ("var/cache/deep/est", REG, b"e")]
    entries = [marker, *added] if marker_first else [*added, marker]
    layers.apply(layer(*entries), str(tmp_path))
    assert sorted(p for p in describe(str(tmp_path)) if p.startswith("var/")) == [
        "var/cache", "var/cache/deep", "var/cache/deep/est", "var/cache/new", "var/keep"]


@pytest.mark.spec("IMG-LAYER-011")
def test_an_entry_replaces_a_lower_directory_or_file_of_another_type(tmp_path):
    _lower(tmp_path)
    layers.apply(layer(("var/cache", REG, b"now a file"), ("etc/passwd", DIR, None),
                       ("lib", DIR, None), ("lib/x", REG, b"x")), str(tmp_path))
    assert (tmp_path / "var/cache").read_bytes() == b"now a file"
    assert (tmp_path / "etc/passwd").is_dir()
    assert (tmp_path / "lib").is_dir() and not (tmp_path / "lib").is_symlink()


@pytest.mark.spec("IMG-LAYER-001")
def test_the_root_entry_cannot_be_replaced(tmp_path):
    with pytest.raises(InvalidArgument, match="root of the layer"):
        layers.apply(layer((".", REG, b"")), str(tmp_path))


@pytest.mark.spec("IMG-LAYER-002")
def test_a_hard_link_to_nothing_is_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="no file of the layer"):
        layers.apply(layer(("b", LNK, "a")), str(tmp_path))


@needs_root
@pytest.mark.spec("IMG-LAYER-008", "IMG-LAYER-009")
def test_every_kind_of_entry_with_owner_mode_and_mtime(tmp_path):
    exact = {"mtime": 1_600_000_000, "pax_headers": {"mtime": "1600000000.123456789"}}
    archive = layer(
        (".", DIR, None, {"mode": 0o755, "mtime": 1_500_000_000}),
        ("bin", DIR, None, {"mode": 0o711, "uid": 3, "gid": 4, "mtime": 1_400_000_000}),
        ("bin/su", REG, b"suid", {"mode": 0o4755, "uid": 0, "gid": 0}),
        ("bin/wall", REG, b"sgid", {"mode": 0o2755, "uid": 1000, "gid": 5, **exact}),
        ("bin/again", LNK, "bin/wall"),
        ("tmp", DIR, None, {"mode": 0o1777}),
        ("dev", DIR, None),
        ("dev/null", CHR, None, {"devmajor": 1, "devminor": 3, "mode": 0o666}),
        ("dev/loop0", BLK, None, {"devmajor": 7, "devminor": 0, "mode": 0o660, "gid": 6}),
        ("dev/pipe", FIFO, None, {"mode": 0o620}),
        ("bin/sh", SYM, "su", {"uid": 7, "gid": 8, "mtime": 1_300_000_000}),
    )
    layers.apply(archive, str(tmp_path))
    tree = describe(str(tmp_path))
    su, wall, again = tree["bin/su"], tree["bin/wall"], tree["bin/again"]
    assert su[:3] == ("-rwsr-xr-x", 0, 0) and su[4] == b"suid"
    assert wall[:4] == ("-rwxr-sr-x", 1000, 5, 1_600_000_000_123_456_789)
    assert again == wall and wall[6] is not None  # one inode, two names
    assert tree["bin"][:4] == ("drwx--x--x", 3, 4, 1_400_000_000 * 10**9)  # set after its children
    assert tree["tmp"][0] == "drwxrwxrwt"
    assert tree["dev/null"][0] == "crw-rw-rw-" and tree["dev/null"][5] == os.makedev(1, 3)
    assert tree["dev/loop0"][:3] == ("brw-rw----", 0, 6) and tree["dev/loop0"][5] == os.makedev(7, 0)
    assert tree["dev/pipe"][0] == "prw--w----"
    assert tree["bin/sh"][:5] == ("lrwxrwxrwx", 7, 8, 1_300_000_000 * 10**9, "su")
    assert os.stat(tmp_path).st_mtime == 1_500_000_000


@needs_root
@pytest.mark.spec("IMG-LAYER-010")
def test_xattrs_from_pax_headers_are_restored_and_overlay_markers_are_not(tmp_path):
    capability = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_bind_service
    headers = {"SCHILY.xattr.user.comment": "hello",
               "SCHILY.xattr.user.binary": b"\xff\x00\xfe".decode("utf-8", "surrogateescape"),
               "SCHILY.xattr.security.capability": capability.decode("utf-8", "surrogateescape"),
               "SCHILY.xattr.trusted.overlay.opaque": "y"}
    layers.apply(layer(("ping", REG, b"bin", {"pax_headers": headers, "uid": 0}),
                       ("dir", DIR, None, {"pax_headers": {"SCHILY.xattr.trusted.overlay.opaque": "y"}})),
                 str(tmp_path))
    assert os.getxattr(tmp_path / "ping", "user.comment") == b"hello"
    assert os.getxattr(tmp_path / "ping", "user.binary") == b"\xff\x00\xfe"
    assert os.getxattr(tmp_path / "ping", "security.capability") == capability
    assert "trusted.overlay.opaque" not in os.listxattr(tmp_path / "dir")
    assert "trusted.overlay.opaque" not in os.listxattr(tmp_path / "ping")


@pytest.mark.spec("IMG-LAYER-012")
def test_a_directory_the_layer_does_not_list_keeps_its_mtime(tmp_path):
    _lower(tmp_path)
    before = {name: os.stat(tmp_path / name).st_mtime_ns for name in ("etc", "var", "var/cache")}
    layers.apply(layer(("etc/new", REG, b"n"), ("var/.wh.keep", REG, b""),
                       ("var/cache/.wh..wh..opq", REG, b"")), str(tmp_path))
    assert {name: os.stat(tmp_path / name).st_mtime_ns for name in before} == before
    assert (tmp_path / "etc/new").exists() and not (tmp_path / "var/keep").exists()
