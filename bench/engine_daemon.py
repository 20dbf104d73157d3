"""A private minidockd for the engine benchmarks: its own socket, roots and bridge, busybox in it.

Implements: spec/bench.md HARNESS-BENCH-015
Modelled on: tests/harness/engine.py (the test suite's private daemon per worker)

    PrivateDaemon(debug=False)   nothing runs until start(); debug: --debug, every request in its log
      .start()                   minidockd with dockerd's flags in a fresh /tmp/mdb-XXXX,
                                 wait for /_ping, `minidock image bootstrap busybox` into it
      .host                      unix:///tmp/mdb-XXXX/d.sock, for -H
      .api(method, path, body)   one request on a fresh connection -> (status, body)
      .rss_kib()                 the daemon's VmRSS (/proc/PID/status)
      .stop(container_ids)       SIGTERM (SIGKILL after STOP_TIMEOUT), then look for what it
                                 left behind; raises RuntimeError naming it, else removes the folder
                                 (with debug, the ids in its log's request lines count too: the
                                 containers of `run --rm`, whose ids the benchmark never sees)
    unix_connection(path, timeout)  minidock.engine.http1's connection, on a unix socket
    leftovers(...)               mounts under a folder, cgroups named after containers (pure)
    logged_ids(log)              the container ids in an access log's request lines (pure)

The folder is short and in /tmp, not in the benchmark's work folder: the daemon's exec
root holds unix sockets (a monitor's, per container), whose paths have at most 107 bytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from bench.harness import stop_process
from bench.monitor_memory import command
from minidock.engine.http1 import Connection, Endpoint

MINIDOCK = Path(sys.executable).with_name("minidock")
MINIDOCKD = Path(sys.executable).with_name("minidockd")
CGROUPS = Path("/sys/fs/cgroup")
CGROUP_PARENT = "minidock-runtime"  # the runtime's cgroup for container ID: minidock-runtime/ID
PING_TIMEOUT = 15.0  # seconds the daemon has to answer /_ping
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL
CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")
LOGGED_ID = re.compile(r"/containers/([0-9a-f]{64})\b")




def unix_connection(path: str, timeout: float | None) -> Connection:
    """HTTP/1.1 over a unix socket, kept open by the load test's clients."""
    return Connection(Endpoint(path=path), timeout)


# --- pure parts -------------------------------------------------------------------------


def mounts_under(mountinfo: str, folder: str) -> list[str]:
    """Mount points at or below ``folder``, from the text of /proc/self/mountinfo."""
    points = [line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4]
    return [point for point in points if point == folder or point.startswith(folder.rstrip("/") + "/")]


def remove_unless_mounted(folder: Path | str) -> list[str]:
    """Remove a daemon's folder, unless something is still mounted in it: then say what."""
    mounts = mounts_under(Path("/proc/self/mountinfo").read_text(), str(folder))
    if not mounts:
        shutil.rmtree(folder, ignore_errors=True)
    return [f"mount {point}" for point in mounts]


def container_cgroups(cgroup_dirs: Iterable[str], ids: Iterable[str]) -> list[str]:
    """The cgroups among ``cgroup_dirs`` named after one of the containers ``ids``."""
    wanted = set(ids)
    return sorted(path for path in cgroup_dirs if os.path.basename(path) in wanted)


def leftovers(mountinfo: str, folder: str, cgroup_dirs: Iterable[str], ids: Iterable[str]) -> list[str]:
    """What a stopped daemon left behind: mounts under its folder, cgroups of its containers."""
    return ([f"mount {point}" for point in mounts_under(mountinfo, folder)]
            + [f"cgroup {path}" for path in container_cgroups(cgroup_dirs, ids)])


def logged_ids(log: str) -> set[str]:
    """The container ids in the request lines of a --debug daemon's log (POST /v1.41/containers/ID/start)."""
    return set(LOGGED_ID.findall(log))


def vm_rss_kib(status: str) -> int:
    """The VmRSS line of /proc/PID/status, in KiB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS line: the process is gone, or a kernel thread")


# --- the machine ------------------------------------------------------------------------


def runtime_cgroups(root: Path = CGROUPS) -> set[str]:
    """Every cgroup named like a container under the runtime's parent (v1 hierarchies and v2)."""
    found = set()
    for parent in [*root.glob(f"*/{CGROUP_PARENT}"), root / CGROUP_PARENT]:
        if parent.is_dir():
            found.update(str(child) for child in parent.iterdir() if CONTAINER_ID.match(child.name))
    return found


class PrivateDaemon:
    """A minidockd of the benchmark's own; start() it, stop() it whatever happened."""

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> str:
        assert self.folder is not None, "start() the daemon first"
        return str(self.folder / "d.sock")

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the daemon (once), wait until it answers, load busybox:latest into it."""
        if self.running:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="mdb-", dir="/tmp"))
        index = os.getpid() % 250
        argv = [str(MINIDOCKD), "-H", self.host, "--data-root", str(self.folder / "data"),
                "--exec-root", str(self.folder / "exec"), "--bridge", f"mdbench{index}",
                "--bip", f"10.215.{index}.1/24", "--shutdown-timeout", "3", *(["--debug"] if self.debug else [])]
        with open(self.folder / "daemon.log", "wb") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.folder, start_new_session=True)
        self._wait_for_ping()
        self.cli("image", "bootstrap", "busybox")

    def _wait_for_ping(self) -> None:
        deadline = time.monotonic() + PING_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"minidockd exited before answering /_ping: {self.log_tail()}")
            try:
                if self.api("GET", "/_ping", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"minidockd did not answer /_ping within {PING_TIMEOUT:g} s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The last line of the daemon's log."""
        if self.folder is None:
            return ""
        try:
            lines = (self.folder / "daemon.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def cli(self, *args: str, timeout: float = 60) -> str:
        """`minidock -H host ARGS`; its stdout; RuntimeError with its last line of stderr if it failed."""
        return command(str(MINIDOCK), "-H", self.host, timeout=timeout)(*args)

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
        """One request on a fresh connection: (status, body)."""
        connection = unix_connection(self.socket_path, timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def rss_kib(self) -> int:
        """The daemon's resident set size now, in KiB."""
        assert self.process is not None
        return vm_rss_kib(Path(f"/proc/{self.process.pid}/status").read_text())

    def stop(self, container_ids: Iterable[str] = ()) -> None:
        """Stop the daemon and check what it left; remove its folder when nothing is.

        ``container_ids``: the containers it ran, whose cgroups must be gone; with debug,
        also every container its log names.
        """
        if self.folder is None:
            return
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT)
        self.process = None
        ids = set(container_ids)
        if self.debug:
            ids |= logged_ids((self.folder / "daemon.log").read_text(errors="replace"))
        found = leftovers(Path("/proc/self/mountinfo").read_text(), str(self.folder), runtime_cgroups(), ids)
        folder, self.folder = self.folder, None
        if found:
            raise RuntimeError(f"left behind (in {folder}): " + ", ".join(found))
        shutil.rmtree(folder, ignore_errors=True)
