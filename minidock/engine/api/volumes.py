"""Volume routes: /volumes/*.

Implements: spec/volumes.md VOL-001, VOL-003, VOL-005, VOL-006, VOL-017
Explained:  chapters/06-volumes.md#the-api
Modelled on: moby's api/server/router/volume

    GET    /volumes?filters=          200 {"Volumes": [...], "Warnings": null}
    POST   /volumes/create            201 the Volume (an existing one of that name: as it is)
    GET    /volumes/{name}            200 the Volume            404 "get NAME: no such volume"
    DELETE /volumes/{name}?force=     204                       409 "remove NAME: volume is in use - [IDs]"
    POST   /volumes/prune?filters=    200 {"VolumesDeleted", "SpaceReclaimed"}

    VolumeBackend   what these handlers need (engine.volumes.VolumeService has it)
    register(app, backend, add_route)

Rules: the body's fields are checked by type before anything is made, with the
words of Go's JSON decoder that dockerd answers with.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web

from minidock.engine.api.containers import flag, parse_filters
from minidock.engine.api.server import read_json
from minidock.errors import InvalidArgument

# VolumeCreateBody's fields and the Go type named when one is of the wrong type
CREATE_FIELDS = {"Name": (str, "string"), "Driver": (str, "string"),
                 "DriverOpts": (dict, "map[string]string"), "Labels": (dict, "map[string]string")}


class VolumeBackend(Protocol):
    """The engine side of the volume routes."""

    def create(self, name: str = "", driver: str = "", options: dict | None = None,
               labels: dict | None = None) -> dict: ...
    def inspect(self, name: str) -> dict: ...
    def list(self, filters: dict[str, list[str]] | None = None) -> dict: ...
    def remove(self, name: str, force: bool = False) -> None: ...
    def prune(self, filters: dict[str, list[str]] | None = None) -> dict: ...


def _go_type(value: Any) -> str:
    return {str: "string", bool: "bool", int: "number", float: "number", list: "array",
            dict: "object"}.get(type(value), "value")


def check_create_body(body: dict) -> dict:
    """The create body's fields, each of its type (a string map's values strings too)."""
    for key, (kind, go_name) in CREATE_FIELDS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is dict and not all(isinstance(v, str) for v in value.values())):
            shown = _go_type(value) if not isinstance(value, dict) else "non-string value"
            raise InvalidArgument(f"json: cannot unmarshal {shown} into Go struct field "
                                  f"VolumeCreateBody.{key} of type {go_name}")
    return body


def register(app: web.Application, volumes: VolumeBackend, add_route) -> None:
    """Add the volume routes to ``app``, answered by ``volumes``."""

    async def create(request: web.Request) -> web.Response:
        body = check_create_body(await read_json(request))
        volume = await asyncio.to_thread(volumes.create, body.get("Name") or "", body.get("Driver") or "",
                                         body.get("DriverOpts"), body.get("Labels"))
        return web.json_response(volume, status=201)

    async def list_volumes(request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(volumes.list, parse_filters(request)))

    async def inspect(request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(volumes.inspect, request.match_info["name"]))

    async def remove(request: web.Request) -> web.Response:
        await asyncio.to_thread(volumes.remove, request.match_info["name"], flag(request, "force"))
        return web.Response(status=204)

    async def prune(request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(volumes.prune, parse_filters(request)))

    add_route(app, "GET", "/volumes", list_volumes)
    add_route(app, "POST", "/volumes/create", create)
    add_route(app, "POST", "/volumes/prune", prune)
    add_route(app, "GET", "/volumes/{name}", inspect)
    add_route(app, "DELETE", "/volumes/{name}", remove)
