"""Registries for the tests: minidock's (`minidock registry serve`) and distribution's
(Debian's `docker-registry`, 2.8), each on loopback with a private root, stopped after.

    registry_server(tmp, *flags) -> Server       a minidock registry with these flags
    distribution_server(tmp) -> Server           Debian's docker-registry (skips if absent)
    server (module, parametrized)                one of each: the tests that run on both
    Server.request(method, path, body, headers) -> (status, headers, body)
    Server.push_blob(name, data), Server.push_image(name, tag) -> Pushed
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pushed:
    """What push_image stored: the manifest's bytes and digest, the config's, the layer's."""

    manifest: bytes
    digest: str
    config: bytes
    layer: bytes


@dataclass
class Server:
    kind: str
    address: str          # 127.0.0.1:PORT
    root: Path
    process: subprocess.Popen
    scheme: str = "http"
    auth: dict[str, str] = field(default_factory=dict)  # default headers (Authorization)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        if self.scheme == "https":
            import ssl

            context = ssl._create_unverified_context()  # noqa: SLF001 - a test's own certificate
            connection = http.client.HTTPSConnection(self.address, timeout=30, context=context)
        else:
            connection = http.client.HTTPConnection(self.address, timeout=30)
        try:
            connection.request(method, path, body=body, headers={**self.auth, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def push_blob(self, name: str, data: bytes) -> str:
        digest = digest_of(data)
        status, headers, body = self.request("POST", f"/v2/{name}/blobs/uploads/")
        assert status == 202, body
        location = headers["Location"]
        location = location.split(self.address, 1)[-1] if "://" in location else location
        separator = "&" if "?" in location else "?"
        status, _, body = self.request("PUT", f"{location}{separator}digest={digest}", data,
                                       {"Content-Type": "application/octet-stream"})
        assert status == 201, body
        return digest

    def push_image(self, name: str, tag: str, layer: bytes = b"a layer " * 100,
                   media_type: str = OCI_MANIFEST, extra: dict | None = None) -> Pushed:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]}}).encode()
        self.push_blob(name, layer)
        self.push_blob(name, config)
        docker = media_type.startswith("application/vnd.docker")
        document = {"schemaVersion": 2, "mediaType": media_type,
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json" if docker else OCI_CONFIG,
                               "digest": digest_of(config), "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker else OCI_LAYER,
                                "digest": digest_of(layer), "size": len(layer)}], **(extra or {})}
        manifest = json.dumps(document).encode()
        status, _, body = self.request("PUT", f"/v2/{name}/manifests/{tag}", manifest, {"Content-Type": media_type})
        assert status == 201, body
        return Pushed(manifest, digest_of(manifest), config, layer)


def error_code(body: bytes) -> str:
    return json.loads(body)["errors"][0]["code"]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def registry_argv(*flags: str) -> list[str]:
    return [sys.executable, "-P", "-m", "minidock.cli.main", "registry", *flags]


def registry_server(root: Path, *flags: str, scheme: str = "http", port: int = 0) -> Server:
    """Start `minidock registry serve` on ``port`` (0: the kernel picks); wait for its first line."""
    process = subprocess.Popen(registry_argv("serve", "--addr", f"127.0.0.1:{port}", "--root", str(root / "data"),
                                             *flags),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 20
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    if b"listening on" not in line:
        _stop(process)
        raise RuntimeError(f"the registry did not start: {line.decode(errors='replace')}")
    address = line.split(b"://", 1)[1].split(b" ", 1)[0].decode()
    return Server("minidock", address, root, process, scheme=scheme)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def distribution_server(root: Path) -> Server:
    """Debian's docker-registry (distribution 2.8) with deletes enabled, on loopback."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("Debian's docker-registry is not installed (make deb)")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {root / 'data'}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
""")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    server = Server("distribution", f"127.0.0.1:{port}", root, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if server.request("GET", "/v2/")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    _stop(process)
    raise RuntimeError("docker-registry did not start")


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temporary directory removed at the end (registries' roots, archives)."""
    path = Path(tempfile.mkdtemp(prefix="minidock-registry-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_registry(scratch):
    """start_registry(*flags) -> a minidock registry stopped at the end of the test."""
    started: list[Server] = []

    def start(*flags: str, scheme: str = "http", port: int = 0) -> Server:
        root = scratch / f"registry-{len(started)}"
        root.mkdir()
        server = registry_server(root, *flags, scheme=scheme, port=port)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            _stop(server.process)


@pytest.fixture(scope="module", params=["minidock", "distribution"])
def server(request) -> Iterator[Server]:
    """One minidock registry and one distribution, for the tests that hold on both."""
    root = Path(tempfile.mkdtemp(prefix=f"minidock-registry-{request.param}-"))
    started = None
    try:
        started = registry_server(root) if request.param == "minidock" else distribution_server(root)
        yield started
    finally:
        if started is not None:
            _stop(started.process)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def minidock_registry() -> Iterator[Server]:
    """A minidock registry shared by a module's tests (each uses its own repositories)."""
    root = Path(tempfile.mkdtemp(prefix="minidock-registry-shared-"))
    started = None
    try:
        started = registry_server(root)
        yield started
    finally:
        if started is not None:
            _stop(started.process)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox(engine) -> str:
    """busybox:latest in the engine under test (bootstrapped into minidock)."""
    if engine.kind != "minidock":
        pytest.skip("the registry's engine tests run on minidock (its registries are on loopback)")
    engine.cli("image", "bootstrap", "busybox", timeout=120)
    return "busybox:latest"
