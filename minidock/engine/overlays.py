"""Overlay peers, service VIPs, the routing mesh: the engine's side of swarm networking (an extension).

Implements: spec/networking.md NET-100 .. NET-110
Explained:  chapters/07-networking.md#overlay-networks
Modelled on: libnetwork's peerAdd/peerDelete (driven by dockerd's gossip) and its service
             records (addServiceBinding: a VIP and its backends, a DNS name)

    record["peers"]  {ip: {"mac", "vtep"}}                 containers of this network on other hosts
    record["vips"]   {name: {"VIP", "Backends", "Aliases"}} services of this network
    record["ingress"] {"Address", "Ports": [...]}           this node's routing mesh on the network

    await add_peers(networks, name_or_id, body) -> [peer]   POST   /networks/{id}/peers
    await remove_peer(networks, name_or_id, ip)             DELETE /networks/{id}/peers/{ip}
    await set_vip(networks, name_or_id, body) -> vip        POST   /networks/{id}/vips
    await remove_vip(networks, name_or_id, name)            DELETE /networks/{id}/vips/{name}
    await set_ingress(networks, name_or_id, body) -> dict   POST   /networks/{id}/ingress (desired state)
    await drop_ingress(networks, record)                    DELETE /networks/{id}/ingress, and at network rm
    peers_of(record), vips_of(record), reserved(record)     what the record holds; addresses IPAM skips
    await apply_vips(networks, container_id)                one container's VIP table, from all its networks
    restore(networks, record)                               at start: the peers' entries (restore_names: the VIPs')
    await restore_ingress(networks)                         at start, after the sweep: the ingress sandboxes

Rules: dockerd learns its peers by gossip between daemons; minidock's engine is
told them through its API by the swarm agent, which reads them from the cluster
store (etcd). A record is saved before the kernel is changed, so a restart gives
the same entries back. A peer's or VIP's address is never given to a local container.
The ingress sandbox (a namespace of its own, <exec-root>/netns/ingress-<network>) goes
when the daemon stops and is made again from the record when it starts.
"""

from __future__ import annotations

import asyncio
import logging
import os

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.networking import sandbox
from minidock.networking import vip as viplib
from minidock.networking.driver import Endpoint, Published
from minidock.networking.ipam import mac_for
from minidock.networking.links import configure_inside
from minidock.networking.overlay import Peer, parse_peer

log = logging.getLogger("minidockd.overlays")


def peers_of(record: dict) -> list[Peer]:
    return [Peer(ip, p["mac"], p["vtep"]) for ip, p in (record.get("peers") or {}).items()]


def vips_of(record: dict) -> list[viplib.Vip]:
    return [viplib.Vip(name, v["VIP"], tuple(v["Backends"]), tuple(v.get("Aliases") or ()))
            for name, v in (record.get("vips") or {}).items()]


def reserved(record: dict) -> list[str]:
    """Addresses of the subnet that are not this host's to give: the peers', the VIPs', the ingress sandbox's."""
    ingress = [record["ingress"]["Address"]] if record.get("ingress") else []
    return [*(record.get("peers") or {}), *(v["VIP"] for v in (record.get("vips") or {}).values()), *ingress]


def _overlay(networks, name_or_id: str) -> dict:
    record = networks.lookup(name_or_id)
    if record["Driver"] != "overlay":
        raise InvalidArgument(f"network {record['Name']} is not an overlay network (driver {record['Driver']})")
    return record


def _local_addresses(record: dict) -> dict[str, str]:
    return {e["address"]: e["name"] for e in record["endpoints"].values() if e.get("address")}


async def add_peers(networks, name_or_id: str, body: dict) -> list[dict]:
    """[NET-102] [NET-104] Every peer checked first, then all saved and programmed; the network's peers."""
    record = _overlay(networks, name_or_id)
    spec = networks._spec(record)
    entries = body.get("Peers") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise InvalidArgument("a body {\"Peers\": [{\"IP\", \"MAC\", \"VTEP\"}, ...]} is required")
    peers = [parse_peer(entry, spec.pool) for entry in entries]
    local = _local_addresses(record)
    vips = {v.address for v in vips_of(record)}
    for peer in peers:
        if peer.address in local or peer.address in vips:
            # [NET-104] one address, one place: a peer cannot take a local container's or a VIP's
            raise Conflict(f"peer address {peer.address} is already in use on this host "
                           f"({local.get(peer.address) or 'a VIP'})")
    stored = record.setdefault("peers", {})
    for peer in peers:
        stored[peer.address] = {"mac": peer.mac, "vtep": peer.vtep}
    networks._save(record)
    driver = networks.drivers["overlay"]
    for peer in peers:
        await asyncio.to_thread(driver.add_peer, spec, peer)
    return [p.to_api() for p in peers_of(record)]


async def remove_peer(networks, name_or_id: str, address: str) -> None:
    """[NET-103] The peer's entries gone; an unknown one is 404."""
    record = _overlay(networks, name_or_id)
    stored = (record.get("peers") or {}).pop(address, None)
    if stored is None:
        raise NotFound(f"peer {address} not found in network {record['Name']}")
    networks._save(record)
    await asyncio.to_thread(networks.drivers["overlay"].remove_peer, networks._spec(record),
                            Peer(address, stored["mac"], stored["vtep"]))


def _user_network(networks, name_or_id: str) -> dict:
    record = networks.lookup(name_or_id)
    if record.get("predefined") or record["Driver"] not in ("bridge", "overlay"):
        raise InvalidArgument(f"service VIPs are for user-defined bridge and overlay networks, "
                              f"not {record['Name']}")
    return record


async def set_vip(networks, name_or_id: str, body: dict) -> dict:
    """[NET-107] A service's VIP made or changed (its backends), in every local container on the network."""
    record = _user_network(networks, name_or_id)
    wanted = viplib.parse_vip(body, networks._spec(record).pool)
    local = _local_addresses(record)
    others = {v.address: v.name for v in vips_of(record) if v.name != wanted.name}
    if wanted.address in local or wanted.address in others or wanted.address in (record.get("peers") or {}):
        raise Conflict(f"VIP {wanted.address} is already in use "
                       f"({local.get(wanted.address) or others.get(wanted.address) or 'a peer'})")
    record.setdefault("vips", {})[wanted.name] = {k: v for k, v in wanted.to_api().items() if k != "Name"}
    networks._save(record)
    if networks.dns is not None:
        # [NET-108] the service's name answers with its VIP
        networks.dns.add(record["Id"], f"vip:{wanted.name}", wanted.address, [wanted.name, *wanted.aliases])
    for container_id in {e["container"] for e in record["endpoints"].values()}:
        await apply_vips(networks, container_id)
    return wanted.to_api()


async def remove_vip(networks, name_or_id: str, name: str) -> None:
    """The VIP's rules and name gone; an unknown one is 404."""
    record = _user_network(networks, name_or_id)
    if (record.get("vips") or {}).pop(name, None) is None:
        raise NotFound(f"VIP {name} not found in network {record['Name']}")
    networks._save(record)
    if networks.dns is not None:
        networks.dns.remove(record["Id"], f"vip:{name}")
    for container_id in {e["container"] for e in record["endpoints"].values()}:
        await apply_vips(networks, container_id)


async def apply_vips(networks, container_id: str) -> None:
    """[NET-108] The container's VIP table: the VIPs of every network it has an endpoint on."""
    netns = os.path.join(networks.netns_root, container_id)
    if not os.path.exists(netns):
        return
    vips = [v for r in networks.networks.values()
            if any(e["container"] == container_id for e in r["endpoints"].values()) for v in vips_of(r)]
    await asyncio.to_thread(viplib.apply, netns, vips)


def restore(networks, record: dict) -> None:
    """At the daemon's start, in its thread: the peers' FDB and neighbour entries again."""
    driver = networks.drivers["overlay"]
    spec = networks._spec(record)
    for peer in peers_of(record):
        try:
            driver.add_peer(spec, peer)
        except Exception:  # noqa: BLE001 - the others still go in
            log.exception("cannot add peer %s to %s", peer.address, record["Name"])


def restore_names(networks, record: dict) -> None:
    """At the daemon's start: the services' names in the embedded DNS again."""
    for vip in vips_of(record):
        networks.dns.add(record["Id"], f"vip:{vip.name}", vip.address, [vip.name, *vip.aliases])


# -- the routing mesh -------------------------------------------------------------------------------


def _ingress_path(networks, record: dict) -> str:
    return os.path.join(networks.netns_root, f"ingress-{record['Id'][:12]}")


def _ingress_endpoint(record: dict, address: str) -> Endpoint:
    return Endpoint(f"ingress-{record['Id']}", f"ingress-{record['Id'][:4]}", "eth0", address, mac_for(address),
                    f"ving{record['Id'][:11]}", default_route=True)


def _published(record: dict) -> list[Published]:
    ingress = record.get("ingress") or {"Ports": []}
    return [Published(p["Protocol"], "", p["PublishedPort"], ingress["Address"], p["TargetPort"])
            for p in ingress["Ports"]]


async def set_ingress(networks, name_or_id: str, body: dict) -> dict:
    """[NET-110] This node's mesh made what ``body`` says: its sandbox, the host's DNAT, the balancing."""
    record = _overlay(networks, name_or_id)
    spec = networks._spec(record)
    address, ports = viplib.parse_ingress(body, spec.pool)
    taken = {*(record.get("peers") or {}), *(v.address for v in vips_of(record)), *_local_addresses(record)}
    if address in taken:
        # [NET-110] the sandbox is a peer of the other nodes: its address is its own
        raise Conflict(f"ingress address {address} is already in use")
    if record.get("ingress") and record["ingress"]["Address"] != address:
        await drop_ingress(networks, record)
    driver = networks.drivers["overlay"]
    path = _ingress_path(networks, record)
    old = _published(record)
    record["ingress"] = {"Address": address, "Ports": [p.to_api() for p in ports]}
    networks._save(record)

    def make() -> None:
        if not os.path.exists(path):
            sandbox.create(path)
            endpoint = _ingress_endpoint(record, address)
            networks.links.add_veth(endpoint.host_veth, spec.bridge, path, endpoint.mac,
                                    endpoint.container_id, "eth0", spec.mtu)
            configure_inside(path, "eth0", f"{address}/{spec.pool.subnet.prefixlen}", str(spec.pool.gateway))
            with sandbox.inside(path), open("/proc/sys/net/ipv4/ip_forward", "w") as file:
                file.write("1")  # a new namespace forwards nothing
        viplib.load(path, viplib.ingress_ruleset(address, ports))
        for port in old:
            driver.unpublish(spec, port)
        for port in _published(record):
            driver.publish(spec, port)
    try:
        await asyncio.to_thread(make)
    except BaseException:
        await drop_ingress(networks, record)
        raise
    return record["ingress"] | {"MAC": mac_for(address)}


async def drop_ingress(networks, record: dict) -> None:
    """The node's mesh on the network gone: the host's DNAT, then the sandbox (its veth dies with it)."""
    if not record.get("ingress"):
        return
    spec = networks._spec(record)
    old = _published(record)
    endpoint = _ingress_endpoint(record, record["ingress"]["Address"])
    del record["ingress"]
    networks._save(record)

    def clean() -> None:
        for port in old:
            networks.drivers["overlay"].unpublish(spec, port)
        close_ingress(networks, record)
        networks.links.remove(endpoint.host_veth)
    await asyncio.to_thread(clean)


async def restore_ingress(networks) -> None:
    """At the daemon's start, once the old namespaces are swept: each node's mesh made again from its record."""
    for record in list(networks.networks.values()):
        ingress = record.pop("ingress", None) if record["Driver"] == "overlay" else None
        if ingress is None:
            continue
        try:
            await set_ingress(networks, record["Id"], ingress)  # from nothing: no old ports to take back
        except Exception:  # noqa: BLE001 - the daemon starts without it; the agent may post it again
            log.exception("cannot make the ingress of %s again", record["Name"])


def close_ingress(networks, record: dict) -> None:
    """The sandbox's namespace unmounted (the kernel deletes its veth when it ends); the rules stay."""
    sandbox.remove(_ingress_path(networks, record))


async def remove_ingress(networks, name_or_id: str) -> None:
    """DELETE /networks/{id}/ingress: 404 when the node has none on the network."""
    record = _overlay(networks, name_or_id)
    if not record.get("ingress"):
        raise NotFound(f"network {record['Name']} has no ingress on this node")
    await drop_ingress(networks, record)
