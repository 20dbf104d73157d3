"""`start`, `state`, `kill`, `pause`, `resume`, `update`, `delete`, `list`, `ps`: verbs on an existing container.

Implements: spec/runtime.md RT-VERB-002 .. RT-VERB-008
Explained:  chapters/03-runtime.md#the-life-cycle
Modelled on: runc's start.go, state.go, kill.go, update.go, delete.go, list.go, ps.go

Rules: each verb reads state.json, corrects its status from the process table
(state.live_status), and checks the move against state.TRANSITIONS or the
rule named next to it.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from minidock.cgroups import open_driver
from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.runtime import config as oci_config, hooks, monitor, state as states
from minidock.runtime.state import Event, State, Status


def start(root: str, container_id: str) -> None:
    """Let a created container run its program."""
    current = states.load(root, container_id)
    # [RT-STATE-001] refuse before asking the monitor: the table says why
    states.transition(states.live_status(current), Event.STARTED)
    if current.monitor_pid:
        monitor.request_start(root, container_id)
    else:  # [RT-SHIM-002] created for a shim (`create --pid-file`): no monitor to ask
        from minidock.runtime import shim

        shim.start(root, current)


def state(root: str, container_id: str) -> dict:
    """The OCI state of a container, status corrected from the process table."""
    current = states.load(root, container_id)
    current.status = states.live_status(current)
    return current.to_json()


def pause(root: str, container_id: str) -> None:
    """Freeze every process of a running container (`docker pause`)."""
    current = states.load(root, container_id)
    current.status = states.transition(states.live_status(current), Event.PAUSED)
    open_driver().open(current.cgroup).freeze()
    current.save(root)


def resume(root: str, container_id: str) -> None:
    """Thaw a paused container (`docker unpause`)."""
    current = states.load(root, container_id)
    current.status = states.transition(states.live_status(current), Event.RESUMED)
    open_driver().open(current.cgroup).thaw()
    current.save(root)


def update(root: str, container_id: str, resources_path: str) -> None:
    """[RT-VERB-008] New limits for a live container: an OCI linux.resources object, from a file or '-' (stdin)."""
    from minidock import jsonfile
    from minidock.cgroups import Resources

    current = states.load(root, container_id)
    if states.live_status(current) not in (Status.CREATED, Status.RUNNING, Status.PAUSED):
        raise Conflict("container not running")
    where = "the standard input" if resources_path == "-" else resources_path
    try:
        if resources_path == "-":
            data = jsonfile.loads(sys.stdin.read())
        else:
            with open(resources_path) as file:
                data = jsonfile.load(file)
    except OSError as error:
        raise InvalidArgument(f"--resources {where}: {error.strerror}") from None
    except ValueError as error:
        raise InvalidArgument(f"--resources {where}: invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"--resources {where}: an OCI linux.resources object must be a JSON object")
    resources = Resources.from_oci(data)  # checked as create checks them: a bad value is named
    driver = open_driver()
    driver.check(resources)
    driver.open(current.cgroup).apply(resources)


def parse_signal(name: str) -> signal.Signals:
    """'KILL', 'SIGKILL', 'kill' or '9' -> signal.SIGKILL; anything else is refused."""
    text = name.upper()
    if text.isdigit():
        try:
            return signal.Signals(int(text))
        except ValueError:
            pass
    else:
        text = text if text.startswith("SIG") else "SIG" + text
        if text in signal.Signals.__members__:
            return signal.Signals[text]
    raise InvalidArgument(f"unknown signal {name!r}")


def kill(root: str, container_id: str, signal_name: str = "TERM", every: bool = False) -> None:
    """Send a signal to a container's init (``every``: to each process in its cgroup, `kill --all`)."""
    signum = parse_signal(signal_name)
    current = states.load(root, container_id)
    # [RT-VERB-004] only a live container can be signalled
    if states.live_status(current) not in (Status.CREATED, Status.RUNNING, Status.PAUSED):
        raise Conflict("container not running")
    for pid in open_driver().open(current.cgroup).procs() if every else [current.pid]:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:  # gone since the cgroup was read
            pass


def delete(root: str, container_id: str, force: bool = False) -> None:
    """Remove a stopped container: its cgroup and its state directory."""
    try:
        current = states.load(root, container_id)
    except NotFound:
        if not force:
            raise
        from minidock.runtime.create import check_id

        # [RT-VERB-005] as runc: with --force, a container that is gone already is no error
        # (containerd's shim deletes once more when it cleans up); a directory that a create
        # left without its state.json goes too
        states.remove(root, check_id(container_id))
        return
    status = states.live_status(current)
    if status != Status.STOPPED:
        # [RT-VERB-005] deleting a live container needs --force, which kills it first
        if not force:
            raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}")
        group = open_driver().open(current.cgroup)
        group.thaw()  # a process frozen by v1's freezer does not die until thawed
        os.kill(current.pid, signal.SIGKILL)
        _wait_gone(current)
        _wait_for_monitor(root, current)
    group = open_driver().open(current.cgroup)
    for pid in group.procs():  # orphans of a container without its own PID namespace
        os.kill(pid, signal.SIGKILL)
    group.remove()
    _poststop(current)
    states.remove(root, container_id)


def _poststop(current: State) -> None:
    """[RT-HOOK-003] poststop hooks, from the bundle's config; failures are warnings."""
    try:
        checked = oci_config.load(current.bundle)
    except Exception:  # noqa: BLE001 - the bundle may be gone by now; nothing to run then
        return
    current.status = Status.STOPPED
    hooks.run(checked.hooks, "poststop", current.to_json(), warn_only=True)


def _wait_gone(current: State, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while states.is_alive(current) and time.monotonic() < deadline:
        time.sleep(0.01)


def _wait_for_monitor(root: str, current: State, seconds: float = 5.0) -> None:
    """Let the monitor record the exit before the state directory goes (it writes state.json)."""
    if not current.monitor_pid:
        return  # created for a shim: the shim reaps init, nobody of ours writes state.json
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if states.load(root, current.id).status == Status.STOPPED:
                return
        except Exception:  # noqa: BLE001 - mid-rename, or already gone
            return
        try:
            os.kill(current.monitor_pid, 0)
        except (ProcessLookupError, OSError):
            return  # no monitor (a foreground run) or it is gone
        time.sleep(0.01)


def list_all(root: str) -> list[dict]:
    """Every container under ``root``, as OCI state objects."""
    found = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            found.append(state(root, name))
        except Exception:  # noqa: BLE001 - a half-written directory is not a container
            continue
    return found


def ps(root: str, container_id: str) -> list[int]:
    """The host pids of every process in the container's cgroup."""
    current = states.load(root, container_id)
    return sorted(open_driver().open(current.cgroup).procs())


def ps_table(pids: list[int], options: list[str]) -> str:
    """ps(1)'s output with ``options``: its header, and its lines of the processes ``pids``."""
    import subprocess

    result = subprocess.run(["ps", *options], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[0]
        raise InvalidArgument(f"ps {' '.join(options)}: {reason}")
    header, *lines = result.stdout.splitlines(keepends=True)
    if "PID" not in header.split():
        raise InvalidArgument(f"ps {' '.join(options)}: no PID column in its output")  # runc's complaint too
    column = header.split().index("PID")
    wanted = set(pids)
    return header + "".join(line for line in lines if int(line.split()[column]) in wanted)
