"""`minidock-runtime --trace run`: the real steps of a start, in order, and a clean end.

Spec: spec/trace.md. Needs root (namespaces, cgroups, mounts) and ptrace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a container's start needs root")


def calls(document: dict) -> list[str]:
    return [step["call"] for step in document["steps"]]


def last_exec(document: dict) -> int:
    """The index of the container's (successful) execve."""
    return max(i for i, step in enumerate(document["steps"]) if step["call"] == "execve" and not step["error"])


@pytest.mark.spec("TRACE-001", "TRACE-003", "TRACE-006", "TRACE-007", "TRACE-010", "TRACE-011",
                  "TRACE-012", "TRACE-015")
def test_a_default_run_shows_its_start_in_order(traced):
    traced.config["linux"].setdefault("resources", {})["memory"] = {"limit": 48 * 2**20}
    done = traced.run("sh", "-c", "echo out; exit 3")
    assert done.returncode == 3, done.stderr
    assert "out" in done.stderr  # --trace-format json: the container's stdout goes to stderr
    document = json.loads(done.stdout)
    steps, names = document["steps"], calls(document)
    assert document["exit_code"] == 3 and not document["interrupted"]
    assert {step["phase"] for step in steps} == {"namespaces", "cgroups", "rootfs", "security", "exec"}
    assert "pivot_root" in names and "chroot" not in names
    # the monitor unshares the PID namespace (for its child), the child the others
    made = {kind for step in steps if step["call"] == "unshare" for kind in step["namespaces"]}
    assert {"CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUTS", "CLONE_NEWIPC"} <= made
    execve = last_exec(document)
    assert steps[execve]["argv"] == ["sh", "-c", "echo out; exit 3"]
    limit = next(i for i, step in enumerate(steps) if step["call"] == "write"
                 and os.path.basename(step["path"]) in ("memory.limit_in_bytes", "memory.max"))
    assert steps[limit]["value"] == str(48 * 2**20) and limit < execve
    private = next(i for i, s in enumerate(steps) if s["call"] == "mount" and "MS_PRIVATE" in s["flags"])
    assert private < names.index("pivot_root") < names.index("umount2") < execve
    for security in ("capset", "seccomp"):
        assert names.index(security) < execve
    drop = next(i for i, s in enumerate(steps) if s.get("option") == "PR_CAPBSET_DROP")
    assert "CAP_SYS_ADMIN" in steps[drop]["capabilities"] and drop < execve
    capset = steps[names.index("capset")]
    assert "CAP_SYS_ADMIN" not in capset["sets"]["effective"] and "CAP_CHOWN" in capset["sets"]["effective"]
    # the init that made the namespaces and the monitor are different processes: children were followed
    assert len({step["pid"] for step in steps}) >= 2
    assert traced.leftovers() == []


@pytest.mark.spec("TRACE-016")
def test_a_privileged_run_has_no_filter_and_no_drop(traced):
    from minidock.runtime.security import docker_fields, merge

    traced.config = merge(traced.config, docker_fields(privileged=True))
    done = traced.run("true")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert "seccomp" not in calls(document)
    assert not any(step.get("option") == "PR_CAPBSET_DROP" for step in document["steps"])
    assert "pivot_root" in calls(document)


@pytest.mark.spec("TRACE-009", "TRACE-012")
def test_the_text_format_groups_by_phase_and_ends_with_the_exit_code(traced):
    done = traced.run("true", form="text")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    headings = [line for line in lines if line.startswith("── ")]
    assert headings[-1] == "── exit code 0"
    assert {"── namespaces", "── cgroups", "── rootfs", "── security", "── exec"} <= set(headings)
    assert any('pivot_root(".", ".")' in line for line in lines)


@pytest.mark.spec("TRACE-002")
def test_trace_is_refused_with_another_verb(traced):
    import sys

    done = subprocess.run([sys.executable, "-m", "minidock.runtime.cli", "--root", str(traced.root),
                           "--trace", "create", "--bundle", str(traced.path), traced.id],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--trace works with the run verb only" in done.stderr
    assert traced.leftovers() == []


@pytest.mark.spec("TRACE-005")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (make deb installs it)")
def test_a_tracer_that_is_itself_traced_is_refused_clearly(traced, tmp_path):
    # a process has one tracer: under strace -f, the tracer's child cannot PTRACE_TRACEME
    marker = tmp_path / "ran"
    argv = traced.argv("touch", "/ran")
    done = subprocess.run(["strace", "-f", "-o", os.devnull, *argv], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr
    assert "cannot trace: the kernel refused ptrace" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (traced.path / "rootfs" / "ran").exists() and not marker.exists()
    assert traced.leftovers() == []


@pytest.mark.spec("TRACE-004", "TRACE-006")
def test_ctrl_c_kills_the_container_and_leaves_nothing(traced):
    process = subprocess.Popen(traced.argv("sleep", "60", form="text"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        state = traced.root / traced.id / "state.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if state.exists() and '"running"' in state.read_text():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the traced container never ran")
        time.sleep(0.2)  # the sleep has been exec'd
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted" in out.splitlines()[-1]
    assert traced.leftovers() == []
    sleeping = subprocess.run(["pgrep", "-f", f"--root {traced.root}"], capture_output=True, text=True)
    assert sleeping.stdout == ""


@pytest.mark.spec("TRACE-003")
def test_threads_are_followed(traced):
    # with a terminal, `run` copies the pty in two threads (clone3 with CLONE_THREAD): each is
    # traced from its first instruction; one left stopped would hang the run
    traced.config["process"]["terminal"] = True
    done = traced.run("echo", "from-the-pty", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "from-the-pty" in done.stderr
    steps = json.loads(done.stdout)["steps"]
    threads = [s for s in steps if s["call"] in ("clone", "clone3") and "CLONE_THREAD" in s["flags"]]
    assert threads and all(s["result"] > 0 for s in threads)
