"""`exec`: run another process inside a running container, by joining its namespaces.

Implements: spec/runtime.md RT-EXEC-001 .. RT-EXEC-004, RT-SHIM-004, NS-JOIN-001
Explained:  chapters/03-runtime.md#exec
Modelled on: `runc exec` (setns into /proc/PID/ns/*, then fork)

    exec_in(root, id, args, env, cwd) -> exit code
    exec_in(root, id, [], process=FILE, detach=True, pid_file=F)   a shim's exec: runc's flags

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
from minidock.records import record
from minidock.runtime.init import close_inherited
from minidock.runtime.monitor import exit_code
from minidock.runtime.state import Status

# the order of joining: user first (it owns the others), mount last
_JOIN_ORDER = (Namespace.USER, Namespace.IPC, Namespace.UTS, Namespace.NETWORK,
               Namespace.PID, Namespace.CGROUP, Namespace.TIME, Namespace.MOUNT)


def exec_in(root: str, container_id: str, args: list[str], env: list[str] | None = None,
            cwd: str | None = None, user: str | None = None, tty: bool = False,
            resize_fd: int = -1, process: str | None = None, detach: bool = False,
            pid_file: str | None = None, console_socket: str | None = None, preserve_fds: int = 0,
            additional_gids: list[int] | None = None, caps: list[str] = (), no_new_privs: bool = False) -> int:
    """Run ``args`` in the container's namespaces and cgroup; return its exit code.

    ``user`` is runc's `--user UID[:GID]`; by default the container's own user.
    ``tty``: as `runc exec -t`, the process gets a terminal from the container's own
    devpts; we copy our stdin to it and its output to our stdout. ``resize_fd``, if
    given, carries "ROWS COLUMNS" lines for the terminal's window size.
    ``process``: an OCI process object in a file, as a shim gives it (args, env, cwd,
    user, terminal, capabilities, rlimits), in place of the config's process and ``args``.
    ``detach``: return 0 once the process runs, leaving it to our caller, a shim that
    waits for the pid written to ``pid_file`` (with a terminal: its master goes to
    ``console_socket``), as runc does (RT-SHIM-004). ``preserve_fds``: our descriptors
    3 .. 3 + N - 1 reach the program too (runc's --preserve-fds); every other one above 2 is
    closed before it starts (RT-RUN-009). runc's other process flags: ``additional_gids``
    replace the process's, ``caps`` are added to its bounding, effective and permitted sets,
    ``no_new_privs`` sets no_new_privs (RT-EXEC-005).
    """
    current = states.load(root, container_id)
    # [RT-EXEC-002] exec needs a running container
    if states.live_status(current) != Status.RUNNING:
        raise Conflict(f"cannot exec in a container that is not running: {container_id}")
    if process is not None:
        checked = _process_file(current.bundle, process)
        args, tty = list(checked.args), tty or checked.terminal
    else:
        checked = oci_config.load(current.bundle)
    if user is not None:
        checked = _as_user(checked, user)
    checked = _with_flags(checked, additional_gids, caps, no_new_privs)
    if detach and tty and console_socket is None:  # runc's words
        raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
    environment = dict(checked.env)
    for entry in env or []:
        key, _, value = entry.partition("=")
        environment[key] = value
    console = terminal.connect_console(console_socket) if detach and tty else None
    fds = [(kind, os.open(f"/proc/{current.pid}/ns/{kind.proc}", os.O_RDONLY))
           for kind in _JOIN_ORDER if kind in checked.namespaces or kind in dict(checked.joined_namespaces)]
    pid_r, pid_w = os.pipe()  # the program's host pid, from the child that forks it
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(pid_r)
            open_driver().open(current.cgroup).add_self()
            for kind, fd in fds:
                sc.setns(fd, kind.flag)
                os.close(fd)
            program = _Program(checked, args, environment, cwd or checked.cwd, preserve_fds)
            if detach:
                _run_detached(program, pid_w, console, tty)
            if tty:
                # [RT-EXEC-004] after the mount namespace: /dev/ptmx is the container's
                _run_on_terminal(program, resize_fd, pid_w)
            _run(program, pid_w)
        except BaseException as error:  # noqa: BLE001
            print(f"minidock-runtime: exec failed: {error}", file=sys.stderr, flush=True)
        os._exit(127)
    os.close(pid_w)
    for _, fd in fds:
        os.close(fd)
    if console is not None:
        console.close()
    with os.fdopen(pid_r) as reported:
        program = reported.readline().strip()
    if program and pid_file is not None:
        from minidock.runtime.shim import write_pid_file

        write_pid_file(pid_file, int(program))
    _, status = os.waitpid(pid, 0)
    if detach:
        if not program:  # the child failed before it forked the program, and said why
            return exit_code(status) or 1
        return 0
    return exit_code(status)


def _process_file(bundle: str, path: str):
    """The bundle's config with its process replaced by the OCI process object in ``path``."""
    from minidock import jsonfile

    try:
        with open(path) as file:
            process = jsonfile.load(file)
        with open(os.path.join(bundle, "config.json")) as file:
            config = jsonfile.load(file)
    except OSError as error:
        raise InvalidArgument(f"--process {path}: {error.strerror}") from None
    except ValueError as error:
        raise InvalidArgument(f"--process {path}: invalid JSON: {error}") from None
    if not isinstance(process, dict) or not isinstance(config, dict):
        raise InvalidArgument(f"--process {path}: an OCI process must be a JSON object")
    try:
        return oci_config.parse({**config, "process": process}, bundle)
    except InvalidArgument as error:  # its messages name config.json: say which file it was
        raise InvalidArgument(f"--process {path}: " + error.message.removeprefix("config.json: ")) from None


def _with_flags(checked, additional_gids: list[int] | None, caps: list[str], no_new_privs: bool):
    """[RT-EXEC-005] The config's process changed by runc exec's -g, --cap and --no-new-privs."""
    from minidock.runtime.security import capabilities

    if additional_gids is not None:
        checked = checked._replace(additional_gids=tuple(additional_gids))
    security = checked.security
    if caps:
        added = frozenset(capabilities.checked_names(caps, "--cap"))
        sets = security.capabilities or capabilities.Capabilities()
        security = security._replace(capabilities=sets._replace(
            bounding=sets.bounding | added, effective=sets.effective | added, permitted=sets.permitted | added))
    if no_new_privs:
        security = security._replace(no_new_privileges=True)
    return checked._replace(security=security)


def _as_user(checked, user: str):
    """The config with process.user replaced by "UID[:GID]" (numbers only, as runc's --user)."""
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise InvalidArgument(f"invalid --user {user!r}: expected UID[:GID] in numbers")
    return checked._replace(uid=int(uid), gid=int(gid or 0), additional_gids=())


def _run_on_terminal(program: _Program, resize_fd: int, pid_w: int) -> None:
    """Fork the program onto a new terminal; copy between it and our stdio until it exits."""
    master, slave = terminal.open_pty()
    terminal.set_window_size(master, 24, 80)  # until the caller says otherwise
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.close(pid_w)
        terminal.make_controlling(slave)  # a session of its own: ^C reaches its foreground
        _exec(program)
    _say_pid(pid_w, pid)
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


def _run(program: _Program, pid_w: int) -> None:
    """After the joins: fork once more so the program is inside the PID namespace."""
    pid = os.fork()
    if pid != 0:
        _say_pid(pid_w, pid)
        _, status = os.waitpid(pid, 0)
        os._exit(exit_code(status))
    os.close(pid_w)
    _exec(program)


def _run_detached(program: _Program, pid_w: int, console, tty: bool) -> None:
    """[RT-SHIM-004] Fork the program, say its pid and leave: it is re-parented to our caller's shim."""
    slave = -1
    if tty:  # after the mount namespace: /dev/ptmx is the container's
        master, slave = terminal.open_pty()
        terminal.send_console(console, master)
        os.close(master)
        console.close()
    pid = os.fork()
    if pid == 0:
        os.close(pid_w)
        if slave >= 0:
            terminal.make_controlling(slave)
        _exec(program)
    _say_pid(pid_w, pid)
    os._exit(0)


def _say_pid(pid_w: int, pid: int) -> None:
    """Tell the runtime the program's pid (host's: we stand in the host's PID namespace)."""
    os.write(pid_w, f"{pid}\n".encode())
    os.close(pid_w)


@record
class _Program:
    """What an exec'd process is: the checked config, its command line, environment and cwd."""

    checked: object          # RunConfig: user, groups, security
    args: list[str]
    environment: dict[str, str]
    cwd: str
    preserve_fds: int = 0


def _exec(program: _Program) -> None:
    """In the container: descriptors, working directory, security, then the program (or 127)."""
    checked, args = program.checked, program.args
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores it; programs expect the default
    close_inherited(program.preserve_fds)  # [RT-RUN-009]
    os.chdir(program.cwd)
    # the init already masked /proc and /sys in this mount namespace
    security.apply(checked.security, uid=checked.uid, gid=checked.gid,
                   additional_gids=checked.additional_gids, protect_paths=False)
    try:
        os.execvpe(args[0], args, program.environment)
    except OSError as error:
        # [RT-EXEC-003] like run: a missing program is 127
        print(f"minidock-runtime: exec {args[0]!r}: {error.strerror}", file=sys.stderr, flush=True)
        os._exit(127)
