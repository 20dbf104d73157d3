"""Service logs: every task's container log, fetched from the node that runs it, one stream.

Implements: spec/swarm.md SWARM-030, SWARM-050
Explained:  chapters/11-swarm.md#service-logs
Modelled on: swarmkit's log broker (managers ask the agents; the agents read their engine)

    frames(raw) -> [(stream, bytes)]                   stdcopy frames read back (pure)
    split(raw) -> ([(stream, bytes)], rest)            the complete frames, and the bytes of the next (pure)
    read_frames(body) -> iterator of (stream, bytes)   frames read from a file as they come (the CLI's -f)
    with_details(raw, details) -> bytes                each line prefixed "k=v,k=v " and framed again (pure)
    service_logs(snapshot, service, query) -> bytes    ask each task's node (GET ADDR:2377/logs/CONTAINER)
    follow(request, store, service) -> StreamResponse  the same, as the lines are written (?follow=1):
        a reader per task container (GET ADDR:2377/logs/CONTAINER?follow=1), one writer;
        tasks that start later are read too; ends when the client goes or the service does
    pipe(source, write, gone)                          copy a response body as it comes, until either side ends

Rules: the manager never reads another node's engine directly (its socket is that node's
alone); the node's swarm process answers for its engine on its own address, port 2377.
A line carries dockerd's details (com.docker.swarm.node.id, .service.id, .task.id), which
is how the docker CLI prints `web.1.TASKID@NODE | line`.
"""

from __future__ import annotations

import asyncio
import struct
import urllib.parse
from collections.abc import Iterator

import aiohttp
from aiohttp import web

from minidock.swarm.manager import read_snapshot
from minidock.swarm.model import TaskState
from minidock.swarm.store import Store

RAW_STREAM = "application/vnd.docker.raw-stream"
CHECK_EVERY = 0.5  # seconds between two looks at the client's connection and at the store while nothing comes


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame (the engine's own framing, chapter 5: minidock.engine.logs.frame, whose
    module sits on the engine's internals, out of the swarm's reach)."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def split(raw: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete (stream, data) frames at the start of ``raw`` (8-byte header: stream, 3 zeros,
    length), and what is left: the start of a frame whose end has not come yet."""
    found, offset = [], 0
    while offset + 8 <= len(raw):
        stream, size = struct.unpack(">BxxxI", raw[offset:offset + 8])
        if offset + 8 + size > len(raw):
            break
        found.append((stream, raw[offset + 8:offset + 8 + size]))
        offset += 8 + size
    return found, raw[offset:]


def frames(raw: bytes) -> list[tuple[int, bytes]]:
    """The (stream, data) frames of a whole multiplexed log body."""
    return split(raw)[0]


def read_frames(body) -> Iterator[tuple[int, bytes]]:
    """The (stream, data) frames of a body read from a file-like ``body`` as they arrive (the CLI's -f)."""
    while len(header := body.read(8)) == 8:
        stream, size = struct.unpack(">BxxxI", header)
        yield stream, body.read(size)


def with_details(raw: bytes, details: str) -> bytes:
    """Every line of ``raw`` as its own frame, prefixed with ``details`` and a space when given."""
    out = []
    for stream, data in frames(raw):
        for line in data.splitlines(keepends=True):
            out.append(frame(stream, (details.encode() + b" " if details else b"") + line))
    return b"".join(out)


def _asked(query) -> dict[str, str]:
    """What the engine is asked for: the client's streams, timestamps, tail and since."""
    asked = {key: query[key] for key in ("stdout", "stderr", "timestamps", "tail", "since")
             if query.get(key) not in (None, "", "all")}
    asked.setdefault("stdout", "1")
    asked.setdefault("stderr", "1")
    return asked


def _tasks_of(snapshot, service_id: str) -> list[dict]:
    return sorted((e.value for e in snapshot.tasks.values() if e.value["ServiceID"] == service_id),
                  key=lambda t: (t["Slot"], t["CreatedAt"]))


def _where(snapshot, task: dict) -> tuple[str, str] | None:
    """(node address, container ID) of a task that had a container, else None."""
    status = snapshot.statuses.get(task["ID"])
    container = ((status.value if status else {}).get("ContainerStatus") or {}).get("ContainerID")
    node = snapshot.nodes.get(task["NodeID"])
    if not container or node is None:
        return None
    return node.value["Status"]["Addr"], container


def _started(snapshot, task: dict) -> bool:
    """Whether a task's container has been started: the engine follows a running container's log
    only, and ends at once the log of one created but not started yet (a task still `starting`)."""
    status = snapshot.statuses.get(task["ID"])
    state = TaskState((status.value if status else {}).get("State", "new"))
    return state == TaskState.RUNNING or state.terminal


def _details(query, task: dict) -> str:
    if query.get("details") not in ("1", "true"):
        return ""
    return (f"com.docker.swarm.node.id={task['NodeID']},com.docker.swarm.service.id={task['ServiceID']},"
            f"com.docker.swarm.task.id={task['ID']}")


async def service_logs(snapshot, service: dict, query: dict[str, str]) -> bytes:
    """The logs of every task of ``service`` that had a container, in slot order, from their nodes."""
    asked = _asked(query)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one(task: dict) -> bytes:
            where = _where(snapshot, task)
            if where is None:
                return b""
            url = f"http://{where[0]}:2377/logs/{where[1]}?{urllib.parse.urlencode(asked)}"
            try:
                async with session.get(url) as answer:
                    raw = await answer.read() if answer.status == 200 else b""
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                return b""  # a node that does not answer has no logs to give
            return with_details(raw, _details(query, task))

        return b"".join(await asyncio.gather(*(one(task) for task in _tasks_of(snapshot, service["ID"]))))


def gone(request: web.BaseRequest) -> bool:
    """Whether the client of ``request`` has closed its connection (aiohttp does not cancel the handler)."""
    return request.transport is None or request.transport.is_closing()


async def pipe(source: aiohttp.StreamReader, write, is_gone) -> None:
    """Copy ``source`` to ``write`` as it comes, until it ends or ``is_gone()`` (looked at every
    CHECK_EVERY seconds, so that a client who left while nothing was written is noticed)."""
    while not is_gone():
        try:
            chunk = await asyncio.wait_for(source.readany(), CHECK_EVERY)
        except asyncio.TimeoutError:
            continue
        if not chunk:
            return
        await write(chunk)


async def _read_task(session: aiohttp.ClientSession, address: str, container: str, asked: dict[str, str],
                     details: str, lines: asyncio.Queue) -> None:
    """One task's lines as its engine writes them, framed with their details, into ``lines``.

    Ends when the container stops (the engine ends its follow) or its node stops answering.
    """
    url = f"http://{address}:2377/logs/{container}?{urllib.parse.urlencode({**asked, 'follow': '1'})}"
    rest = b""

    async def take(chunk: bytes) -> None:
        nonlocal rest
        complete, rest = split(rest + chunk)
        for stream, data in complete:
            await lines.put(with_details(frame(stream, data), details))

    try:
        async with session.get(url) as answer:
            if answer.status == 200:
                await pipe(answer.content, take, lambda: False)
    except (aiohttp.ClientError, OSError):
        pass  # a node that stops answering has no more lines to give


async def follow(request: web.Request, store: Store, service: dict) -> web.StreamResponse:
    """[SWARM-050] GET /services/{id}/logs?follow=1: every task's lines as they are written.

    The tasks running now give their log (with the client's tail and since), then what they
    write; a task whose container appears later (a scale-up, a replaced task) gives all of
    its lines. One reader per container puts frames on a queue; this loop alone writes them.
    """
    response = web.StreamResponse(headers={"Content-Type": RAW_STREAM})
    await response.prepare(request)
    asked, lines = _asked(request.query), asyncio.Queue()
    readers: dict[str, asyncio.Task] = {}
    wake = asyncio.Event()
    watcher = asyncio.create_task(store.wake_on_change("status/", wake))  # a task got its container
    loop, first = asyncio.get_running_loop(), True
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5)) as session:
            while not gone(request):
                snapshot = await read_snapshot(store)
                if service["ID"] not in snapshot.services:
                    break  # the service was removed: so is its stream
                for task in _tasks_of(snapshot, service["ID"]):
                    where = _where(snapshot, task)
                    if where is None or where[1] in readers or not _started(snapshot, task):
                        continue
                    # the tasks of the first look: what the client asked for; later ones: every line is new
                    wanted = asked if first else {k: v for k, v in asked.items() if k not in ("tail", "since")}
                    readers[where[1]] = asyncio.create_task(
                        _read_task(session, *where, wanted, _details(request.query, task), lines))
                first = False
                wake.clear()
                deadline = loop.time() + CHECK_EVERY
                while not wake.is_set() and (left := deadline - loop.time()) > 0 and not gone(request):
                    try:
                        chunk = await asyncio.wait_for(lines.get(), left)
                    except asyncio.TimeoutError:
                        break
                    await response.write(chunk)
    except ConnectionResetError:
        pass  # the client left while we wrote
    finally:
        watcher.cancel()
        for reader in readers.values():
            reader.cancel()
        await asyncio.gather(watcher, *readers.values(), return_exceptions=True)
    try:
        if not gone(request):
            while not lines.empty():  # what the readers had read before the service went
                await response.write(lines.get_nowait())
            await response.write_eof()
    except ConnectionResetError:
        pass  # the client left at the very end
    return response
