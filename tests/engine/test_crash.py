"""SIGKILL of the daemon in the middle of create, start, stop and remove: the next daemon is consistent
and nothing is left behind (minidock only: the daemon kills itself at a named point, engine/faults.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.engine.test_restart import Daemon, _alive

pytestmark = pytest.mark.usefixtures("only_minidock")


@pytest.fixture
def only_minidock(pytestconfig):
    if pytestconfig.getoption("engine") != "minidock":
        pytest.skip("crashes a private minidock daemon")


@pytest.fixture
def daemon(tmp_path_factory):
    """A private daemon with busybox; stopped (and its containers removed) at the end."""
    d = Daemon(Path(tmp_path_factory.mktemp("crash"))).start()
    d.engine.cli("image", "bootstrap", "busybox", timeout=120)
    yield d
    d.tear_down()


def _arm(d: Daemon, point: str) -> None:
    """Restart the daemon so that it SIGKILLs itself at ``point``."""
    d.stop()
    os.environ["MINIDOCK_CRASH_AT"] = point
    try:
        d.start()
    finally:
        del os.environ["MINIDOCK_CRASH_AT"]


def _died(d: Daemon) -> None:
    d.process.wait(timeout=20)
    assert d.process.returncode == -9


def _nothing_left(d: Daemon, running: set[str] = frozenset()) -> None:
    """No runtime container, mount or snapshot that no running container accounts for."""
    runtime = d.root / "exec" / "runtime"
    assert set(os.listdir(runtime)) <= set(running) if runtime.exists() else True
    with open("/proc/self/mountinfo") as file:
        mounts = [line.split()[4] for line in file if line.split()[4].startswith(str(d.root))]
    assert all(any(cid in m for cid in running) for m in mounts), mounts
    status, listed = d.api("GET", "/containers/json?all=1")
    ids = {c["Id"] for c in listed}
    snapshots = json.loads((d.root / "data" / "snapshots" / "metadata.json").read_text())["snapshots"]
    for key in [k for k in snapshots if k.startswith("container/")]:
        assert key.split("/", 1)[1] in ids, key


def _request(d: Daemon, method: str, path: str, body=None) -> None:
    """A request the daemon dies in the middle of: no answer is the expected answer."""
    try:
        d.api(method, path, body)
    except Exception:  # noqa: BLE001 - the connection dies with the daemon: any error will do
        pass


@pytest.mark.spec("ENGINE-D-010")
def test_a_crash_inside_create_leaves_no_container_and_no_snapshot(daemon):
    d = daemon
    _arm(d, "create:after-snapshot")
    _request(d, "POST", "/containers/create?name=md-crash-create", {"Image": "busybox", "Cmd": ["true"]})
    _died(d)
    d.start()
    status, _ = d.api("GET", "/containers/md-crash-create/json")
    assert status == 404
    _nothing_left(d)
    assert d.run("true", name="md-crash-create")  # the name is free


@pytest.mark.spec("ENGINE-D-010")
def test_a_crash_inside_start_kills_the_half_started_container(daemon):
    d = daemon
    status, _ = d.api("POST", "/containers/create?name=md-crash-start", {"Image": "busybox", "Cmd": ["sleep", "100"]})
    assert status == 201
    _arm(d, "start:after-runtime-create")
    _request(d, "POST", "/containers/md-crash-start/start")
    _died(d)
    d.start()
    assert d.state("md-crash-start")["Status"] in ("created", "exited")
    _nothing_left(d)
    assert d.api("POST", "/containers/md-crash-start/start")[0] == 204  # and it can start now
    assert d.state("md-crash-start")["Status"] == "running"


@pytest.mark.spec("ENGINE-D-010")
def test_a_crash_inside_stop_and_remove(daemon):
    d = daemon
    _arm(d, "stop:after-signal")
    d.run("sleep", "100", name="md-crash-stop")
    pid = d.state("md-crash-stop")["Pid"]
    _request(d, "POST", "/containers/md-crash-stop/stop?t=1")
    _died(d)
    d.start()
    assert d.state("md-crash-stop")["Status"] == "exited" and not _alive(pid)
    _nothing_left(d)
    _arm(d, "remove:after-marking")
    _request(d, "DELETE", "/containers/md-crash-stop")
    _died(d)
    d.start()
    assert d.api("GET", "/containers/md-crash-stop/json")[0] == 404
    _nothing_left(d)
