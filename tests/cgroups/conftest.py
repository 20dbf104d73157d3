"""Fixtures for the cgroup tests: real groups and processes that are always cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest

from minidock.cgroups import Driver, Hierarchy, Resources, open_driver

UNIFIED = "/sys/fs/cgroup/unified"  # cgroup2 beside v1 on a hybrid host (no controllers there)


class Lab:
    """Makes real groups and processes for one test, and removes every one of them afterwards."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.top = f"minidock-cgtest-{uuid.uuid4().hex[:8]}"  # unique: xdist workers run side by side
        self.groups: list = []
        self.processes: list[subprocess.Popen] = []

    def name(self) -> str:
        return f"{self.top}/g{len(self.groups)}"

    def group(self, resources: Resources | None = None, driver: Driver | None = None):
        group = (driver or self.driver).create(self.name(), resources)
        self.groups.append(group)
        return group

    def spawn(self, group, code: str) -> subprocess.Popen:
        """Start python3 running ``code`` once it is inside ``group`` (it waits on stdin until then)."""
        gate = "import sys; sys.stdin.readline()\n"
        process = subprocess.Popen([sys.executable, "-c", gate + code], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        group.add(process.pid)
        process.stdin.write("go\n")
        process.stdin.flush()
        return process

    def spawn_command(self, group, *args: str) -> subprocess.Popen:
        """Start a command and move it into ``group`` (for sleep and busy loops)."""
        process = subprocess.Popen(list(args))
        self.processes.append(process)
        group.add(process.pid)
        return process

    def clean(self) -> None:
        for group in self.groups:
            try:
                group.thaw()  # a frozen task cannot die
            except Exception:  # noqa: BLE001 - a group without a freezer, or already gone
                pass
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream:
                    stream.close()
        for group in self.groups:
            group.remove()


@pytest.fixture
def driver() -> Driver:
    return open_driver()


@pytest.fixture
def lab(driver):
    lab = Lab(driver)
    try:
        yield lab
    finally:
        lab.clean()


@pytest.fixture
def unified_driver() -> Driver:
    """A v2 driver on the hybrid host's cgroup2 mount: no controllers, but freezing works."""
    if open_driver().version != 1 or not os.path.exists(os.path.join(UNIFIED, "cgroup.procs")):
        pytest.skip("only on a hybrid host (a pure v2 host runs the v2 driver in every test)")
    return Driver(Hierarchy(2, {}, UNIFIED))
