"""The networking benchmarks: a tiny run of every contender, and nothing left behind."""

from __future__ import annotations

import os

import pytest

from bench import networking
from bench.harness import run_benchmark


@pytest.mark.spec("NET-070")
def test_the_sender_is_timed_by_busybox():
    line = networking.sender("10.1.0.2", 5201, 8)
    assert line.startswith("time sh -c 'dd if=/dev/zero bs=1M count=8") and "busybox nc 10.1.0.2 5201" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a daemon and runs containers")
@pytest.mark.spec("NET-070")
def test_network_benchmarks_run_tiny_and_leave_nothing(tmp_path):
    start, throughput = networking.benchmarks(tmp_path, size_mb=4, rounds=1)
    assert (start.target, start.target_ratio) == ("minidock --network none", 1.5)
    assert (throughput.target, throughput.target_ratio) == ("host loopback", 1.2)
    for benchmark in (start, throughput):
        timings = {timing.contender: timing for timing in run_benchmark(benchmark, rounds=1)}
        for name, timing in timings.items():
            assert not timing.failed and timing.samples, (name, timing.note)
