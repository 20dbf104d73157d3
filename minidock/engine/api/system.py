"""System routes: /_ping, /version, /info, /system/df.

Implements: spec/engine.md ENGINE-API-001 .. ENGINE-API-003, ENGINE-SYS-001
Explained:  chapters/05-engine.md#version-and-info
Modelled on: moby's api/server/router/system

    SystemBackend   what these handlers need from the engine (the consumer's interface)
    register(app, backend, add_route)
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web


class SystemBackend(Protocol):
    """The engine side of the system routes."""

    def version(self) -> dict: ...
    def info(self) -> dict: ...
    def disk_usage(self) -> dict: ...


def register(app: web.Application, backend: SystemBackend, add_route) -> None:
    """Add the system routes to ``app``, answered by ``backend``."""

    async def ping(request: web.Request) -> web.Response:
        # [ENGINE-API-001] the CLI reads Api-Version from this answer to pick its version
        headers = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
                   "Docker-Experimental": "false", "Builder-Version": "1",
                   "Swarm": "inactive"}
        body = b"" if request.method == "HEAD" else b"OK"
        return web.Response(body=body, content_type="text/plain", headers=headers)

    async def version(request: web.Request) -> web.Response:
        return web.json_response(backend.version())

    async def info(request: web.Request) -> web.Response:
        return web.json_response(backend.info())

    add_route(app, "GET", "/_ping", ping)
    add_route(app, "HEAD", "/_ping", ping)
    add_route(app, "GET", "/version", version)
    async def disk_usage(request: web.Request) -> web.Response:
        import asyncio

        return web.json_response(await asyncio.to_thread(backend.disk_usage))

    add_route(app, "GET", "/info", info)
    add_route(app, "GET", "/system/df", disk_usage)
