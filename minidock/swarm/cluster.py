"""What the swarm API asks of the store: services, nodes, tasks looked up, listed, created, changed.

Implements: spec/swarm.md SWARM-013, SWARM-017, SWARM-019, SWARM-024, SWARM-027, SWARM-029
Explained:  chapters/11-swarm.md#the-api-and-the-cli
Modelled on: swarmkit's controlapi (CreateService, UpdateService, UpdateNode, ...)

    Cluster(store, node_id)
      services(filters) / service(ref) / create_service(spec) / update_service(ref, version, spec, rollback)
      remove_service(ref)
      nodes(filters) / node(ref) / update_node(ref, version, spec) / remove_node(ref, force)
      tasks(filters) / task(ref)

Rules: a name or a unique ID prefix finds an object, in Docker's words when none or
several do; every change of a record is a compare-and-swap on its Version.Index (etcd's
mod_revision), so two writers never lose each other's change.
"""

from __future__ import annotations

import json
import time

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.swarm import objects
from minidock.swarm.manager import read_snapshot, roll_back
from minidock.swarm.networks import attach_service
from minidock.swarm.secrets import check_all_references
from minidock.swarm.store import Entry, Store


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """?filters={"name":["web"]} as a dict of lists (the old {"name":{"web":true}} form too)."""
    try:
        decoded = json.loads(raw) if raw else {}
        return {key: list(values) for key, values in decoded.items()}
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"invalid filter: {raw!r}") from None


def _with_version(entry: Entry) -> dict:
    """The record with its Version.Index: the store's revision of its key."""
    return {**entry.value, "Version": {"Index": entry.revision}}


def _find(entries: dict[str, Entry], ref: str, kind: str, name_of) -> Entry:
    """By full ID, then by name, then by a unique ID prefix; Docker's words when none or several."""
    if ref in entries:
        return entries[ref]
    named = [e for e in entries.values() if name_of(e.value) == ref]
    if len(named) == 1:
        return named[0]
    prefixed = [e for key, e in entries.items() if key.startswith(ref)] if ref else []
    if len(prefixed) == 1:
        return prefixed[0]
    if len(named) > 1 or len(prefixed) > 1:
        raise NotFound(f"{kind} {ref} is ambiguous ({len(named) or len(prefixed)} matches found)")
    raise NotFound(f"{kind} {ref} not found")


def _service_name(record: dict) -> str:
    return record["Spec"]["Name"]


def _node_name(record: dict) -> str:
    return (record.get("Description") or {}).get("Hostname", "")


class Cluster:
    """The API's operations on the cluster's records."""

    def __init__(self, store: Store, node_id: str) -> None:
        self.store, self.node_id = store, node_id

    # ------------------------------------------------------------------ services
    async def _services(self) -> dict[str, Entry]:
        return {e.key.rsplit("/", 1)[1]: e for e in await self.store.prefix("services/")}

    async def service(self, ref: str) -> Entry:
        return _find(await self._services(), ref, "service", _service_name)

    async def services(self, filters: dict[str, list[str]], status: bool) -> list[dict]:
        snapshot = await read_snapshot(self.store) if status else None
        shown = []
        for entry in sorted((await self._services()).values(), key=lambda e: e.value["CreatedAt"]):
            record = entry.value
            if "name" in filters and not any(_service_name(record).startswith(n) for n in filters["name"]):
                continue
            if "id" in filters and not any(record["ID"].startswith(i) for i in filters["id"]):
                continue
            mode = "global" if "Global" in record["Spec"]["Mode"] else "replicated"
            if "mode" in filters and mode not in filters["mode"]:
                continue
            view = objects.view(_with_version(entry))
            if snapshot is not None:
                view["ServiceStatus"] = _service_status(record, snapshot)
            shown.append(view)
        return shown

    async def create_service(self, spec: dict) -> dict:
        spec = objects.check_service_spec(spec)
        await check_all_references(self.store, spec)
        if any(_service_name(e.value) == spec["Name"] for e in (await self._services()).values()):
            # [SWARM-027] swarmkit's words for a name in use
            raise Conflict(f"rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
                           f"service {spec['Name']} already exists")
        now = time.time()
        service_id = objects.new_id()
        vips = await attach_service(self.store, spec, [e.value for e in (await self._services()).values()])
        record = {"ID": service_id, "CreatedAt": objects.timestamp(now), "UpdatedAt": objects.timestamp(now),
                  "Spec": spec, "Endpoint": {"Spec": spec["EndpointSpec"], "VirtualIPs": vips}, "_spec_version": 1}
        if not await self.store.create(f"services/{service_id}", record):
            raise Conflict(f"service {service_id} already exists")
        return {"ID": service_id, "Warnings": []}

    async def update_service(self, ref: str, version: str | None, spec: dict, rollback: bool) -> dict:
        entry = await self.service(ref)
        if version is None or not version.isdigit():
            raise InvalidArgument(f"invalid service version {version!r}: the ?version= of the spec being updated "
                                  "is required")
        now = time.time()
        record = dict(entry.value)
        if rollback:
            if record.get("PreviousSpec") is None:
                raise InvalidArgument(f"service {_service_name(record)} does not have a previous spec")
            record = roll_back(record, "manually requested rollback", now)
        else:
            spec = objects.check_service_spec(spec)
            await check_all_references(self.store, spec)
            if spec["Name"] != _service_name(record):
                raise InvalidArgument("rpc error: code = Unimplemented desc = renaming services is not supported")
            old = record["Spec"]
            record["PreviousSpec"], record["Spec"] = old, spec
            vips = await attach_service(self.store, spec, [e.value for e in (await self._services()).values()])
            record["Endpoint"] = {"Spec": spec["EndpointSpec"], "VirtualIPs": vips}
            record["UpdatedAt"] = objects.timestamp(now)
            # [SWARM-003] only a new task template makes the tasks outdated; a scale does not
            if spec["TaskTemplate"] != old["TaskTemplate"]:
                record["_spec_version"] = record.get("_spec_version", 1) + 1
                record["_update_started"] = now
                record["UpdateStatus"] = {"State": "updating", "StartedAt": objects.timestamp(now),
                                          "Message": "update in progress"}
        if not await self.store.swap(entry.key.removeprefix("/minidock/swarm/"), record, int(version)):
            raise Conflict("rpc error: code = Unknown desc = update out of sequence")
        return {"Warnings": []}

    async def remove_service(self, ref: str) -> None:
        entry = await self.service(ref)
        # [SWARM-019] the record goes now; the leader then stops and forgets its tasks
        await self.store.delete(f"services/{entry.value['ID']}")

    # ------------------------------------------------------------------ nodes
    async def node(self, ref: str) -> dict:
        snapshot = await read_snapshot(self.store)
        ref = self.node_id if ref == "self" else ref
        return node_view(_find(snapshot.nodes, ref, "node", _node_name), snapshot)

    async def nodes(self, filters: dict[str, list[str]]) -> list[dict]:
        snapshot = await read_snapshot(self.store)
        shown = []
        for entry in snapshot.nodes.values():
            view = node_view(entry, snapshot)
            if "role" in filters and view["Spec"]["Role"] not in filters["role"]:
                continue
            if "name" in filters and not any(_node_name(view).startswith(n) for n in filters["name"]):
                continue
            if "id" in filters and not any(view["ID"].startswith(i) for i in filters["id"]):
                continue
            shown.append(view)
        return sorted(shown, key=lambda v: v["CreatedAt"])

    async def update_node(self, ref: str, version: str | None, spec: dict) -> None:
        snapshot = await read_snapshot(self.store)
        entry = _find(snapshot.nodes, ref, "node", _node_name)
        if spec.get("Availability", "active") not in ("active", "pause", "drain"):
            raise InvalidArgument(f"invalid availability {spec['Availability']!r}: expected active, pause or drain")
        if spec.get("Role", "worker") not in ("worker", "manager"):
            raise InvalidArgument(f"invalid role {spec['Role']!r}: expected worker or manager")
        if version is None or not version.isdigit():
            raise InvalidArgument(f"invalid node version {version!r}")
        record = {**entry.value, "Spec": {"Labels": {}, **spec}, "UpdatedAt": objects.timestamp()}
        if not await self.store.swap(f"nodes/{entry.value['ID']}", record, int(version)):
            raise Conflict("rpc error: code = Unknown desc = update out of sequence")

    async def remove_node(self, ref: str, force: bool) -> None:
        snapshot = await read_snapshot(self.store)
        entry = _find(snapshot.nodes, ref, "node", _node_name)
        node_id = entry.value["ID"]
        if node_id in snapshot.alive and not force:
            # [SWARM-029] dockerd's words for removing a node that still answers
            raise Conflict(f"rpc error: code = FailedPrecondition desc = node {node_id} is not down and can't be "
                           "removed")
        if entry.value["Spec"]["Role"] == "manager" and not force:
            raise Conflict(f"rpc error: code = FailedPrecondition desc = node {node_id} is a cluster manager and is "
                           "a member of the raft cluster. It must be demoted to worker before removal")
        await self.store.delete(f"nodes/{node_id}")

    # ------------------------------------------------------------------ tasks
    async def tasks(self, filters: dict[str, list[str]]) -> list[dict]:
        snapshot = await read_snapshot(self.store)
        services = {e.value["ID"]: e.value for e in snapshot.services.values()}
        wanted_services = set()
        for ref in filters.get("service", []):
            try:
                wanted_services.add(_find(snapshot.services, ref, "service", _service_name).value["ID"])
            except NotFound:
                wanted_services.add(ref)
        wanted_nodes = set()
        for ref in filters.get("node", []):
            try:
                wanted_nodes.add(_find(snapshot.nodes, self.node_id if ref == "self" else ref, "node",
                                       _node_name).value["ID"])
            except NotFound:
                wanted_nodes.add(ref)
        shown = []
        for task_id, entry in snapshot.tasks.items():
            task = entry.value
            if "service" in filters and task["ServiceID"] not in wanted_services:
                continue
            if "node" in filters and task.get("NodeID") not in wanted_nodes:
                continue
            if "desired-state" in filters and task["DesiredState"] not in filters["desired-state"]:
                continue
            if "id" in filters and not any(task_id.startswith(i) for i in filters["id"]):
                continue
            if filters.get("_up-to-date") in (["true"], ["1"]) and task["ServiceID"] in services and \
                    task.get("_spec_version", 1) != services[task["ServiceID"]].get("_spec_version", 1):
                continue  # the docker CLI's progress asks only for the tasks of the current spec
            status = snapshot.statuses.get(task_id)
            view = objects.task_view(_with_version(entry), status.value if status else None)
            if "name" in filters:
                name = f"{task['_service_name']}.{task['Slot'] or task['NodeID']}"
                if not any(name.startswith(n) for n in filters["name"]):
                    continue
            if task["ServiceID"] in services:
                view["ServiceID"] = task["ServiceID"]
            shown.append(view)
        return sorted(shown, key=lambda v: (v["ServiceID"], v.get("Slot", 0), v["CreatedAt"]))

    async def task(self, ref: str) -> dict:
        snapshot = await read_snapshot(self.store)
        entry = _find(snapshot.tasks, ref, "task", lambda record: record["ID"])
        status = snapshot.statuses.get(entry.value["ID"])
        return objects.task_view(_with_version(entry), status.value if status else None)


def _service_status(record: dict, snapshot) -> dict:
    """ServiceStatus (API 1.41): running and desired task counts, as `service ls` shows them."""
    mine = [e.value for e in snapshot.tasks.values() if e.value["ServiceID"] == record["ID"]]
    running = sum(1 for t in mine if t["DesiredState"] == "running"
                  and (snapshot.statuses.get(t["ID"]) or Entry("", {}, 0)).value.get("State") == "running")
    if "Global" in record["Spec"]["Mode"]:
        desired = sum(1 for t in mine if t["DesiredState"] == "running")
    else:
        desired = record["Spec"]["Mode"]["Replicated"]["Replicas"]
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}


def node_view(entry: Entry, snapshot) -> dict:
    """A node as GET /nodes shows it: Status from its heartbeat, ManagerStatus from the leader key."""
    record = objects.view(_with_version(entry))
    node_id = record["ID"]
    alive = node_id in snapshot.alive
    record["Status"] = {"State": "ready" if alive else "down", "Addr": record.get("Status", {}).get("Addr", ""),
                        **({} if alive else {"Message": "heartbeat failure"})}
    if record["Spec"]["Role"] == "manager":
        record["ManagerStatus"] = {"Leader": snapshot.leader == node_id,
                                   "Reachability": "reachable" if alive else "unreachable",
                                   "Addr": f"{record['Status']['Addr']}:2377"}
    else:
        record.pop("ManagerStatus", None)
    return record
