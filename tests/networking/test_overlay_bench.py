"""The overlay benchmark: a tiny run of both contenders across two namespace hosts, nothing left behind."""

from __future__ import annotations

import os
import subprocess

import pytest

from bench import overlay
from bench.harness import run_benchmark


@pytest.mark.skipif(os.geteuid() != 0, reason="makes namespaces, starts two daemons, runs containers")
@pytest.mark.spec("NET-111")
def test_the_overlay_benchmark_runs_tiny_and_leaves_nothing(tmp_path):
    (throughput,) = overlay.benchmarks(tmp_path, size_mb=16, rounds=1)
    assert (throughput.target, throughput.target_ratio) == ("underlay veth", 2.0)
    timings = {timing.contender: timing for timing in run_benchmark(throughput, rounds=1)}
    assert set(timings) == {"underlay veth", "minidock overlay"}
    for name, timing in timings.items():
        assert not timing.failed and timing.samples, (name, timing.note)
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"ovb-h1-{os.getpid() % 10000}" not in namespaces
