"""Building an image: a small Dockerfile with a 20 MB COPY, cold and from the cache.

Implements: spec/build.md BUILD-016

    build-cold      `build --no-cache` of the Dockerfile below: every step runs
    build-cached    the same build again: every step answered by the cache

    FROM busybox:latest / COPY big.bin (20 MB) / RUN wc -c / ENV / CMD      (5 steps)

Contenders: minidock (our CLI against a private minidockd, bench/engine_daemon.py), the
docker CLI against that same daemon, and `docker build` against a running dockerd (the
target, skipped when none answers) with the classic builder, as the docker CLI uses it
without buildx. Issue 9's target: at or below docker's median, cold and cached.
The images are labelled and removed at the end (from dockerd: only those it built here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bench.container_run import Dockerd, dockerd_answers
from bench.engine_daemon import MINIDOCK, MINIDOCKD, PrivateDaemon
from bench.harness import Benchmark, Contender, on_path
from bench.monitor_memory import command

DOCKERFILE = """FROM busybox:latest
COPY big.bin /data/big.bin
RUN wc -c /data/big.bin > /size
ENV BENCH=1
CMD ["cat", "/size"]
"""
LABEL = "minidock-bench=build"
SIZE = 20 * 1024 * 1024


def make_context(folder: Path) -> Path:
    """The context: the Dockerfile and 20 MB of random bytes (made once)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(DOCKERFILE)
    big = folder / "big.bin"
    if not big.exists() or big.stat().st_size != SIZE:
        big.write_bytes(os.urandom(SIZE))
    return folder


def benchmarks(workdir: Path, rounds: int = 5) -> list[Benchmark]:
    daemon = PrivateDaemon()
    archive_path = workdir / "busybox.tar"
    context = workdir / "context"

    def archive() -> Path:
        if not archive_path.exists():
            command(str(MINIDOCK))("image", "bootstrap", "busybox", "--output", str(archive_path))
        return archive_path

    dockerd = Dockerd(archive)
    engines: dict[str, tuple[Callable[[], list[str]], Callable[[], None]]] = {
        "minidock": (lambda: [str(MINIDOCK), "-H", daemon.host], daemon.start),
        "docker CLI -> minidockd": (lambda: ["docker", "-H", daemon.host], daemon.start),
        "docker (dockerd)": (dockerd.prefix, dockerd.prepare),
    }
    available = {
        "minidock": lambda: os.geteuid() == 0 and MINIDOCKD.exists(),
        "docker CLI -> minidockd": lambda: os.geteuid() == 0 and MINIDOCKD.exists() and on_path("docker")(),
        "docker (dockerd)": lambda: on_path("docker")() and dockerd_answers(),
    }

    def builder(name: str, cold: bool) -> Callable[[], None]:
        prefix, prepare = engines[name]

        def run() -> None:
            prepare()
            make_context(context)
            flags = ["--no-cache"] if cold else []
            command(*prefix(), timeout=300)("build", "-q", "--label", LABEL, *flags, "-t", "mdbench-build", str(context))

        return run

    def finish() -> None:
        problems = []
        if dockerd_answers() and on_path("docker")():
            try:
                command(*dockerd.prefix(), timeout=300)("image", "prune", "-a", "-f", "--filter", f"label={LABEL}")
            except RuntimeError as error:
                problems.append(f"dockerd: {error}")
            try:
                dockerd.finish()
            except RuntimeError as error:
                problems.append(str(error))
        try:
            daemon.stop([])
        except RuntimeError as error:
            problems.append(str(error))
        if problems:
            raise RuntimeError("; ".join(problems))

    def benchmark(name: str, cold: bool) -> Benchmark:
        return Benchmark(
            name=name, rounds=rounds, target="docker (dockerd)", target_ratio=1.0, finish=finish,
            contenders=[Contender(contender, builder(contender, cold), available=available[contender],
                                  missing="not available here")
                        for contender in engines],
        )

    # each ends with the clean-up; the cached one's unmeasured first run fills the cache
    return [benchmark("build-cold", True), benchmark("build-cached", False)]
