"""Exec instances: another process in a running container (`docker exec`).

Implements: spec/engine.md ENGINE-EXEC-001 .. ENGINE-EXEC-004
Explained:  chapters/05-engine.md#exec
Modelled on: moby's daemon/exec.go (an exec config, created then started once)

    POST /containers/{id}/exec  -> create(container, body) -> Exec     nothing runs yet
    POST /exec/{id}/start       -> begin(exec), then run(exec) yields (stream, bytes): `minidock-runtime exec`
    GET  /exec/{id}/json        -> exec.inspect()                       Running, ExitCode, Pid

Rules: an exec starts once; its user is resolved against the container's own
/etc/passwd (as for the container), then handed to the runtime as numbers.
Exec instances live in memory: like dockerd's, they do not survive a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import sys
from typing import AsyncIterator

from minidock.engine import bundle
from minidock.engine.container import Container
from minidock.errors import Conflict, InvalidArgument, NotFound


@dataclasses.dataclass
class Exec:
    id: str
    container: Container
    cmd: list[str]
    env: list[str]
    user: str
    workdir: str
    tty: bool
    attach_stdout: bool
    attach_stderr: bool
    attach_stdin: bool = False
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    resize_w: int = -1        # while a TTY exec runs: where window sizes go

    def inspect(self) -> dict:
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code, "Pid": self.pid,
            "ContainerID": self.container.id, "CanRemove": False, "DetachKeys": "",
            "OpenStdin": self.attach_stdin, "OpenStdout": self.attach_stdout, "OpenStderr": self.attach_stderr,
            "ProcessConfig": {"tty": self.tty, "entrypoint": self.cmd[0], "arguments": self.cmd[1:],
                              "privileged": False, "user": self.user},
        }


class ExecService:
    """The exec instances of one daemon, over its runtime root."""

    def __init__(self, runtime_root: str, bundles: str) -> None:
        self.runtime_root = runtime_root
        self.bundles = bundles  # <exec-root>/containers: where each container's rootfs is mounted
        self.execs: dict[str, Exec] = {}

    def create(self, container: Container, body: dict) -> Exec:
        if not container.running:
            # Docker's words
            raise Conflict(f"Container {container.id} is not running")
        if container.state.status == "paused":
            raise Conflict(f"Container {container.id} is paused, unpause the container before exec")
        cmd = body.get("Cmd")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
            # [ENGINE-EXEC-001] Docker's words
            raise InvalidArgument("No exec command specified")
        env = body.get("Env") or []
        if not isinstance(env, list):
            raise InvalidArgument("json: cannot unmarshal Env: a list of strings is expected")
        exec_id = secrets.token_hex(32)
        self.execs[exec_id] = Exec(exec_id, container, cmd, env, body.get("User") or "",
                                   body.get("WorkingDir") or "", bool(body.get("Tty")),
                                   bool(body.get("AttachStdout", True)), bool(body.get("AttachStderr", True)),
                                   bool(body.get("AttachStdin")))
        return self.execs[exec_id]

    def get(self, exec_id: str) -> Exec:
        try:
            return self.execs[exec_id]
        except KeyError:
            # Docker's words
            raise NotFound(f"No such exec instance: {exec_id}") from None

    def _argv(self, instance: Exec) -> list[str]:
        argv = [sys.executable, "-m", "minidock.runtime.cli", "--root", self.runtime_root, "exec"]
        if instance.workdir:
            argv += ["--cwd", instance.workdir]
        for entry in instance.env:
            argv += ["--env", entry]
        if instance.user:
            # [ENGINE-EXEC-003] names resolved in the container's files, numbers to the runtime
            rootfs = os.path.join(self.bundles, instance.container.id, "rootfs")
            uid, gid, _ = bundle.resolve_user(rootfs, instance.user)
            argv += ["--user", f"{uid}:{gid}"]
        if instance.tty:
            argv.append("--tty")
        return [*argv, instance.container.id, "--", *instance.cmd]

    def begin(self, instance: Exec) -> None:
        """Claim ``instance`` for one run (before any answer is sent: a refusal is a plain 409)."""
        if instance.started:
            # [ENGINE-EXEC-002] an exec runs once
            raise Conflict(f"Error: Exec command {instance.id} has already run")
        if not instance.container.running:
            raise Conflict(f"Container {instance.container.id} is not running")
        instance.started = instance.running = True

    async def run(self, instance: Exec, source=None) -> AsyncIterator[tuple[str, bytes]]:
        """Run the begun ``instance``; yield what it prints, as ("stdout"|"stderr", bytes).

        ``source`` (an async iterator of the client's bytes) feeds its stdin when it asked
        for one. With a TTY the runtime gives the process a terminal of the container's
        own (as `runc exec -t`) and copies it to and from our pipes; window sizes go to
        the runtime on a pipe of their own.
        """
        feeding = instance.attach_stdin and source is not None
        resize_r = -1
        argv = self._argv(instance)
        if instance.tty:
            # [ENGINE-TTY-002] exec -t: "ROWS COLUMNS" lines on a pipe, read by the runtime
            resize_r, instance.resize_w = os.pipe()
            argv[argv.index("--tty") + 1:argv.index("--tty") + 1] = ["--resize-fd", str(resize_r)]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if feeding else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=(resize_r,) if resize_r >= 0 else ())
        except BaseException:
            instance.running = False
            self._close_resize(instance)
            raise
        finally:
            if resize_r >= 0:
                os.close(resize_r)
        instance.pid = process.pid
        queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        tasks = [asyncio.ensure_future(_pump("stdout", process.stdout, queue)),
                 asyncio.ensure_future(_pump("stderr", process.stderr, queue))]
        if feeding:
            tasks.append(asyncio.ensure_future(_feed(source, process.stdin)))
        try:
            open_streams = 2
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                    continue
                yield item
            instance.exit_code = await process.wait()
        finally:
            for task in tasks:
                task.cancel()
            self._close_resize(instance)
            if process.returncode is None:  # the client left: the exec goes on, unwatched
                asyncio.ensure_future(self._reap(instance, process))
            else:
                instance.running = False

    @staticmethod
    def _close_resize(instance: Exec) -> None:
        if instance.resize_w >= 0:
            os.close(instance.resize_w)
            instance.resize_w = -1

    def resize(self, instance: Exec, rows: int, columns: int) -> None:
        """POST /exec/{id}/resize: the window size of a TTY exec's terminal."""
        if instance.resize_w >= 0 and rows and columns:
            try:
                os.write(instance.resize_w, f"{rows} {columns}\n".encode())
            except OSError:
                pass  # the exec has ended

    async def _reap(self, instance: Exec, process) -> None:
        instance.exit_code = await process.wait()
        instance.running = False


async def _pump(name: str, reader: asyncio.StreamReader, queue: asyncio.Queue) -> None:
    while chunk := await reader.read(65536):
        await queue.put((name, chunk))
    await queue.put(None)


async def _feed(source, stdin) -> None:
    """The client's bytes to the process's stdin pipe, closed at the end (its EOF)."""
    try:
        async for chunk in source:
            stdin.write(chunk)
            await stdin.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        stdin.close()
