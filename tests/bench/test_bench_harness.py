"""The benchmark harness's pure parts, and one tiny run (no root, well under a second)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.harness import (  # noqa: E402
    Benchmark,
    Contender,
    Row,
    Timing,
    build_rows,
    format_value,
    median,
    ratio,
    render,
    run_all,
    run_benchmark,
    stop_process,
    verdict,
)


def never() -> bool:
    return False


def fail() -> None:
    raise RuntimeError("boom")


@pytest.mark.spec("HARNESS-BENCH-001")
def test_median_and_ratio():
    assert median([3.0, 1.0, 2.0]) == pytest.approx(2.0)
    assert median([1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.5)
    assert median([]) is None
    assert ratio(30.0, 10.0) == pytest.approx(3.0)
    assert ratio(None, 10.0) is None and ratio(10.0, None) is None and ratio(1.0, 0.0) is None


@pytest.mark.spec("HARNESS-BENCH-002")
def test_rows_carry_ratio_of_subject_to_each_peer():
    benchmark = Benchmark("b", [], subject="minidock")
    rows = build_rows(
        benchmark,
        [
            Timing("minidock", [30.0, 10.0, 20.0]),
            Timing("docker", [5.0, 4.0, 6.0]),
            Timing("podman", note="not installed"),
        ],
    )
    assert rows[0] == Row("b", "minidock", pytest.approx(20.0), pytest.approx(10.0), 3, None, "", "ms")
    assert rows[1].ratio == pytest.approx(4.0)
    assert rows[2].median is None and rows[2].ratio is None and rows[2].note == "not installed"


@pytest.mark.spec("HARNESS-BENCH-003", "HARNESS-BENCH-004")
def test_run_interleaves_rounds_and_skips_with_a_note():
    order: list[str] = []
    benchmark = Benchmark(
        "b",
        [
            Contender("minidock", lambda: order.append("m")),
            Contender("peer", lambda: order.append("p")),
            Contender("absent", lambda: order.append("x"), available=never, missing="not built yet (issue 3)"),
            Contender("broken", fail),
        ],
        rounds=3,
    )
    timings = run_benchmark(benchmark)
    assert order == ["m", "p"] + ["m", "p", "p", "m", "m", "p"]  # probe, then rotating rounds
    assert [len(t.samples) for t in timings] == [3, 3, 0, 0]
    assert timings[2].note == "not built yet (issue 3)"
    assert timings[3].note == "skipped: boom"


@pytest.mark.spec("HARNESS-BENCH-003", "HARNESS-BENCH-004")
def test_command_line_contenders_and_a_failing_command():
    benchmark = Benchmark(
        "b",
        [
            Contender("minidock", [sys.executable, "-c", "pass"]),
            Contender("false", [sys.executable, "-c", "import sys; sys.exit('nope')"]),
        ],
        rounds=2,
    )
    rows = run_all([benchmark], rounds=1)
    assert rows[0].samples == 1 and rows[0].median > 0
    assert rows[1].samples == 0 and rows[1].note == "skipped: exit 1: nope"


@pytest.mark.spec("HARNESS-BENCH-005")
def test_render_makes_one_row_per_contender():
    rows = [
        Row("a", "minidock", 20.0, 10.0, 3, None, ""),
        Row("a", "docker", 5.0, 4.0, 3, 4.0, ""),
        Row("b", "runc", None, None, 0, None, "skipped: exit 1"),
    ]
    table = render(rows)
    assert table.row_count == 3
    assert [column.header for column in table.columns][:2] == ["benchmark", "contender"]


@pytest.mark.spec("HARNESS-BENCH-006")
def test_the_shipped_benchmarks_are_declared(tmp_path):
    from bench import cli_startup, isolation, monitor_memory

    names = {}
    for topic in (cli_startup, isolation, monitor_memory):
        names.update({b.name: [c.name for c in b.contenders] for b in topic.benchmarks(tmp_path)})
    assert names["cli-startup"] == ["minidock", "docker", "podman"]
    assert names["isolated-process"] == ["unshare (baseline)", "runc", "crun", "minidock-runtime"]
    assert names["monitor-memory"] == ["minidock (minidockd)", "minidock-runtime create",
                                       "containerd-shim (docker)", "containerd-shim (containerd)",
                                       "conmon (podman)"]
    assert list(tmp_path.iterdir()) == []  # declaring builds nothing: bundles are made on first use


@pytest.mark.spec("HARNESS-BENCH-007")
def test_a_measuring_benchmark_collects_samples_in_its_unit():
    benchmark = Benchmark(
        "memory",
        [
            Contender("minidock", lambda: [300, 100, 200]),
            Contender("peer", lambda: [50.0, 50.0]),
            Contender("empty", lambda: []),
        ],
        rounds=2,
        unit="KiB",
    )
    rows = run_all([benchmark])
    assert [row.samples for row in rows] == [6, 4, 0]
    assert rows[0].median == pytest.approx(200.0) and rows[0].lowest == pytest.approx(100.0)
    assert rows[1].ratio == pytest.approx(4.0)
    assert rows[2].note == "skipped: measured nothing"
    assert {row.unit for row in rows} == {"KiB"}
    assert format_value(200.0, "KiB") == "200 KiB" and format_value(12.345, "ms") == "12.3 ms"
    assert format_value(None, "KiB") == "-"


@pytest.mark.spec("HARNESS-BENCH-008")
def test_the_target_peer_row_says_whether_the_target_was_met():
    assert verdict(0.8) == "<= 1.00x: met" and verdict(1.0) == "<= 1.00x: met"
    assert verdict(3.1) == "<= 1.00x: missed" and verdict(None) == "<= 1.00x: not measured"
    benchmark = Benchmark("b", [], subject="minidock", target="runc")
    rows = build_rows(benchmark, [Timing("minidock", [30.0]), Timing("runc", [10.0]), Timing("crun", [5.0])])
    assert [row.target for row in rows] == ["", "<= 1.00x: missed", ""]
    absent = build_rows(benchmark, [Timing("minidock", [30.0]), Timing("runc", note="not installed")])
    assert absent[1].target == "<= 1.00x: not measured"
    table = render(rows)
    headers = [column.header for column in table.columns]
    assert headers.index("target") == headers.index("ratio") + 1  # printed next to the ratio


@pytest.mark.spec("HARNESS-BENCH-003")
def test_a_reset_runs_before_every_run_and_is_not_timed():
    order: list[str] = []
    benchmark = Benchmark(
        "b",
        [Contender("minidock", lambda: order.append("run"), reset=lambda: order.append("reset") or time.sleep(0.05))],
        rounds=2,
    )
    timings = run_benchmark(benchmark)
    assert order == ["reset", "run"] * 3  # the probe's too
    assert len(timings[0].samples) == 2 and max(timings[0].samples) < 50  # ms: the 50 ms sleep is not in them


@pytest.mark.spec("HARNESS-BENCH-008")
def test_a_target_may_allow_a_ratio_above_one():
    assert verdict(1.4, 1.5) == "<= 1.50x: met" and verdict(1.6, 1.5) == "<= 1.50x: missed"
    assert verdict(None, 1.5) == "<= 1.50x: not measured"
    benchmark = Benchmark("b", [], subject="minidock", target="umoci", target_ratio=1.5)
    rows = build_rows(benchmark, [Timing("minidock", [14.0]), Timing("umoci", [10.0])])
    assert rows[1].target == "<= 1.50x: met"


@pytest.mark.spec("HARNESS-BENCH-012")
def test_a_check_that_raises_fails_its_row_and_the_exit_status(monkeypatch, capsys):
    import bench.__main__ as bench_main

    calls: list[str] = []
    check = Benchmark("load", [Contender("minidock", fail, summary=lambda: "3 errors")], rounds=1,
                      unit="µs", probe=False, check=True, finish=lambda: calls.append("finish"))
    timings = run_benchmark(check)
    assert calls == ["finish"]  # after the rounds, even though the run failed
    assert timings[0].failed and timings[0].note == "3 errors; failed in round 1: boom"
    assert build_rows(check, timings)[0].failed
    # a plain benchmark's failed run is a note, not a failure; no probe when probe=False
    order: list[str] = []
    plain = run_benchmark(Benchmark("b", [Contender("minidock", fail)], rounds=1))
    assert plain[0].note == "skipped: boom" and not plain[0].failed
    run_benchmark(Benchmark("b", [Contender("minidock", lambda: order.append("run"))], rounds=2, probe=False))
    assert order == ["run", "run"]

    class Topic:
        @staticmethod
        def benchmarks(workdir):
            return [Benchmark("load", [Contender("minidock", lambda: [1.0])], rounds=1, unit="µs", check=True),
                    Benchmark("leaky", [Contender("minidock", lambda: None)], rounds=1, finish=fail)]

    monkeypatch.setattr(bench_main, "TOPICS", [Topic])
    assert bench_main.main(["load"]) == 0
    assert bench_main.main(["leaky"]) == 1  # a clean-up that found something left behind
    assert "failed: leaky (minidock)" in capsys.readouterr().out


@pytest.mark.spec("HARNESS-BENCH-015")
def test_a_daemon_is_stopped_by_sigterm_or_else_killed():
    polite = subprocess.Popen(["sleep", "60"])
    stop_process(polite, 5)
    assert polite.returncode == -15  # SIGTERM was enough
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; "
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE)
    stubborn.stdout.readline()  # its SIGTERM is ignored from now on
    stubborn.stdout.close()
    started = time.monotonic()
    stop_process(stubborn, 0.5)
    assert stubborn.returncode == -9 and time.monotonic() - started < 5
    stop_process(stubborn, 0.5)  # an ended process: nothing to do
