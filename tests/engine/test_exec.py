"""Exec through the Engine API and the real docker CLI (runs against Docker too)."""

from __future__ import annotations

import json
import time

import pytest

from tests.engine.conftest import demultiplex


@pytest.fixture
def running(containers) -> str:
    container_id = containers.create("sleep", "100")
    containers.start(container_id)
    return container_id


def _exec(engine, container_id: str, body: dict) -> str:
    status, _, raw = engine.api("POST", f"/v1.41/containers/{container_id}/exec",
                                {"AttachStdout": True, "AttachStderr": True, **body})
    assert status == 201, raw
    return json.loads(raw)["Id"]


def _start(engine, exec_id: str) -> tuple[int, bytes]:
    status, _, raw = engine.api("POST", f"/v1.41/exec/{exec_id}/start", {"Detach": False, "Tty": False})
    return status, raw


@pytest.mark.spec("ENGINE-EXEC-001", "ENGINE-EXEC-002")
def test_exec_runs_in_the_container_and_reports_its_exit(engine, running):
    exec_id = _exec(engine, running, {"Cmd": ["sh", "-c", "echo $$ out; hostname; echo err >&2; exit 4"]})
    status, _, raw = engine.api("GET", f"/v1.41/exec/{exec_id}/json")
    assert status == 200 and json.loads(raw)["Running"] is False
    status, raw = _start(engine, exec_id)
    assert status in (101, 200), raw
    frames = demultiplex(raw)
    stdout = b"".join(data for stream, data in frames if stream == 1).decode().split()
    assert stdout[1] == "out" and stdout[0] != "1"  # in the container's PID namespace, not its init
    assert stdout[2] == running[:12]                # and its UTS namespace
    assert (2, b"err\n") in frames
    status, _, raw = engine.api("GET", f"/v1.41/exec/{exec_id}/json")
    inspected = json.loads(raw)
    assert (inspected["ExitCode"], inspected["Running"], inspected["ContainerID"]) == (4, False, running)
    # once only: a detached second start is a 409 in both engines
    status, _, raw = engine.api("POST", f"/v1.41/exec/{exec_id}/start", {"Detach": True, "Tty": False})
    assert status == 409 and b"has already run" in raw, raw
    status, raw = _start(engine, exec_id)
    if engine.kind == "docker":  # Docker hijacks first, then writes its refusal into the stream
        assert status == 200 and b"has already run" in raw, raw
    else:                        # minidock refuses before it answers, as for a detached start
        assert status == 409 and b"has already run" in raw, raw


@pytest.mark.spec("ENGINE-EXEC-003")
def test_exec_user_workdir_and_environment(engine, running):
    exec_id = _exec(engine, running, {"Cmd": ["sh", "-c", "id -u; pwd; echo $MD_X"], "User": "nobody",
                                      "WorkingDir": "/tmp", "Env": ["MD_X=42"]})
    _, raw = _start(engine, exec_id)
    assert b"".join(d for s, d in demultiplex(raw) if s == 1).split() == [b"65534", b"/tmp", b"42"]


@pytest.mark.spec("ENGINE-EXEC-004")
def test_exec_bad_requests(engine, containers, running):
    status, _, raw = engine.api("POST", f"/v1.41/containers/{running}/exec", {"Cmd": []})
    assert status == 400 and "message" in json.loads(raw)
    stopped, _ = containers.run("true")
    status, _, raw = engine.api("POST", f"/v1.41/containers/{stopped}/exec", {"Cmd": ["true"]})
    assert status == 409 and b"is not running" in raw
    status, _, raw = engine.api("POST", "/v1.41/containers/md-no-such-container/exec", {"Cmd": ["true"]})
    assert status == 404
    status, _, raw = engine.api("GET", "/v1.41/exec/md-no-such-exec/json")
    assert status == 404 and b"No such exec instance" in raw


@pytest.mark.spec("ENGINE-EXEC-001")
def test_docker_exec_through_the_real_cli(engine, busybox):
    engine.docker_cli("run", "-d", "--name", "md-exec-cli", busybox, "sleep", "100")
    try:
        result = engine.docker_cli("exec", "-e", "MD_Y=7", "md-exec-cli", "sh", "-c", "echo $MD_Y; exit 3",
                                   check=False)
        assert (result.returncode, result.stdout) == (3, "7\n")
        detached = engine.docker_cli("exec", "-d", "md-exec-cli", "sh", "-c", "echo made > /made")
        assert detached.returncode == 0
        for _ in range(50):
            if engine.docker_cli("exec", "md-exec-cli", "cat", "/made", check=False).stdout == "made\n":
                break
            time.sleep(0.1)
        assert engine.docker_cli("exec", "md-exec-cli", "cat", "/made").stdout == "made\n"
    finally:
        engine.docker_cli("rm", "-f", "md-exec-cli", check=False)
