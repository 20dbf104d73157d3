"""Swarm routes: /swarm, /nodes, /services, /tasks, /secrets, /configs, forwarded to the swarm node.

Implements: spec/swarm.md SWARM-023, SWARM-024, SWARM-042, SWARM-043, SWARM-052, SWARM-055
Explained:  chapters/11-swarm.md#the-api-and-the-cli
Modelled on: dockerd's daemon/cluster, which runs swarmkit beside the engine

    SwarmProcess(engine_host, exec_root, data_root)
        the swarm node process (`python -m minidock.swarm.node`), started on POST /swarm/init
        or /swarm/join, again at the daemon's start when DATA_ROOT/swarm/node.json says we
        belong to a swarm, and stopped with the daemon; it serves EXEC_ROOT/swarm.sock
    register(app, swarm, add_route, containers)
        the swarm paths; and a middleware that gives GET /info its Swarm part and /_ping its
        Swarm header from the node (the docker CLI marks its own node in `node ls` by them);
        and one that sends a cluster overlay's create to the node and asks it for a standalone
        container's address there (run --network, network connect; network disconnect and rm give it back)

Rules: the engine knows only which paths go to the swarm socket and how to start the
process; it never imports minidock.swarm (swarm is a client of the engine, above it).
Without a running node the paths answer dockerd's 503.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import quote

import aiohttp
from aiohttp import web

from minidock.errors import NotFound
from minidock.kernel.syscalls import PR_SET_PDEATHSIG, prctl

PATHS = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")
NOT_MANAGER = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect "
               "this node to swarm and try again.")
_VERSIONED = re.compile(r"^/v[0-9]+\.[0-9]+(?P<rest>/.*)$")


class SwarmProcess:
    """The swarm node beside this engine, and the way to its socket."""

    def __init__(self, engine_host: str, exec_root: str, data_root: str) -> None:
        self.engine_host = engine_host
        self.socket_path = os.path.join(exec_root, "swarm.sock")
        self.state_dir = os.path.join(data_root, "swarm")
        self.log_path = os.path.join(data_root, "swarm-node.log")
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the node process (it dies with the daemon: PR_SET_PDEATHSIG)."""
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "minidock.swarm.node", "--engine", self.engine_host,
             "--socket", self.socket_path, "--state", self.state_dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM))
        log.close()

    async def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.socket_path)
                return
            except OSError:
                await asyncio.sleep(0.05)
            finally:
                probe.close()

    async def resume(self) -> None:
        """At the daemon's start: a node that belonged to a swarm takes its place again."""
        if os.path.exists(os.path.join(self.state_dir, "node.json")):
            self.start()

    async def stop(self) -> None:
        if not self.running:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """Send the request to the node's socket and its answer back, unchanged (a followed
        log as it comes: `service logs --follow`)."""
        match = _VERSIONED.match(request.path)
        path = match["rest"] if match else request.path
        target = path + (f"?{request.query_string}" if request.query_string else "")
        follow = request.query.get("follow") in ("1", "true")
        connector = aiohttp.UnixConnector(path=self.socket_path)
        timeout = aiohttp.ClientTimeout(total=None if follow else 120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with session.request(request.method, f"http://swarm{target}", data=await request.read(),
                                       headers={"Content-Type": request.headers.get("Content-Type",
                                                                                    "application/json")}) as answer:
                headers = {"Content-Type": answer.headers.get("Content-Type", "application/json")}
                if not follow or answer.status != 200:
                    return web.Response(body=await answer.read(), status=answer.status, headers=headers)
                return await _pass_on(request, answer, headers)


async def _pass_on(request: web.Request, answer: aiohttp.ClientResponse, headers: dict) -> web.StreamResponse:
    """[SWARM-050] A followed stream, chunk by chunk, until the node ends it or our client goes.

    Leaving the caller's `async with` closes the connection to the node, which ends its
    stream in turn (and its streams from the other nodes).
    """
    response = web.StreamResponse(status=answer.status, headers=headers)
    await response.prepare(request)
    while not _client_gone(request):
        try:
            chunk = await asyncio.wait_for(answer.content.readany(), 0.5)
        except asyncio.TimeoutError:
            continue  # nothing for half a second: look at the client again
        if not chunk:
            await response.write_eof()
            break
        try:
            await response.write(chunk)
        except ConnectionResetError:
            break
    return response


def _client_gone(request: web.Request) -> bool:
    """Whether the client closed its connection. The daemon keeps a connection open after the
    client's EOF (a half-close, for attach: daemon._half_close_runner), so a closed one shows
    only as an end of file that a peek at the socket (a copy of its descriptor) still reads."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return True
    try:
        with socket.fromfd(transport.get_extra_info("socket").fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # nothing to read: the client is still there
    except OSError:
        return True


def register(app: web.Application, swarm: SwarmProcess, add_route, containers=None) -> None:
    """Add the swarm paths to ``app``: every method, every path under them, to the node.
    ``containers`` (the engine's) tells a task's container from a standalone one at a connect."""

    async def handler(request: web.Request) -> web.Response:
        match = _VERSIONED.match(request.path)
        path = match["rest"] if match else request.path
        if not swarm.running:
            if path not in ("/swarm/init", "/swarm/join"):
                # [SWARM-023] dockerd's answer on a node outside any swarm
                return web.Response(body=json.dumps({"message": NOT_MANAGER}).encode(), status=503,
                                    headers={"Content-Type": "application/json"})
            swarm.start()
            await swarm.wait_ready()
        try:
            answer = await swarm.forward(request)
            if path == "/swarm/leave" and answer.status == 200:
                await swarm.stop()  # the node exits after a leave: a join that follows gets a new one
            return answer
        except (aiohttp.ClientError, OSError):
            return web.Response(body=json.dumps({"message": NOT_MANAGER}).encode(), status=503,
                                headers={"Content-Type": "application/json"})

    for prefix in PATHS:
        add_route(app, "*", prefix, handler)
        add_route(app, "*", prefix + "/{tail:.*}", handler)
    app.middlewares.append(_swarm_state_middleware(swarm))
    app.middlewares.append(_cluster_networks_middleware(swarm, containers))


INACTIVE = {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
            "Error": "", "RemoteManagers": None}


async def swarm_state(swarm: SwarmProcess) -> dict:
    """Info's Swarm part: the node's answer to GET /swarm/state, or "inactive" without a node."""
    if not swarm.running:
        return INACTIVE
    connector = aiohttp.UnixConnector(path=swarm.socket_path)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get("http://swarm/swarm/state") as answer:
                return await answer.json() if answer.status == 200 else INACTIVE
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
        return INACTIVE


def _swarm_state_middleware(swarm: SwarmProcess):
    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        match = _VERSIONED.match(request.path)
        path = match["rest"] if match else request.path
        response = await handler(request)
        if path not in ("/info", "/_ping") or response.status != 200:
            return response
        state = await swarm_state(swarm)
        if path == "/_ping":
            role = "manager" if state.get("ControlAvailable") else "worker"
            response.headers["Swarm"] = state["LocalNodeState"] + (f"/{role}" if state["LocalNodeState"] == "active"
                                                                    else "")
            return response
        info = json.loads(response.body)
        info["Swarm"] = state
        return web.json_response(info, status=response.status, headers={
            key: value for key, value in response.headers.items() if key.lower() not in ("content-type",
                                                                                         "content-length")})
    return middleware


SWARM_NETWORK_LABEL = "com.docker.swarm.network.id"  # on an engine's copy of a cluster overlay (the agent's)
TASK_LABEL = "com.docker.swarm.task.id"                # on a task's container: the agent's own create
_NOT_CLUSTER = ("default", "bridge", "host", "none")


async def _ask_node(swarm: SwarmProcess, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request to the node's socket: (status, body); 503 when it does not answer."""
    connector = aiohttp.UnixConnector(path=swarm.socket_path)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.request(method, f"http://swarm{path}", data=body,
                                       headers={"Content-Type": "application/json"}) as answer:
                return answer.status, await answer.read()
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        return 503, json.dumps({"message": NOT_MANAGER}).encode()


def _cluster_networks_middleware(swarm: SwarmProcess, containers):
    """[SWARM-042] On a manager, an overlay is the cluster's, as in dockerd (daemon/cluster/networks.go):
    its create goes to the node, `network ls` shows the cluster's overlays with the engine's own,
    and a name the engine does not have is looked up, or removed, there.

    The agent's own create of the engine's copy carries the swarm label and stays here; a node
    that is not a manager answers 503 or 404, and the engine answers as it would alone.
    """
    def _json(status: int, raw: bytes) -> web.Response:
        return web.Response(body=raw, status=status, headers={"Content-Type": "application/json"})

    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        match = _VERSIONED.match(request.path)
        path = match["rest"] if match else request.path
        parts = path.rstrip("/").split("/")  # ["", "networks", ID]
        if swarm.running and request.method == "POST" and parts == ["", "containers", "create"]:
            return await _attach_standalone(swarm, request, handler)
        if (swarm.running and containers is not None and request.method == "POST" and len(parts) == 4
                and parts[:2] == ["", "networks"] and parts[3] in ("connect", "disconnect")):
            return await _connect_standalone(swarm, containers, request, handler)
        if (swarm.running and containers is not None and request.method == "DELETE" and len(parts) == 3
                and parts[1] == "containers"):
            return await _remove_standalone(swarm, containers, parts[2], request, handler)
        if not swarm.running or parts[:2] != ["", "networks"] or len(parts) > 3:
            return await handler(request)
        if request.method == "POST" and parts == ["", "networks", "create"]:
            raw = await request.read()
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return await handler(request)  # the engine's words for bad JSON
            if body.get("Driver") == "overlay" and SWARM_NETWORK_LABEL not in (body.get("Labels") or {}):
                status, answer = await _ask_node(swarm, "POST", "/networks/create", raw)
                if status != 503 or b"Cannot create a multi-host network" in answer:
                    return _json(status, answer)
            return await handler(request)
        if request.method == "GET" and len(parts) == 2:
            response = await handler(request)
            status, answer = await _ask_node(swarm, "GET", "/networks" + (f"?{request.query_string}"
                                                                          if request.query_string else ""))
            if response.status != 200 or status != 200:
                return response
            cluster = json.loads(answer)
            ids = {network["Id"] for network in cluster}
            # the engine's copy of a cluster overlay is shown once, as the cluster's
            local = [n for n in json.loads(response.body)
                     if (n.get("Labels") or {}).get(SWARM_NETWORK_LABEL) not in ids]
            return web.json_response(local + cluster)
        if request.method == "GET" and len(parts) == 3 and parts[2] not in ("create", "prune"):
            try:
                return await handler(request)
            except NotFound:
                status, answer = await _ask_node(swarm, "GET", path)
                if status != 200:
                    raise
                return _json(status, answer)
        if request.method == "DELETE" and len(parts) == 3:
            status, answer = await _ask_node(swarm, "DELETE", path)
            if status not in (404, 503):
                return web.Response(status=204) if status == 204 else _json(status, answer)
        return await handler(request)
    return middleware


async def _remove_standalone(swarm: SwarmProcess, containers, ref: str, request: web.Request,
                             handler) -> web.StreamResponse:
    """[SWARM-055] `rm` of a standalone container on cluster overlays: its claims given back once it is
    gone, as a disconnect gives one back, so that a `network rm` right after is not refused for it.
    (A name the node does not know is the engine's own network: the node answers 404.)"""
    try:
        container = containers.get(ref)
    except NotFound:
        return await handler(request)  # the engine's words
    if TASK_LABEL in (container.config.get("Labels") or {}):
        return await handler(request)
    held = {name: (entry.get("IPAMConfig") or {}).get("IPv4Address") or entry.get("IPAddress")
            for name, entry in (container.network_settings.get("Networks") or {}).items()
            if name not in _NOT_CLUSTER}
    response = await handler(request)
    for name, address in held.items():
        if address and response.status < 300:
            await _ask_node(swarm, "POST", f"/networks/{quote(name, safe='')}/detach",
                            json.dumps({"Address": address}).encode())
    return response


async def _attach_standalone(swarm: SwarmProcess, request: web.Request, handler) -> web.StreamResponse:
    """[SWARM-043] `run --network NAME` where NAME is an attachable cluster overlay: the node claims an
    address from the managers' range and makes the overlay here; the create goes on with that address
    (dockerd asks its cluster for a network attachment in the same place). The node gives the
    address back once no container of this engine is on the network at it."""
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return await handler(request)  # the engine's words for bad JSON
    if not isinstance(body, dict) or TASK_LABEL in (body.get("Labels") or {}):
        return await handler(request)
    mode = (body.get("HostConfig") or {}).get("NetworkMode") or "default"
    endpoints = dict(((body.get("NetworkingConfig") or {}).get("EndpointsConfig")) or {})
    attached = False
    for name in dict.fromkeys([mode, *endpoints]):
        if name in _NOT_CLUSTER or name.startswith("container:"):
            continue
        endpoint = dict(endpoints.get(name) or {})
        wanted = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or ""
        status, answer = await _ask_node(swarm, "POST", f"/networks/{quote(name, safe='')}/attach",
                                         json.dumps({"Address": wanted}).encode())
        if status in (404, 503):
            continue  # not a cluster network (or no manager to ask): the engine's own
        if status != 200:
            return web.Response(body=answer, status=status, headers={"Content-Type": "application/json"})
        address = json.loads(answer)["Address"]
        endpoint["IPAMConfig"] = {**(endpoint.get("IPAMConfig") or {}), "IPv4Address": address}
        endpoints[name] = endpoint
        attached = True
    if attached:
        request["json"] = {**body, "NetworkingConfig": {**(body.get("NetworkingConfig") or {}),
                                                        "EndpointsConfig": endpoints}}
    return await handler(request)


async def _connect_standalone(swarm: SwarmProcess, containers, request: web.Request,
                              handler) -> web.StreamResponse:
    """[SWARM-052] `network connect NAME CONTAINER` of a standalone container (running or created) to
    an attachable cluster overlay: an address claimed as for `run --network` (and refused in the
    same words), the connect going on with it; `network disconnect` gives the claim back once done.
    A name the node does not know is the engine's own network; a task's container is the agent's."""
    network = request.match_info["id"]
    try:
        body = json.loads(await request.read() or b"{}")
        container = containers.get(body["Container"])
    except (ValueError, TypeError, KeyError, NotFound):
        return await handler(request)  # the engine's words for a bad body or an unknown container
    if TASK_LABEL in (container.config.get("Labels") or {}):
        return await handler(request)
    path = f"/networks/{quote(network, safe='')}"
    if request.path.endswith("/disconnect"):
        entry = container.network_settings["Networks"].get(network) or {}
        address = (entry.get("IPAMConfig") or {}).get("IPv4Address") or entry.get("IPAddress")
        response = await handler(request)
        if address and response.status < 300:
            await _ask_node(swarm, "POST", f"{path}/detach", json.dumps({"Address": address}).encode())
        return response
    endpoint = dict(body.get("EndpointConfig") or {})
    wanted = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or ""
    status, answer = await _ask_node(swarm, "POST", f"{path}/attach", json.dumps({"Address": wanted}).encode())
    if status in (404, 503):
        return await handler(request)  # not a cluster network (or no manager to ask)
    if status != 200:
        return web.Response(body=answer, status=status, headers={"Content-Type": "application/json"})
    address = json.loads(answer)["Address"]
    endpoint["IPAMConfig"] = {**(endpoint.get("IPAMConfig") or {}), "IPv4Address": address}
    request["json"] = {**body, "EndpointConfig": endpoint}
    try:
        return await handler(request)
    except BaseException:  # refused by the engine (already connected, a bad alias...): the address goes back
        await _ask_node(swarm, "POST", f"{path}/detach", json.dumps({"Address": address}).encode())
        raise
