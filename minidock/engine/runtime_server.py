"""The daemon's side of the runtime's fork server (minidock/runtime/forkserver.py).

Implements: spec/engine.md ENGINE-CTR-017
Explained:  chapters/05-engine.md#starting-a-container
Modelled on: containerd, which keeps a long-lived process between dockerd and runc

    creator = RuntimeCreator(runtime_root)
    pid = await creator.create(bundle, container_id)     `minidock-runtime create`, minus its start-up
    await creator.close()                                 the server ends with its stdin

Rules: one request at a time (a lock); a server that died is started again on
the next request, and its death fails only the request it was answering.
"""

from __future__ import annotations

import asyncio
import json
import sys

from minidock.errors import MinidockError


class RuntimeCreator:
    """Creates containers through one long-lived fork server."""

    def __init__(self, runtime_root: str) -> None:
        self.runtime_root = runtime_root
        self.process: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()

    async def _server(self) -> asyncio.subprocess.Process:
        if self.process is None or self.process.returncode is not None:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "minidock.runtime.forkserver", "--root", self.runtime_root,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return self.process

    async def create(self, bundle: str, container_id: str) -> int:
        """Create the container (its init waits for start); return init's pid."""
        async with self.lock:
            server = await self._server()
            try:
                server.stdin.write(json.dumps({"bundle": bundle, "id": container_id}).encode() + b"\n")
                await server.stdin.drain()
                line = await server.stdout.readline()
            except (BrokenPipeError, ConnectionResetError):
                line = b""
            if not line:
                self.process = None
                raise MinidockError("failed to create the container's task: the runtime's fork server died")
            answer = json.loads(line)
        if "error" in answer:
            raise MinidockError(f"failed to create the container's task: {answer['error']}")
        return int(answer["pid"])

    async def close(self) -> None:
        """End the server: close its stdin, wait for it a moment, else kill it."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()
