"""The container side of the start sequence: from a forked child to the user's program.

Implements: spec/runtime.md RT-RUN-001 .. RT-RUN-003, RT-FS-*
Explained:  chapters/03-runtime.md#starting-a-container
Modelled on: runc's `runc init` (nsexec + standard_init_linux.go)

    spawn(config, group, hierarchy, report_fd, start_fd) -> pid of the process it forked

    usual:  monitor: unshare(pid) ─ fork ─ setns(its own pid ns back) ─ report "pid N"
            init (PID 1): join cgroup ─ unshare(other ns) ─ ...
    with a user namespace, or namespaces to join:
            child: join cgroup ─ setns(paths) ─ [unshare(user) ─ "userns" ─ wait for maps]
                   ─ unshare(other ns) ─ fork ─ report "pid N" ─ _exit(0)
            init (PID 1): ...
    init:   ["hooks" ─ wait] ─ rootfs.enter ─ sethostname ─ [pty: master to the monitor or
            the console socket, slave as stdio] ─ report "ready" ─ read the filter ─ wait
            for start ─ rlimits ─ chdir ─ security.apply (user, caps, seccomp) ─ execve

Why the monitor makes the PID namespace: unshare(CLONE_NEWPID) does not move the
caller into it, only its future children, so the monitor's next child is PID 1; the
monitor then returns to its own for its later children. Why not always: a user
namespace must own the PID namespace (or its root could not mount /proc), and it is
made in a first child, which must then fork init in turn. The monitor is a child
subreaper (prctl PR_SET_CHILD_SUBREAPER), so when that child exits, init is
re-parented to the monitor, which reaps it.

Protocol on report_fd (one short line per write, atomic on a pipe):
    "userns"    the child is in a new user namespace: write its maps, then a byte
    "hooks"     init's namespaces exist: run createRuntime hooks, then a byte
    "pid N"     init exists; N is its pid on the host (from whoever forked it)
    "ready"     init has its root filesystem and waits for the start byte
    "error MSG" set-up failed; init exits 127
On start_fd the monitor writes init's seccomp filter once init is "ready" (a
4-byte length, little-endian, then the packed program; length 0: no filter), and
the start byte when the container starts. Init reads both and blocks until the
byte comes; EOF (the monitor died) makes it exit without running anything.
Why the monitor compiles the filter: it does so while init makes its namespaces
and root filesystem, on the other core, instead of before or after them.
"""

from __future__ import annotations

import os
import resource
import sys
import warnings  # noqa: F401 - for os.execvpe, after pivot_root: see _start

from minidock.cgroups import Hierarchy
from minidock.kernel import syscalls as sc
from minidock.namespaces import Kind, Namespace, flags_for
from minidock.runtime import hooks, rootfs, security, terminal
from minidock.runtime.config import RunConfig

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    import socket

EXIT_START_FAILED = 127


def _report(fd: int, line: str) -> None:
    os.write(fd, (line.replace("\n", " ")[:1000] + "\n").encode())


def spawn(config: RunConfig, group, hierarchy: Hierarchy, report_fd: int, start_fd: int,
          console: socket.socket | None = None, go_fd: int = -1,
          hook_state: dict | None = None, monitor_fds: tuple[int, ...] = ()) -> int:
    """Fork the container; return the pid forked: init, or the first child that forks it.

    Either way init's host pid also arrives on report_fd ("pid N").

    With ``console`` (process.terminal), init opens a pty inside the container
    and sends its master over that socket before it reports "ready".
    Two handshakes wait on ``go_fd`` for the monitor's byte: after "userns"
    (the monitor writes the uid_map and gid_map) and, when there are
    createRuntime hooks, after "hooks" (the monitor runs them, before pivot_root).
    ``monitor_fds`` are the monitor's ends of those pipes: the child closes its
    copies, or init would hold the start pipe's write end itself and never see
    EOF if the monitor died.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    # the usual container (a new PID namespace, no user namespace, nothing to join): one
    # fork, straight into its PID namespace; otherwise a first child makes the namespaces
    direct = Namespace.PID in config.namespaces and Namespace.USER not in config.namespaces \
        and not config.joined_namespaces
    pid = _fork_as_pid_1() if direct else os.fork()
    if pid != 0:
        if direct:
            _report(report_fd, f"pid {pid}")  # init cannot say: it sees itself as PID 1
        return pid
    try:
        for fd in monitor_fds:
            os.close(fd)
        group.add_self()
        # [NS-002] join the cgroup first: unshare(CLONE_NEWCGROUP) makes the
        # current group the root of the container's view
        if direct:
            sc.unshare(flags_for(config.namespaces - {Namespace.PID}))  # PID: made by our parent
        else:
            _make_namespaces(config, report_fd, go_fd)  # returns in init
        _init(config, hierarchy, report_fd, start_fd, console, hook_state or {}, go_fd)
    except BaseException as error:  # noqa: BLE001 - report anything, then leave
        try:
            _report(report_fd, f"error {error or repr(error)}")  # some errors have no text
        finally:
            os._exit(EXIT_START_FAILED)
    os._exit(EXIT_START_FAILED)  # not reached: _init execs or raises


def _make_namespaces(config: RunConfig, report_fd: int, go_fd: int) -> None:
    """In the first child: join, make the user namespace, then the others; fork init if need be.

    A user namespace comes first so that it owns the others (its root may then mount
    /proc); as it is made here, so is the PID namespace, and only a child of ours can
    be its PID 1: we fork init, report its pid and leave. Returns in init.
    """
    join(config.joined_namespaces)
    if Namespace.USER in config.namespaces:
        _enter_user_namespace(report_fd, go_fd)
    sc.unshare(flags_for(config.namespaces - {Namespace.USER}))
    pid_namespace = Namespace.PID in config.namespaces or \
        any(kind is Namespace.PID for kind, _ in config.joined_namespaces)
    if pid_namespace:
        init_pid = os.fork()
        if init_pid != 0:
            _report(report_fd, f"pid {init_pid}")
            os._exit(0)
    else:
        _report(report_fd, f"pid {os.getpid()}")


def _fork_as_pid_1() -> int:
    """fork(2) a child that is PID 1 of a new PID namespace, while we stay in ours.

    unshare(CLONE_NEWPID) moves none of the caller, only its children to come; setns(2)
    back to our own PID namespace right after, so that our later children (hooks) are
    born beside us again.
    """
    ours = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.unshare(sc.CLONE_NEWPID)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # the parent, or a fork that failed
                sc.setns(ours, sc.CLONE_NEWPID)
    finally:
        os.close(ours)
    return pid


def _wait_for_go(report_fd: int, go_fd: int, word: str) -> None:
    """Report ``word`` and block until the monitor writes its go-ahead byte."""
    _report(report_fd, word)
    if os.read(go_fd, 1) != b"\x01":
        raise OSError(f"the monitor did not answer {word!r}")


def _enter_user_namespace(report_fd: int, go_fd: int) -> None:
    """unshare(CLONE_NEWUSER) alone, have the monitor map us, become the mapped root.

    user_namespaces(7): the maps can only be written from the parent namespace,
    so the child asks and waits. The other namespaces are made afterwards, so
    this user namespace owns them (and root in it may mount proc, sysfs, ...).
    """
    sc.unshare(Namespace.USER.flag)
    _wait_for_go(report_fd, go_fd, "userns")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


# user first: joining it gives the capabilities the other joins need in it
_JOIN_FIRST = (Namespace.USER,)


def join(namespaces: tuple[tuple[Kind, str], ...]) -> None:
    """setns(2) into each (kind, path), user namespace first (NS-JOIN-001)."""
    ordered = sorted(namespaces, key=lambda item: item[0] not in _JOIN_FIRST)
    for kind, path in ordered:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, kind.flag)
        finally:
            os.close(fd)


def _init(config: RunConfig, hierarchy: Hierarchy, report_fd: int, start_fd: int,
          console: socket.socket | None, hook_state: dict, go_fd: int) -> None:
    """Become the container's process up to "ready": root filesystem, hostname, pty; then _start."""
    if config.hooks.of("createRuntime") or config.hooks.of("prestart"):
        # [RT-HOOK-001] the namespaces exist, pivot_root has not happened: the
        # monitor runs createRuntime hooks now, as the runtime spec orders
        _wait_for_go(report_fd, go_fd, "hooks")
    os.close(go_fd)
    if Namespace.MOUNT in config.namespaces:
        rootfs.enter(config.rootfs, hierarchy,
                     None if config.mounts is None else list(config.mounts), config.readonly_root,
                     user_namespace=Namespace.USER in config.namespaces, propagation=config.rootfs_propagation,
                     devices=config.devices)
    else:
        os.chroot(config.rootfs)
    if Namespace.UTS in config.namespaces and config.hostname:
        sc.sethostname(config.hostname)
    # [RT-HOOK-002] createContainer hooks run here, inside, before we say "ready"
    hooks.run(config.hooks, "createContainer", hook_state)
    if console is not None:
        # [RT-TTY-001] the pty comes from the container's own devpts
        master, slave = terminal.open_pty()
        terminal.send_master(console, master)
        os.close(master)
        console.close()
        # [RT-SHIM-003] the terminal becomes our stdio now, before "ready", as in runc: a
        # shim (containerd's) reads `create`'s output until end-of-file, which never comes
        # while we hold the pipe it gave `create` as our stdout
        terminal.make_controlling(slave)
    _report(report_fd, "ready")
    os.close(report_fd)
    try:
        _start(config, start_fd, hook_state)
    except BaseException as error:  # noqa: BLE001 - say why, then leave
        # the report pipe is closed now (the monitor waits only for our exit): the reason
        # goes to the container's stderr, where a failed exec's goes
        print(f"minidock-runtime: {error or repr(error)}", file=sys.stderr, flush=True)
        os._exit(EXIT_START_FAILED)


def _read_filter(start_fd: int) -> bytes:
    """The seccomp filter the monitor wrote on the start pipe: a length, then the program."""
    header = _read_exactly(start_fd, 4)
    return _read_exactly(start_fd, int.from_bytes(header, "little"))


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes from a pipe (a write of over 4 KiB may arrive in parts); EOF: exit."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            os._exit(EXIT_START_FAILED)  # the monitor is gone: never start
        data += chunk
    return data


def close_inherited(keep: int = 0) -> None:
    """[RT-RUN-009] Close every descriptor from 3 + ``keep`` up, as runc does before the program.

    Whatever our caller left open (a shell's redirection, a daemon's pipe or socket, a
    directory) would otherwise reach the container's program, and a descriptor of a host
    directory is a way out of its root (runc's CVE-2024-21626). One close_range(2).
    """
    # lab 03: begin: close every descriptor from 3 + keep up to the highest this process may open (one close_range)
    os.closerange(3 + keep, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    # lab 03: end


def _start(config: RunConfig, start_fd: int, hook_state: dict) -> None:
    """After "ready": wait for `start`, then limits, user, capabilities, seccomp, exec."""
    seccomp_filter = _read_filter(start_fd)
    # [RT-STATE-002] nothing of the user's runs before `start`
    if os.read(start_fd, 1) != b"\x01":
        os._exit(EXIT_START_FAILED)  # the monitor is gone: never start
    os.close(start_fd)
    close_inherited(config.preserve_fds)
    # [RT-HOOK-002] startContainer hooks: inside, after start, before the program
    hooks.run(config.hooks, "startContainer", {**hook_state, "status": "running"})
    for limit, soft, hard in config.rlimits:
        try:
            resource.setrlimit(limit, (soft, hard))
        except (ValueError, OSError) as error:  # Python reports setrlimit's EPERM as ValueError
            # [RT-CFG-006] name the limit, as runc does ("error setting rlimit type 7")
            name = next(n for n in dir(resource) if n.startswith("RLIMIT_") and getattr(resource, n) == limit)
            raise OSError(f"setting {name} to soft {soft}, hard {hard} failed: {error} (raising a hard "
                          "limit needs CAP_SYS_RESOURCE, and RLIMIT_NOFILE may not pass fs.nr_open)") from None
    try:
        os.chdir(config.cwd)
    except OSError as error:
        # [RT-RUN-008] in runc's words; Docker's daemon makes a missing WORKDIR, a runtime does not
        raise OSError(f"chdir to cwd {config.cwd!r} set in config.json failed: {error.strerror}") from None
    # [RT-SEC-*] user, capabilities, no_new_privs, masked paths, and the seccomp
    # filter last of all: after it, the calls it refuses are gone for good
    security.apply(config.security, uid=config.uid, gid=config.gid,
                   additional_gids=config.additional_gids, compiled=seccomp_filter)
    try:
        # execvpe searches PATH with os.get_exec_path(), which imports warnings on its first
        # call; here, after pivot_root, the host's standard library is out of reach, so
        # this module imported warnings before the fork
        os.execvpe(config.args[0], list(config.args), config.env)
    except OSError as error:
        # [RT-RUN-003] a program that cannot be found fails with 127, like a shell
        print(f"minidock-runtime: exec {config.args[0]!r}: {error.strerror}", file=sys.stderr, flush=True)
        os._exit(EXIT_START_FAILED)
