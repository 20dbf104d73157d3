"""The build route: POST /build, the classic builder's API (what the docker CLI uses without buildx).

Implements: spec/build.md BUILD-012, BUILD-013
Explained:  chapters/08-build.md#in-the-engine
Modelled on: moby's api/server/router/build (build_routes.go: postBuild, newImageBuildOptions)

    POST /build?t=NAME&t=NAME2&dockerfile=PATH&buildargs={..}&labels={..}&target=&nocache=1&q=1
         body: the context as a tar (plain or compressed)
         200, JSON lines: {"stream": "Step 1/3 : FROM busybox\\n"} ... {"aux": {"ID": "sha256:.."}}
         a step that fails: {"errorDetail": {"message": M}, "error": M} as the last line

    register(app, builds, add_route)

Rules: a bad query or a bad Dockerfile is refused with a status before any output;
once output has started, an error can only be the stream's last line (as dockerd does).
"""

from __future__ import annotations

import json
import tempfile

from aiohttp import web

from minidock.errors import InvalidArgument, MinidockError
from minidock.images import reference


def _json_map(text: str | None, name: str) -> dict:
    """``buildargs`` / ``labels``: a JSON object of strings (dockerd's "error reading build args")."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"error reading {name}: {error}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                              for k, v in value.items()):
        raise InvalidArgument(f"error reading {name}: a JSON object of strings is expected")
    return value


def params_of(query) -> dict:
    """The build's parameters from the query; bad ones are a 400 before the context is read."""
    tags = [tag for tag in query.getall("t", []) if tag]
    for tag in tags:
        parsed = reference.parse(tag)  # [BUILD-013] InvalidArgument: invalid reference format
        if parsed.digest:
            raise InvalidArgument(f"invalid reference format: {tag} (a build can not be tagged with a digest)")
    if query.get("remote"):
        raise InvalidArgument("remote build contexts are not supported by minidock: send the context as a tar")
    return {
        "tags": tags, "dockerfile": query.get("dockerfile") or "Dockerfile",
        "buildargs": _json_map(query.get("buildargs"), "build args"),
        "labels": _json_map(query.get("labels"), "labels"),
        "target": query.get("target") or None, "nocache": query.get("nocache") in ("1", "true", "True"),
        "pull": query.get("pull") not in (None, "", "0", "false", "False"),
        "quiet": query.get("q") in ("1", "true", "True"), "networkmode": query.get("networkmode") or "default",
    }


def register(app: web.Application, builds, add_route) -> None:
    async def build(request: web.Request) -> web.StreamResponse:
        params = params_of(request.query)
        with tempfile.TemporaryFile(dir=builds.root, prefix=".context-") as context:
            await _receive(request.content, context)
            context.seek(0)
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            pending: list[bytes] = []

            def emit(text: str) -> None:
                if not params["quiet"]:
                    pending.append(json.dumps({"stream": text}).encode() + b"\r\n")

            async def flush() -> None:
                if pending:
                    if not response.prepared:
                        await response.prepare(request)
                    data, pending[:] = b"".join(pending), []
                    await response.write(data)

            task = _Flusher(flush)
            try:
                image_id = await task.around(builds.build(context, params, emit))
            except MinidockError as error:
                if not response.prepared and not pending:
                    raise  # nothing said yet: a status of its own (errors_middleware)
                message = error.message
                pending.append(json.dumps({"errorDetail": {"message": message}, "error": message}).encode() + b"\r\n")
                await flush()
                await response.write_eof()
                return response
            pending.append(json.dumps({"aux": {"ID": image_id}}).encode() + b"\r\n")
            await flush()
            await response.write_eof()
            return response

    add_route(app, "POST", "/build", build)


async def _receive(content, context) -> None:
    """Copy the request's body into ``context`` as the HTTP parser hands it over.

    readchunk gives the parser's own pieces; iter_chunked(n) re-cut them into n-byte
    copies, one wait of the event loop each: a 20 MB context (make bench's build) took
    33 ms to arrive instead of 25 (medians of 16 uploads), and stalled more often.
    """
    while True:
        chunk, _end_of_http_chunk = await content.readchunk()
        if chunk:
            context.write(chunk)
        elif content.at_eof():
            return


class _Flusher:
    """Write what a build emits while it runs (every 50 ms), not all at its end."""

    def __init__(self, flush) -> None:
        self.flush = flush

    async def around(self, work):
        import asyncio

        job = asyncio.ensure_future(work)
        while not job.done():
            await asyncio.wait([job], timeout=0.05)
            if not job.done():
                await self.flush()
        return job.result()
