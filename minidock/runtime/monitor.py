"""The monitor: the parent of one container (the containerd-shim / conmon role).

Implements: spec/runtime.md RT-MON-001 .. RT-MON-004
Explained:  chapters/03-runtime.md#the-monitor
Modelled on: containerd-shim (one per container, owns stdio, reaps, reports the exit)

    monitor = Monitor(config, state, root, driver)
    pid = monitor.launch(stdio)     fork the container, wait until init is "ready"
    monitor.release()               let init exec the user's program (`start`)
    code = monitor.wait()           reap init, record the exit in state.json
    monitor.serve(stdout, stderr)   detached: answer `start` on monitor.sock, copy the
                                    container's output into container.log, reap, record

Rules: the monitor is a child subreaper, so it reaps init even after the
intermediate child exits. socket, selectors and datetime are imported inside the
functions of a detached monitor: a foreground `run` never calls them, and they
cost 4 ms of its start (minidock/runtime/__init__.py, Start-up). It records the exit code (128+N for signal N) and
whether the cgroup saw an OOM kill, then leaves: the container's cgroup and
state directory stay until `delete`.
"""

from __future__ import annotations

import os
import _signal as signal  # what signal wraps in enum classes: the same calls, without enum (__init__.py)
import time

from minidock import jsonfile
from minidock.cgroups import open_driver
from minidock.errors import Conflict, MinidockError, SystemError as MinidockSystemError
from minidock.kernel import syscalls as sc
from minidock.records import record
from minidock.runtime import hooks, init, terminal
from minidock.runtime.config import RunConfig
from minidock.runtime.security import seccomp
from minidock.runtime.state import Event, State, process_start_time, transition

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    import socket

CONTROL_SOCKET = "monitor.sock"


@record
class Watched:
    """The part of a container's config that a monitor which only watches it uses."""

    log_path: str | None
    hooks: hooks.Hooks

LOG_FILE = "container.log"


def exit_code(wait_status: int) -> int:
    """Turn a waitpid status into a shell-style exit code (128 + signal when killed)."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


class Monitor:
    """Creates, starts, reaps and records one container."""

    def __init__(self, config: RunConfig, state: State, root: str, driver, monitor_pid: int | None = None) -> None:
        self.config = config
        self.state = state
        self.root = root
        self.driver = driver
        self.group = None
        self.master = -1       # the pty master, when process.terminal is true
        self._start_w = -1
        self._stdin_w = -1     # the write end of a pipe stdin (OPEN_STDIN without a terminal)
        self._selector = None
        self.monitor_pid = monitor_pid or os.getpid()  # who reaps init: a launcher names its parent

    @property
    def directory(self) -> str:
        return os.path.join(self.root, self.state.id)

    def launch(self, close_in_child: tuple[int, ...] = (), start: tuple[int, int] | None = None) -> int:
        """Create the cgroup and the container; return init's pid once it is ready.

        ``close_in_child``: more of the caller's descriptors that the container must not hold.
        ``start``: the start pipe's (read, write) ends, if not a new pipe (shim.py: a FIFO).
        """
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        # [RT-RUN-006] limits are in place before the container's first instruction
        self.group = self.driver.create(self.state.cgroup, self.config.resources)
        report_r, report_w = os.pipe()
        start_r, self._start_w = start or os.pipe()
        os.set_inheritable(self._start_w, False)
        ours = theirs = None
        if self.config.terminal:
            import socket

            ours, theirs = socket.socketpair()
        go_r, go_w = os.pipe()
        monitor_fds = (report_r, self._start_w, go_w, *close_in_child) + ((ours.fileno(),) if ours else ())
        child = init.spawn(self.config, self.group, self.driver.hierarchy, report_w, start_r, theirs,
                           go_r, self.state.to_json(), monitor_fds)
        os.close(report_w)
        os.close(start_r)
        os.close(go_r)
        if theirs is not None:
            theirs.close()
        # while init makes its namespaces and root filesystem (init.py, Protocol)
        seccomp_filter, error = self._compile_filter()
        pid, hooks_asked, ready = 0, False, False
        with os.fdopen(report_r) as reports:
            for line in reports:  # ends when init closes its end ("ready") or dies
                word, _, rest = line.strip().partition(" ")
                if word == "userns":
                    self._map_user_namespace(child)
                    os.write(go_w, b"\x01")
                elif word == "pid":
                    pid = int(rest)
                elif word == "hooks":
                    hooks_asked = True
                elif word == "error":
                    error = rest or "an error without a message"
                elif word == "ready":
                    ready = True
                # init's "ready" may overtake the child's "pid" on a busy host: wait for both
                if ready and pid:
                    break
                # init's "hooks" may overtake the child's "pid": run them once both are in
                if hooks_asked and pid and error:
                    break  # no filter to give it: closing go_w tells init, waiting for our byte
                if hooks_asked and pid and not error:
                    hooks_asked = False
                    error = self._create_runtime_hooks(pid)
                    if error:
                        break
                    os.write(go_w, b"\x01")
        os.close(go_w)
        child_status = None
        if pid != child:  # without a PID namespace the child is init itself
            _, child_status = os.waitpid(child, 0)  # the intermediate child exits at once
        if ours is not None:
            if not error:
                self.master = terminal.receive_master(ours)
            ours.close()
        if error or not pid or not ready:
            if not error:  # say how it ended: the only clue to a silent death
                error = "init died before it was ready (" + _how_ended(child, child_status, pid) + ")"
            if pid:
                _reap(pid)
            raise MinidockSystemError(f"cannot start container: {error}")
        # init reads it now, ahead of the start byte: a write that does not fit in the pipe
        # waits for init, never the other way round
        os.write(self._start_w, len(seccomp_filter).to_bytes(4, "little") + seccomp_filter)
        self.state.pid = pid
        self.state.pid_start_time = process_start_time(pid)
        self.state.monitor_pid = self.monitor_pid
        self.state.status = transition(self.state.status, Event.CREATED)
        self.state.save(self.root)
        return pid

    def _compile_filter(self) -> tuple[bytes, str | None]:
        """The config's seccomp filter, packed (empty: none), or why it cannot be."""
        profile = self.config.security.seccomp
        try:
            return (seccomp.encode(seccomp.compile_profile(profile)) if profile else b""), None
        # more instructions than a BPF program may have; a machine without a syscall table:
        # said like init's own failures, and init, alive and waiting, is reaped by launch
        except (ValueError, NotImplementedError, MinidockError) as failure:
            return b"", f"linux.seccomp: {failure}"

    def take_start(self) -> int:
        """Our end of the start pipe, for a caller that keeps or closes it itself (shim.py)."""
        fd, self._start_w = self._start_w, -1
        return fd

    def handover(self) -> tuple[dict, dict[str, int]]:
        """What a launcher hands to the monitor (see adopt): a JSON-able record and descriptors."""
        record = {"log_path": self.config.log_path,
                  "poststart": [hook._asdict() for hook in self.config.hooks.of("poststart")]}
        return record, {"start": self._start_w, **({"master": self.master} if self.master >= 0 else {})}

    @classmethod
    def adopt(cls, state: State, root: str, record: dict, handed: dict[str, int]) -> Monitor:
        """A monitor for a container that a launcher child started, from its handover().

        It holds only what watching needs (where to log, the poststart hooks) and
        opens the cgroup driver when it records the exit: every object it makes
        costs a page of memory for the container's whole life (RT-MON-004).
        """
        poststart = tuple(hooks.Hook(**{**hook, "args": tuple(hook["args"]), "env": tuple(hook["env"])})
                          for hook in record["poststart"])
        watched = Watched(record["log_path"], hooks.Hooks((("poststart", poststart),)))
        monitor = cls(watched, state, root, driver=None)
        monitor._start_w = handed["start"]
        monitor.master = handed.get("master", -1)
        return monitor

    def _create_runtime_hooks(self, pid: int) -> str | None:
        """[RT-HOOK-001] createRuntime (and prestart): outside, namespaces made, before pivot_root."""
        self.state.pid = pid
        try:
            hooks.run(self.config.hooks, "createRuntime", self.state.to_json())
        except MinidockSystemError as failure:
            return failure.message
        return None

    def _map_user_namespace(self, child: int) -> None:
        """Write the child's uid_map and gid_map (user_namespaces(7)), from outside."""
        for name, mappings in (("uid_map", self.config.uid_mappings), ("gid_map", self.config.gid_mappings)):
            text = "".join(f"{inside} {outside} {size}\n" for inside, outside, size in mappings)
            with open(f"/proc/{child}/{name}", "w") as file:
                file.write(text)  # one write(2): the kernel takes the whole map at once

    def release(self) -> None:
        """`start`: write the start byte that init waits for."""
        # [RT-STATE-001] only a created container may start
        self.state.status = transition(self.state.status, Event.STARTED)
        os.write(self._start_w, b"\x01")
        os.close(self._start_w)
        self._start_w = -1
        self.state.save(self.root)
        # [RT-HOOK-003] poststart: a failure is only a warning
        hooks.run(self.config.hooks, "poststart", self.state.to_json(), warn_only=True)

    def wait(self, save: bool = True) -> int:
        """Reap init (and any orphans re-parented to us); record and return the exit code.

        ``save=False``: `run`, which deletes the state directory next, writes no "stopped"
        state.json that nobody would read (0.4 ms of its start-to-end time).
        """
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == self.state.pid:
                return self._record(exit_code(status), save)

    def _record(self, code: int, save: bool = True) -> int:
        if self.group is None and self.driver is None:  # an adopted container's group: see adopt()
            self.group = open_driver().open(self.state.cgroup)
        self.state.exit_code = code
        self.state.oom_killed = _oom_killed(self.group)
        self.state.status = transition(self.state.status, Event.EXITED)
        if save:
            self.state.save(self.root)
        return code

    def listen(self) -> socket.socket:
        """Bind the control socket (before launch, so `create` only succeeds with one)."""
        import socket

        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with short_path(self.directory, CONTROL_SOCKET) as path:
            control.bind(path)
        control.listen(4)
        return control

    def serve(self, control: socket.socket, stdout_r: int, stderr_r: int, stdin_w: int = -1) -> None:
        """Detached: answer requests on the control socket, log output, reap, record, leave."""
        import selectors

        self._stdin_w = stdin_w
        selector = selectors.DefaultSelector()
        self._selector = selector
        selector.register(control, selectors.EVENT_READ, "control")
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector.register(wake_r, selectors.EVENT_READ, "signal")
        streams = {stdout_r: "stdout", stderr_r: "stderr"}
        if self.master >= 0:  # with a terminal, everything the container prints comes through the pty
            streams[self.master] = "stdout"
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ, "output")
        log = open(self.config.log_path or os.path.join(self.directory, LOG_FILE), "a")
        exited = self._reap_nowait()  # init may have died before the handler was set
        try:
            while not exited or streams:
                for key, _ in selector.select(timeout=None if not exited else 1.0) or [(None, None)]:
                    if key is None:  # after the exit, stop waiting for stragglers holding the pipes
                        streams.clear()
                        break
                    if key.data == "control":
                        self._answer(control)
                    elif key.data == "stdin":
                        self._feed(key.fileobj)
                    elif key.data == "signal":
                        os.read(wake_r, 512)
                        exited = exited or self._reap_nowait()
                    else:
                        try:
                            data = os.read(key.fd, 65536)
                        except OSError:  # EIO from a pty master once the slave is closed
                            data = b""
                        if not data:
                            selector.unregister(key.fd)
                            streams.pop(key.fd)
                            continue
                        _write_log(log, streams[key.fd], data)
        finally:
            log.close()
            control.close()
            try:
                os.unlink(os.path.join(self.directory, CONTROL_SOCKET))
            except FileNotFoundError:
                pass

    def _answer(self, control: socket.socket) -> None:
        """One request per connection: `start`, `resize ROWS COLS`, or `stdin` (then the bytes)."""
        import selectors

        connection, _ = control.accept()
        request, _, rest = connection.recv(256).partition(b"\n")
        word, *values = request.decode(errors="replace").split()
        try:
            if word == "start":
                self.release()
            elif word == "resize" and len(values) == 2 and all(v.isdigit() for v in values):
                if self.master >= 0:  # [RT-MON-005] a terminal's window size
                    terminal.set_window_size(self.master, int(values[0]), int(values[1]))
            elif word == "stdin" and (self.master >= 0 or self._stdin_w >= 0):
                # [RT-MON-005] what the connection sends next is the container's input
                connection.sendall(b"ok\n")
                if rest:
                    self._write_input(rest)
                self._selector.register(connection, selectors.EVENT_READ, "stdin")
                return
            else:
                raise Conflict(f"unknown monitor request {request.decode(errors='replace')!r}")
            connection.sendall(b"ok\n")
        except Conflict as error:
            connection.sendall(f"error {error.message}\n".encode())
        connection.close()

    def _feed(self, connection: socket.socket) -> None:
        """Copy input from a `stdin` connection; its end closes a pipe stdin (`docker run -i`)."""
        try:
            data = connection.recv(65536)
        except OSError:
            data = b""
        if data:
            self._write_input(data)
            return
        self._selector.unregister(connection)
        connection.close()
        if self._stdin_w >= 0:  # the stdin's one writer is gone: the container reads EOF
            os.close(self._stdin_w)
            self._stdin_w = -1

    def _write_input(self, data: bytes) -> None:
        target = self.master if self.master >= 0 else self._stdin_w
        try:
            os.write(target, data)
        except OSError:
            pass  # the container closed its stdin, or exited

    def _reap_nowait(self) -> bool:
        """Reap whatever has exited; True once init is among them."""
        done = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return done
            if pid == 0:
                return done
            if pid == self.state.pid:
                self._record(exit_code(status))
                done = True


class short_path:  # noqa: N801 - used as a function: `with short_path(directory, name) as path:`
    """A path to ``directory``/``name`` that fits in a unix socket address.

    unix(7): sun_path holds 107 bytes, and a daemon's state directories nest deep
    (`<exec-root>/runtime/<64 hex>/monitor.sock`). /proc/self/fd/N/NAME, N an O_PATH
    descriptor of the directory, names the same place in a few bytes; it is closed
    at the end of the with block. (A class, not a contextlib.contextmanager: contextlib
    costs a start 2 ms, __init__.py, Start-up.)
    """

    def __init__(self, directory: str, name: str) -> None:
        self.fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
        self.path = f"/proc/self/fd/{self.fd}/{name}"

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *_exception) -> None:
        os.close(self.fd)


def _write_log(log, stream: str, data: bytes) -> None:
    """Append output to container.log in Docker's json-file format, one line per record."""
    import datetime

    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    for line in data.decode(errors="replace").splitlines(keepends=True):
        log.write(jsonfile.dumps({"log": line, "stream": stream, "time": stamp}) + "\n")
    log.flush()


def _oom_killed(group) -> bool:
    check = getattr(group, "oom_killed", None)
    try:
        return bool(check()) if check else False
    except OSError:
        return False


def _how_ended(child: int, child_status: int | None, pid: int) -> str:
    """Describe how the first child and init ended, for a launch that got no "ready"."""
    def describe(status: int) -> str:
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.WEXITSTATUS(status)}"

    parts = []
    if child_status is None and pid == 0:  # no "pid" line: the child itself is gone
        try:
            _, child_status = os.waitpid(child, 0)
        except ChildProcessError:
            pass
    if child_status is not None:
        parts.append(f"first child: {describe(child_status)}")
    if pid:
        reaped, status = 0, 0
        for _ in range(50):  # its pipe is closed: it is gone or going, give it half a second
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if reaped:
                break
            time.sleep(0.01)
        parts.append(f"init: {describe(status)}" if reaped else "init: still running")
    else:
        parts.append("no init pid reported")
    return "; ".join(parts)


def _reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def connect(root: str, container_id: str, request: str) -> socket.socket:
    """Send ``request`` to a detached container's monitor; return the connection after its "ok"."""
    import socket

    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with short_path(os.path.join(root, container_id), CONTROL_SOCKET) as path:
            client.connect(path)
        client.sendall(request.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = client.recv(1)
            if not chunk:
                break
            answer += chunk
    except OSError:
        client.close()
        raise Conflict(f"container {container_id} has no monitor: it is not running") from None
    if answer.decode().strip() != "ok":
        client.close()
        raise Conflict(answer.decode().strip().removeprefix("error ") or "the monitor hung up")
    return client


def request_start(root: str, container_id: str) -> None:
    """Ask a detached container's monitor to start it (what `minidock-runtime start` does)."""
    try:
        connect(root, container_id, "start").close()
    except Conflict as error:
        if "has no monitor" in error.message:
            raise Conflict(f"container {container_id} has no monitor: it is not in created state") from None
        raise


def request_resize(root: str, container_id: str, rows: int, columns: int) -> None:
    """Set the window size of a detached container's terminal."""
    connect(root, container_id, f"resize {rows} {columns}").close()
