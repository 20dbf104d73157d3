"""Container state: the life cycle as a data table, and state.json on disk.

Implements: spec/runtime.md RT-STATE-001 .. RT-STATE-004
Explained:  chapters/03-runtime.md#the-life-cycle
Modelled on: the OCI runtime-spec "State" and "Lifecycle" sections; runc's state.json

    creating --created--> created --started--> running --exited--> stopped
                                                 |   ^
                                          paused |   | resumed
                                                 v   |
                                                 paused --exited--> stopped
    (creating and created may also go straight to stopped: init died)

    transition(status, event) -> next status, or Conflict naming the rule
    State(...).save(root) / load(root, id) / live_status(state)
    remove(root, id)        the state directory and its files

Rules: the table is the only place that says which moves are legal; the
status on disk is corrected by looking at the process (a pid that is gone is
"stopped", whatever the file says).
"""

from __future__ import annotations

import os
import time

from minidock import jsonfile
from minidock.errors import Conflict, NotFound, SystemError as MinidockSystemError


class Status:
    """The OCI statuses, as state.json spells them.

    Plain strings, not an enum.Enum: the enum module is imported by nothing else a
    start needs, and costs it 3 ms (chapters/03-runtime.md#start-up-time).
    """

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    ALL = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)


class Event:
    """What happens to a container."""

    CREATED = "created"      # init is ready and waits for start
    STARTED = "started"      # init has exec'd the user's program
    EXITED = "exited"        # the process is gone
    PAUSED = "paused"        # every process frozen (cgroup freezer)
    RESUMED = "resumed"      # thawed


# [RT-STATE-001] the only legal moves; anything else is refused
TRANSITIONS: dict[tuple[str, str], str] = {
    (Status.CREATING, Event.CREATED): Status.CREATED,
    (Status.CREATING, Event.EXITED): Status.STOPPED,
    (Status.CREATED, Event.STARTED): Status.RUNNING,
    (Status.CREATED, Event.EXITED): Status.STOPPED,
    (Status.RUNNING, Event.EXITED): Status.STOPPED,
    (Status.RUNNING, Event.PAUSED): Status.PAUSED,
    (Status.PAUSED, Event.RESUMED): Status.RUNNING,
    (Status.PAUSED, Event.EXITED): Status.STOPPED,
}


def transition(status: str, event: str) -> str:
    """Return the status after ``event``, or raise Conflict in runc's words."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        if event == Event.STARTED and status == Status.STOPPED:
            raise Conflict("cannot start a container that has stopped") from None
        if event == Event.STARTED:
            raise Conflict(f"cannot start an already {status} container") from None
        if event == Event.PAUSED:
            raise Conflict(f"container not running: {status}") from None
        if event == Event.RESUMED:
            raise Conflict(f"container not paused: {status}") from None
        raise Conflict(f"container cannot go from {status} on {event}") from None


class State:
    """What the runtime remembers about one container (state.json).

    A plain class: it changes as the container does (a NamedTuple could not), and the
    dataclasses module alone costs a container's start 7 ms (see __init__.py, Start-up).
    """

    def __init__(self, id: str, bundle: str, status: str, pid: int = 0, pid_start_time: int = 0,
                 monitor_pid: int = 0, created: str = "", exit_code: int | None = None,
                 oom_killed: bool = False, cgroup: str = "") -> None:
        self.id = id
        self.bundle = bundle
        self.status = status                    # one of Status.ALL
        self.pid = pid                          # the container's init, as the host sees it
        self.pid_start_time = pid_start_time    # /proc/PID/stat field 22: tells pid reuse apart
        self.monitor_pid = monitor_pid
        self.created = created
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.cgroup = cgroup

    def __repr__(self) -> str:
        return f"State({self.id!r}, {self.status}, pid={self.pid})"

    def to_json(self) -> dict:
        """The OCI state object (plus minidock's own fields)."""
        return {**vars(self), "ociVersion": "1.0.2"}

    def save(self, root: str) -> None:
        """Write state.json atomically (write a temp file, then rename(2))."""
        directory = os.path.join(root, self.id)
        temporary = os.path.join(directory, "state.json.tmp")
        with open(temporary, "w") as file:
            jsonfile.dump(self.to_json(), file)
        os.replace(temporary, os.path.join(directory, "state.json"))


def load(root: str, container_id: str) -> State:
    """Read a container's state.json; NotFound in runc's words if there is none."""
    try:
        with open(os.path.join(root, container_id, "state.json")) as file:
            data = jsonfile.load(file)
        data.pop("ociVersion", None)
        if data.get("status") not in Status.ALL:
            raise ValueError(f"unknown status {data.get('status')!r}")
        return State(**data)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"container does not exist: {container_id}") from None
    except (ValueError, TypeError, AttributeError) as error:
        # [RT-STATE-005] a damaged file (not JSON, a field missing or unknown) is said, not a traceback
        raise MinidockSystemError(f"container {container_id}: state.json is damaged: {error}") from None


def remove(root: str, container_id: str) -> None:
    """Delete a container's state directory, at best effort, as `rm -rf` would.

    It holds files only (state.json, monitor.sock, container.log), so a loop does
    what shutil.rmtree would, without importing shutil on every container's start.
    """
    directory = os.path.join(root, container_id)
    try:  # each step at best effort, as rmtree(ignore_errors=True)
        for name in os.listdir(directory):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
        os.rmdir(directory)
    except OSError:
        pass


def process_start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat (starttime), or 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return int(text[text.rindex(")") + 2:].split()[19])


def is_alive(state: State) -> bool:
    """Is the container's init still the process we started (not a reused pid, not a zombie)?"""
    if state.pid <= 0 or process_start_time(state.pid) != state.pid_start_time:
        return False
    try:
        with open(f"/proc/{state.pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped between the open and the read: ESRCH
        return False


def live_status(state: State) -> str:
    """The status corrected by the process table: a vanished init means stopped."""
    # [RT-STATE-003] the file may be stale; the process table is the truth
    if state.status in (Status.CREATED, Status.RUNNING, Status.PAUSED) and not is_alive(state):
        return Status.STOPPED
    return state.status


def now() -> str:
    """An RFC 3339 timestamp, as the OCI state's "created" field."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
