"""The distribution client against minidock's registry and distribution's, and against
small fake registries on loopback that misbehave on purpose (a cut connection, wrong bytes)."""

from __future__ import annotations

import http.server
import io
import json
import os
import secrets
import socketserver
import subprocess
import threading
from contextlib import contextmanager

import pytest

from minidock.errors import Forbidden, InvalidArgument, Unauthorized
from minidock.registry.client import RegistryClient, is_insecure
from tests.registry.conftest import OCI_MANIFEST, digest_of
from tests.registry.test_auth import htpasswd, token_registry  # noqa: F401 - fixtures


def push_with(client: RegistryClient, name: str, tag: str, layer: bytes, chunk_size: int | None = None) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]}}).encode()
    for blob in (layer, config):
        client.upload_blob(name, digest_of(blob), len(blob), lambda blob=blob: io.BytesIO(blob),
                           chunk_size=chunk_size)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest_of(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": digest_of(layer), "size": len(layer)}]}).encode()
    return client.put_manifest(name, tag, manifest, OCI_MANIFEST)


@pytest.mark.spec("REG-038", "REG-001")
@pytest.mark.parametrize("chunk_size", [None, 100_000])
def test_push_and_pull_with_the_client(server, scratch, chunk_size):
    client = RegistryClient(server.address, insecure=True)
    name, layer = f"client/{secrets.token_hex(3)}", os.urandom(300_000)
    digest = push_with(client, name, "v1", layer, chunk_size)
    data, media_type, got = client.get_manifest(name, "v1")
    assert (media_type, got) == (OCI_MANIFEST, digest)
    assert client.get_manifest(name, digest)[2] == digest
    target = scratch / "layer"
    seen = []
    client.fetch_blob(name, digest_of(layer), len(layer), str(target), lambda done, total: seen.append(done))
    assert target.read_bytes() == layer and seen[-1] == len(layer)
    assert client.tags(name) == ["v1"]
    assert name in client.catalog()


@pytest.mark.spec("REG-036")
def test_existing_blobs_are_skipped_and_mounted(server):
    client = RegistryClient(server.address, insecure=True)
    source, target = f"mount/{secrets.token_hex(3)}", f"mount/{secrets.token_hex(3)}"
    blob = os.urandom(1000)
    opened = []

    def open_blob():
        opened.append(1)
        return io.BytesIO(blob)

    assert client.upload_blob(source, digest_of(blob), len(blob), open_blob) == "pushed"
    assert client.upload_blob(source, digest_of(blob), len(blob), open_blob) == "exists"
    assert client.upload_blob(target, digest_of(blob), len(blob), open_blob, mount_from=source) == "mounted"
    assert len(opened) == 1  # the blob's bytes went over the wire once


@pytest.mark.spec("REG-030", "REG-024")
def test_the_bearer_flow(token_registry):
    server = token_registry
    alice = RegistryClient(server.address, {"username": "alice", "password": "wonderland"}, insecure=True)
    digest = push_with(alice, "team/app", "v1", b"layer of alice")
    bob = RegistryClient(server.address, {"username": "bob", "password": "builder"}, insecure=True)
    assert bob.get_manifest("team/app", "v1")[2] == digest
    with pytest.raises(Forbidden, match="denied: requested access to the resource is denied"):
        push_with(bob, "team/app", "v2", b"layer of bob")
    with pytest.raises(Unauthorized):
        RegistryClient(server.address, {"username": "alice", "password": "wrong"}, insecure=True).ping()


@pytest.mark.spec("REG-031")
def test_the_basic_flow(start_registry, htpasswd):  # noqa: F811 - the fixture
    server = start_registry("--htpasswd", str(htpasswd))
    client = RegistryClient(server.address, {"username": "alice", "password": "wonderland"}, insecure=True)
    client.ping()
    push_with(client, "basic/app", "v1", b"a layer")
    with pytest.raises(Unauthorized, match="unauthorized"):
        RegistryClient(server.address, insecure=True).ping()
    with pytest.raises(Unauthorized, match="unauthorized"):
        RegistryClient(server.address, {"username": "alice", "password": "no"}, insecure=True).ping()


@pytest.mark.spec("REG-033")
def test_which_registries_are_insecure():
    assert is_insecure("127.0.0.1:5000") and is_insecure("localhost:5000") and is_insecure("127.8.9.1")
    assert not is_insecure("registry.example:5000") and not is_insecure("10.1.2.3:5000")
    assert is_insecure("registry.example:5000", ["registry.example:5000"])
    assert is_insecure("10.1.2.3:5000", ["10.0.0.0/8"])
    assert RegistryClient("registry.example").scheme == "https"  # never plain HTTP unless insecure


@pytest.mark.spec("REG-019", "REG-033")
def test_tls(start_registry, scratch):
    cert, key = scratch / "cert.pem", scratch / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = start_registry("--tls-cert", str(cert), "--tls-key", str(key), scheme="https")
    assert server.request("GET", "/v2/")[0] == 200
    client = RegistryClient(server.address, insecure=True)
    push_with(client, "tls/app", "v1", b"over TLS")
    assert client.scheme == "https"
    plain = start_registry()
    client = RegistryClient(plain.address, insecure=True)
    client.ping()
    assert client.scheme == "http"  # HTTPS tried first, then plain HTTP


# -- fake registries that misbehave -------------------------------------------------------------

@contextmanager
def fake_registry(handler_class):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.spec("REG-035")
def test_an_interrupted_download_is_resumed_with_range(scratch):
    blob = os.urandom(2_000_000)
    ranges = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked = self.headers.get("Range")
            ranges.append(asked)
            if asked is None:
                # the first answer promises everything and stops half way
                self.send_response(200)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob[:700_000])
                self.wfile.flush()
                self.connection.shutdown(2)
                self.close_connection = True
                return
            start = int(asked.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
            self.send_header("Content-Length", str(len(blob) - start))
            self.end_headers()
            self.wfile.write(blob[start:])

    with fake_registry(Handler) as address:
        client = RegistryClient(address, insecure=True)
        client.scheme = "http"
        target = scratch / "partial"
        client.fetch_blob("x/y", digest_of(blob), len(blob), str(target))
    assert target.read_bytes() == blob
    assert ranges == [None, "bytes=700000-"]


@pytest.mark.spec("REG-034", "REG-002")
def test_wrong_bytes_from_a_registry_are_refused(scratch):
    blob, lie = b"the bytes the digest names", b"other bytes, same length!!"
    manifest = b'{"schemaVersion": 2}'

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = lie if "/blobs/" in self.path else manifest
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", OCI_MANIFEST)
            self.send_header("Docker-Content-Digest", digest_of(b"not the manifest"))
            self.end_headers()
            self.wfile.write(body)

    with fake_registry(Handler) as address:
        client = RegistryClient(address, insecure=True)
        client.scheme = "http"
        target = scratch / "blob"
        with pytest.raises(InvalidArgument, match="verification failed"):
            client.fetch_blob("x/y", digest_of(blob), len(blob), str(target))
        assert not target.exists()
        with pytest.raises(InvalidArgument, match="manifest verification failed"):
            client.get_manifest("x/y", "latest")
        with pytest.raises(InvalidArgument, match="manifest verification failed"):
            client.get_manifest("x/y", digest_of(b"what we asked for"))
