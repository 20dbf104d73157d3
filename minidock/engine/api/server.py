"""The HTTP server: versioned routes, JSON errors, the Engine API's conventions.

Implements: spec/engine.md ENGINE-API-004 .. ENGINE-API-006, ENGINE-ERR-001
Explained:  chapters/05-engine.md#the-api
Modelled on: moby's api/server (router, middlewares, httpstatus)

    make_app(system) -> aiohttp Application
    Every route answers at /PATH and at /vX.Y/PATH (the CLI always sends the latter).

Rules: every error leaves as {"message": "..."} with the status the error tree
gives (minidock.errors.http_status); a client newer than 1.41 is told so.
"""

from __future__ import annotations

import json
import logging
import os
import re

from aiohttp import web

import minidock
from minidock.engine.api import system as system_routes
from minidock.errors import InvalidArgument, MinidockError, http_status

log = logging.getLogger("minidockd.api")
_VERSIONED = re.compile(r"^/v(?P<version>[0-9]+\.[0-9]+)(?P<rest>/.*)$")


def _version_tuple(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def error_response(status: int, message: str) -> web.Response:
    """The Engine API's error body: {"message": ...}.

    The docker CLI decodes the body only when Content-Type is exactly
    `application/json` (no charset), else it prints the raw JSON.
    """
    body = json.dumps({"message": message}).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


@web.middleware
async def errors_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Turn every error into the API's JSON error body with the right status."""
    try:
        return await handler(request)
    except MinidockError as error:
        return error_response(http_status(error), error.message)
    except web.HTTPNotFound:
        return error_response(404, "page not found")  # dockerd's words
    except web.HTTPMethodNotAllowed:
        return error_response(405, "method not allowed")
    except web.HTTPException:
        raise
    except ConnectionResetError:  # the client went away mid-stream: nobody to answer
        log.debug("client left during %s %s", request.method, request.path)
        return web.Response(status=499)
    except Exception as error:  # noqa: BLE001 - a bug in minidock: log it, answer 500
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(500, f"internal error: {error}")


@web.middleware
async def version_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Check the /vX.Y prefix; the route table itself has both forms."""
    match = _VERSIONED.match(request.path)
    if match:
        asked = match["version"]
        # [ENGINE-API-005] a client newer than our API version gets a 400 naming both
        if _version_tuple(asked) > _version_tuple(minidock.API_VERSION):
            raise InvalidArgument(f"client version {asked} is too new. "
                                  f"Maximum supported API version is {minidock.API_VERSION}")
        if _version_tuple(asked) < _version_tuple(minidock.MIN_API_VERSION):
            raise InvalidArgument(f"client version {asked} is too old. "
                                  f"Minimum supported API version is {minidock.MIN_API_VERSION}, "
                                  "please upgrade your client to a newer version")
    response = await handler(request)
    return response


def add_route(app: web.Application, method: str, path: str, handler) -> None:
    """Register ``handler`` at ``path`` and at ``/v{version}{path}``."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, r"/v{version:[0-9]+\.[0-9]+}" + path, handler)


@web.middleware
async def headers_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Every answer carries the headers the CLI negotiates with (docker-cli-wire.md)."""
    response = await handler(request)
    response.headers.setdefault("Api-Version", minidock.API_VERSION)
    response.headers.setdefault("Server", f"minidock/{minidock.__version__} (linux)")
    response.headers.setdefault("Ostype", "linux")
    return response


async def read_json(request: web.Request) -> dict:
    """Read a JSON object body; a malformed one is a 400 that says where it broke.

    A middleware may have changed the body (the swarm's, for a container on a cluster overlay):
    it leaves the new one in request["json"].
    """
    if "json" in request:
        return request["json"]
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"invalid JSON body: {error}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: expected an object")
    return body


def make_app(system: system_routes.SystemBackend, images=None, containers=None, networks=None,
             swarm=None) -> web.Application:
    """Build the application: middlewares, then each router's routes.

    Each router is a module of minidock.engine.api with register(app, backend, add_route);
    a backend left out (None) leaves its routes out (the API tests of one router).
    """
    app = web.Application(middlewares=[headers_middleware, errors_middleware, version_middleware],
                          client_max_size=0)  # image archives and build contexts are large
    system_routes.register(app, system, add_route)
    if images is not None:
        from minidock.engine.api import images as image_routes

        image_routes.register(app, images, add_route)
    if containers is not None:
        from minidock.engine.api import containers as container_routes

        container_routes.register(app, containers, add_route)
        from minidock.engine.api import filesystem as filesystem_routes

        filesystem_routes.register(app, containers, images, add_route)
        from minidock.engine.api import build as build_routes
        from minidock.engine.build import BuildService

        data_root = os.path.dirname(containers.data_root)  # the containers' records are in data_root/containers
        build_routes.register(app, BuildService(containers, images, data_root), add_route)
        if getattr(containers, "volumes", None) is not None:
            from minidock.engine.api import volumes as volume_routes

            volume_routes.register(app, containers.volumes, add_route)
    if networks is not None:
        from minidock.engine.api import networks as network_routes

        network_routes.register(app, networks, containers, add_route)
    if swarm is not None:
        from minidock.engine.api import swarm as swarm_routes

        swarm_routes.register(app, swarm, add_route, containers)  # forwarded to the swarm node's socket
    return app
