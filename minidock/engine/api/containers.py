"""Container routes: /containers/*.

Implements: spec/engine.md ENGINE-CTR-001 .. ENGINE-CTR-009, ENGINE-LOG-001 .. ENGINE-LOG-004
Explained:  chapters/05-engine.md#the-api
Modelled on: moby's api/server/router/container

    POST   /containers/create?name=           201 {"Id", "Warnings"}
    POST   /containers/{id}/start|stop|restart|kill|pause|unpause|rename|resize
    POST   /containers/{id}/wait?condition=   headers at once, {"StatusCode"} at the exit
    POST   /containers/{id}/attach            101, then the output stream (framed without a TTY)
    GET    /containers/json, /containers/{id}/json, /logs, /top
    DELETE /containers/{id}?force=

    register(app, containers, add_route)

Rules: a stream's headers go out before the first byte of output, as dockerd
flushes them: the docker CLI sends `wait` and `attach` before `start`.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from minidock.engine import detachkeys, logs
from minidock.engine.api.server import read_json
from minidock.engine.containers import ContainerService, NotModified
from minidock.errors import Conflict, InvalidArgument, NotFound

from minidock.engine.api.hijack import MULTIPLEXED, RAW_STREAM, take_input, upgrade


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as the Engine API reads it: 1/true/True yes, 0/false/"" no."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes")


def number(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r}") from None


def parse_filters(request: web.Request) -> dict[str, list[str]]:
    """?filters={"status":["exited"]} (or the old {"status":{"exited":true}} form)."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filter: {raw!r}") from None
    if not isinstance(decoded, dict):
        raise InvalidArgument(f"invalid filter: {raw!r}")
    return {key: list(value) if isinstance(value, (list, dict)) else [str(value)]
            for key, value in decoded.items()}


def register(app: web.Application, containers: ContainerService, add_route) -> None:
    """Add the container routes to ``app``, answered by ``containers``."""

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        container = await containers.create(body, request.query.get("name"))
        return web.json_response({"Id": container.id, "Warnings": []}, status=201)

    async def start(request: web.Request) -> web.Response:
        try:
            await containers.start(request.match_info["id"])
        except NotModified:
            return web.Response(status=304)
        return web.Response(status=204)

    async def stop(request: web.Request) -> web.Response:
        stopped = await containers.stop(request.match_info["id"], number(request, "t"),
                                        request.query.get("signal") or None)
        return web.Response(status=204 if stopped else 304)

    async def restart(request: web.Request) -> web.Response:
        await containers.restart(request.match_info["id"], number(request, "t"))
        return web.Response(status=204)

    async def kill(request: web.Request) -> web.Response:
        name = request.match_info["id"]
        try:
            await containers.kill(name, request.query.get("signal") or "KILL")
        except (NotFound, Conflict) as error:
            # Docker's router wraps these: "Cannot kill container: web: No such container: web"
            raise type(error)(f"Cannot kill container: {name}: {error}") from error
        return web.Response(status=204)

    async def pause(request: web.Request) -> web.Response:
        await containers.pause(request.match_info["id"])
        return web.Response(status=204)

    async def unpause(request: web.Request) -> web.Response:
        await containers.unpause(request.match_info["id"])
        return web.Response(status=204)

    async def rename(request: web.Request) -> web.Response:
        await containers.rename(request.match_info["id"], request.query.get("name", ""))
        return web.Response(status=204)

    async def resize(request: web.Request) -> web.Response:
        await containers.resize(request.match_info["id"], number(request, "h") or 0, number(request, "w") or 0)
        return web.Response(status=200)

    async def remove(request: web.Request) -> web.Response:
        await containers.remove(request.match_info["id"], force=flag(request, "force"), volumes=flag(request, "v"))
        return web.Response(status=204)

    async def wait(request: web.Request) -> web.StreamResponse:
        container = containers.get(request.match_info["id"])
        condition = request.query.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # [ENGINE-CTR-005] headers now, the answer at the exit
        await response.write(b"")
        await containers.wait(container.id, condition)
        body = {"StatusCode": container.state.exit_code, "Error": None}
        if container.state.error:
            body["Error"] = {"Message": container.state.error}
        await response.write(json.dumps(body).encode() + b"\n")
        await response.write_eof()
        return response

    async def list_containers(request: web.Request) -> web.Response:
        chosen = containers.list(all=flag(request, "all"), filters=parse_filters(request),
                                 limit=number(request, "limit") or -1)
        return web.json_response([c.summary() for c in chosen])

    async def inspect(request: web.Request) -> web.Response:
        return web.json_response(containers.get(request.match_info["id"]).inspect())

    async def top(request: web.Request) -> web.Response:
        return web.json_response(await containers.top(request.match_info["id"]))

    async def container_logs(request: web.Request) -> web.StreamResponse:
        container = containers.get(request.match_info["id"])
        want = {name for name in ("stdout", "stderr") if flag(request, name)}
        if not want:
            # Docker's words
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        tail_text = request.query.get("tail", "all")
        tail = None if tail_text in ("all", "") else number(request, "tail")
        since = logs.parse_since(request.query.get("since"))
        until = logs.parse_since(request.query.get("until"))
        timestamps = flag(request, "timestamps")
        tty = bool(container.config.get("Tty"))
        response = web.StreamResponse(headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED})
        await response.prepare(request)
        records, offset = [], 0
        while True:  # [ENGINE-LOG-001] what is there now, then (with follow) what comes
            more, after = await asyncio.to_thread(logs.read, container.log_path, offset)
            if after == offset:
                break
            records.extend(more)
            offset = after
        for record in logs.select(records, since, until, tail):
            if record.stream in want:
                await response.write(logs.render(record, tty, timestamps))
        if flag(request, "follow") and container.running:
            async for record in containers.follow(container, offset):
                if record.stream in want:
                    await response.write(logs.render(record, tty, timestamps))
        await response.write_eof()
        return response

    async def attach(request: web.Request) -> web.StreamResponse:
        container = containers.get(request.match_info["id"])
        keys = detachkeys.parse(request.query.get("detachKeys"))  # [ENGINE-TTY-005] a 400 before the upgrade
        want = {name for name in ("stdout", "stderr") if flag(request, name)}
        tty = bool(container.config.get("Tty"))
        offset = await asyncio.to_thread(_log_size, container.log_path)
        containers.expect_run(container)  # attached before start: stay for the run to come
        response = await upgrade(request, tty)
        detached = asyncio.Event()
        feeding = None
        if flag(request, "stdin") and container.config.get("OpenStdin"):
            # [ENGINE-TTY-001] the client's bytes become the container's input
            feeding = asyncio.ensure_future(
                containers.feed_stdin(container, take_input(request), detached if tty else None, keys))

        async def output() -> None:
            if flag(request, "logs"):
                for record in await asyncio.to_thread(logs.read_all, container.log_path):
                    if record.stream in want:
                        await response.write(logs.render(record, tty))
            if flag(request, "stream", True):
                async for record in containers.follow(container, offset, until_exit=True):
                    if record.stream in want:
                        await response.write(logs.render(record, tty))

        copying = asyncio.ensure_future(output())
        stop = asyncio.ensure_future(detached.wait())
        try:
            await asyncio.wait({copying, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if feeding is not None:
                feeding.cancel()
            if not copying.done():  # [ENGINE-TTY-003] detached: the container goes on
                copying.cancel()
        if copying.done() and not copying.cancelled() and copying.exception():
            raise copying.exception()
        await response.write_eof()
        return response

    async def exec_create(request: web.Request) -> web.Response:
        container = containers.get(request.match_info["id"])
        instance = containers.execs.create(container, await read_json(request))
        return web.json_response({"Id": instance.id}, status=201)

    async def exec_start(request: web.Request) -> web.StreamResponse:
        instance = containers.execs.get(request.match_info["id"])
        body = await read_json(request)
        containers.execs.begin(instance)
        if body.get("Detach"):
            async def drain() -> None:
                async for _ in containers.execs.run(instance):
                    pass
            asyncio.ensure_future(drain())
            return web.Response(status=200)
        response = await upgrade(request, instance.tty)
        source = take_input(request) if instance.attach_stdin else None
        async for stream, data in containers.execs.run(instance, source):
            if (stream == "stdout" and instance.attach_stdout) or (stream == "stderr" and instance.attach_stderr):
                await response.write(data if instance.tty else logs.frame(stream, data))
        await response.write_eof()
        return response

    async def exec_json(request: web.Request) -> web.Response:
        return web.json_response(containers.execs.get(request.match_info["id"]).inspect())

    async def exec_resize(request: web.Request) -> web.Response:
        instance = containers.execs.get(request.match_info["id"])
        containers.execs.resize(instance, number(request, "h") or 0, number(request, "w") or 0)
        return web.Response(status=201)

    async def events(request: web.Request) -> web.StreamResponse:
        since = logs.parse_since(request.query.get("since"))
        until = logs.parse_since(request.query.get("until"))
        filters = parse_filters(request)  # a bad one is a 400 before any answer starts
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # [ENGINE-EVT-001] headers now, events as they happen
        await response.write(b"")
        async for event in containers.events.subscribe(since, until, filters):
            await response.write(json.dumps(event).encode() + b"\n")
        await response.write_eof()
        return response

    async def stats(request: web.Request) -> web.StreamResponse:
        stream = flag(request, "stream", True) and not flag(request, "one-shot")
        containers.get(request.match_info["id"])
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        async for document in containers.stats(request.match_info["id"], stream):
            await response.write(json.dumps(document).encode() + b"\n")
        await response.write_eof()
        return response

    async def update(request: web.Request) -> web.Response:
        warnings = await containers.update(request.match_info["id"], await read_json(request))
        return web.json_response({"Warnings": warnings})

    async def prune(request: web.Request) -> web.Response:
        removed = await containers.prune(parse_filters(request))
        return web.json_response({"ContainersDeleted": removed or None, "SpaceReclaimed": 0})

    add_route(app, "GET", "/containers/{id}/stats", stats)
    add_route(app, "POST", "/containers/{id}/update", update)
    add_route(app, "POST", "/containers/prune", prune)
    add_route(app, "GET", "/events", events)
    add_route(app, "POST", "/containers/{id}/exec", exec_create)
    add_route(app, "POST", "/exec/{id}/start", exec_start)
    add_route(app, "GET", "/exec/{id}/json", exec_json)
    add_route(app, "POST", "/exec/{id}/resize", exec_resize)
    add_route(app, "POST", "/containers/create", create)
    add_route(app, "GET", "/containers/json", list_containers)
    add_route(app, "GET", "/containers/{id}/json", inspect)
    add_route(app, "GET", "/containers/{id}/logs", container_logs)
    add_route(app, "GET", "/containers/{id}/top", top)
    for verb, handler in (("start", start), ("stop", stop), ("restart", restart), ("kill", kill),
                          ("pause", pause), ("unpause", unpause), ("rename", rename), ("resize", resize),
                          ("wait", wait), ("attach", attach)):
        add_route(app, "POST", f"/containers/{{id}}/{verb}", handler)
    add_route(app, "DELETE", "/containers/{id}", remove)


def _log_size(path: str) -> int:
    import os

    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
