"""A layer's stream read front to back (layer_stream.LayerStream), and apply() across its chunks."""

from __future__ import annotations

import gzip
import io
import os
import random
import tarfile

import pytest

from minidock.images import layers
from minidock.images.layer_stream import LayerStream


def _plain_and_gzip(data: bytes) -> list[tuple[io.BytesIO, bool]]:
    return [(io.BytesIO(data), False), (io.BytesIO(gzip.compress(data)), True)]


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_forward_seeks_skip_and_one_step_back_stays_in_the_last_read(gzipped):
    data = bytes(range(256)) * 20_000  # 5 MB: more than one chunk
    raw, _ = _plain_and_gzip(data)[gzipped]
    stream = LayerStream(raw, gzipped)
    assert stream.read(512) == data[:512]
    stream.seek(3_000_000)  # forward: skipped
    assert stream.read(100) == data[3_000_000:3_000_100]
    stream.seek(3_000_050)  # back, into the last read
    assert stream.read(80) == data[3_000_050:3_000_130]
    with pytest.raises(io.UnsupportedOperation):
        stream.seek(1000)  # back past the last read: a gzip stream would have to start again
    stream.seek(len(data) + 10)  # past the end, as in a file: nothing more to read
    assert stream.read(10) == b""


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_write_to_copies_the_next_bytes_into_a_file(tmp_path, gzipped):
    data = os.urandom(3 << 20)
    raw, _ = _plain_and_gzip(data)[gzipped]
    stream = LayerStream(raw, gzipped)
    stream.seek(1234)
    with open(tmp_path / "out", "wb") as out:
        assert stream.write_to(out.fileno(), 2 << 20) == 2 << 20
        assert stream.tell() == 1234 + (2 << 20)
        assert stream.write_to(out.fileno(), 1 << 30) == len(data) - 1234 - (2 << 20)  # cut short: the end
    assert (tmp_path / "out").read_bytes() == data[1234:]


@pytest.mark.spec("IMG-LAYER-004")
def test_files_across_the_streams_chunks_apply_byte_for_byte(tmp_path):
    chooser = random.Random(4)
    files = {f"d{index % 7}/f{index}": chooser.randbytes(chooser.choice([0, 1, 511, 513, 70_000, 1_500_000]))
             for index in range(60)}
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layers.apply(io.BytesIO(gzip.compress(plain.getvalue(), 1)), str(tmp_path))
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data, name
