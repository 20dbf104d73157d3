"""Registries: push and pull of an image with one 200 MB layer, through skopeo and engines.

Implements: spec/registry.md REG-039, REG-043
Explained:  chapters/09-registry.md#the-server

    registry-push   `skopeo copy oci:<layout> docker://127.0.0.1:PORT/bench/N:1`
    registry-pull   `skopeo copy docker://127.0.0.1:PORT/bench/N:1 dir:<out>`

    minidock registry      `minidock registry serve` (the subject)
    distribution 2.8       Debian's `docker-registry serve` (the target)

    registry-engine-pull  `pull 127.0.0.1:PORT/bench/big:1` from distribution, into an engine
    minidock pull          our CLI and a private minidockd (bench/engine_daemon.py; the subject)
    docker pull (dockerd)  the docker CLI and the dockerd at $DOCKER_HOST (the target); skipped
                           with a note when none answers there

Both registries run on loopback with a root in the run's temporary folder, started once
for both benchmarks and stopped at the end. The layer is random bytes in a plain tar (no
compression: the time is the registry's, not gzip's), wrapped in an OCI layout. Before
each push, untimed, both registries' storage is emptied, so that every push uploads the
whole layer (no HEAD hit, no mount); each pull goes to a fresh directory. Before each engine pull, untimed, the image is
removed from that engine (`rmi`, which takes its layers too), so every pull downloads and
unpacks the whole layer; the image is removed again at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.harness import Benchmark, Contender, on_path, stop_process
from bench.monitor_memory import command

LAYER_BYTES = 200 * 1024 * 1024
REPOSITORY = "bench/big"


def make_layout(directory: Path, size: int) -> Path:
    """An OCI layout (tag "1") of one image whose layer is a tar of ``size`` random bytes."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("random.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    layer = buffer.getvalue()
    layer_digest = put(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}]}).encode()
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return directory


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Registry:
    """One registry process on loopback, started on first use."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root, self.process, self.port = kind, root, None, 0
        self.holds_image = False  # the image the pulls read is there

    @property
    def storage(self) -> Path:
        return self.root / "data"

    def start(self) -> str:
        if self.process is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self.port = _free_port()
            if self.kind == "minidock":
                argv = [sys.executable, "-m", "minidock.cli.main", "registry", "serve",
                        "--addr", f"127.0.0.1:{self.port}", "--root", str(self.storage)]
            else:
                config = self.root / "config.yml"
                config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                                  f"    rootdirectory: {self.storage}\nhttp:\n  addr: 127.0.0.1:{self.port}\n")
                argv = ["docker-registry", "serve", str(config)]
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
        return f"127.0.0.1:{self.port}"

    def empty(self) -> None:
        """Remove every blob, link and tag (the process keeps running: neither caches them here)."""
        self.start()
        self.holds_image = False
        for child in list(self.storage.iterdir()) if self.storage.exists() else []:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        if self.kind == "minidock":
            for name in ("blobs/sha256", "ingest", "uploads", "repositories"):
                (self.storage / name).mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 10)
            self.process = None


def benchmarks(workdir: Path, size: int = LAYER_BYTES, rounds: int = 5, minidock_host: str | None = None,
               dockerd_host: str | None = None) -> list[Benchmark]:
    """registry-push and registry-pull: minidock's registry and distribution 2.8, through skopeo;
    registry-engine-pull: minidock's and docker's pull from distribution (see engine_pull)."""
    layout = workdir / "layout"
    registries = {"minidock registry": Registry("minidock", workdir / "minidock"),
                  "distribution 2.8": Registry("distribution", workdir / "distribution")}
    counter = {"n": 0}

    def image() -> Path:
        if not (layout / "index.json").exists():
            make_layout(layout, size)
        return layout

    def push(registry: Registry) -> None:
        subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{image()}:1",
                        f"docker://{registry.start()}/{REPOSITORY}:1"], check=True, capture_output=True, timeout=600)
        registry.holds_image = True

    def pull(registry: Registry) -> None:
        out = workdir / "pulled"
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{registry.start()}/{REPOSITORY}:1",
                        f"dir:{out}"], check=True, capture_output=True, timeout=600)

    def reset_push(registry: Registry):
        return lambda: (image(), registry.empty())

    def reset_pull(registry: Registry):
        def reset() -> None:
            shutil.rmtree(workdir / "pulled", ignore_errors=True)
            if not registry.holds_image:
                push(registry)  # the image the pulls read, pushed once, untimed
        return reset

    def finish() -> None:
        for registry in registries.values():
            registry.stop()
        shutil.rmtree(workdir / "pulled", ignore_errors=True)

    def present() -> bool:
        return on_path("skopeo")() and on_path("docker-registry")()

    def contenders(run, reset) -> list[Contender]:
        return [Contender(name, lambda registry=registry: run(registry), available=present,
                          missing="needs skopeo and docker-registry (make setup)", reset=reset(registry))
                for name, registry in registries.items()]

    return [
        Benchmark(name="registry-push", rounds=rounds, subject="minidock registry", target="distribution 2.8",
                  contenders=contenders(push, reset_push), finish=finish),
        Benchmark(name="registry-pull", rounds=rounds, subject="minidock registry", target="distribution 2.8",
                  contenders=contenders(pull, reset_pull), finish=finish),
        engine_pull(registries["distribution 2.8"], push, finish, rounds, minidock_host, dockerd_host),
    ]


class EnginePuller:
    """One engine's CLI pulling the benchmark's image; ``host()`` is its -H, valid once prepared."""

    def __init__(self, cli: str, host: Callable[[], str], prepare: Callable[[], None] = lambda: None) -> None:
        self.cli, self.host, self.start = cli, host, prepare
        self.pulled: str | None = None  # the image a run pulled, to remove at the end
        self.image_id = ""  # its ID in this engine, read before it is removed

    def run(self, *args: str, timeout: float = 600) -> str:
        return command(self.cli, "-H", self.host(), timeout=timeout)(*args)

    def pull(self, name: str) -> None:
        self.pulled = name
        self.run("pull", name)

    def remove(self, name: str | None) -> None:
        """`rmi` of the image if the engine has it (its layers go with it)."""
        if name is None:
            return
        try:
            self.image_id = self.run("image", "inspect", "--format", "{{.Id}}", name, timeout=60).strip()
        except RuntimeError:
            return
        self.run("rmi", name, timeout=120)

    def summary(self) -> str:
        """The note: the ID the engine gave the image (the same in both, or a pull went wrong)."""
        return f"image {self.image_id[:19]}" if self.image_id else ""


def engine_pull(distribution: Registry, push: Callable[[Registry], None], finish: Callable[[], None],
                rounds: int, minidock_host: str | None = None, dockerd_host: str | None = None) -> Benchmark:
    """[REG-043] engine-pull: `minidock pull` and `docker pull` of the image from distribution.

    ``minidock_host``: a running minidockd to use (a test's); else a private one is started.
    ``dockerd_host``: the dockerd (default $DOCKER_HOST, else /var/run/docker.sock).
    """
    from bench.container_run import DOCKERD_HOST, dockerd_answers
    from bench.engine_daemon import MINIDOCK, PrivateDaemon

    daemon = PrivateDaemon() if minidock_host is None else None
    dockerd = dockerd_host or DOCKERD_HOST
    engines = {
        "minidock pull": EnginePuller(str(MINIDOCK), lambda: minidock_host or daemon.host,
                                      daemon.start if daemon is not None else lambda: None),
        "docker pull (dockerd)": EnginePuller("docker", lambda: dockerd),
    }

    def image() -> str:
        if not distribution.holds_image:
            push(distribution)  # untimed; again after registry-push emptied it
        return f"{distribution.start()}/{REPOSITORY}:1"

    def reset(engine: EnginePuller) -> Callable[[], None]:
        def run() -> None:
            engine.start()
            engine.remove(image())
        return run

    def finish_all() -> None:
        problems = []
        for engine in engines.values():
            try:
                engine.remove(engine.pulled)
            except RuntimeError as error:
                problems.append(str(error))
        if daemon is not None:
            daemon.stop()
        finish()
        if problems:
            raise RuntimeError("; ".join(problems))

    def registry_tools() -> bool:
        return on_path("skopeo")() and on_path("docker-registry")()

    available = {"minidock pull": registry_tools,
                 "docker pull (dockerd)": lambda: registry_tools() and on_path("docker")() and dockerd_answers(dockerd)}
    missing = {"minidock pull": "needs skopeo and docker-registry (make setup)",
               "docker pull (dockerd)": "dockerd is not running on this machine"}
    return Benchmark(
        name="registry-engine-pull", rounds=rounds, subject="minidock pull", target="docker pull (dockerd)",
        contenders=[Contender(name, lambda engine=engine: engine.pull(image()), available=available[name],
                              missing=missing[name], reset=reset(engine), summary=engine.summary)
                    for name, engine in engines.items()],
        finish=finish_all)
