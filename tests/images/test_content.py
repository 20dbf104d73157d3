"""The content store: blobs by digest, never half written, garbage collected from roots."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from minidock.errors import InvalidArgument, NotFound, NotImplemented
from minidock.images import digest as digests
from minidock.images import oci
from minidock.images.content import ContentStore


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _visible(store: ContentStore) -> list[str]:
    return os.listdir(store.blobs)


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(str(tmp_path / "content"))


@pytest.mark.spec("IMG-STORE-001")
def test_a_blob_is_kept_under_its_digest(store):
    data = b"hello, layers"
    info = store.write(_sha(data), io.BytesIO(data), len(data))
    assert info.size == len(data) and info.digest == _sha(data)
    path = os.path.join(store.root, "blobs", "sha256", hashlib.sha256(data).hexdigest())
    with open(path, "rb") as blob:
        assert blob.read() == data
    assert store.exists(_sha(data)) and store.read(_sha(data)) == data
    assert store.info(_sha(data)).size == len(data)
    with store.open(_sha(data)) as blob:
        assert blob.read() == data
    # writing it again is harmless: one copy
    store.write_bytes(data)
    assert [blob.digest for blob in store.walk()] == [_sha(data)]


@pytest.mark.spec("IMG-STORE-001", "IMG-STORE-003")
def test_content_with_a_wrong_digest_is_refused_and_leaves_nothing(store):
    with pytest.raises(InvalidArgument, match="wrong digest"):
        store.write(_sha(b"what was promised"), io.BytesIO(b"something else"))
    assert _visible(store) == [] and os.listdir(store.ingest) == []
    assert not store.exists(_sha(b"what was promised"))


@pytest.mark.spec("IMG-STORE-003")
@pytest.mark.parametrize("data, size", [(b"truncat", 9), (b"too long!!", 9)])
def test_a_stream_of_the_wrong_size_is_refused(store, data, size):
    with pytest.raises(InvalidArgument, match="wrong size"):
        store.write(_sha(b"truncated"), io.BytesIO(data), size)
    assert _visible(store) == [] and os.listdir(store.ingest) == []


_SLOW_WRITER = """
import sys, time
from minidock.images.content import ContentStore

class Slow:
    # a stream that gives a first chunk, says so, then hangs: the parent kills us here
    def __init__(self): self.sent = False
    def read(self, n):
        if not self.sent:
            self.sent = True
            return b"x" * 4096
        print("writing", flush=True)
        time.sleep(60)
        return b""

ContentStore(sys.argv[1]).write("sha256:" + "0" * 64, Slow())
"""


@pytest.mark.spec("IMG-STORE-003")
def test_a_write_killed_midway_leaves_no_visible_blob(store):
    child = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, store.root], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"writing\n"
        assert os.listdir(store.ingest) != []  # the half blob is there, but only in ingest/
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert _visible(store) == []
    # at start-up the daemon clears what crashed writes left
    assert ContentStore(store.root).abort_ingests() == 1
    assert os.listdir(store.ingest) == []


@pytest.mark.spec("IMG-STORE-002")
@pytest.mark.parametrize("bad", [
    "", "sha256", "sha256:", "sha256:abc", "sha256:" + "A" * 64, "sha256:" + "g" * 64,
    "sha256:" + "a" * 65, "SHA256:" + "a" * 64, "md5:" + "a" * 32, "a" * 64,
    "sha256:../../../../etc/passwd", None,
])
def test_a_malformed_digest_is_refused(store, bad):
    with pytest.raises(InvalidArgument, match="digest"):
        digests.validate(bad)
    with pytest.raises(InvalidArgument):
        store.exists(bad)


@pytest.mark.spec("IMG-STORE-002")
def test_other_algorithms_are_refused_clearly(store):
    with pytest.raises(NotImplemented, match="sha512.*sha256"):
        store.write("sha512:" + "a" * 128, io.BytesIO(b""))
    assert digests.validate("sha256:" + "a" * 64) == "a" * 64


@pytest.mark.spec("IMG-STORE-004")
def test_a_blob_damaged_on_disk_is_refused_when_read(store):
    data = b"a manifest, say" * 10
    digest = store.write_bytes(data).digest
    path = store.path(digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as blob:
        blob.truncate(20)
    with pytest.raises(InvalidArgument, match="wrong size"):
        store.read_descriptor(oci.Descriptor("application/octet-stream", digest, len(data)))
    with pytest.raises(InvalidArgument, match="corrupt"):
        store.read(digest)


@pytest.mark.spec("IMG-STORE-006")
def test_a_missing_blob_is_not_found(store):
    missing = _sha(b"never stored")
    assert not store.exists(missing)
    for call in (store.info, store.open, store.read, store.delete):
        with pytest.raises(NotFound, match="not found"):
            call(missing)


@pytest.mark.spec("IMG-STORE-006")
def test_delete_and_walk(store):
    for data in (b"one", b"two", b"three"):
        store.write_bytes(data)
    assert sorted(blob.digest for blob in store.walk()) == sorted(_sha(d) for d in (b"one", b"two", b"three"))
    store.delete(_sha(b"two"))
    assert not store.exists(_sha(b"two")) and len(list(store.walk())) == 2


def _image(store: ContentStore, name: bytes, shared_layer: bytes) -> oci.Descriptor:
    """Store a one-platform image (config, two layers, manifest) and return its manifest descriptor."""
    layers = [oci.descriptor_of(data, oci.OCI_LAYER) for data in (shared_layer, name + b" layer")]
    config = oci.canonical_json({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layers]}})
    for data in (shared_layer, name + b" layer", config):
        store.write_bytes(data)
    manifest = oci.manifest_bytes(oci.descriptor_of(config, oci.OCI_CONFIG), layers)
    store.write_bytes(manifest)
    return oci.descriptor_of(manifest, oci.OCI_MANIFEST)


@pytest.mark.spec("IMG-STORE-005")
def test_gc_removes_exactly_what_no_root_reaches(store):
    base = b"a shared base layer"
    kept = _image(store, b"kept", base)
    dropped = _image(store, b"dropped", base)
    index = oci.index_bytes([kept])
    store.write_bytes(index)
    root = oci.descriptor_of(index, oci.OCI_INDEX)
    stray = store.write_bytes(b"a blob nothing names").digest

    before = {blob.digest for blob in store.walk()}
    removed = store.gc([root])

    reachable = {root.digest, kept.digest, _sha(base), _sha(b"kept layer")}
    kept_manifest = oci.parse_manifest(store.read(kept.digest))
    reachable.add(kept_manifest.config.digest)
    assert {blob.digest for blob in store.walk()} == reachable
    assert set(removed) == before - reachable
    assert stray in removed and dropped.digest in removed and _sha(b"dropped layer") in removed
    # with no roots at all, everything goes
    store.gc([])
    assert list(store.walk()) == []


@pytest.mark.spec("IMG-STORE-005")
def test_gc_tolerates_a_root_whose_layers_are_missing(store):
    manifest = _image(store, b"partial", b"base")
    store.delete(_sha(b"partial layer"))
    assert store.gc([manifest]) == []
    assert store.exists(manifest.digest)


@pytest.mark.spec("IMG-STORE-001")
def test_a_big_blob_is_streamed(store):
    data = os.urandom(3 << 20)  # more than one chunk
    started = time.monotonic()
    store.write(_sha(data), io.BytesIO(data), len(data))
    assert store.read(_sha(data)) == data
    assert time.monotonic() - started < 5
