"""The swarm paths of the Engine API, served by the swarm node on its unix socket.

Implements: spec/swarm.md SWARM-023, SWARM-024, SWARM-027
Explained:  chapters/11-swarm.md#the-api-and-the-cli
Modelled on: moby's api/server/router/swarm (swarm_routes.go)

    GET  /swarm                 Swarm (with JoinTokens)       POST /swarm/init  -> "NODEID"
    POST /swarm/join            POST /swarm/leave?force=
    GET  /nodes?filters=        GET  /nodes/{id}              POST /nodes/{id}/update?version=
    DELETE /nodes/{id}?force=
    GET  /services?filters=&status=     POST /services/create -> 201 {"ID", "Warnings"}
    GET  /services/{id}         POST /services/{id}/update?version=[&rollback=previous]
    DELETE /services/{id}           GET /services/{id}/logs?details=&tail=&timestamps=&follow=
    GET  /tasks?filters=        GET  /tasks/{id}
    GET  /secrets?filters=      POST /secrets/create -> 201 {"ID"}   GET /secrets/{id}   DELETE /secrets/{id}
                                POST /secrets/{id}/update?version=   (the labels only)
    GET  /configs?filters=      the same five paths as /secrets (a config's inspect shows its Data)
    GET  /networks?filters=     POST /networks/create -> 201 {"Id"}   GET /networks/{id}   DELETE /networks/{id}
                                the cluster's overlays (the engine asks here for an overlay's create, for
                                its own listing, and for a name it does not have)
    POST /networks/{id}/attach {"Address"} -> {"Network", "Address"}   (any node: a standalone container)
    POST /networks/{id}/detach {"Address"} -> 204                       (its address given back)

    make_app(node) -> aiohttp Application (paths without /vX.Y: the engine strips it)

Rules: a node outside a swarm, or a worker asked for the cluster's state, answers 503
in dockerd's words; errors leave as {"message"} with the error tree's status.
"""

from __future__ import annotations

import json

from aiohttp import web

from minidock.errors import InvalidArgument, MinidockError, Unavailable
from minidock.swarm import objects
from minidock.swarm.cluster import Cluster, parse_filters
from minidock.swarm import logs, networks, secrets
from minidock.swarm.manager import read_snapshot

NOT_MANAGER = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect "
               "this node to swarm and try again.")
WORKER_NETWORK = ("Cannot create a multi-host network from a worker node. Please create the network from a "
                  "manager node.")
WORKER = ("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. "
          "Please run this command on a manager node or promote the current node to a manager.")


def _error(status: int, message: str) -> web.Response:
    return web.Response(body=json.dumps({"message": message}).encode(), status=status,
                        headers={"Content-Type": "application/json"})


@web.middleware
async def errors_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MinidockError as error:
        return _error(error.status, error.message)
    except web.HTTPNotFound:
        return _error(404, "page not found")


async def _body(request: web.Request) -> dict:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as error:
        raise InvalidArgument(f"invalid JSON body: {error}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: expected an object")
    return body


def make_app(node) -> web.Application:
    """The swarm API of ``node`` (a SwarmNode)."""
    # a config of 1000 KiB is 1.33 MB of base64: past aiohttp's default limit of 1 MiB
    app = web.Application(middlewares=[errors_middleware], client_max_size=4 << 20)

    def cluster() -> Cluster:
        # [SWARM-023] outside a swarm, or on a worker, the cluster's state is not ours to show
        if not node.active:
            raise Unavailable(NOT_MANAGER)
        if not node.is_manager:
            raise Unavailable(WORKER)
        return Cluster(node.store, node.state["node_id"])

    async def swarm_inspect(request: web.Request) -> web.Response:
        store = cluster().store
        entry = await store.get("cluster")
        return web.json_response({**objects.view(entry.value), "Version": {"Index": entry.revision}})

    async def swarm_init(request: web.Request) -> web.Response:
        return web.json_response(await node.init(await _body(request)))

    async def swarm_join(request: web.Request) -> web.Response:
        await node.join(await _body(request))
        return web.Response(status=200)

    async def swarm_leave(request: web.Request) -> web.Response:
        await node.leave(request.query.get("force", "") in ("1", "true", "True"))
        return web.Response(status=200)

    async def swarm_state(request: web.Request) -> web.Response:
        """Info's Swarm part, for the engine's /info and the CLI."""
        if not node.active or "node_id" not in node.state:  # an init or join under way: dockerd's "pending"
            return web.json_response({"NodeID": "", "NodeAddr": "", "ControlAvailable": False, "Error": "",
                                      "LocalNodeState": "pending" if node.active else "inactive",
                                      "RemoteManagers": None})
        return web.json_response({"NodeID": node.state["node_id"], "NodeAddr": node.state["address"],
                                  "LocalNodeState": "active", "ControlAvailable": node.is_manager, "Error": ""})

    async def unlock_key(request: web.Request) -> web.Response:
        cluster()
        return web.json_response({"UnlockKey": ""})

    async def node_list(request: web.Request) -> web.Response:
        return web.json_response(await cluster().nodes(parse_filters(request.query.get("filters"))))

    async def node_inspect(request: web.Request) -> web.Response:
        return web.json_response(await cluster().node(request.match_info["id"]))

    async def node_update(request: web.Request) -> web.Response:
        await cluster().update_node(request.match_info["id"], request.query.get("version"), await _body(request))
        return web.Response(status=200)

    async def node_remove(request: web.Request) -> web.Response:
        await cluster().remove_node(request.match_info["id"], request.query.get("force", "") in ("1", "true"))
        return web.Response(status=200)

    async def service_list(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        status = request.query.get("status", "") in ("1", "true")
        return web.json_response(await cluster().services(filters, status))

    async def service_create(request: web.Request) -> web.Response:
        return web.json_response(await cluster().create_service(await _body(request)), status=201)

    async def service_inspect(request: web.Request) -> web.Response:
        entry = await cluster().service(request.match_info["id"])
        return web.json_response({**objects.view(entry.value), "Version": {"Index": entry.revision}})

    async def service_update(request: web.Request) -> web.Response:
        rollback = request.query.get("rollback") == "previous"
        answer = await cluster().update_service(request.match_info["id"], request.query.get("version"),
                                                await _body(request), rollback)
        return web.json_response(answer)

    async def service_remove(request: web.Request) -> web.Response:
        await cluster().remove_service(request.match_info["id"])
        return web.Response(status=200)

    async def service_logs(request: web.Request) -> web.StreamResponse:
        control = cluster()
        entry = await control.service(request.match_info["id"])
        if request.query.get("follow") in ("1", "true"):
            return await logs.follow(request, control.store, entry.value)  # [SWARM-050]
        body = await logs.service_logs(await read_snapshot(control.store), entry.value, dict(request.query))
        return web.Response(body=body, headers={"Content-Type": "application/vnd.docker.raw-stream"})

    async def task_list(request: web.Request) -> web.Response:
        return web.json_response(await cluster().tasks(parse_filters(request.query.get("filters"))))

    async def task_inspect(request: web.Request) -> web.Response:
        return web.json_response(await cluster().task(request.match_info["id"]))

    async def network_list(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        return web.json_response(await networks.list_networks(cluster().store, filters))

    async def network_create(request: web.Request) -> web.Response:
        if node.active and not node.is_manager:
            raise Unavailable(WORKER_NETWORK)  # [SWARM-042] dockerd's words
        return web.json_response(await networks.create_network(cluster().store, await _body(request)), status=201)

    async def network_inspect(request: web.Request) -> web.Response:
        return web.json_response(networks.network_view(await networks.find_network(cluster().store,
                                                                                   request.match_info["id"])))

    async def network_attach(request: web.Request) -> web.Response:
        """[SWARM-043] Any node's engine, for a standalone container: an address, and the overlay made here."""
        if not node.active:
            raise Unavailable(NOT_MANAGER)
        wanted = (await _body(request)).get("Address") or ""
        record, address = await networks.attach_container(node.store, request.match_info["id"],
                                                          node.state["node_id"], wanted)
        await node.agent.networks.ensure(record)
        return web.json_response({"Network": record["Name"], "Address": address})

    async def network_detach(request: web.Request) -> web.Response:
        """[SWARM-052] The engine, after a `network disconnect` of a standalone container."""
        if not node.active:
            raise Unavailable(NOT_MANAGER)
        await networks.detach_container(node.store, request.match_info["id"], node.state["node_id"],
                                        (await _body(request)).get("Address") or "")
        return web.Response(status=204)

    async def network_remove(request: web.Request) -> web.Response:
        control = cluster()
        await networks.remove_network(control.store, request.match_info["id"], await control.services({}, False))
        return web.Response(status=204)

    def stored(kind: secrets.Kind) -> secrets.DataObjects:
        return secrets.DataObjects(cluster().store, kind)

    def data_routes(kind: secrets.Kind) -> list[tuple]:
        """/secrets or /configs: the same five paths, on records of one kind."""
        async def listing(request: web.Request) -> web.Response:
            return web.json_response(await stored(kind).list(parse_filters(request.query.get("filters"))))

        async def create(request: web.Request) -> web.Response:
            return web.json_response(await stored(kind).create(await _body(request)), status=201)

        async def inspect(request: web.Request) -> web.Response:
            objects_of_kind = stored(kind)
            return web.json_response(objects_of_kind.view(await objects_of_kind.find(request.match_info["id"])))

        async def change(request: web.Request) -> web.Response:
            await stored(kind).update(request.match_info["id"], request.query.get("version"), await _body(request))
            return web.Response(status=200)

        async def remove(request: web.Request) -> web.Response:
            control = cluster()
            services = await control.services({}, status=False)
            await secrets.DataObjects(control.store, kind).remove(request.match_info["id"], services)
            return web.Response(status=204)

        base = f"/{kind.word}s"
        return [("GET", base, listing), ("POST", f"{base}/create", create), ("GET", f"{base}/{{id}}", inspect),
                ("POST", f"{base}/{{id}}/update", change), ("DELETE", f"{base}/{{id}}", remove)]

    routes = [("GET", "/swarm", swarm_inspect), ("POST", "/swarm/init", swarm_init),
              ("POST", "/swarm/join", swarm_join), ("POST", "/swarm/leave", swarm_leave),
              ("GET", "/swarm/state", swarm_state), ("GET", "/swarm/unlockkey", unlock_key),
              ("GET", "/nodes", node_list), ("GET", "/nodes/{id}", node_inspect),
              ("POST", "/nodes/{id}/update", node_update), ("DELETE", "/nodes/{id}", node_remove),
              ("GET", "/services", service_list), ("POST", "/services/create", service_create),
              ("GET", "/services/{id}", service_inspect), ("POST", "/services/{id}/update", service_update),
              ("DELETE", "/services/{id}", service_remove), ("GET", "/services/{id}/logs", service_logs),
              ("GET", "/tasks", task_list), ("GET", "/tasks/{id}", task_inspect),
              *data_routes(secrets.SECRET), *data_routes(secrets.CONFIG),
              ("GET", "/networks", network_list), ("POST", "/networks/create", network_create),
              ("GET", "/networks/{id}", network_inspect), ("DELETE", "/networks/{id}", network_remove),
              ("POST", "/networks/{id}/attach", network_attach),
              ("POST", "/networks/{id}/detach", network_detach)]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app
