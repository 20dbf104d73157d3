"""`create` and `run`: from a checked bundle to a created (or finished) container.

Implements: spec/runtime.md RT-VERB-001, RT-VERB-002, RT-CLI-002, RT-CLI-003
Explained:  chapters/03-runtime.md#the-life-cycle
Modelled on: `runc create` / `runc run`

    create(bundle, id, root)      fork a detached monitor; return once init waits for start
    run(bundle, id, root)         this process is the monitor: create, start, wait, delete

Rules: the bundle is checked before anything exists; a container that fails to
start leaves no state directory, cgroup, mount or process behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys

from minidock.cgroups import open_driver
from minidock.errors import Conflict, InvalidArgument, MinidockError
from minidock.runtime import config as oci_config
from minidock.runtime import hooks, terminal
from minidock.runtime.monitor import Monitor
from minidock.runtime.state import State, Status, now

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_id(container_id: str) -> str:
    """A container id is a safe file name: letters, digits, '_', '.', '-'."""
    # [RT-CLI-002]
    if not _ID.match(container_id):
        raise InvalidArgument(f"invalid container id {container_id!r}: use letters, digits, '_', '.', '-'")
    return container_id


def _reserve(root: str, container_id: str, bundle: str) -> State:
    """Make the state directory; it doubles as the lock that keeps ids unique."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    try:
        os.mkdir(os.path.join(root, container_id), 0o700)
    except FileExistsError:
        # [RT-CLI-003] two containers never share an id
        raise Conflict(f"container with id exists: {container_id}") from None
    return State(id=container_id, bundle=os.path.abspath(bundle), status=Status.CREATING,
                 created=now(), cgroup=f"minidock-runtime/{container_id}")


def _abandon(monitor: Monitor, root: str, container_id: str) -> None:
    """Undo a create (or finish a run): cgroup, poststop hooks, state directory."""
    if monitor.group is not None:
        # as runc's destroy: what init left running in the group (no PID namespace, or
        # a child that outlived it) goes too, or the group could not be removed
        for pid in monitor.group.procs():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        monitor.group.remove()
        hooks.run(monitor.config.hooks, "poststop", monitor.state.to_json(), warn_only=True)
    shutil.rmtree(os.path.join(root, container_id), ignore_errors=True)


def run(bundle: str, container_id: str, root: str) -> int:
    """Run in the foreground with this process's stdio; return the exit code."""
    checked = oci_config.load(bundle)
    state = _reserve(root, check_id(container_id), bundle)
    monitor = Monitor(checked, state, root, open_driver())
    try:
        pid = monitor.launch()
        # a SIGTERM or SIGINT aimed at us is meant for the container
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda sig, _: os.kill(pid, sig))
        output = terminal.proxy(monitor.master) if monitor.master >= 0 else None
        monitor.release()
        code = monitor.wait()
        if output is not None:
            output.join(timeout=5)  # what the container printed last
        return code
    finally:
        # [RT-RUN-004] run deletes what it created, whatever happened
        _abandon(monitor, root, container_id)


def create(bundle: str, container_id: str, root: str) -> int:
    """Create a detached container that waits for `start`; return its init pid."""
    checked = oci_config.load(bundle)
    state = _reserve(root, check_id(container_id), bundle)
    result_r, result_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        os.close(result_r)
        _become_monitor(checked, state, root, result_w)  # never returns
    os.close(result_w)
    # one line, not read-to-EOF: init holds a copy of the pipe until it execs
    with os.fdopen(result_r) as results:
        answer = results.readline().strip()
    word, _, rest = answer.partition(" ")
    if word != "created":
        shutil.rmtree(os.path.join(root, container_id), ignore_errors=True)
        raise MinidockError(rest or "the monitor died before the container was created")
    return int(rest)


def _become_monitor(checked, state: State, root: str, result_w: int) -> None:
    """In the forked monitor: detach, launch the container, tell the caller, serve."""
    code = 0
    monitor = Monitor(checked, state, root, open_driver())
    try:
        os.setsid()  # no controlling terminal; a Ctrl-C in the caller's shell is not ours
        devnull = os.open(os.devnull, os.O_RDWR)
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        # the container inherits fds 0-2 from us across fork: /dev/null in (or a pipe we
        # feed, with OPEN_STDIN), pipes out
        stdin_r, stdin_w = os.pipe() if checked.open_stdin and not checked.terminal else (-1, -1)
        os.dup2(stdin_r if stdin_r >= 0 else devnull, 0)
        if stdin_w >= 0:
            os.set_inheritable(stdin_w, False)
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        try:
            control = monitor.listen()
            pid = monitor.launch()
        except MinidockError as error:
            os.write(result_w, f"failed {error.message}\n".encode())
            _abandon(monitor, root, state.id)
            code = 1
            return
        for fd in (stdout_w, stderr_w, *((stdin_r,) if stdin_r >= 0 else ())):
            os.close(fd)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.write(result_w, f"created {pid}\n".encode())
        os.close(result_w)
        monitor.serve(control, stdout_r, stderr_r, stdin_w)
    except BaseException:  # noqa: BLE001 - a monitor must never return into the caller's code
        code = 1
    finally:
        os._exit(code)
