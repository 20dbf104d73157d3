"""CLI start-up: the cost of being a Python program, next to Go programs.

`minidock --version` imports the CLI and prints; `docker --version` and
`podman --version` do the same in Go. Most of minidock's difference here is the
interpreter's start-up, which is why the CLI imports rich and aiohttp lazily.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.harness import Benchmark, Contender, on_path

# The venv's entry point, next to the interpreter running the benchmarks.
MINIDOCK = Path(sys.executable).with_name("minidock")


def benchmarks(workdir: Path) -> list[Benchmark]:
    """`--version` of minidock, docker and podman."""
    return [
        Benchmark(
            name="cli-startup",
            subject="minidock",
            contenders=[
                Contender("minidock", [str(MINIDOCK), "--version"], available=MINIDOCK.exists,
                          missing=f"{MINIDOCK} not found: run `make setup`"),
                Contender("docker", ["docker", "--version"], available=on_path("docker")),
                Contender("podman", ["podman", "--version"], available=on_path("podman")),
            ],
        )
    ]
