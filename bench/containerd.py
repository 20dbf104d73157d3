"""A private containerd: its own root, state and socket, for the shim that docker uses.

Implements: spec/bench.md HARNESS-BENCH-010 (the containerd-shim row of monitor-memory)
Explained:  chapters/03-runtime.md#under-a-shim

    daemon = PrivateContainerd(archive)    archive: a docker-save tar of busybox:latest
    daemon.start()                         containerd up, busybox imported
    daemon.ctr("run", "-d", ...)           ctr against it, in a namespace of its own
    daemon.stop()                          tasks, containers, daemon, then what they leave

docker runs every container through containerd, which starts one containerd-shim-runc-v2
per container, and the shim drives runc (or any runtime given by `--runc-binary`). So a
containerd of our own measures docker's shim, and tests a runtime under it, without
dockerd, whose Debian package would start the machine's own dockerd and its iptables
policy.

What containerd keeps outside its root and state, and stop() removes: the runtime's
state in /run/containerd/runc/NAMESPACE, the shims' sockets in /run/containerd/s and
ctr's fifos in /run/containerd/fifo (the entries that were not there before, by the last
of ours to stop), and the
cgroup /NAMESPACE that ctr puts every container under, in each hierarchy. The CRI plugin
(Kubernetes) and the "opt" plugin (which makes /opt/containerd) are off.

The folders s, fifo and runc are shared by every containerd of the machine, so several of
ours (one per xdist worker) meet there. Each holds a shared flock(2) on this file while it
runs; the last to stop gets the exclusive lock, and removes the folders if they are empty
and an earlier one of ours made /run/containerd (a marker file inside says so). A
containerd that is starting waits on its shared lock until that clean-up is over.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.engine_daemon import remove_unless_mounted
from bench.monitor_memory import command

IMAGE = "docker.io/library/busybox:latest"  # what `ctr images import` names busybox:latest
RUN_DIR = Path("/run/containerd")
MADE_BY_US = RUN_DIR / ".made-by-minidock-bench"  # /run/containerd is ours to remove when empty

CONFIG = """version = 2
root = "{folder}/root"
state = "{folder}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "{folder}/containerd.sock"
"""


def _entries(directory: Path) -> set[str]:
    return set(os.listdir(directory)) if directory.is_dir() else set()


class PrivateContainerd:
    """containerd in /tmp/mdctd-XXXX, its containers in the namespace mdbench-PID."""

    def __init__(self, archive: Callable[[], Path]) -> None:
        self.archive = archive
        self.namespace = f"mdbench-{os.getpid()}"
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.before: dict[str, set[str]] = {}
        self.lock: int | None = None  # our shared flock on this file while containerd runs

    def prefix(self) -> list[str]:
        assert self.folder is not None, "start() containerd first"
        return ["ctr", "--address", str(self.folder / "containerd.sock"), "--namespace", self.namespace]

    def ctr(self, *args: str, timeout: float = 60) -> str:
        """ctr ARGS: its stdout; RuntimeError naming the failure."""
        return command(*self.prefix(), timeout=timeout)(*args)

    def start(self) -> None:
        """containerd up and answering, busybox imported (idempotent)."""
        if self.process is not None:
            return
        self.lock = os.open(__file__, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(self.lock, fcntl.LOCK_SH)  # waits while a last one out cleans up
        if not RUN_DIR.exists():
            RUN_DIR.mkdir(mode=0o711, exist_ok=True)
            MADE_BY_US.touch()
        self.before = {name: _entries(RUN_DIR / name) for name in ("s", "fifo")}
        self.folder = Path(tempfile.mkdtemp(prefix="mdctd-", dir="/tmp"))  # a short path: sockets
        (self.folder / "config.toml").write_text(CONFIG.format(folder=self.folder))
        log = open(self.folder / "containerd.log", "wb")
        self.process = subprocess.Popen(["containerd", "--config", str(self.folder / "config.toml")],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.ctr("version", timeout=5)
                break
            except RuntimeError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("containerd did not start: see its log") from None
                time.sleep(0.1)
        self.ctr("images", "import", str(self.archive()), timeout=120)

    def log(self) -> str:
        return (self.folder / "containerd.log").read_text(errors="replace") if self.folder else ""

    def shims(self) -> list[int]:
        """The pids of this containerd's shims (they outlive a containerd that stops)."""
        address = f"-address {self.folder}/containerd.sock"
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if cmdline.startswith("/usr/bin/containerd-shim") and address in cmdline:
                found.append(int(pid))
        return found

    def stop(self) -> None:
        """Kill and delete its tasks and containers, stop it, remove what it left; raise naming what stays."""
        if self.folder is None:
            return
        problems = []
        if self.process is not None and self.process.poll() is None:
            try:
                for line in self.ctr("tasks", "list", "--quiet").split():
                    self._ignore(("tasks", "kill", "--signal", "KILL", line), ("tasks", "delete", "--force", line))
                for line in self.ctr("containers", "list", "--quiet").split():
                    self._ignore(("containers", "delete", line))
            except RuntimeError as error:
                problems.append(f"ctr: {error}")
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.shims():
            problems.append(f"shim {pid}")
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(RUN_DIR / "runc" / self.namespace, ignore_errors=True)
        self._last_one_out()
        for top, children, _ in os.walk("/sys/fs/cgroup"):
            if os.path.basename(top) == self.namespace:
                for group in sorted((os.path.join(top, child) for child in children), key=len, reverse=True):
                    problems.append(f"cgroup {group}")
                for group in sorted((d for d, _, _ in os.walk(top)), key=len, reverse=True):
                    try:
                        os.rmdir(group)
                    except OSError as error:
                        problems.append(f"cgroup {group}: {error.strerror}")
                children.clear()
        folder, self.folder, self.process = self.folder, None, None
        problems.extend(remove_unless_mounted(folder))
        if problems:
            raise RuntimeError("containerd left behind: " + ", ".join(problems))

    def _last_one_out(self) -> None:
        """Give up our shared lock; if no other private containerd holds one, clean up after us all.

        Only then: the entries of s and fifo that were not there when we started, and the
        folders if empty. Earlier, with another of ours running, they may be its live fifos
        and sockets (a ctr of the other worker lost its stdin fifo so, once in CI).
        """
        if self.lock is None:
            return
        lock, self.lock = self.lock, None
        try:
            fcntl.flock(lock, fcntl.LOCK_UN)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another one of ours still runs: the last one cleans up
            for name, entries in self.before.items():
                for entry in _entries(RUN_DIR / name) - entries:
                    shutil.rmtree(RUN_DIR / name / entry, ignore_errors=True)
                    if (RUN_DIR / name / entry).exists():
                        os.unlink(RUN_DIR / name / entry)
            if MADE_BY_US.exists():
                for directory in (RUN_DIR / "s", RUN_DIR / "fifo", RUN_DIR / "runc"):
                    try:
                        directory.rmdir()
                    except OSError:
                        pass  # not there, or someone's entries still in it
                if {entry.name for entry in RUN_DIR.iterdir()} == {MADE_BY_US.name}:
                    MADE_BY_US.unlink()
                    RUN_DIR.rmdir()
        finally:
            os.close(lock)  # and with it any lock we hold

    def _ignore(self, *calls: tuple[str, ...]) -> None:
        for call in calls:
            try:
                self.ctr(*call)
            except RuntimeError:
                pass
