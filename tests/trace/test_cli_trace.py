"""`minidock trace run`: through the daemon's create, the runtime's own start, traced.

Spec: spec/trace.md TRACE-030 .. TRACE-032. Black-box: the CLI against the engine fixture.
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a container's start needs root")


@pytest.fixture(scope="module")
def minidock_engine(engine):
    if engine.kind != "minidock":
        pytest.skip("trace is minidock's own verb")
    engine.cli("image", "bootstrap", "busybox", timeout=120)
    return engine


def containers(engine) -> list[str]:
    return engine.cli("ps", "-aq", "--no-trunc").stdout.split()


@pytest.mark.spec("TRACE-030", "TRACE-032")
def test_trace_run_takes_run_flags_and_removes_its_container(minidock_engine):
    before = containers(minidock_engine)
    done = minidock_engine.cli("trace", "run", "--format", "json", "--memory", "40m", "--hostname", "tracebox",
                               "busybox", "hostname", check=False)
    assert done.returncode == 0, done.stderr
    assert "tracebox" in done.stderr  # the container's own output, on stderr with --format json
    steps = json.loads(done.stdout)["steps"]
    assert any(s["call"] == "sethostname" and s["hostname"] == "tracebox" for s in steps)
    execve = max(i for i, s in enumerate(steps) if s["call"] == "execve" and not s["error"])
    limit = [i for i, s in enumerate(steps) if s["call"] == "write" and s["value"] == str(40 * 2**20)]
    assert limit and limit[0] < execve
    assert "seccomp" in [s["call"] for s in steps]
    assert containers(minidock_engine) == before


@pytest.mark.spec("TRACE-032")
def test_trace_run_privileged(minidock_engine):
    done = minidock_engine.cli("trace", "run", "--format", "json", "--privileged", "busybox", "true", check=False)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert "seccomp" not in [s["call"] for s in steps]
    assert not any(s.get("option") == "PR_CAPBSET_DROP" for s in steps)


@pytest.mark.spec("TRACE-031")
@pytest.mark.parametrize("argv, words", [
    (["--memory", "lots", "busybox", "true"], "invalid argument"),
    (["Busybox:UPPER", "true"], "invalid reference format"),
    (["--no-such-flag", "busybox", "true"], "unknown flag: --no-such-flag"),
])
def test_bad_flags_and_images_fail_as_run_does(minidock_engine, argv, words):
    before = containers(minidock_engine)
    done = minidock_engine.cli("trace", "run", *argv, check=False)
    assert done.returncode == 125, (done.stdout, done.stderr)
    assert words in done.stderr and "Traceback" not in done.stderr
    assert containers(minidock_engine) == before
