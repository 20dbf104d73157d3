"""`create --pid-file`: a container left to its caller, the way runc leaves one to a shim.

Implements: spec/runtime.md RT-SHIM-001 .. RT-SHIM-005
Explained:  chapters/03-runtime.md#under-a-shim
Modelled on: runc create and start as containerd-shim and conmon call them
             (--pid-file, --console-socket, the exec.fifo in the state directory)

    create(bundle, id, root, pid_file, console_socket)   init ready and waiting; we exit
    start(root, state)                                   the start byte, through start.fifo

Why: minidock's own `create` forks a monitor that holds the container's stdio, reaps
init and records its exit (create.py, monitor.py). A shim is that monitor already. It
gives the runtime its pipes as stdio, it is a child subreaper, and it waits for the pid
in the pid file, which must become its own child once the runtime exits: a monitor of
ours in between would reap init before the shim could. So here nothing of ours stays.
Init inherits our stdio (or, with process.terminal, a pty whose master goes to the
console socket); the cgroup and the state directory wait for `delete`; and `start`
reaches init through a named pipe in the state directory, since no monitor is there
to ask. state.json says so with monitor_pid 0.

Rules: a shim names a pid file (containerd-shim and conmon always do): that is how we
tell its create from a user's. Anything that fails after the fork kills and reaps init
and removes the cgroup and the state directory, as a failed create always does.
"""

from __future__ import annotations

import errno
import os

from minidock.cgroups import open_driver
from minidock.errors import Conflict, InvalidArgument, MinidockError
from minidock.runtime import config as oci_config, hooks, terminal
from minidock.runtime.create import _abandon, _reserve, check_id
from minidock.runtime.monitor import Monitor
from minidock.runtime.state import Event, State, transition

START_FIFO = "start.fifo"


def create(bundle: str, container_id: str, root: str, pid_file: str | None,
           console_socket: str | None = None, preserve_fds: int = 0) -> int:
    """[RT-SHIM-001] Create a container whose init is left to our caller; return its pid."""
    checked = oci_config.load(bundle)._replace(preserve_fds=preserve_fds)
    # [RT-SHIM-003] a terminal and a console socket go together, in runc's words
    if checked.terminal and console_socket is None:
        raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
    if console_socket is not None and not checked.terminal:
        raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")
    check_id(container_id)
    # connected first: a wrong path is said before anything exists
    console = terminal.connect_console(console_socket) if console_socket else None
    try:
        monitor = Monitor(checked, _reserve(root, container_id, bundle, checked.cgroups_path), root, open_driver())
        pid = 0
        try:
            pid = monitor.launch(start=_start_channel(monitor.directory))
            os.close(monitor.take_start())  # init holds the FIFO itself and waits for `start`
            if console is not None:
                terminal.send_console(console, monitor.master)
                os.close(monitor.master)
            monitor.state.monitor_pid = 0  # the caller reaps init, not us
            monitor.state.save(root)
            if pid_file is not None:
                write_pid_file(pid_file, pid)
        except BaseException:
            _kill_child(pid)  # launch reaps an init that never got ready itself
            _abandon(monitor, root, container_id)
            raise
    finally:
        if console is not None:
            console.close()
    return pid


def _start_channel(directory: str) -> tuple[int, int]:
    """The start pipe as a FIFO in the state directory: (init's end, our end).

    Init's end is opened read-write, so that init never reads end-of-file once we
    are gone: it holds a writer itself, and its read waits for `start` to open the
    FIFO and write the start byte (runc's exec.fifo plays the same part).
    """
    path = os.path.join(directory, START_FIFO)
    os.mkfifo(path, 0o600)
    theirs = os.open(path, os.O_RDWR)
    ours = os.open(path, os.O_WRONLY)  # does not block: the FIFO has a reader
    return theirs, ours


def start(root: str, current: State) -> None:
    """[RT-SHIM-002] Let a shim's created container run: the start byte through the FIFO."""
    current.status = transition(current.status, Event.STARTED)
    path = os.path.join(root, current.id, START_FIFO)
    try:
        # O_NONBLOCK: with no reader (init is gone) the open fails at once with ENXIO
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.ENXIO, errno.ENOENT):
            raise Conflict(f"container {current.id} is not in created state: its init is gone") from None
        raise
    try:
        os.write(fd, b"\x01")
    finally:
        os.close(fd)
    os.unlink(path)
    current.save(root)
    try:
        checked = oci_config.load(current.bundle)
    except MinidockError:
        return  # the bundle is gone: no poststart hooks to run
    # [RT-HOOK-003] poststart: a failure is only a warning
    hooks.run(checked.hooks, "poststart", current.to_json(), warn_only=True)


def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically (a temporary file beside it, then rename(2)), as runc."""
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as error:
        raise InvalidArgument(f"cannot write the pid file {path}: {error.strerror}") from None


def _kill_child(pid: int) -> None:
    """Kill and reap init, our child still (a create that failed after init was ready)."""
    if pid > 0:
        os.kill(pid, 9)  # SIGKILL
        os.waitpid(pid, 0)
