"""Network routes: /networks/*.

Implements: spec/networking.md NET-050 .. NET-055
Explained:  chapters/07-networking.md#the-api
Modelled on: moby's api/server/router/network (network_routes.go)

    GET    /networks?filters=            [NetworkResource]; filters name, id, driver, label, type, scope
    GET    /networks/{id}                NetworkResource (with Containers)
    POST   /networks/create              201 {"Id", "Warning"}
    DELETE /networks/{id}                204
    POST   /networks/{id}/connect        {"Container", "EndpointConfig"}    200
    POST   /networks/{id}/disconnect     {"Container", "Force"}             200
    POST   /networks/prune?filters=      {"NetworksDeleted": [names]}

    minidock's extension for swarm (dockerd does this by gossip, inside itself):
    GET    /networks/{id}/peers          {"Peers": [{"IP", "MAC", "VTEP"}]}
    POST   /networks/{id}/peers          {"Peers": [{"IP", "MAC", "VTEP"}]} -> 200 {"Peers": all}
    DELETE /networks/{id}/peers/{ip}     204
    GET    /networks/{id}/vips           {"VIPs": [{"Name", "VIP", "Backends", "Aliases"}]}
    POST   /networks/{id}/vips           {"Name", "VIP", "Backends", "Aliases"} -> 200 the VIP
    DELETE /networks/{id}/vips/{name}    204
    GET    /networks/{id}/ingress        {"Address", "Ports"} or {} (this node's routing mesh)
    POST   /networks/{id}/ingress        {"Address", "Ports": [{"Protocol", "PublishedPort", "TargetPort",
                                          "Backends"}]} -> 200 {"Address", "MAC", "Ports"}
    DELETE /networks/{id}/ingress        204

    register(app, networks, containers, add_route)

Rules: the service's errors, in Docker's words; the handlers only translate.
"""

from __future__ import annotations

from aiohttp import web

from minidock.engine import overlays
from minidock.engine.api.containers import parse_filters
from minidock.engine.api.server import read_json
from minidock.engine.network_views import matches
from minidock.engine.networks import NetworkService
from minidock.errors import InvalidArgument


def register(app: web.Application, networks: NetworkService, containers, add_route) -> None:
    """Add the network routes to ``app``, answered by ``networks``."""

    async def listing(request: web.Request) -> web.Response:
        filters = parse_filters(request)
        chosen = [r for r in networks.networks.values() if matches(r, filters)]
        return web.json_response([networks.inspect(r) for r in sorted(chosen, key=lambda r: r["Created"])])

    async def inspect(request: web.Request) -> web.Response:
        return web.json_response(networks.inspect(networks.lookup(request.match_info["id"])))

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        record = await networks.create(body)
        return web.json_response({"Id": record["Id"], "Warning": ""}, status=201)

    async def remove(request: web.Request) -> web.Response:
        await networks.remove(request.match_info["id"])
        return web.Response(status=204)

    def _container(body: dict):
        name = body.get("Container")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("a container is required (\"Container\")")
        return containers.get(name)

    async def connect(request: web.Request) -> web.Response:
        body = await read_json(request)
        container = _container(body)
        async with containers.lock(container.id):
            await networks.connect(request.match_info["id"], container, body.get("EndpointConfig") or {})
        return web.Response(status=200)

    async def disconnect(request: web.Request) -> web.Response:
        body = await read_json(request)
        container = _container(body)
        async with containers.lock(container.id):
            await networks.disconnect(request.match_info["id"], container)
        return web.Response(status=200)

    async def prune(request: web.Request) -> web.Response:
        removed = await networks.prune(parse_filters(request))
        return web.json_response({"NetworksDeleted": removed})

    async def peers(request: web.Request) -> web.Response:
        record = networks.lookup(request.match_info["id"])
        return web.json_response({"Peers": [p.to_api() for p in overlays.peers_of(record)]})

    async def add_peers(request: web.Request) -> web.Response:
        body = await read_json(request)
        return web.json_response({"Peers": await overlays.add_peers(networks, request.match_info["id"], body)})

    async def remove_peer(request: web.Request) -> web.Response:
        await overlays.remove_peer(networks, request.match_info["id"], request.match_info["ip"])
        return web.Response(status=204)

    async def vips(request: web.Request) -> web.Response:
        record = networks.lookup(request.match_info["id"])
        return web.json_response({"VIPs": [v.to_api() for v in overlays.vips_of(record)]})

    async def set_vip(request: web.Request) -> web.Response:
        body = await read_json(request)
        return web.json_response(await overlays.set_vip(networks, request.match_info["id"], body))

    async def remove_vip(request: web.Request) -> web.Response:
        await overlays.remove_vip(networks, request.match_info["id"], request.match_info["name"])
        return web.Response(status=204)

    async def ingress(request: web.Request) -> web.Response:
        return web.json_response(networks.lookup(request.match_info["id"]).get("ingress") or {})

    async def set_ingress(request: web.Request) -> web.Response:
        body = await read_json(request)
        return web.json_response(await overlays.set_ingress(networks, request.match_info["id"], body))

    async def remove_ingress(request: web.Request) -> web.Response:
        await overlays.remove_ingress(networks, request.match_info["id"])
        return web.Response(status=204)

    add_route(app, "GET", "/networks", listing)
    add_route(app, "GET", "/networks/", listing)
    add_route(app, "POST", "/networks/create", create)
    add_route(app, "POST", "/networks/prune", prune)
    add_route(app, "GET", "/networks/{id}", inspect)
    add_route(app, "DELETE", "/networks/{id}", remove)
    add_route(app, "POST", "/networks/{id}/connect", connect)
    add_route(app, "POST", "/networks/{id}/disconnect", disconnect)
    add_route(app, "GET", "/networks/{id}/peers", peers)
    add_route(app, "POST", "/networks/{id}/peers", add_peers)
    add_route(app, "DELETE", "/networks/{id}/peers/{ip}", remove_peer)
    add_route(app, "GET", "/networks/{id}/vips", vips)
    add_route(app, "POST", "/networks/{id}/vips", set_vip)
    add_route(app, "DELETE", "/networks/{id}/vips/{name}", remove_vip)
    add_route(app, "GET", "/networks/{id}/ingress", ingress)
    add_route(app, "POST", "/networks/{id}/ingress", set_ingress)
    add_route(app, "DELETE", "/networks/{id}/ingress", remove_ingress)
