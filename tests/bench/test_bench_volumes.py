"""The volume-io benchmark: its timing words parsed, and a tiny run of every contender."""

from __future__ import annotations

import os

import pytest

from bench import volume_io
from bench.harness import run_benchmark


@pytest.mark.spec("VOL-024")
def test_busybox_times_are_read_in_milliseconds():
    assert volume_io.real_ms("real\t0m 9.12s\nuser\t0m 0.00s\n") == pytest.approx(9120)
    assert volume_io.real_ms("real\t1m 2.50s\n") == pytest.approx(62500)
    with pytest.raises(ValueError):
        volume_io.real_ms("nothing")
    assert "conv=fsync" in volume_io.script("/data", 8) and "count=8" in volume_io.script("/data", 8)


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a daemon and runs containers")
@pytest.mark.spec("VOL-024")
def test_volume_io_runs_tiny_and_leaves_nothing(tmp_path):
    [benchmark] = volume_io.benchmarks(tmp_path, size_mb=8, rounds=1)
    assert benchmark.target == "host (data root's file system)" and benchmark.target_ratio == 1.05
    timings = {timing.contender: timing for timing in run_benchmark(benchmark)}
    for name, timing in timings.items():
        assert not timing.failed and len(timing.samples) == 1, (name, timing.note)
    assert list(tmp_path.iterdir()) == []
