"""Containers across daemon restarts, with and without --live-restore (minidock only: each test
starts and stops its own daemon, killing it with SIGKILL where a crash is the point)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.engine import Engine, python_module, spare_network_flags, stop_daemon, wait_for_ping

pytestmark = pytest.mark.usefixtures("only_minidock")


@pytest.fixture
def only_minidock(pytestconfig):
    if pytestconfig.getoption("engine") != "minidock":
        pytest.skip("restarts a private minidock daemon")


class Daemon:
    """A private minidockd that a test may stop, kill and start again on the same roots."""

    def __init__(self, root: Path, *flags: str) -> None:
        self.root = root
        self.flags = flags
        self.network = spare_network_flags()  # the same bridge at each start: its own
        self.engine = Engine(kind="minidock", host=f"unix://{root}/d.sock", log_path=root / "daemon.log",
                             cli_argv=python_module("minidock.cli.main"))
        self.process: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        argv = [*python_module("minidock.engine.daemon"), "-H", self.engine.host,
                "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                *self.network, "--shutdown-timeout", "2", *self.flags]
        with open(self.engine.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_for_ping(self.engine, self.process)
        return self

    def stop(self) -> None:
        stop_daemon(self.process)

    def tear_down(self) -> None:
        """At a test's end: a daemon again if it died, its containers removed, then stopped."""
        if self.process.poll() is not None:
            self.start()
        status, listed = self.api("GET", "/containers/json?all=1")
        for container in listed if status == 200 else []:
            self.api("DELETE", f"/containers/{container['Id']}?force=1")
        self.stop()

    def crash(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def api(self, method: str, path: str, body=None) -> tuple[int, object]:
        status, _, raw = self.engine.api(method, f"/v1.41{path}", body)
        return status, (json.loads(raw) if raw and raw[:1] in b"[{" else raw)

    def run(self, *cmd: str, name: str) -> str:
        status, answer = self.api("POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": list(cmd)})
        assert status == 201, answer
        status, answer = self.api("POST", f"/containers/{name}/start")
        assert status == 204, answer
        return name

    def state(self, name: str) -> dict:
        status, answer = self.api("GET", f"/containers/{name}/json")
        assert status == 200, answer
        return answer["State"]


@pytest.fixture
def daemon(tmp_path_factory):
    made: list[Daemon] = []

    def make(*flags: str) -> Daemon:
        root = Path(tmp_path_factory.mktemp("restart"))
        made.append(Daemon(root, *flags).start())
        made[-1].engine.cli("image", "bootstrap", "busybox", timeout=120)
        return made[-1]

    yield make
    for each in made:
        each.tear_down()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as file:  # a zombie is not alive
        return file.read().rsplit(")", 1)[1].split()[0] != "Z"


def _wait_exit(d: Daemon, name: str, seconds: float = 10) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = d.state(name)
        if state["Status"] == "exited":
            return state
        time.sleep(0.05)
    raise AssertionError(f"{name} never exited: {state}")


@pytest.mark.spec("ENGINE-CTR-022")
def test_containers_names_and_exit_codes_survive_a_restart(daemon):
    d = daemon()
    d.run("sh", "-c", "echo kept; exit 3", name="md-restart-kept")
    _wait_exit(d, "md-restart-kept")
    d.stop()
    d.start()
    state = d.state("md-restart-kept")
    assert (state["Status"], state["ExitCode"]) == ("exited", 3)
    status, _, raw = d.engine.api("GET", "/v1.41/containers/md-restart-kept/logs?stdout=1")
    assert raw.endswith(b"kept\n")
    status, answer = d.api("POST", "/containers/md-restart-kept/start")  # and it runs again
    assert status == 204, answer
    assert _wait_exit(d, "md-restart-kept")["ExitCode"] == 3


@pytest.mark.spec("ENGINE-CTR-023")
def test_without_live_restore_a_stopping_daemon_stops_its_containers(daemon):
    d = daemon()
    d.run("sleep", "100", name="md-restart-stopped")
    pid = d.state("md-restart-stopped")["Pid"]
    assert _alive(pid)
    d.stop()
    assert not _alive(pid)
    d.start()
    assert d.state("md-restart-stopped")["Status"] == "exited"


@pytest.mark.spec("ENGINE-CTR-023")
def test_without_live_restore_a_crashed_daemon_stops_them_when_it_comes_back(daemon):
    d = daemon()
    d.run("sleep", "100", name="md-restart-crash")
    pid = d.state("md-restart-crash")["Pid"]
    d.crash()
    d.start()
    state = d.state("md-restart-crash")
    assert state["Status"] == "exited" and not _alive(pid)
    assert not any(p.startswith(str(d.root)) for p in _mounts())


@pytest.mark.spec("ENGINE-CTR-023")
def test_with_live_restore_containers_outlive_the_daemon_and_are_adopted(daemon):
    d = daemon("--live-restore")
    d.run("sleep", "100", name="md-restart-live")
    pid = d.state("md-restart-live")["Pid"]
    d.crash()
    assert _alive(pid)
    d.start()
    state = d.state("md-restart-live")
    assert (state["Status"], state["Pid"]) == ("running", pid)
    status, answer = d.api("POST", "/containers/md-restart-live/stop?t=1")
    assert status == 204, answer
    assert d.state("md-restart-live")["ExitCode"] == 137 and not _alive(pid)
    d.run("sleep", "100", name="md-restart-live-term")
    pid = d.state("md-restart-live-term")["Pid"]
    d.stop()  # a clean stop with --live-restore leaves it running too
    assert _alive(pid)
    d.start()
    assert d.state("md-restart-live-term")["Status"] == "running"


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as file:
        return [line.split()[4] for line in file]




@pytest.mark.spec("ENGINE-RST-003")
def test_restart_policies_at_daemon_start(daemon):
    d = daemon()
    for name, policy in (("md-rst-always", "always"), ("md-rst-unless", "unless-stopped"),
                         ("md-rst-unless-stopped", "unless-stopped"), ("md-rst-no", "no")):
        status, answer = d.api("POST", f"/containers/create?name={name}",
                               {"Image": "busybox", "Cmd": ["sleep", "100"],
                                "HostConfig": {"RestartPolicy": {"Name": policy}}})
        assert status == 201, answer
        assert d.api("POST", f"/containers/{name}/start")[0] == 204
    assert d.api("POST", "/containers/md-rst-unless-stopped/stop?t=1")[0] == 204  # by hand
    d.stop()
    d.start()
    states = {name: d.state(name)["Status"] for name in
              ("md-rst-always", "md-rst-unless", "md-rst-unless-stopped", "md-rst-no")}
    assert states == {"md-rst-always": "running", "md-rst-unless": "running",
                      "md-rst-unless-stopped": "exited", "md-rst-no": "exited"}
