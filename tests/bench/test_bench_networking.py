"""The networking benchmarks: a tiny run of every contender, and nothing left behind."""

from __future__ import annotations

import json
import os

import pytest

from bench import networking
from bench.harness import run_benchmark


@pytest.mark.spec("NET-070")
def test_a_sample_is_the_receivers_milliseconds_per_gib():
    report = json.dumps({"end": {"sum_received": {"seconds": 0.5, "bytes": 1 << 29}}})
    assert networking.ms_per_gib(report) == 1000.0
    with pytest.raises(ValueError):
        networking.ms_per_gib(json.dumps({"end": {"sum_received": {"seconds": 0.1, "bytes": 0}}}))


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a daemon and runs containers")
@pytest.mark.spec("NET-070")
def test_network_benchmarks_run_tiny_and_leave_nothing(tmp_path):
    start, throughput = networking.benchmarks(tmp_path, size_mb=16, rounds=1)
    assert (start.target, start.target_ratio) == ("minidock --network none", 1.5)
    assert (throughput.target, throughput.target_ratio) == ("host loopback", 1.2)
    for benchmark in (start, throughput):
        timings = {timing.contender: timing for timing in run_benchmark(benchmark, rounds=1)}
        for name, timing in timings.items():
            assert not timing.failed and timing.samples, (name, timing.note)
    assert "veth + bridge by hand" in {c.name for c in throughput.contenders}
