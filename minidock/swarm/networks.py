"""Overlay networks of the swarm: the cluster's records, their addresses, and each node's engine kept in step.

Implements: spec/swarm.md SWARM-004, SWARM-031, SWARM-042, SWARM-043, SWARM-052, SWARM-053, SWARM-054,
            SWARM-055
Explained:  chapters/11-swarm.md#networks
Modelled on: swarmkit's network allocator (subnets, VIPs, task addresses on the managers)
             and dockerd's cluster networking (each node's overlay, its peers, its VIPs)

    The managers (pure helpers and the records):
      ensure_network(store, name) -> record      networks/NAME: ID, Subnet, Gateway, VNI
                                                 (its index claimed first: network-indexes/K)
      free_address(subnet, used, first, last)    the lowest free host address of a range
      create_network / list_networks / find_network / remove_network    a manager's /networks
                                                 (rm refused while a service or a container is on it)
      attach_container(store, ref, node_id)      a standalone container's address (attachments/)
      detach_container(store, ref, node_id, a)   that address given back (network disconnect)
      in_the_way(record, copies, live)           an engine's stale copies a new network would collide with
      TASKS, SANDBOXES, VIPS                     how a /24 is shared out (see below)
    Each node (NetworkAgent, called by the agent after its task pass):
      the overlays its tasks use (and "ingress" when a service publishes a port) made on
      its engine, with the cluster's VNI and subnet and its own VTEP; the other nodes'
      task addresses given as peers (POST /networks/{id}/peers); each service's VIP and
      backends (POST /networks/{id}/vips); its ingress sandbox and the published ports
      (POST /networks/{id}/ingress), the sandbox's address and MAC published for the others;
      a removed network's copy that holds the new one's VNI, subnet or name replaced first

Rules: addresses are chosen by the managers and written in the records (NetworksAttachments
of a task, Endpoint.VirtualIPs of a service), never by an engine, whose IPAM sees only its
own host. A /24 is split in three ranges so that three writers never pick the same address:
tasks .2-.199 (the leader), ingress sandboxes .200-.219 (each node for itself), VIPs .220-.254
(the manager that takes the service create). The engine's side is the overlay driver
(minidock/networking/overlay.py, chapter 7); this module only asks for it through the API.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
import urllib.parse

from minidock.errors import (Conflict, Forbidden, InvalidArgument, MinidockError, NotFound, NotImplemented,
                             Unavailable)
from minidock.swarm import objects
from minidock.swarm.store import PREFIX, Store

INGRESS = "ingress"
ATTACHMENT_GRACE = 15.0  # seconds a claim waits for its container (the engine creates it after the claim)
TASKS, SANDBOXES, VIPS = (2, 199), (200, 219), (220, 254)
FIRST_VNI = 4096
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
INDEXES = "network-indexes/"  # network-indexes/K: index K taken (its VNI and default subnet), SWARM-054
NETWORK_LABEL = "com.docker.swarm.network.id"  # on an engine's copy: the cluster network it stands for
_NETWORK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")  # the engine's rule for a network's name


def free_address(subnet: str, used: set[str], first: int, last: int) -> str:
    """The lowest host address of ``subnet`` numbered ``first`` .. ``last`` that is not in ``used``."""
    network = ipaddress.ip_network(subnet)
    for number in range(first, last + 1):
        address = str(network.network_address + number)
        if address not in used:
            return address
    raise Unavailable(f"could not find an available IP while allocating in {subnet}")


def _overlaps(subnet: str, records: list[dict]) -> bool:
    return any(ipaddress.ip_network(subnet).overlaps(ipaddress.ip_network(r["Subnet"])) for r in records)


async def _make_network(store: Store, name: str, subnet: str = "", attachable: bool = False,
                        labels: dict | None = None) -> dict:
    """A new record: the first free index K gives the VNI (4096+K) and, without ``subnet``, 10.0.K.0/24.

    [SWARM-054] K is claimed before the record is written: the key network-indexes/K, made only
    if it does not exist (a transaction on its create_revision), so two managers making networks
    at the same moment never both take it; the one that loses tries the next free index."""
    records = [e.value for e in await store.prefix("networks/")]
    taken = {r["Index"] for r in records} | {int(e.key.rsplit("/", 1)[1]) for e in await store.prefix(INDEXES)}
    free = [k for k in range(0 if name == INGRESS else 1, 256)
            if k not in taken and (subnet or not _overlaps(f"10.0.{k}.0/24", records))]
    index = await _claim_index(store, name, free)
    subnet = subnet or f"10.0.{index}.0/24"
    stamp = objects.timestamp()
    record = {"ID": objects.new_id(), "Name": name, "Index": index, "Subnet": subnet,
              "Gateway": str(ipaddress.ip_network(subnet).network_address + 1), "VNI": FIRST_VNI + index,
              "CreatedAt": stamp, "Attachable": attachable, "Labels": labels or {}}
    if not await store.create(f"networks/{name}", record):
        await store.delete(f"{INDEXES}{index}")  # another manager made it first, with an index of its own
        return (await store.get(f"networks/{name}")).value
    return record


async def _claim_index(store: Store, name: str, free: list[int]) -> int:
    """The first index of ``free`` whose key this manager made; another's claim means the next."""
    for index in free:
        if await store.create(f"{INDEXES}{index}", {"Network": name}):
            return index
    raise Unavailable("no free subnet for a new overlay network")


async def ensure_network(store: Store, name: str) -> dict:
    """The cluster's overlay called ``name`` (or whose ID it is: the docker CLI sends IDs), made on
    first use: subnet 10.0.K.0/24, VNI 4096+K (ingress: K=0)."""
    entry = await store.get(f"networks/{name}")
    if entry is not None:
        return entry.value
    by_id = [e.value for e in await store.prefix("networks/") if e.value["ID"] == name]
    return by_id[0] if by_id else await _make_network(store, name)


def network_view(record: dict) -> dict:
    """A cluster network as the Engine API shows it (NetworkResource, scope swarm)."""
    return {"Name": record["Name"], "Id": record["ID"], "Created": record["CreatedAt"], "Scope": "swarm",
            "Driver": "overlay", "EnableIPv6": False, "Internal": False,
            "Attachable": bool(record.get("Attachable")), "Ingress": record["Name"] == INGRESS,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": record["Subnet"], "Gateway": record["Gateway"]}]},
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
            "Options": {VNI_OPTION: str(record["VNI"])},
            "Labels": record.get("Labels") or {}}


async def find_network(store: Store, ref: str) -> dict:
    """A cluster network by name, ID or unique ID prefix."""
    records = [e.value for e in await store.prefix("networks/")]
    found = [r for r in records if ref in (r["Name"], r["ID"])] or \
        ([r for r in records if r["ID"].startswith(ref)] if ref else [])
    if len(found) != 1:
        raise NotFound(f"network {ref} not found")
    return found[0]


async def list_networks(store: Store, filters: dict[str, list[str]]) -> list[dict]:
    """GET /networks on a manager: the cluster's overlays, with dockerd's name, id, driver and scope filters."""
    shown = []
    for entry in sorted(await store.prefix("networks/"), key=lambda e: e.value["CreatedAt"]):
        view = network_view(entry.value)
        if "name" in filters and not any(n in view["Name"] for n in filters["name"]):
            continue
        if "id" in filters and not any(view["Id"].startswith(i) for i in filters["id"]):
            continue
        if any(key in filters and view[field] not in filters[key]
               for key, field in (("driver", "Driver"), ("scope", "Scope"))):
            continue
        shown.append(view)
    return shown


async def create_network(store: Store, body: dict) -> dict:
    """POST /networks/create of an overlay on a manager: a cluster network, made before any service uses it."""
    name = body.get("Name") or ""
    if not _NETWORK_NAME.match(name):
        raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    if await store.get(f"networks/{name}") is not None:
        # [SWARM-042] dockerd's words for a name in use
        raise Conflict(f"network with name {name} already exists")
    if body.get("EnableIPv6") or body.get("Internal"):
        # not silently ignored: the cluster's overlays are IPv4 and reach outside through their hosts
        raise NotImplemented("minidock's cluster overlays have no --ipv6 and no --internal")
    configs = (body.get("IPAM") or {}).get("Config") or []
    subnet = ""
    if configs:
        try:
            network = ipaddress.ip_network(configs[0].get("Subnet") or "")
        except ValueError:
            raise InvalidArgument(f"invalid subnet {configs[0].get('Subnet')!r}: expected a CIDR") from None
        if network.version != 4 or network.prefixlen > 24:
            # the address ranges (TASKS, SANDBOXES, VIPS) are numbered within the first 256 addresses
            raise InvalidArgument(f"invalid subnet {network}: minidock's overlays need an IPv4 /24 or larger")
        if _overlaps(str(network), [e.value for e in await store.prefix("networks/")]):
            raise Forbidden("Pool overlaps with other one on this address space")  # [SWARM-042] Docker's words
        subnet = str(network)
    record = await _make_network(store, name, subnet, bool(body.get("Attachable")), body.get("Labels") or {})
    return {"Id": record["ID"], "Warning": ""}


async def remove_network(store: Store, ref: str, services: list[dict]) -> None:
    """DELETE /networks/{id} of a cluster network: refused while a service uses it, or a standalone
    container (a claim of a live node: a dead node's claims go with it)."""
    record = await find_network(store, ref)
    in_use = "rpc error: code = FailedPrecondition desc = network {} is in use by {} {}"  # swarmkit's words
    for service in services:
        if any(v["NetworkID"] == record["ID"] for v in (service.get("Endpoint") or {}).get("VirtualIPs") or []):
            raise Forbidden(in_use.format(record["ID"], "service", service["ID"]))  # [SWARM-042]
    for claim in await store.prefix(f"attachments/{record['Name']}/"):
        if await store.get(f"alive/{claim.value['NodeID']}") is not None:
            # [SWARM-055] swarmkit makes each standalone container a network attachment task: its words for one
            raise Forbidden(in_use.format(record["ID"], "task", claim.value.get("ID") or claim.value["Address"]))
    await store.delete(f"networks/{record['Name']}")
    await store.delete(f"{INDEXES}{record['Index']}")  # after the record: a new network may take it now


async def attach_container(store: Store, ref: str, node_id: str, wanted: str = "") -> tuple[dict, str]:
    """[SWARM-043] A standalone container on an attachable cluster overlay: an address of the tasks'
    range claimed for it (attachments/NETWORK/ADDRESS), from the top down while the leader takes
    the lowest free one, so the two meet only in a full network."""
    record = await find_network(store, ref)
    if not record.get("Attachable"):
        # dockerd's words
        raise Forbidden(f"Could not attach to network {ref}: rpc error: code = PermissionDenied desc = network "
                        f"{record['Name']} not manually attachable")
    used = used_addresses([e.value for e in await store.prefix("tasks/")]).get(record["Name"], set())
    network = ipaddress.ip_network(record["Subnet"])
    candidates = [wanted] if wanted else [str(network.network_address + n) for n in range(TASKS[1], TASKS[0] - 1, -1)]
    for address in candidates:
        claim = {"ID": objects.new_id(), "Network": record["Name"], "Address": address, "NodeID": node_id,
                 "MAC": "", "Created": time.time()}
        if address not in used and await store.create(f"attachments/{record['Name']}/{address}", claim):
            return record, address
    raise Conflict(f"Address already in use: {wanted}" if wanted else
                   f"could not find an available IP while allocating in {record['Subnet']}")


async def detach_container(store: Store, ref: str, node_id: str, address: str) -> None:
    """[SWARM-052] A standalone container left the network (`network disconnect`): this node's
    claim on its address given back now, not at the next pass that finds it unused."""
    record = await find_network(store, ref)
    claim = await store.get(f"attachments/{record['Name']}/{address}")
    if claim is not None and claim.value["NodeID"] == node_id:
        await store.delete(f"attachments/{record['Name']}/{address}")


async def attach_service(store: Store, spec: dict, services: list[dict]) -> list[dict]:
    """The networks a ServiceSpec uses (its own, and ingress for a published port), made if
    needed; returns the service's Endpoint.VirtualIPs, one VIP on each."""
    names = [n.get("Target") for n in spec["TaskTemplate"].get("Networks") or spec.get("Networks") or []]
    if any(p.get("PublishMode", "ingress") == "ingress" for p in (spec.get("EndpointSpec") or {}).get("Ports") or []):
        names.append(INGRESS)
    vips = []
    for name in dict.fromkeys(names):
        record = await ensure_network(store, name)
        used = {v["Addr"].split("/")[0] for s in services for v in (s.get("Endpoint") or {}).get("VirtualIPs") or []
                if v["NetworkID"] == record["ID"] and s["Spec"]["Name"] != spec["Name"]}
        mine = [v for s in services if s["Spec"]["Name"] == spec["Name"]
                for v in (s.get("Endpoint") or {}).get("VirtualIPs") or [] if v["NetworkID"] == record["ID"]]
        prefix = ipaddress.ip_network(record["Subnet"]).prefixlen
        address = mine[0]["Addr"] if mine else f"{free_address(record['Subnet'], used, *VIPS)}/{prefix}"
        vips.append({"NetworkID": record["ID"], "Addr": address})
    return vips


def task_networks(service: dict, networks: dict[str, dict]) -> list[dict]:
    """The cluster networks a service's tasks join (records by name), in the service's order."""
    by_id = {record["ID"]: record for record in networks.values()}
    return [by_id[v["NetworkID"]] for v in (service.get("Endpoint") or {}).get("VirtualIPs") or []
            if v["NetworkID"] in by_id]


def attachments(service: dict, networks: dict[str, dict], used: dict[str, set[str]]) -> list[dict]:
    """A new task's NetworksAttachments: an address on each of its networks, chosen from ``used``."""
    chosen = []
    for record in task_networks(service, networks):
        taken = used.setdefault(record["Name"], set())
        address = free_address(record["Subnet"], taken, *TASKS)
        taken.add(address)
        chosen.append({"Network": {"ID": record["ID"], "Spec": {"Name": record["Name"], "Driver": "overlay"}},
                       "Addresses": [f"{address}/{ipaddress.ip_network(record['Subnet']).prefixlen}"]})
    return chosen


def used_addresses(tasks: list[dict]) -> dict[str, set[str]]:
    """Every task address in the records, by network name."""
    used: dict[str, set[str]] = {}
    for task in tasks:
        for attachment in task.get("NetworksAttachments") or []:
            name = attachment["Network"]["Spec"]["Name"]
            used.setdefault(name, set()).update(a.split("/")[0] for a in attachment["Addresses"])
    return used


def in_the_way(record: dict, copies: list[dict], live: set[str]) -> list[dict]:
    """[SWARM-053] The engine's copies of removed cluster networks that ``record`` would collide
    with on that engine: the same name, the same VNI or an overlapping subnet.

    The managers give a removed network's index (so its VNI and subnet) to the next network at
    once, while a node's engine may still hold the old one's copy (a container of a removed
    service is still stopping on it). Two live networks never share any of the three, so a copy
    that collides and is of no live network (``live``: the records' IDs) is stale, never in use.
    """
    subnet = ipaddress.ip_network(record["Subnet"])
    stale = []
    for copy in copies:
        cluster_id = (copy.get("Labels") or {}).get(NETWORK_LABEL)
        if not cluster_id or cluster_id in live:
            continue  # the engine's own network, or the copy of a network the cluster still has
        subnets = [ipaddress.ip_network(c["Subnet"]) for c in (copy.get("IPAM") or {}).get("Config") or []
                   if c.get("Subnet") and ":" not in c["Subnet"]]
        if (copy["Name"] == record["Name"] or (copy.get("Options") or {}).get(VNI_OPTION) == str(record["VNI"])
                or any(subnet.overlaps(s) for s in subnets)):
            stale.append(copy)
    return stale


class NetworkAgent:
    """One node's engine kept in step with the cluster's overlays: networks, peers, VIPs, the mesh."""

    def __init__(self, store: Store, node_id: str, address: str, engine_call) -> None:
        self.store, self.node_id, self.address = store, node_id, address
        self.engine = engine_call            # the agent's async (method, path, body) -> JSON
        self.made: dict[str, tuple[str, str]] = {}  # name -> (cluster ID, the engine copy's ID) of our copies
        self.peers: dict[str, dict] = {}     # network -> {ip: peer} as last sent
        self.vips: dict[str, dict] = {}      # network -> {name: vip} as last sent
        self.mesh: dict | None = None        # the ingress body last sent
        self.making = asyncio.Lock()         # two tasks starting at once must not both make the network

    async def ensure(self, record: dict) -> None:
        """The cluster's overlay on this engine, with the cluster's VNI and subnet and our VTEP."""
        async with self.making:
            await self._ensure(record)

    async def _ensure(self, record: dict) -> None:
        if self.made.get(record["Name"], ("", ""))[0] == record["ID"]:
            return
        live = {e.value["ID"] for e in await self.store.prefix("networks/")}
        for copy in in_the_way(record, await self.engine("GET", "/networks"), live):
            await self._replace(copy)  # [SWARM-053] a removed network's copy that holds our VNI or name
        body = {"Name": record["Name"], "Driver": "overlay", "Attachable": True, "CheckDuplicate": True,
                "IPAM": {"Driver": "default", "Config": [{"Subnet": record["Subnet"], "Gateway": record["Gateway"]}]},
                "Options": {VNI_OPTION: str(record["VNI"]), "minidock.overlay.vtep": self.address},
                # the swarm label keeps the engine from sending this create back to the managers
                "Labels": {**(record.get("Labels") or {}), NETWORK_LABEL: record["ID"]}}
        try:
            engine_id = (await self.engine("POST", "/networks/create", body))["Id"]
        except Conflict:
            copy = await self.engine("GET", f"/networks/{urllib.parse.quote(record['Name'])}")
            if (copy.get("Labels") or {}).get(NETWORK_LABEL) != record["ID"]:
                raise
            engine_id = copy["Id"]  # ours, made before this process started
        self.made[record["Name"]] = (record["ID"], engine_id)

    async def _replace(self, copy: dict) -> None:
        """A stale copy removed now rather than on a later pass: whatever is still on it (a removed
        service's container in its stop grace period) is disconnected first. By the engine's ID:
        its name may already be a live cluster network's, which a DELETE by name would remove."""
        inspected = await self.engine("GET", f"/networks/{copy['Id']}")
        for container in inspected.get("Containers") or {}:
            try:
                await self.engine("POST", f"/networks/{copy['Id']}/disconnect", {"Container": container, "Force": True})
            except MinidockError:
                pass  # removed meanwhile
        await self.engine("DELETE", f"/networks/{copy['Id']}")
        self._drop(copy["Name"])

    async def _forget(self, name: str) -> None:
        """A cluster network removed (network rm on a manager): this engine's copy goes too."""
        try:
            await self.engine("DELETE", f"/networks/{self.made[name][1]}")
        except NotFound:
            pass
        except MinidockError:
            return  # a container of a removed service is still on it: again on a later pass
        self._drop(name)

    def _drop(self, name: str) -> None:
        """What we told the engine of a copy that is gone, forgotten with it."""
        if name == INGRESS:
            self.mesh = None
        self.made.pop(name, None)
        self.peers.pop(name, None)
        self.vips.pop(name, None)

    async def sync(self, tasks: list[dict], statuses: dict[str, dict], services: list[dict],
                   nodes: dict[str, dict]) -> None:
        """Peers, VIPs and the routing mesh of every overlay this engine has, from the records."""
        networks = {e.value["Name"]: e.value for e in await self.store.prefix("networks/")}
        running = [t for t in tasks if t["DesiredState"] == "running"
                   and (statuses.get(t["ID"]) or {}).get("State") == "running"]
        publishing = [s for s in services if any(p.get("PublishMode", "ingress") == "ingress"
                                                 for p in (s["Spec"].get("EndpointSpec") or {}).get("Ports") or [])]
        if publishing and INGRESS in networks:
            await self.ensure(networks[INGRESS])  # [SWARM-031] every node answers a published port
        sandboxes = {e.key.rsplit("/", 1)[1]: e.value for e in await self.store.prefix("ingress-nodes/")}
        attached = await self._attachments()
        current = {name for name, (cluster_id, _) in self.made.items()
                   if (networks.get(name) or {}).get("ID") == cluster_id}
        for name in sorted(set(self.made) - current):
            await self._forget(name)  # [SWARM-042] removed (or removed and made again: a new ID)
        for name in sorted(current):
            await self._peers(name, running, statuses, nodes, sandboxes, attached)
            await self._vips(name, networks[name], running, services)
        if publishing and INGRESS in current:
            await self._mesh(networks[INGRESS], running, publishing)

    async def _attachments(self) -> list[dict]:
        """Every standalone container's claim; ours kept true: its MAC written once its container
        is on the network at that address, the claim given back once no container is: removed, or
        disconnected behind the node's back (at once if its container was seen there, its MAC
        written; else after a grace for a create or connect in flight)."""
        claims = {e.key: e.value for e in await self.store.prefix("attachments/")}
        mine = {key: claim for key, claim in claims.items() if claim["NodeID"] == self.node_id}
        if not mine:
            return list(claims.values())
        live = {}  # (network, address) -> container, from the endpoints' configs (a created container too)
        for container in await self.engine("GET", "/containers/json?all=1"):
            for network, entry in ((container.get("NetworkSettings") or {}).get("Networks") or {}).items():
                address = (entry.get("IPAMConfig") or {}).get("IPv4Address") or entry.get("IPAddress")
                live[(network, address)] = container["Id"]
        for key, claim in mine.items():
            container = live.get((claim["Network"], claim["Address"]))
            short = key.removeprefix(PREFIX)
            if container is None and (claim["MAC"] or time.time() - claim["Created"] > ATTACHMENT_GRACE):
                await self.store.delete(short)
                del claims[key]
            elif container is not None and not claim["MAC"]:
                inspected = await self.engine("GET", f"/containers/{container}/json")
                mac = ((inspected["NetworkSettings"]["Networks"].get(claim["Network"]) or {}).get("MacAddress")
                       or "")
                if mac:
                    claims[key] = {**claim, "MAC": mac}
                    await self.store.put(short, claims[key])
        return list(claims.values())

    async def _peers(self, name: str, running: list[dict], statuses: dict, nodes: dict, sandboxes: dict,
                     standalone: list[dict]) -> None:
        wanted = {}
        for task in running:
            attached = ((statuses.get(task["ID"]) or {}).get("_attachments") or {}).get(name)
            node = nodes.get(task["NodeID"])
            if attached and task["NodeID"] != self.node_id and node:
                wanted[attached["IP"]] = {"IP": attached["IP"], "MAC": attached["MAC"], "VTEP": node["Status"]["Addr"]}
        for claim in standalone:  # [SWARM-043] the other nodes' standalone containers, once they exist
            node = nodes.get(claim["NodeID"])
            if claim["Network"] == name and claim["NodeID"] != self.node_id and claim["MAC"] and node:
                wanted[claim["Address"]] = {"IP": claim["Address"], "MAC": claim["MAC"], "VTEP": node["Status"]["Addr"]}
        if name == INGRESS:
            wanted.update({s["Address"]: {"IP": s["Address"], "MAC": s["MAC"], "VTEP": s["VTEP"]}
                           for node_id, s in sandboxes.items() if node_id != self.node_id and s.get("MAC")})
        sent = self.peers.setdefault(name, {})
        new = [peer for ip, peer in wanted.items() if sent.get(ip) != peer]
        if new:
            await self.engine("POST", f"/networks/{name}/peers", {"Peers": new})  # [SWARM-004]
        for ip in set(sent) - set(wanted):
            try:
                await self.engine("DELETE", f"/networks/{name}/peers/{ip}")
            except NotFound:
                pass
        self.peers[name] = wanted

    async def _vips(self, name: str, record: dict, running: list[dict], services: list[dict]) -> None:
        wanted = {}
        for service in services:
            vip = [v for v in (service.get("Endpoint") or {}).get("VirtualIPs") or [] if v["NetworkID"] == record["ID"]]
            if not vip or name == INGRESS:
                continue
            backends = _backends(running, service["ID"], record["ID"])
            wanted[service["Spec"]["Name"]] = {"Name": service["Spec"]["Name"], "VIP": vip[0]["Addr"].split("/")[0],
                                               "Backends": backends, "Aliases": []}
        sent = self.vips.setdefault(name, {})
        for vip_name, vip in wanted.items():
            if sent.get(vip_name) != vip:
                await self.engine("POST", f"/networks/{name}/vips", vip)  # [SWARM-031] the name balances
        for vip_name in set(sent) - set(wanted):
            try:
                await self.engine("DELETE", f"/networks/{name}/vips/{vip_name}")
            except NotFound:
                pass
        self.vips[name] = wanted

    async def _mesh(self, record: dict, running: list[dict], publishing: list[dict]) -> None:
        """This node's ingress sandbox: its address claimed once, the published ports and their tasks."""
        mine = await self.store.get(f"ingress-nodes/{self.node_id}")
        if mine is None:
            address = await self._claim_sandbox(record)
        else:
            address = mine.value["Address"]
        ports = []
        for service in publishing:
            backends = _backends(running, service["ID"], record["ID"])
            for port in service["Spec"]["EndpointSpec"]["Ports"]:
                if port.get("PublishMode", "ingress") == "ingress":
                    ports.append({"Protocol": port.get("Protocol", "tcp"), "PublishedPort": port["PublishedPort"],
                                  "TargetPort": port["TargetPort"], "Backends": backends})
        body = {"Address": address, "Ports": ports}
        if body == self.mesh:
            return
        answer = await self.engine("POST", f"/networks/{INGRESS}/ingress", body)
        self.mesh = body
        if mine is None or mine.value.get("MAC") != answer.get("MAC"):
            await self.store.put(f"ingress-nodes/{self.node_id}",
                                 {"Address": address, "MAC": answer.get("MAC", ""), "VTEP": self.address})

    async def _claim_sandbox(self, record: dict) -> str:
        """An address of the sandbox range, claimed with a create so that two nodes never share one."""
        for number in range(SANDBOXES[0], SANDBOXES[1] + 1):
            address = free_address(record["Subnet"], set(), number, number)
            if await self.store.create(f"ingress-addresses/{address}", {"node": self.node_id}):
                await self.store.put(f"ingress-nodes/{self.node_id}", {"Address": address, "MAC": "",
                                                                       "VTEP": self.address})
                return address
        raise Unavailable("no free address for this node's ingress sandbox")


def _backends(running: list[dict], service_id: str, network_id: str) -> list[str]:
    """The addresses on one network of a service's running tasks."""
    return sorted(a["Addresses"][0].split("/")[0] for t in running if t["ServiceID"] == service_id
                  for a in t.get("NetworksAttachments") or [] if a["Network"]["ID"] == network_id)


async def report_addresses(engine, container_id: str, names: list[str]) -> dict:
    """The container's address and MAC on each of ``names``, as its engine gave them."""
    inspected = await engine("GET", f"/containers/{container_id}/json")
    networks = inspected.get("NetworkSettings", {}).get("Networks") or {}
    return {name: {"IP": networks[name]["IPAddress"], "MAC": networks[name]["MacAddress"]}
            for name in names if name in networks}

