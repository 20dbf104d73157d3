"""The registry's storage without a server: how an upload's batches reach the file."""

from __future__ import annotations

import hashlib
import os

import pytest

from minidock.registry import storage
from minidock.registry.storage import Storage


def test_groups_keep_the_order_and_cut_at_the_limit():
    chunks = [b"a" * 10, b"b" * 150, b"c" * 5, b"d" * 60]
    groups = list(storage._groups(chunks, 64))
    assert b"".join(b"".join(group) for group in groups) == b"".join(chunks)
    assert all(sum(len(piece) for piece in group) <= 64 for group in groups)
    assert [sum(len(piece) for piece in group) for group in groups] == [10, 64, 64, 27, 60]


@pytest.mark.spec("REG-005")
def test_an_upload_appended_in_batches_is_the_bytes_in_order(tmp_path):
    store = Storage(str(tmp_path))
    upload = store.start_upload("t/units")
    batches = [[os.urandom(n) for n in sizes] for sizes in ([1, 70000, 3], [200_000], [65536, 65536, 7])]
    with open(upload.path, "ab", buffering=0) as file:
        for batch in batches:
            store.append(upload, batch, file)
    data = b"".join(b"".join(batch) for batch in batches)
    assert upload.size == len(data)
    with open(upload.path, "rb") as file:
        assert file.read() == data
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert store.commit(upload, digest) == len(data)
    with open(store.blob_path("t/units", digest), "rb") as file:
        assert file.read() == data
