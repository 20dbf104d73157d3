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
