"""The benchmarks' rows as data: what the book draws (docs/hooks/bench.py).

Implements: spec/bench.md HARNESS-BENCH-016
Run:        make bench   (writes docs/bench/results.json)

    write_results(path, rows, rounds)   the rows, the machine, the date, the versions, as JSON
    machine() / versions()              what the page states beside the charts

Rules: only a real run writes the file; numbers are never typed in. A tool that is not
installed is recorded as such, and its rows carry the harness's note.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.harness import Row

# the peers' version commands: the first line of their output is kept
VERSION_COMMANDS = {
    "docker": ["docker", "--version"],
    "podman": ["podman", "--version"],
    "runc": ["runc", "--version"],
    "crun": ["crun", "--version"],
    "distribution": ["docker-registry", "--version"],
    "docker-compose": ["docker-compose", "--version"],
    "umoci": ["umoci", "--version"],
}


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else "not available"


def versions() -> dict[str, str]:
    """minidock's version and each peer's, as their own commands print it."""
    import minidock

    found = {"minidock": minidock.__version__, "python": platform.python_version()}
    found.update({name: _first_line(argv) for name, argv in VERSION_COMMANDS.items()})
    return found


def machine() -> dict[str, object]:
    """The host the numbers come from."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
        with open("/proc/meminfo") as meminfo:
            memory_kib = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        memory_kib = 0
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu": model,
            "memory_gib": round(memory_kib / 2**20, 1), "arch": platform.machine(),
            # how busy the machine was when the run ended (1, 5, 15 minutes): a shared CI
            # machine running other work makes every contender slower, not alike
            "load_average": [round(value, 2) for value in os.getloadavg()]}


def write_results(path: Path, rows: Sequence[Row], rounds: int | None, command: Sequence[str] = ()) -> None:
    """Write the rows with where, when, how and with what they were measured."""
    document = {
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m bench", *command]),
        "rounds": rounds or "each benchmark's own",
        "machine": machine(),
        "versions": versions(),
        "rows": [dataclasses.asdict(row) for row in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
