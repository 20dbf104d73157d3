"""The benchmark harness: minidock and its real peers, side by side, in one run.

Implements: spec/bench.md HARNESS-BENCH-001 .. HARNESS-BENCH-006
Run:        make bench   (.venv/bin/python -m bench [NAME ...] [--rounds N])

    Benchmark(name, contenders, subject="minidock")
      └── Contender(name, run=argv | callable, available=..., missing="why not")

    run_benchmark(b): probe each contender once (untimed; a failure skips it with a note),
                      then `rounds` rounds, every contender once per round, in an order that
                      rotates, so that a slow minute of the machine hits everyone alike
    build_rows(result): median, fastest, and the ratio subject/contender of the medians
    render(rows): a rich table

Results are printed, never asserted: a benchmark is a measurement, not a test.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

Runner = Sequence[str] | Callable[[], None]


def always() -> bool:
    return True


@dataclass(frozen=True)
class Contender:
    """One thing to time: a command line, or a callable that raises when it fails."""

    name: str
    run: Runner
    available: Callable[[], bool] = always
    missing: str = "not installed"  # the note when available() is False


@dataclass(frozen=True)
class Benchmark:
    """One question ("how long does X take?"), asked of minidock and its peers."""

    name: str
    contenders: Sequence[Contender]
    rounds: int = 10
    subject: str = "minidock"  # the contender the ratios are about


@dataclass
class Timing:
    """What one contender did in one benchmark: its times in seconds, or why it has none."""

    contender: str
    seconds: list[float] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    benchmark: str
    contender: str
    median_ms: float | None
    fastest_ms: float | None
    rounds: int
    ratio: float | None  # subject median / this median; None when either is missing
    note: str


def on_path(program: str) -> Callable[[], bool]:
    """available() for a program that may or may not be installed."""
    return lambda: shutil.which(program) is not None


def run_once(run: Runner) -> float:
    """Run a contender once; return the seconds it took, raise RuntimeError if it failed."""
    started = time.perf_counter()
    if callable(run):
        run()
    else:
        completed = subprocess.run(
            list(run), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if completed.returncode != 0:
            last_line = (completed.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            raise RuntimeError(f"exit {completed.returncode}: {last_line}".rstrip(": "))
    return time.perf_counter() - started


def run_benchmark(benchmark: Benchmark, rounds: int | None = None) -> list[Timing]:
    """Time every available contender, interleaved; one Timing per contender, in order."""
    timings = [Timing(contender.name) for contender in benchmark.contenders]
    active = []
    for contender, timing in zip(benchmark.contenders, timings):
        if not contender.available():
            timing.note = contender.missing
            continue
        try:
            run_once(contender.run)  # warm-up and probe: page cache, first-run costs
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            timing.note = f"skipped: {error}"
            continue
        active.append((contender, timing))
    for round_number in range(rounds or benchmark.rounds):
        shift = round_number % len(active) if active else 0
        for contender, timing in active[shift:] + active[:shift]:
            if timing.note:
                continue  # failed in an earlier round
            try:
                timing.seconds.append(run_once(contender.run))
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                timing.note = f"failed in round {round_number + 1}: {error}"
    return timings


def median_ms(seconds: Sequence[float]) -> float | None:
    """The median in milliseconds, or None for no samples."""
    return statistics.median(seconds) * 1000 if seconds else None


def ratio(subject_ms: float | None, other_ms: float | None) -> float | None:
    """subject / other: 2.0 means the subject takes twice as long."""
    if subject_ms is None or other_ms is None or other_ms == 0:
        return None
    return subject_ms / other_ms


def build_rows(benchmark: Benchmark, timings: Sequence[Timing]) -> list[Row]:
    """The table's rows for one benchmark (pure)."""
    medians = {timing.contender: median_ms(timing.seconds) for timing in timings}
    subject_ms = medians.get(benchmark.subject)
    rows = []
    for timing in timings:
        is_subject = timing.contender == benchmark.subject
        rows.append(
            Row(
                benchmark=benchmark.name,
                contender=timing.contender,
                median_ms=medians[timing.contender],
                fastest_ms=min(timing.seconds) * 1000 if timing.seconds else None,
                rounds=len(timing.seconds),
                ratio=None if is_subject else ratio(subject_ms, medians[timing.contender]),
                note=timing.note,
            )
        )
    return rows


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(rows: Sequence[Row]) -> Table:
    """The rows as a rich table (rich imported here, lazily)."""
    from rich.table import Table

    table = Table(
        title="minidock and its peers (milliseconds, lower is faster)",
        caption="ratio = the median of the benchmark's minidock contender / this median "
        "(2.00x: minidock takes twice as long)",
    )
    table.add_column("benchmark", no_wrap=True)
    table.add_column("contender", no_wrap=True)
    table.add_column("median", justify="right")
    table.add_column("fastest", justify="right")
    table.add_column("rounds", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("note")
    previous = None
    for row in rows:
        if previous is not None and row.benchmark != previous:
            table.add_section()
        table.add_row(
            row.benchmark if row.benchmark != previous else "",
            row.contender,
            format_ms(row.median_ms),
            format_ms(row.fastest_ms),
            str(row.rounds),
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            row.note,
        )
        previous = row.benchmark
    return table


def run_all(benchmarks: Sequence[Benchmark], rounds: int | None = None) -> list[Row]:
    """Run each benchmark in turn; return every row, in order."""
    rows: list[Row] = []
    for benchmark in benchmarks:
        rows.extend(build_rows(benchmark, run_benchmark(benchmark, rounds)))
    return rows
