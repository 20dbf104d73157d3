"""Service logs: every task's container log, fetched from the node that runs it, one stream.

Implements: spec/swarm.md SWARM-030
Explained:  chapters/11-swarm.md#service-logs
Modelled on: swarmkit's log broker (managers ask the agents; the agents read their engine)

    frames(raw) -> [(stream, bytes)]                   stdcopy frames read back (pure)
    with_details(raw, details) -> bytes                each line prefixed "k=v,k=v " and framed again (pure)
    service_logs(snapshot, service, query) -> bytes    ask each task's node (GET ADDR:2377/logs/CONTAINER)

Rules: the manager never reads another node's engine directly (its socket is that node's
alone); the node's swarm process answers for its engine on its own address, port 2377.
A line carries dockerd's details (com.docker.swarm.node.id, .service.id, .task.id), which
is how the docker CLI prints `web.1.TASKID@NODE | line`. No --follow (planned).
"""

from __future__ import annotations

import asyncio
import struct
import urllib.parse

import aiohttp

from minidock.errors import InvalidArgument



def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame (the engine's own framing, chapter 5: minidock.engine.logs.frame, whose
    module sits on the engine's internals, out of the swarm's reach)."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def frames(raw: bytes) -> list[tuple[int, bytes]]:
    """The (stream, data) frames of a multiplexed log body (8-byte header: stream, 3 zeros, length)."""
    found, offset = [], 0
    while offset + 8 <= len(raw):
        stream, size = struct.unpack(">BxxxI", raw[offset:offset + 8])
        found.append((stream, raw[offset + 8:offset + 8 + size]))
        offset += 8 + size
    return found


def with_details(raw: bytes, details: str) -> bytes:
    """Every line of ``raw`` as its own frame, prefixed with ``details`` and a space when given."""
    out = []
    for stream, data in frames(raw):
        for line in data.splitlines(keepends=True):
            out.append(frame(stream, (details.encode() + b" " if details else b"") + line))
    return b"".join(out)


async def service_logs(snapshot, service: dict, query: dict[str, str]) -> bytes:
    """The logs of every task of ``service`` that had a container, in slot order, from their nodes."""
    if query.get("follow") in ("1", "true"):
        raise InvalidArgument("service logs --follow is not implemented (spec/swarm.md SWARM-030)")
    asked = {key: query[key] for key in ("stdout", "stderr", "timestamps", "tail", "since")
             if query.get(key) not in (None, "", "all")}
    asked.setdefault("stdout", "1")
    asked.setdefault("stderr", "1")
    tasks = sorted((e.value for e in snapshot.tasks.values() if e.value["ServiceID"] == service["ID"]),
                   key=lambda t: (t["Slot"], t["CreatedAt"]))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one(task: dict) -> bytes:
            status = snapshot.statuses.get(task["ID"])
            container = ((status.value if status else {}).get("ContainerStatus") or {}).get("ContainerID")
            node = snapshot.nodes.get(task["NodeID"])
            if not container or node is None:
                return b""
            url = f"http://{node.value['Status']['Addr']}:2377/logs/{container}?{urllib.parse.urlencode(asked)}"
            try:
                async with session.get(url) as answer:
                    raw = await answer.read() if answer.status == 200 else b""
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                return b""  # a node that does not answer has no logs to give
            details = ""
            if query.get("details") in ("1", "true"):
                details = (f"com.docker.swarm.node.id={task['NodeID']},com.docker.swarm.service.id={service['ID']},"
                           f"com.docker.swarm.task.id={task['ID']}")
            return with_details(raw, details)

        return b"".join(await asyncio.gather(*(one(task) for task in tasks)))
