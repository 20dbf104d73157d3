"""`exec`: run another process inside a running container, by joining its namespaces.

Implements: spec/runtime.md RT-EXEC-001 .. RT-EXEC-003, NS-JOIN-001
Explained:  chapters/03-runtime.md#exec
Modelled on: `runc exec` (setns into /proc/PID/ns/*, then fork)

    exec_in(root, id, args, env, cwd) -> exit code

    open /proc/INIT/ns/* ─ join the cgroup ─ setns each (mount last) ─ fork ─ exec

Why fork after setns: like unshare, setns(CLONE_NEWPID) changes only the PID
namespace of the caller's future children. Why mount last: after joining the
mount namespace, /proc/INIT is resolved in the container's /proc; the files
are opened before any setns.
"""

from __future__ import annotations

import os
import select
import signal
import sys

from minidock.cgroups import open_driver
from minidock.errors import Conflict, InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.namespaces import Namespace
from minidock.runtime import config as oci_config, security, state as states, terminal
from minidock.runtime.monitor import exit_code
from minidock.runtime.state import Status

# the order of joining: user first (it owns the others), mount last
_JOIN_ORDER = (Namespace.USER, Namespace.IPC, Namespace.UTS, Namespace.NETWORK,
               Namespace.PID, Namespace.CGROUP, Namespace.TIME, Namespace.MOUNT)


def exec_in(root: str, container_id: str, args: list[str], env: list[str] | None = None,
            cwd: str | None = None, user: str | None = None, tty: bool = False,
            resize_fd: int = -1) -> int:
    """Run ``args`` in the container's namespaces and cgroup; return its exit code.

    ``user`` is runc's `--user UID[:GID]`; by default the container's own user.
    ``tty``: as `runc exec -t`, the process gets a terminal from the container's own
    devpts; we copy our stdin to it and its output to our stdout. ``resize_fd``, if
    given, carries "ROWS COLUMNS" lines for the terminal's window size.
    """
    current = states.load(root, container_id)
    # [RT-EXEC-002] exec needs a running container
    if states.live_status(current) != Status.RUNNING:
        raise Conflict(f"cannot exec in a container that is not running: {container_id}")
    checked = oci_config.load(current.bundle)
    if user is not None:
        checked = _as_user(checked, user)
    environment = dict(checked.env)
    for entry in env or []:
        key, _, value = entry.partition("=")
        environment[key] = value
    fds = [(kind, os.open(f"/proc/{current.pid}/ns/{kind.proc}", os.O_RDONLY))
           for kind in _JOIN_ORDER if kind in checked.namespaces or kind in dict(checked.joined_namespaces)]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            open_driver().open(current.cgroup).add_self()
            for kind, fd in fds:
                sc.setns(fd, kind.flag)
                os.close(fd)
            if tty:
                # [RT-EXEC-004] after the mount namespace: /dev/ptmx is the container's
                _run_on_terminal(checked, args, environment, cwd or checked.cwd, resize_fd)
            _run(checked, args, environment, cwd or checked.cwd)
        except BaseException as error:  # noqa: BLE001
            print(f"minidock-runtime: exec failed: {error}", file=sys.stderr, flush=True)
        os._exit(127)
    for _, fd in fds:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return exit_code(status)


def _as_user(checked, user: str):
    """The config with process.user replaced by "UID[:GID]" (numbers only, as runc's --user)."""
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise InvalidArgument(f"invalid --user {user!r}: expected UID[:GID] in numbers")
    return checked._replace(uid=int(uid), gid=int(gid or 0), additional_gids=())


def _run_on_terminal(checked, args: list[str], environment: dict[str, str], cwd: str,
                     resize_fd: int) -> None:
    """Fork the program onto a new terminal; copy between it and our stdio until it exits."""
    master, slave = terminal.open_pty()
    terminal.set_window_size(master, 24, 80)  # until the caller says otherwise
    pid = os.fork()
    if pid == 0:
        os.close(master)
        terminal.make_controlling(slave)  # a session of its own: ^C reaches its foreground
        _exec(checked, args, environment, cwd)
    os.close(slave)
    _copy_terminal(master, resize_fd)
    _, status = os.waitpid(pid, 0)
    os._exit(exit_code(status))


def _copy_terminal(master: int, resize_fd: int) -> None:
    """stdin -> master, master -> stdout, resize lines -> TIOCSWINSZ; until the terminal closes."""
    sources = [0, master] + ([resize_fd] if resize_fd >= 0 else [])
    pending = b""
    while True:
        ready, _, _ = select.select(sources, [], [])
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the program and all its children have closed the terminal
                return
            if not data:
                return
            os.write(1, data)
        if 0 in ready:
            data = os.read(0, 65536)
            if data:
                os.write(master, data)
            else:
                sources.remove(0)  # the caller's input ended; the program goes on
        if resize_fd in ready:
            data = os.read(resize_fd, 256)
            if not data:
                sources.remove(resize_fd)
                continue
            pending += data
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                rows, _, columns = line.decode().partition(" ")
                if rows.isdigit() and columns.isdigit():
                    terminal.set_window_size(master, int(rows), int(columns))


def _run(checked, args: list[str], environment: dict[str, str], cwd: str) -> None:
    """After the joins: fork once more so the program is inside the PID namespace."""
    pid = os.fork()
    if pid != 0:
        _, status = os.waitpid(pid, 0)
        os._exit(exit_code(status))
    _exec(checked, args, environment, cwd)


def _exec(checked, args: list[str], environment: dict[str, str], cwd: str) -> None:
    """In the container: working directory, security, then the program (or 127)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores it; programs expect the default
    os.chdir(cwd)
    # the init already masked /proc and /sys in this mount namespace
    security.apply(checked.security, uid=checked.uid, gid=checked.gid,
                   additional_gids=checked.additional_gids, protect_paths=False)
    try:
        os.execvpe(args[0], args, environment)
    except OSError as error:
        # [RT-EXEC-003] like run: a missing program is 127
        print(f"minidock-runtime: exec {args[0]!r}: {error.strerror}", file=sys.stderr, flush=True)
        os._exit(127)
