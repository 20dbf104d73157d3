"""The registry benchmarks run (tiny) and leave nothing behind; with a dockerd, minidock's pull
is compared with docker's (REG-043)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess

import pytest

from bench import registry
from bench.harness import run_benchmark

PULLED_BYTES = 64 << 20  # enough for the download to outweigh the CLIs' start-up


@pytest.mark.skipif(not (shutil.which("skopeo") and shutil.which("docker-registry")),
                    reason="needs skopeo and docker-registry (make setup)")
@pytest.mark.spec("REG-039")
def test_the_registry_benchmarks_run_tiny_and_leave_nothing(tmp_path):
    push, pull, engines = registry.benchmarks(tmp_path, size=1 << 20, rounds=1)
    assert (push.subject, push.target, pull.target) == ("minidock registry", "distribution 2.8", "distribution 2.8")
    assert (engines.subject, engines.target) == ("minidock pull", "docker pull (dockerd)")  # REG-043's, below
    for benchmark in (push, pull):
        timings = {timing.contender: timing for timing in run_benchmark(benchmark)}
        assert set(timings) == {"minidock registry", "distribution 2.8"}
        for name, timing in timings.items():
            assert not timing.failed and len(timing.samples) == 1, (name, timing.note)
    running = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert running == ""
    assert not (tmp_path / "pulled").exists()


@pytest.mark.spec("REG-043")
def test_minidock_pulls_from_distribution_no_slower_than_docker(engine, busybox, tmp_path):
    """With MINIDOCK_TEST_DOCKERD naming a dockerd: the same image pulled by both, timed, same ID."""
    dockerd = os.environ.get("MINIDOCK_TEST_DOCKERD")
    if not dockerd:
        pytest.skip("set MINIDOCK_TEST_DOCKERD to a dockerd's socket (unix:///...) to compare minidock pull "
                    "with docker pull")
    if not all(shutil.which(tool) for tool in ("skopeo", "docker-registry", "docker")):
        pytest.skip("needs skopeo, docker-registry and the docker CLI")
    benchmark = next(b for b in registry.benchmarks(tmp_path, size=PULLED_BYTES, rounds=3, minidock_host=engine.host,
                                                    dockerd_host=dockerd) if b.name == "registry-engine-pull")
    timings = {timing.contender: timing for timing in run_benchmark(benchmark)}
    ours, docker = timings["minidock pull"], timings["docker pull (dockerd)"]
    for timing in (ours, docker):
        assert not timing.failed and len(timing.samples) == 3, (timing.contender, timing.note)
    assert ours.note.startswith("image sha256:") and ours.note == docker.note  # one image, one ID
    ratio = statistics.median(ours.samples) / statistics.median(docker.samples)
    assert ratio <= 1.0, f"minidock pull took {ratio:.2f}x docker pull's time ({ours.samples} vs {docker.samples} ms)"
