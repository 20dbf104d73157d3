"""Hijacked connections: after `101 UPGRADED` the HTTP connection is a raw two-way stream.

Implements: spec/engine.md ENGINE-CTR-006, ENGINE-TTY-001
Explained:  chapters/05-engine.md#logs-and-attach
Modelled on: moby's api/server/httputils (hijacking the connection for attach and exec)

    response = await upgrade(request, tty)   101 (or 200) with the raw-stream content type, sent now
    reader = take_input(request)             the bytes the client sends after the headers
    async for chunk in reader: ...           until the client closes (or half-closes) its side

Rules: aiohttp keeps bytes that follow an upgrade request as the connection's
"tail"; a protocol parser (what aiohttp's own websockets use) receives them
and every later byte. The daemon's connection handler reports the client's
half-close to it (daemon._half_close_runner).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


async def upgrade(request: web.Request, tty: bool) -> web.StreamResponse:
    """Answer 101 (or 200 to a client that did not ask to upgrade) and send the headers now.

    [ENGINE-CTR-006] The headers go at once: the CLI starts the container only after them.
    """
    upgrading = request.headers.get("Upgrade", "").lower() == "tcp"
    headers = {"Content-Type": RAW_STREAM if tty else MULTIPLEXED}
    if upgrading:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    response = web.StreamResponse(status=101 if upgrading else 200, reason="UPGRADED" if upgrading else None,
                                  headers=headers)
    response.force_close()  # a hijacked connection carries one stream, then closes
    await response.prepare(request)
    await response.write(b"")
    return response


class Input:
    """A parser for aiohttp's protocol that queues what the client sends, then None at its end."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ended = False

    # the protocol's side (web_protocol.RequestHandler.set_parser / data_received)
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)

    # the handler's side
    def __aiter__(self) -> "Input":
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.queue.get()
        if chunk is None:
            raise StopAsyncIteration
        return chunk


def take_input(request: web.Request) -> Input:
    """From now on, what the client sends on this connection goes to the returned Input."""
    reader = Input()
    request.protocol.set_parser(reader)
    return reader
