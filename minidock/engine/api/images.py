"""Image routes: /images/*.

Implements: spec/images.md IMG-ENG-001 .. IMG-ENG-002
Explained:  chapters/04-images.md#from-the-engine
Modelled on: moby's api/server/router/image

    POST /images/load        a `docker save` archive in, JSON-lines progress out
    GET  /images/{name}/json the image, in the Engine API's ImageInspect fields

    register(app, images, add_route)
"""

from __future__ import annotations

import asyncio
import json
import tempfile

from aiohttp import web

from minidock.engine.images import ImageService, Record


def inspect(record: Record, size: int = 0) -> dict:
    """A Record in the Engine API's ImageInspect shape."""
    config = record.config
    return {
        "Id": record.id,
        "RepoTags": [_familiar(name) for name in record.names if "@" not in name],
        "RepoDigests": [],
        "Parent": "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ""),
        "Container": "",
        "ContainerConfig": {},
        "DockerVersion": "",
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant", "") or None,
        "Os": config.get("os", ""),
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Name": "overlay2", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": list(record.image.config.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def _familiar(name: str) -> str:
    from minidock.images import reference

    return reference.parse(name).familiar


def register(app: web.Application, images: ImageService, add_route) -> None:
    """Add the image routes to ``app``, answered by ``images``."""

    async def load(request: web.Request) -> web.StreamResponse:
        # spooled to a file first: the archive is read twice (names, then blobs)
        with tempfile.TemporaryFile(dir=images.root) as spool:
            async for chunk in request.content.iter_chunked(1 << 20):
                spool.write(chunk)
            spool.seek(0)
            lines = await asyncio.to_thread(images.load_archive, spool)
        body = "".join(json.dumps({"stream": line + "\n"}) + "\n" for line in lines)
        return web.Response(body=body.encode(), content_type="application/json")

    async def image_json(request: web.Request) -> web.Response:
        record = await asyncio.to_thread(images.lookup, request.match_info["name"])
        return web.json_response(inspect(record))

    add_route(app, "POST", "/images/load", load)
    add_route(app, "GET", r"/images/{name:.+}/json", image_json)
