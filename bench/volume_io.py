"""Volume I/O: 1 GB written (with fsync) and read back through a volume, a bind mount, and on the host.

Implements: spec/volumes.md VOL-024
Explained:  chapters/06-volumes.md#the-local-driver

    volume-io     one sample a run: the milliseconds busybox's `time` gives for
                  `dd if=/dev/zero of=DIR/blob bs=1M count=1024 conv=fsync` then
                  `dd if=DIR/blob of=/dev/null bs=1M`, DIR being:

    host (data root's file system)   a directory beside the daemon's data root, dd run on the host
    minidock volume                  a named volume of a private minidockd, in `run --rm -v`
    minidock bind mount              a host directory, in `run --rm -v /host:/data`

The same busybox does the work everywhere (the host's busybox-static, which the image is
made of), and it times itself inside the container, so a container's start and removal
are not counted: what is left is the file system path, which for a volume is a bind mount
of a directory on the same file system, so the target is the host's time within 5 %.
The read comes from the page cache, the same in every contender; the caches are not
dropped, which would disturb everything else on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bench.engine_daemon import MINIDOCK, MINIDOCKD, PrivateDaemon
from bench.harness import Benchmark, Contender

SIZE_MB = 1024
UNIT = "ms (dd)"
VOLUME = "mdbench-io"
_REAL = re.compile(r"real\s+(?:(\d+)m\s*)?([\d.]+)s")


def script(directory: str, size_mb: int) -> str:
    """The shell line each contender runs: write, read, remove, timed by busybox's `time`."""
    blob = f"{directory}/blob"
    return (f"time sh -c 'dd if=/dev/zero of={blob} bs=1M count={size_mb} conv=fsync 2>/dev/null && "
            f"dd if={blob} of=/dev/null bs=1M 2>/dev/null && rm {blob}'")


def real_ms(stderr: str) -> float:
    """busybox time's `real\\t0m 9.12s` in milliseconds; ValueError when there is none."""
    match = _REAL.search(stderr)
    if match is None:
        raise ValueError(f"no time in {stderr[-200:]!r}")
    return (int(match[1] or 0) * 60 + float(match[2])) * 1000


def _measure(argv: list[str]) -> list[float]:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if completed.returncode != 0:
        raise RuntimeError(f"exit {completed.returncode}: {completed.stderr.strip()[-200:]}")
    return [real_ms(completed.stderr)]


def benchmarks(workdir: Path, size_mb: int = SIZE_MB, rounds: int = 5) -> list[Benchmark]:
    """volume-io: the host, a minidock volume and a minidock bind mount."""
    daemon = PrivateDaemon()

    def folder(name: str) -> Path:
        daemon.start()  # once; busybox in it
        path = daemon.folder / name
        path.mkdir(exist_ok=True)
        return path

    def host() -> list[float]:
        return _measure(["busybox", "sh", "-c", script(str(folder("host-io")), size_mb)])

    def in_container(mount: str) -> list[float]:
        folder("host-io")  # the daemon up
        return _measure([str(MINIDOCK), "-H", daemon.host, "run", "--rm", "--network", "none", "-v", mount,
                         "busybox", "sh", "-c", script("/data", size_mb)])

    def finish() -> None:
        if daemon.running:
            daemon.cli("volume", "rm", "-f", VOLUME)
            daemon.stop()

    def root() -> bool:
        return os.geteuid() == 0 and MINIDOCKD.exists() and shutil.which("busybox") is not None

    return [Benchmark(
        name="volume-io", unit=UNIT, rounds=rounds, subject="minidock volume",
        target="host (data root's file system)", target_ratio=1.05, finish=finish,
        contenders=[
            Contender("host (data root's file system)", host, available=root, missing="needs busybox (make setup)"),
            Contender("minidock volume", lambda: in_container(f"{VOLUME}:/data"), available=root,
                      missing="needs root and minidockd (make setup)"),
            Contender("minidock bind mount", lambda: in_container(f"{folder('bind-io')}:/data"), available=root,
                      missing="needs root and minidockd (make setup)"),
        ])]
