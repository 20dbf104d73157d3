"""`minidock build` streams its context tar as it is made (minidock/cli/build.py _ContextStream)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from minidock.cli import build


def _read_all(stream) -> bytes:
    parts = []
    while piece := stream.read(1 << 20):
        parts.append(piece)
    return b"".join(parts)


def test_the_streamed_context_is_the_tar_of_the_folder(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "big.bin").write_bytes(os.urandom(3 << 20))  # more than the pipe holds
    (tmp_path / ".dockerignore").write_text("skip\n")
    (tmp_path / "skip").write_text("no")
    with build._ContextStream(str(tmp_path), "Dockerfile") as stream:
        data = _read_all(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == [".dockerignore", "Dockerfile", "big.bin"]
        assert tar.extractfile("big.bin").read() == (tmp_path / "big.bin").read_bytes()


def test_a_context_that_fails_half_way_is_an_error_not_an_end(tmp_path, monkeypatch):
    def failing(path, dockerfile, out):
        out.write(b"x" * 4096)
        raise PermissionError(13, "Permission denied", os.path.join(path, "secret"))

    monkeypatch.setattr(build, "context_tar", failing)
    with build._ContextStream(str(tmp_path), "Dockerfile") as stream:
        with pytest.raises(PermissionError):
            _read_all(stream)
