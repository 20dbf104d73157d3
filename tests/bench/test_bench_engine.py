"""The engine benchmarks (container-run, run-detached-N, engine-load), run tiny: a smoke test.

Each benchmark runs once at a tiny size (one round; two detached containers; the load for
3 s with 3 containers and 5 clients), so that it cannot rot: every contender that can run
here is measured, nothing fails, and the session's leak check finds nothing left behind.
Their numbers are not looked at. The pure parts are checked without root.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import container_run, engine_load  # noqa: E402
from bench.engine_daemon import (  # noqa: E402
    MINIDOCKD,
    container_cgroups,
    leftovers,
    logged_ids,
    mounts_under,
    vm_rss_kib,
)
from bench.engine_load import LoadResult, request_paths  # noqa: E402
from bench.harness import run_benchmark  # noqa: E402

ID = "a" * 64
MOUNTINFO = f"""\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
98 22 0:50 / /tmp/mdb-x/exec/containers/{ID}/rootfs rw - overlay overlay rw,lowerdir=...
99 22 0:51 / /tmp/mdb-xy/other rw - tmpfs tmpfs rw
"""

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not MINIDOCKD.exists(), reason="needs root and minidockd")


@pytest.mark.spec("HARNESS-BENCH-015")
def test_what_a_stopped_daemon_left_is_named():
    assert mounts_under(MOUNTINFO, "/tmp/mdb-x") == [f"/tmp/mdb-x/exec/containers/{ID}/rootfs"]  # not mdb-xy
    cgroups = [f"/sys/fs/cgroup/memory/minidock-runtime/{ID}", f"/sys/fs/cgroup/pids/minidock-runtime/{'b' * 64}"]
    assert container_cgroups(cgroups, [ID]) == cgroups[:1]
    assert leftovers(MOUNTINFO, "/tmp/mdb-x", cgroups, [ID]) == [
        f"mount /tmp/mdb-x/exec/containers/{ID}/rootfs", f"cgroup /sys/fs/cgroup/memory/minidock-runtime/{ID}"]
    assert leftovers(MOUNTINFO, "/tmp/mdb-z", cgroups, []) == []
    log = (f'2026-12-01 22:46:35,773 minidockd INFO [01/Dec/2026:22:46:35 +0000] "POST /v1.41/containers/{ID}/start '
           f'HTTP/1.1" 204 0 "-" "Docker-Client/28.2.2"\n... "DELETE /containers/{"b" * 64}?force=1 HTTP/1.1" 204\n'
           f'... "GET /containers/json HTTP/1.1" 200\n')
    assert logged_ids(log) == {ID, "b" * 64}


@pytest.mark.spec("HARNESS-BENCH-014")
def test_the_load_check_fails_on_an_error_or_a_growing_daemon():
    assert vm_rss_kib("Name:\tminidockd\nVmPeak:\t 9 kB\nVmRSS:\t   47104 kB\n") == 47104
    flat = LoadResult(requests=3000, seconds=10.0, rss_start_kib=40960, rss_end_kib=45056, rss_peak_kib=45056)
    assert flat.per_second == pytest.approx(300.0) and flat.rss_growth == pytest.approx(0.1)
    assert flat.problems() == []
    assert "300 req/s, 0 errors" in flat.summary() and "40.0 -> 44.0 MiB (+10.0%" in flat.summary()
    grown = LoadResult(requests=10, seconds=1.0, rss_start_kib=1000, rss_end_kib=1300, errors=["GET /_ping: HTTP 500"])
    assert grown.problems() == ["1 requests failed (GET /_ping: HTTP 500)",
                                "the daemon's RSS grew by 30.0% (limit 20%)"]
    assert LoadResult().summary() == ""  # it never ran: no note
    paths = request_paths(["c1", "c2"], 3)
    assert paths == ["/_ping", "/v1.41/containers/json", "/v1.41/containers/c2/json",
                     "/v1.41/containers/c2/logs?stdout=1&stderr=1"]


@pytest.mark.spec("HARNESS-BENCH-013", "HARNESS-BENCH-014")
def test_declaring_the_engine_benchmarks_starts_nothing(tmp_path):
    declared = container_run.benchmarks(tmp_path) + engine_load.benchmarks(tmp_path)
    assert {b.name: [c.name for c in b.contenders] for b in declared} == {
        "container-run": ["minidock", "docker CLI -> minidockd", "docker (dockerd)", "podman"],
        "run-detached-20": ["minidock", "docker CLI -> minidockd", "docker (dockerd)", "podman"],
        "engine-load": ["minidock"],
    }
    assert {(b.name, b.target, b.target_ratio) for b in declared[:2]} == {
        ("container-run", "docker (dockerd)", 0.5), ("run-detached-20", "docker (dockerd)", 0.5)}
    assert declared[2].check and not declared[2].probe
    assert list(tmp_path.iterdir()) == []


@needs_root
@pytest.mark.spec("HARNESS-BENCH-013", "HARNESS-BENCH-015")
def test_container_run_and_run_detached_run_tiny(tmp_path):
    for benchmark in container_run.benchmarks(tmp_path, detached=2, rounds=1, detached_rounds=1):
        timings = {timing.contender: timing for timing in run_benchmark(benchmark)}
        assert not any(timing.failed for timing in timings.values()), {n: t.note for n, t in timings.items()}
        assert len(timings["minidock"].samples) == 1, timings["minidock"].note
        if shutil.which("docker"):
            assert len(timings["docker CLI -> minidockd"].samples) == 1, timings["docker CLI -> minidockd"].note
        if not container_run.dockerd_answers():
            assert timings["docker (dockerd)"].note.startswith("dockerd is not running on this machine")
        if shutil.which("podman"):
            assert len(timings["podman"].samples) == 1, timings["podman"].note
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "busybox.tar"])  # podman's store is gone


@needs_root
@pytest.mark.spec("HARNESS-BENCH-014", "HARNESS-BENCH-015")
def test_engine_load_runs_tiny(tmp_path):
    [benchmark] = engine_load.benchmarks(tmp_path, seconds=3, containers=3, clients=5)
    [timing] = run_benchmark(benchmark)
    assert not timing.failed, timing.note
    assert timing.samples and " 0 errors; daemon RSS " in timing.note
