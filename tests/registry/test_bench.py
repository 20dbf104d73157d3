"""The registry benchmarks run (tiny) and leave nothing behind."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench import registry
from bench.harness import run_benchmark


@pytest.mark.skipif(not (shutil.which("skopeo") and shutil.which("docker-registry")),
                    reason="needs skopeo and docker-registry (make setup)")
@pytest.mark.spec("REG-039")
def test_the_registry_benchmarks_run_tiny_and_leave_nothing(tmp_path):
    push, pull = registry.benchmarks(tmp_path, size=1 << 20, rounds=1)
    assert (push.subject, push.target, pull.target) == ("minidock registry", "distribution 2.8", "distribution 2.8")
    for benchmark in (push, pull):
        timings = {timing.contender: timing for timing in run_benchmark(benchmark)}
        assert set(timings) == {"minidock registry", "distribution 2.8"}
        for name, timing in timings.items():
            assert not timing.failed and len(timing.samples) == 1, (name, timing.note)
    running = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert running == ""
    assert not (tmp_path / "pulled").exists()
