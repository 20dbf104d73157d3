"""Routes on a container's files: cp (archive), export, changes, commit.

Implements: spec/engine.md ENGINE-FS-001 .. ENGINE-FS-012
Explained:  chapters/05-engine.md#a-containers-files
Modelled on: moby's api/server/router/container (copy.go: archive, export, changes)
             and router/image (commit)

    HEAD /containers/{id}/archive?path=       200, X-Docker-Container-Path-Stat only
    GET  /containers/{id}/archive?path=       a tar of the path, with the same header
    PUT  /containers/{id}/archive?path=&noOverwriteDirNonDir=   a tar in, extracted into path
    GET  /containers/{id}/export              a tar of the whole root file system
    GET  /containers/{id}/changes             [{"Path": "/tmp/x", "Kind": 0|1|2}]
    POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=   201 {"Id"}

    register(app, containers, images, add_route)

Rules: a tar is made (spooled) before the first byte is answered, so an error is
still a proper status; an upload is spooled whole before it is checked.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import BinaryIO

from aiohttp import web

from minidock.engine.api.containers import flag
from minidock.engine.api.server import read_json
from minidock.engine.filesystem import FilesystemService, PathStat
from minidock.errors import InvalidArgument

STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 20


async def send_file(request: web.Request, spooled: BinaryIO, headers: dict[str, str]) -> web.StreamResponse:
    """Answer 200 with the spooled file as the body, then close it."""
    with spooled:
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar", **headers})
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spooled.read, _CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response


async def receive_file(request: web.Request, scratch: str) -> BinaryIO:
    """The request's body in a temporary file, at its start."""
    spooled = tempfile.TemporaryFile(dir=scratch, prefix=".upload-")
    try:
        async for chunk in request.content.iter_chunked(_CHUNK):
            await asyncio.to_thread(spooled.write, chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")  # moby's archiveFormValues
    return path


def _stat_headers(found: PathStat) -> dict[str, str]:
    return {STAT_HEADER: found.header()}


def register(app: web.Application, containers, images, add_route) -> None:
    """Add the routes on a container's files, answered by a FilesystemService over both services."""
    files = FilesystemService(containers, images, scratch=images.root)

    async def archive_head(request: web.Request) -> web.Response:
        found = await files.stat(request.match_info["id"], _path(request))
        return web.Response(status=200, headers={**_stat_headers(found), "Content-Type": "application/json"})

    async def archive_get(request: web.Request) -> web.StreamResponse:
        found, tar = await files.archive(request.match_info["id"], _path(request))
        return await send_file(request, tar, _stat_headers(found))

    async def archive_put(request: web.Request) -> web.Response:
        name, path = request.match_info["id"], _path(request)
        files.containers.get(name)  # [ENGINE-CTR-021] 404 before reading a body for nothing
        with await receive_file(request, files.scratch) as upload:
            await files.extract(name, path, upload, flag(request, "noOverwriteDirNonDir"))
        return web.Response(status=200)

    async def export(request: web.Request) -> web.StreamResponse:
        return await send_file(request, await files.export(request.match_info["id"]), {})

    async def changes(request: web.Request) -> web.Response:
        found = await files.changes(request.match_info["id"])
        return web.json_response([change.to_json() for change in found])

    async def commit(request: web.Request) -> web.Response:
        query = request.query
        config = await read_json(request)
        image_id = await files.commit(
            query.get("container", ""), repo=query.get("repo", ""), tag=query.get("tag", ""),
            comment=query.get("comment", ""), author=query.get("author", ""),
            change_lines=query.getall("changes", []), config=config or None,
            pause=flag(request, "pause", True))
        return web.json_response({"Id": image_id}, status=201)

    add_route(app, "HEAD", "/containers/{id}/archive", archive_head)
    add_route(app, "GET", "/containers/{id}/archive", archive_get)
    add_route(app, "PUT", "/containers/{id}/archive", archive_put)
    add_route(app, "GET", "/containers/{id}/export", export)
    add_route(app, "GET", "/containers/{id}/changes", changes)
    add_route(app, "POST", "/commit", commit)
