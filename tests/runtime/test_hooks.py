"""OCI hooks: each stage runs where and when the runtime spec says, with the state on stdin."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.runtime.test_bad_bundles import _assert_refused
from tests.runtime.test_lifecycle import Runtime


def _recorder(tmp_path, name: str, exit_code: int = 0) -> str:
    """A host-side hook script that appends 'NAME <state json>' to tmp_path/hooks.log."""
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/sh\nprintf '{name} ' >> {tmp_path}/hooks.log\ncat >> {tmp_path}/hooks.log\n"
                      f"echo >> {tmp_path}/hooks.log\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def _log(tmp_path) -> list[tuple[str, dict]]:
    path = tmp_path / "hooks.log"
    if not path.exists():
        return []
    return [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1]))
            for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.spec("RT-HOOK-001", "RT-HOOK-003")
def test_runtime_side_hooks_run_in_order_with_the_state(bundle, tmp_path):
    bundle.config["hooks"] = {stage: [{"path": _recorder(tmp_path, stage)}]
                              for stage in ("createRuntime", "poststart", "poststop")}
    runtime = Runtime(tmp_path / "state", bundle)
    try:
        runtime.create("sleep", "30")
        assert [name for name, _ in _log(tmp_path)] == ["createRuntime"]
        runtime("start", bundle.id)
        runtime("kill", bundle.id, "KILL")
        runtime.wait_for("stopped")
        runtime("delete", bundle.id)
    finally:
        runtime("delete", "--force", bundle.id, check=False)
    log = _log(tmp_path)
    assert [name for name, _ in log] == ["createRuntime", "poststart", "poststop"]
    assert all(state["id"] == bundle.id and state["bundle"] == str(bundle.path) for _, state in log)
    assert log[0][1]["pid"] > 0 and log[0][1]["status"] == "creating"
    assert log[1][1]["status"] == "running" and log[2][1]["status"] == "stopped"


@pytest.mark.spec("RT-HOOK-001", "RT-HOOK-002")
def test_create_runtime_runs_before_pivot_root_and_create_container(bundle, tmp_path):
    # createRuntime (outside) sees the init's root still the host's; createContainer then runs inside
    outside = tmp_path / "outside.sh"
    outside.write_text(f"#!/bin/sh\nPID=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')\n"
                       f"awk '$5 == \"/\" {{print $4}}' /proc/$PID/mountinfo > {tmp_path}/root-seen\n"
                       f"touch {bundle.path}/rootfs/tmp/from-runtime\n")
    outside.chmod(0o755)
    bundle.config["hooks"] = {
        "createRuntime": [{"path": str(outside)}],
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
                                                         "test -e /tmp/from-runtime && echo after > /tmp/order"]}]}
    result = bundle.run("true")
    assert result.returncode == 0, result.stderr
    # the mount at init's "/" is still the host's root (after pivot_root it is the bundle's rootfs)
    assert (tmp_path / "root-seen").read_text().split() == ["/"]
    assert (bundle.path / "rootfs" / "tmp" / "order").read_text() == "after\n"


@pytest.mark.spec("RT-HOOK-002")
def test_container_side_hooks_run_inside(bundle):
    bundle.config["hooks"] = {
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /tmp/created"]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo $$ > /tmp/started"]}]}
    bundle.config["hostname"] = "hooked"
    result = bundle.run("sh", "-c", "cat /tmp/created /tmp/started")
    assert result.returncode == 0, result.stderr
    created, started = result.stdout.split()
    assert created == "hooked"  # ran in the container's UTS namespace
    assert int(started) > 1     # in its PID namespace, before the program (PID 1) ran


@pytest.mark.spec("RT-HOOK-001", "RT-HOOK-003", "RT-CFG-005")
def test_a_failing_create_hook_stops_the_container_and_poststart_only_warns(bundle, tmp_path):
    from tests.runtime.conftest import cgroup_dirs_named

    bundle.config["hooks"] = {"createRuntime": [{"path": _recorder(tmp_path, "bad", exit_code=3)}]}
    result = bundle.run("true")
    _assert_refused(result, "createRuntime hook", "exited 3")
    assert cgroup_dirs_named(bundle.id) == []
    bundle.config["hooks"] = {"poststart": [{"path": _recorder(tmp_path, "warn", exit_code=4)}]}
    result = bundle.run("sh", "-c", "echo still-ran")
    assert result.returncode == 0 and "still-ran" in result.stdout
    assert "warning: poststart hook" in result.stderr


@pytest.mark.spec("RT-HOOK-002")
def test_a_failing_start_hook_keeps_the_program_from_running(bundle):
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    result = bundle.run("sh", "-c", "echo program-ran")
    assert result.returncode == 127
    assert "program-ran" not in result.stdout and "startContainer hook /bin/false exited 1" in result.stderr


@pytest.mark.spec("RT-HOOK-004")
@pytest.mark.parametrize("hooks, named", [
    ({"beforeEverything": []}, "hooks.beforeEverything"),
    ({"poststop": {}}, "hooks.poststop"),
    ({"poststop": [{"path": "relative"}]}, "hooks.poststop[0].path"),
    ({"poststop": [{"path": "/bin/true", "timeout": 0}]}, "hooks.poststop[0].timeout"),
    ({"poststop": [{"path": "/bin/true", "args": [1]}]}, "hooks.poststop[0].args"),
])
def test_malformed_hooks_are_refused(bundle, hooks, named):
    bundle.config["hooks"] = hooks
    _assert_refused(bundle.run("true"), named)


@pytest.mark.spec("RT-HOOK-001")
def test_a_hook_past_its_timeout_has_failed(bundle, tmp_path):
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    os.chmod(slow, 0o755)
    bundle.config["hooks"] = {"createRuntime": [{"path": str(slow), "timeout": 1}]}
    _assert_refused(bundle.run("true"), "ran past its timeout of 1s")
