"""`create` and `run`: from a checked bundle to a created (or finished) container.

Implements: spec/runtime.md RT-VERB-001, RT-VERB-002, RT-CLI-002, RT-CLI-003
Explained:  chapters/03-runtime.md#the-life-cycle
Modelled on: `runc create` / `runc run`

    create(bundle, id, root)      fork a detached monitor; return once init waits for start
    _launch_apart(...)            in the monitor: a launcher child starts init, hands over, exits
    run(bundle, id, root)         this process is the monitor: create, start, wait, delete

Rules: the bundle is checked before anything exists; a container that fails to
start leaves no state directory, cgroup, mount or process behind.
"""

from __future__ import annotations

import gc
import os
import resource
import _signal as signal  # what signal wraps in enum classes: the same calls, without enum (__init__.py)
import sys

from minidock import jsonfile
from minidock.cgroups import open_driver
from minidock.errors import Conflict, InvalidArgument, MinidockError
from minidock.kernel import syscalls as sc
from minidock.runtime import config as oci_config
from minidock.runtime import hooks, terminal
from minidock.runtime.monitor import Monitor
from minidock.runtime.state import State, Status, now, remove as remove_state
from minidock.runtime.state import load as load_state

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    import socket

_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def check_id(container_id: str) -> str:
    """A container id is a safe file name: 1-128 letters, digits, '_', '.', '-', not first.

    (Checked without a regular expression: importing re costs a start 5 ms.)
    """
    # [RT-CLI-002]
    if not (0 < len(container_id) <= 128 and set(container_id) <= _ID_CHARACTERS
            and container_id[0] not in "_.-"):
        raise InvalidArgument(f"invalid container id {container_id!r}: use letters, digits, '_', '.', '-'")
    return container_id


def _reserve(root: str, container_id: str, bundle: str, cgroup: str | None = None) -> State:
    """Make the state directory; it doubles as the lock that keeps ids unique.

    ``cgroup``: the config's linux.cgroupsPath, if it has one (RT-CFG-007).
    """
    os.makedirs(root, mode=0o700, exist_ok=True)
    try:
        os.mkdir(os.path.join(root, container_id), 0o700)
    except FileExistsError:
        # [RT-CLI-003] two containers never share an id
        raise Conflict(f"container with id exists: {container_id}") from None
    return State(id=container_id, bundle=os.path.abspath(bundle), status=Status.CREATING,
                 created=now(), cgroup=cgroup or cgroup_name(container_id))


def cgroup_name(container_id: str) -> str:
    """The container's cgroup, under the runtime's own parent group."""
    return f"minidock-runtime/{container_id}"


def _abandon(monitor: Monitor, root: str, container_id: str) -> None:
    """Undo a create (or finish a run): cgroup, poststop hooks, state directory."""
    _destroy_group(monitor)
    remove_state(root, container_id)


def _destroy_group(monitor: Monitor) -> None:
    """Kill what is left in the container's cgroup, remove it, run the poststop hooks."""
    if monitor.group is not None:
        # as runc's destroy: what init left running in the group (no PID namespace, or
        # a child that outlived it) goes too, or the group could not be removed
        try:
            left = monitor.group.procs()
        except FileNotFoundError:  # a launcher that died before it made the group
            left = []
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        monitor.group.remove()
        hooks.run(monitor.config.hooks, "poststop", monitor.state.to_json(), warn_only=True)
        monitor.group = None


def run(bundle: str, container_id: str, root: str, preserve_fds: int = 0) -> int:
    """Run in the foreground with this process's stdio; return the exit code."""
    checked = oci_config.load(bundle)._replace(preserve_fds=preserve_fds)
    state = _reserve(root, check_id(container_id), bundle, checked.cgroups_path)
    monitor = Monitor(checked, state, root, open_driver())
    try:
        pid = monitor.launch()
        # a SIGTERM or SIGINT aimed at us is meant for the container
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda sig, _: os.kill(pid, sig))
        output = terminal.proxy(monitor.master) if monitor.master >= 0 else None
        monitor.release()
        code = monitor.wait(save=False)  # [RT-RUN-004] the state goes next, with the cgroup
        if output is not None:
            output.join(timeout=5)  # what the container printed last
        return code
    finally:
        # [RT-RUN-004] run deletes what it created, whatever happened
        _abandon(monitor, root, container_id)


def create(bundle: str, container_id: str, root: str, preserve_fds: int = 0) -> int:
    """Create a detached container that waits for `start`; return its init pid.

    ``preserve_fds``: our descriptors 3 .. 3+N-1 stay open for the container's program.
    """
    check_id(container_id)
    result_r, result_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        os.close(result_r)
        _become_monitor(bundle, container_id, root, result_w, preserve_fds)  # never returns
    os.close(result_w)
    # one line, not read-to-EOF: init holds a copy of the pipe until it execs
    with os.fdopen(result_r) as results:
        answer = results.readline().strip()
    word, _, rest = answer.partition(" ")
    if word != "created":
        raise MinidockError(rest or "the monitor died before the container was created")
    return int(rest)


def _become_monitor(bundle: str, container_id: str, root: str, result_w: int, preserve_fds: int = 0) -> None:
    """In the forked monitor: detach, have a launcher start the container, tell the caller, serve."""
    import socket  # here, as in the functions below: a foreground `run` never needs it (start-up time)

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a fork server ignores it; we reap init
        gc.freeze()  # [RT-MON-004] the collector leaves inherited objects (and their pages) alone
        os.setsid()  # no controlling terminal; a Ctrl-C in the caller's shell is not ours
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # hold nothing of the caller's: its pipes see EOF when it ends
            os.dup2(devnull, fd)
        # [RT-RUN-009] nor any other descriptor it left open, for the container's whole life,
        # but those it asked to pass to the program (--preserve-fds), and those only until
        # init has its copies: a pipe among them must see its end when the program closes it
        os.closerange(3 + preserve_fds, result_w)
        os.closerange(max(result_w + 1, 3 + preserve_fds), resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        passed = [fd for fd in range(3, 3 + preserve_fds) if fd != result_w and _is_open(fd)]
        try:
            monitor, handed = _launch_apart(bundle, container_id, root, preserve_fds)
        except MinidockError as error:
            os.write(result_w, f"failed {error.message}\n".encode())
            return
        for fd in passed:
            os.close(fd)
        os.write(result_w, f"created {monitor.state.pid}\n".encode())
        os.close(result_w)
        control = socket.socket(fileno=handed["control"])
        monitor.serve(control, handed["stdout"], handed["stderr"], handed.get("stdin", -1))
        code = 0
    except BaseException:  # noqa: BLE001 - a monitor must never return into the caller's code
        code = 1
    finally:
        os._exit(code)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _launch_apart(bundle: str, container_id: str, root: str,
                  preserve_fds: int = 0) -> tuple[Monitor, dict[str, int]]:
    """[RT-MON-004] Start the container from a short-lived launcher child; adopt it.

    Starting a container runs much code (the config, the cgroup driver, the fork
    of init, hooks). A forked process that runs code makes private copies of the
    pages it touches, so a monitor that started its container itself would stay
    big for the container's whole life. The launcher does that work and hands
    over what the monitor watches (the control socket, the container's output
    pipes, the start pipe, a terminal's master) on a socket pair, then exits;
    init, its grandchild, is re-parented to us, a child subreaper.

    Returns the Monitor and the handed descriptors by name.
    """
    import socket

    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one message, one recv
    launcher = os.fork()
    if launcher == 0:
        ours.close()
        _launch(bundle, container_id, root, theirs, preserve_fds)  # never returns
    theirs.close()
    reserved = False
    try:
        while True:
            message, fds, _, _ = socket.recv_fds(ours, 65536, 8)
            if message != b"reserved":
                break
            reserved = True  # from here, a launcher that dies leaves a directory that is ours to remove
    finally:
        ours.close()
        os.waitpid(launcher, 0)
    answer = jsonfile.loads(message.decode()) if message else {}
    if "pid" not in answer:
        for fd in fds:
            os.close(fd)
        if not message and reserved:
            _abandon_after_launcher(root, container_id, bundle)
        raise MinidockError(answer.get("error") or "the launcher died before the container was created")
    handed = dict(zip(answer["fds"], fds))
    return Monitor.adopt(load_state(root, container_id), root, answer["monitor"], handed), handed


def _launch(bundle: str, container_id: str, root: str, channel: socket.socket, preserve_fds: int = 0) -> None:
    """In the launcher: check the bundle, reserve the id, start init, hand over, leave."""
    import socket

    code = 1
    monitor = reserved = None
    try:
        checked = oci_config.load(bundle)._replace(preserve_fds=preserve_fds)  # [RT-CFG-005] before anything exists
        reserved = _reserve(root, container_id, bundle, checked.cgroups_path)
        channel.send(b"reserved")
        monitor = Monitor(checked, reserved, root, open_driver(), monitor_pid=os.getppid())
        control = monitor.listen()  # kept: a socket object closes its descriptor when collected
        handed = {"control": control.fileno(), **_container_stdio(checked)}
        pid = monitor.launch(close_in_child=(channel.fileno(),))
        for name in ("stdout_w", "stderr_w", "stdin_r"):  # init has its copies now
            if name in handed:
                os.close(handed.pop(name))
        record, more = monitor.handover()
        handed.update(more)
        answer = {"pid": pid, "monitor": record, "fds": list(handed)}
        socket.send_fds(channel, [jsonfile.dumps(answer).encode()], list(handed.values()))
        code = 0
    except BaseException as error:  # noqa: BLE001 - the launcher answers, whatever happened
        if monitor is not None:
            _abandon(monitor, root, container_id)
        elif reserved is not None:  # the id is ours, nothing else exists yet
            remove_state(root, container_id)
        message = error.message if isinstance(error, MinidockError) else f"create failed: {error!r}"
        channel.send(jsonfile.dumps({"error": message}).encode())
    finally:
        os._exit(code)


def _container_stdio(checked) -> dict[str, int]:
    """Make the container's fds 0-2 (init inherits them from the launcher); return every end.

    stdin: /dev/null, or a pipe the monitor feeds (OPEN_STDIN without a terminal);
    stdout and stderr: pipes the monitor copies into the log. The *_w / stdin_r
    ends are the container's, closed here once init holds them.
    """
    ends = {}
    stdout_r, ends["stdout_w"] = os.pipe()
    stderr_r, ends["stderr_w"] = os.pipe()
    if checked.open_stdin and not checked.terminal:
        ends["stdin_r"], stdin_w = os.pipe()
        os.dup2(ends["stdin_r"], 0)
        ends["stdin"] = stdin_w
    os.dup2(ends["stdout_w"], 1)
    os.dup2(ends["stderr_w"], 2)
    return {"stdout": stdout_r, "stderr": stderr_r, **ends}


def _abandon_after_launcher(root: str, container_id: str, bundle: str) -> None:
    """A launcher died after reserving the id: kill and remove its cgroup (if made), remove the directory.

    Its state may never have been saved, so the group is named as _reserve names it.
    """
    try:
        name = oci_config.load(bundle).cgroups_path or cgroup_name(container_id)
    except MinidockError:  # the launcher read it; if it cannot be read now, ours is the best guess
        name = cgroup_name(container_id)
    group = open_driver().open(name)
    try:
        for pid in group.procs():
            os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass  # never made, or its processes are gone already
    group.remove()
    remove_state(root, container_id)
