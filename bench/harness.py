"""The benchmark harness: minidock and its real peers, side by side, in one run.

Implements: spec/bench.md HARNESS-BENCH-001 .. HARNESS-BENCH-008, HARNESS-BENCH-012
Run:        make bench   (.venv/bin/python -m bench [NAME ...] [--rounds N])

    Benchmark(name, contenders, subject="minidock", unit="ms", target=None, target_ratio=1.0,
              probe=True, check=False, finish=None)
      └── Contender(name, run=argv | callable, available=..., missing="why not", reset=None,
                    summary=None)

    run_benchmark(b): probe each contender once (unmeasured; a failure skips it with a note),
                      then `rounds` rounds, every contender once per round, in an order that
                      rotates, so that a slow minute of the machine hits everyone alike;
                      a contender's reset() runs, untimed, before each of its runs;
                      then, whatever happened, the benchmark's finish() (stop its daemon)
    build_rows(result): median, lowest, and the ratio subject/contender of the medians
    render(rows): a rich table
    stop_process(process, timeout): SIGTERM, then SIGKILL if it has not ended (daemons, servers)

Two kinds of benchmark share the table. A timed one (unit "ms") times each run: one
sample per run. A measuring one (any other unit, e.g. "KiB") has contenders whose run
is a callable returning its samples in that unit (one per container, say).
A benchmark's target names the peer the subject should match or beat (ratio <= 1.00x),
or stay near: target_ratio 1.5 asks for at most 1.5 times the peer's median.

Times are printed, never asserted: a benchmark is a measurement, not a test. Two things
fail a row, and `python -m bench` with it (exit 1): a run of a check benchmark (the load
test: "no error, the daemon's memory flat") that raised, and a finish() that found
something left behind.
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

Runner = Sequence[str] | Callable[[], None]  # a timed run
Measure = Callable[[], Sequence[float]]  # a measuring run: its samples, in the benchmark's unit
TIMED = "ms"


def always() -> bool:
    return True


@dataclass(frozen=True)
class Contender:
    """One thing to time (a command line, or a callable), or to measure (a Measure).

    Either kind of callable raises when it fails.
    """

    name: str
    run: Runner | Measure
    available: Callable[[], bool] = always
    missing: str = "not installed"  # the note when available() is False
    reset: Callable[[], None] | None = None  # untimed, before every run: e.g. remove the last one's output
    summary: Callable[[], str] | None = None  # after the runs: what they saw besides their samples, for the note


@dataclass(frozen=True)
class Benchmark:
    """One question ("how long does X take?", "how much memory?"), asked of minidock and its peers."""

    name: str
    contenders: Sequence[Contender]
    rounds: int = 10
    subject: str = "minidock"  # the contender the ratios are about
    unit: str = TIMED  # TIMED: each run is timed; otherwise each run returns samples in this unit
    target: str | None = None  # the peer whose median the subject's should be at or below
    target_ratio: float = 1.0  # ... times this: 1.5 = "within 1.5x of the peer"
    probe: bool = True  # False: no unmeasured first run (a run too long to make twice: a load test)
    check: bool = False  # True: a run that raises fails the row and `python -m bench`
    finish: Callable[[], None] | None = None  # after the rounds, always: stop what the runs started;
    #                                           raises RuntimeError naming what it left behind


@dataclass
class Timing:
    """What one contender did in one benchmark: its samples in the benchmark's unit, or why it has none."""

    contender: str
    samples: list[float] = field(default_factory=list)
    note: str = ""
    failed: bool = False  # a run of a check benchmark raised, or the clean-up left something


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    benchmark: str
    contender: str
    median: float | None
    lowest: float | None
    samples: int
    ratio: float | None  # subject median / this median; None when either is missing
    note: str
    unit: str = TIMED
    target: str = ""  # on the target peer's row: the target and whether it was met
    failed: bool = False  # see Timing.failed: `python -m bench` exits 1


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM ``process``, wait up to ``timeout`` seconds, then SIGKILL it and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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


def sample(benchmark: Benchmark, run: Runner | Measure) -> list[float]:
    """One run's samples: its wall time in milliseconds, or what it measured."""
    if benchmark.unit == TIMED:
        return [run_once(run) * 1000]
    values = [float(value) for value in run()]
    if not values:
        raise RuntimeError("measured nothing")
    return values


def reset_and_sample(benchmark: Benchmark, contender: Contender) -> list[float]:
    """The contender's reset (untimed, unmeasured), then one run's samples."""
    if contender.reset is not None:
        contender.reset()
    return sample(benchmark, contender.run)


FAILURES = (RuntimeError, OSError, subprocess.SubprocessError)


def run_benchmark(benchmark: Benchmark, rounds: int | None = None) -> list[Timing]:
    """Run every available contender, interleaved; one Timing per contender, in order."""
    timings = [Timing(contender.name) for contender in benchmark.contenders]
    try:
        _run_rounds(benchmark, timings, rounds or benchmark.rounds)
    finally:
        if benchmark.finish is not None:
            try:
                benchmark.finish()
            except FAILURES as error:
                subject = next((t for t in timings if t.contender == benchmark.subject), timings[0])
                subject.note = "; ".join(filter(None, [subject.note, f"clean-up: {error}"]))
                subject.failed = True
    for contender, timing in zip(benchmark.contenders, timings):
        if contender.summary is not None:  # "" when it has nothing to say (it never ran)
            timing.note = "; ".join(filter(None, [contender.summary(), timing.note]))
    return timings


def _run_rounds(benchmark: Benchmark, timings: list[Timing], rounds: int) -> None:
    """The probes, then the rounds, filling in ``timings``."""
    active = []
    for contender, timing in zip(benchmark.contenders, timings):
        if not contender.available():
            timing.note = contender.missing
            continue
        if benchmark.probe:
            try:
                reset_and_sample(benchmark, contender)  # warm-up and probe: page cache, first-run costs
            except FAILURES as error:
                timing.note = f"skipped: {error}"
                timing.failed = benchmark.check
                continue
        active.append((contender, timing))
    for round_number in range(rounds):
        shift = round_number % len(active) if active else 0
        for contender, timing in active[shift:] + active[:shift]:
            if timing.note:
                continue  # failed in an earlier round
            try:
                timing.samples.extend(reset_and_sample(benchmark, contender))
            except FAILURES as error:
                timing.note = f"failed in round {round_number + 1}: {error}"
                timing.failed = benchmark.check


def median(samples: Sequence[float]) -> float | None:
    """The median, or None for no samples."""
    return statistics.median(samples) if samples else None


def ratio(subject_ms: float | None, other_ms: float | None) -> float | None:
    """subject / other: 2.0 means the subject takes twice as long (or twice the memory)."""
    if subject_ms is None or other_ms is None or other_ms == 0:
        return None
    return subject_ms / other_ms


def verdict(target_ratio: float | None, limit: float = 1.0) -> str:
    """The target cell of the target peer's row: the subject at or below ``limit`` times the peer, met or not."""
    if target_ratio is None:
        return f"<= {limit:.2f}x: not measured"
    return f"<= {limit:.2f}x: {'met' if target_ratio <= limit else 'missed'}"


def build_rows(benchmark: Benchmark, timings: Sequence[Timing]) -> list[Row]:
    """The table's rows for one benchmark (pure)."""
    medians = {timing.contender: median(timing.samples) for timing in timings}
    subject_median = medians.get(benchmark.subject)
    rows = []
    for timing in timings:
        is_subject = timing.contender == benchmark.subject
        row_ratio = None if is_subject else ratio(subject_median, medians[timing.contender])
        rows.append(
            Row(
                benchmark=benchmark.name,
                contender=timing.contender,
                median=medians[timing.contender],
                lowest=min(timing.samples) if timing.samples else None,
                samples=len(timing.samples),
                ratio=row_ratio,
                note=timing.note,
                unit=benchmark.unit,
                target=verdict(row_ratio, benchmark.target_ratio) if timing.contender == benchmark.target else "",
                failed=timing.failed,
            )
        )
    return rows


def format_value(value: float | None, unit: str) -> str:
    """12.3 ms, 11454 KiB; - for no value."""
    if value is None:
        return "-"
    return f"{value:.1f} {unit}" if unit == TIMED else f"{value:.0f} {unit}"


def render(rows: Sequence[Row]) -> Table:
    """The rows as a rich table (rich imported here, lazily)."""
    from rich.table import Table

    table = Table(
        title="minidock and its peers (lower is better)",
        caption="ratio = the median of the benchmark's minidock contender / this median "
        "(2.00x: minidock takes twice as long, or twice the memory); "
        "target: the issue's goal for minidock against that peer",
    )
    table.add_column("benchmark", no_wrap=True)
    table.add_column("contender", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column("lowest", justify="right", no_wrap=True)
    table.add_column("samples", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target", no_wrap=True)
    table.add_column("note")
    previous = None
    for row in rows:
        if previous is not None and row.benchmark != previous:
            table.add_section()
        table.add_row(
            row.benchmark if row.benchmark != previous else "",
            row.contender,
            format_value(row.median, row.unit),
            format_value(row.lowest, row.unit),
            str(row.samples),
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target,
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
