"""The managers' side: one leader, elected through etcd, runs the reconciler and writes its actions.

Implements: spec/swarm.md SWARM-010, SWARM-022
Explained:  chapters/11-swarm.md#the-leader
Modelled on: swarmkit's manager (raft leadership gates the orchestrators and the scheduler)

    Manager(store, node_id, lease).run()     lease() gives the node's heartbeat lease; then:     campaign -> lead (reconcile on every change, and
                                            every second) -> lost the key -> campaign again
    Manager.snapshot() -> Snapshot          every record the reconciler reads, in one go
    Manager.apply(action, snapshot)         an Action of reconcile.py written to the store

The election: the key "leader" is created only if it does not exist (a txn on its create
revision), with the candidate's heartbeat lease. When the leader dies, its lease expires,
etcd deletes the key, and the next candidate's create succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from minidock.errors import MinidockError
from minidock.swarm import objects
from minidock.swarm.networks import attachments, used_addresses
from minidock.swarm.reconcile import Action, reconcile
from minidock.swarm.store import Entry, Store

log = logging.getLogger("minidock.swarm")


@dataclass
class Snapshot:
    """The store's records at one moment, by ID."""

    services: dict[str, Entry]
    nodes: dict[str, Entry]
    alive: set[str]
    tasks: dict[str, Entry]
    statuses: dict[str, Entry]
    leader: str
    networks: dict[str, dict]          # the cluster's overlays by name


async def read_snapshot(store: Store) -> Snapshot:
    """Read every record the reconciler and the API's listings need."""
    def by_id(entries: list[Entry]) -> dict[str, Entry]:
        return {entry.key.rsplit("/", 1)[1]: entry for entry in entries}

    services, nodes, alive, tasks, statuses, leader, networks = await asyncio.gather(
        store.prefix("services/"), store.prefix("nodes/"), store.prefix("alive/"),
        store.prefix("tasks/"), store.prefix("status/"), store.get("leader"), store.prefix("networks/"))
    return Snapshot(by_id(services), by_id(nodes), set(by_id(alive)), by_id(tasks), by_id(statuses),
                    leader.value["node"] if leader else "", {e.value["Name"]: e.value for e in networks})


async def update(store: Store, key: str, change, attempts: int = 5) -> dict | None:
    """Read-modify-write ``key`` with compare-and-swap, again if someone wrote it in between."""
    for _ in range(attempts):
        entry = await store.get(key)
        if entry is None:
            return None
        value = change(dict(entry.value))
        if await store.swap(key, value, entry.revision):
            return value
    raise MinidockError(f"update out of sequence: {key} kept changing")


class Manager:
    """The reconcile loop, run while this node holds the leader key."""

    def __init__(self, store: Store, node_id: str, lease) -> None:
        self.store, self.node_id, self.lease = store, node_id, lease
        self.leading = False
        self.used: dict[str, set[str]] = {}  # addresses of the overlays, taken (by network name)

    async def run(self) -> None:
        """Campaign, lead while the key is ours, campaign again; until cancelled."""
        while True:
            try:
                if await self.store.create("leader", {"node": self.node_id}, self.lease()):
                    log.info("this node is the leader")
                    self.leading = True
                    await self._lead()
                self.leading = False
            except MinidockError as error:
                self.leading = False
                log.warning("manager: %s", error.message)
            await asyncio.sleep(0.5)

    async def _lead(self) -> None:
        wake = asyncio.Event()
        watcher = asyncio.create_task(self.store.wake_on_change("", wake))
        try:
            while True:
                leader = await self.store.get("leader")
                if leader is None or leader.value.get("node") != self.node_id:
                    log.info("lost the leader key")
                    return
                await self.pass_once()
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
                await asyncio.sleep(0.05)  # let a burst of changes arrive as one pass
        finally:
            watcher.cancel()


    async def pass_once(self) -> list[Action]:
        """Read everything, reconcile, write the actions; return them (for the log and the tests)."""
        snapshot = await read_snapshot(self.store)
        services = [objects.model_service(e.value) for e in snapshot.services.values()]
        nodes = [objects.model_node(e.value, node_id in snapshot.alive) for node_id, e in snapshot.nodes.items()]
        tasks = [objects.model_task(e.value, snapshot.statuses[i].value if i in snapshot.statuses else None)
                 for i, e in snapshot.tasks.items()]
        actions = reconcile(services, nodes, tasks, time.time())
        self.used = used_addresses([e.value for e in snapshot.tasks.values()])  # claimed as tasks are made
        for claim in await self.store.prefix("attachments/"):  # [SWARM-043] standalone containers' addresses
            self.used.setdefault(claim.value["Network"], set()).add(claim.value["Address"])
        for action in actions:
            log.info("action %s", action)
            await self.apply(action, snapshot)
        return actions

    async def apply(self, action: Action, snapshot: Snapshot) -> None:
        """Write one action to the store."""
        now = time.time()
        if action.kind == "create":
            service = snapshot.services[action.service_id].value
            await self._create_task(service, action, now, attachments(service, snapshot.networks, self.used))
        elif action.kind == "assign":
            await update(self.store, f"tasks/{action.task_id}",
                         lambda task: {**task, "NodeID": action.node_id, "UpdatedAt": objects.timestamp(now)})
            await self.store.put(f"status/{action.task_id}", _status("assigned", "scheduler assigned task to node", now))
        elif action.kind == "shutdown":
            task = await update(self.store, f"tasks/{action.task_id}",
                                lambda task: {**task, "DesiredState": action.desired, "UpdatedAt": objects.timestamp(now)})
            if task is not None and not task.get("NodeID"):
                # [SWARM-011] a task no agent holds (still pending) is finished by the managers themselves
                await self.store.put(f"status/{action.task_id}", _status("shutdown", "shutdown", now))
        elif action.kind == "remove":
            await self.store.delete(f"tasks/{action.task_id}")
            await self.store.delete(f"status/{action.task_id}")
        else:
            await update(self.store, f"services/{action.service_id}", lambda s: update_status(s, action, now))

    async def _create_task(self, service: dict, action: Action, now: float, networks: list[dict]) -> None:
        task_id = objects.new_id()
        stamp = objects.timestamp(now)
        task = {"ID": task_id, "Version": {"Index": 0}, "CreatedAt": stamp, "UpdatedAt": stamp, "Labels": {},
                "Spec": service["Spec"]["TaskTemplate"], "ServiceID": service["ID"], "Slot": action.slot,
                "NodeID": action.node_id, "DesiredState": "running", "NetworksAttachments": networks,
                "_spec_version": action.version, "_created": now, "_service_name": service["Spec"]["Name"],
                "_ports": (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []}
        if action.node_id:
            status = _status("assigned", "scheduler assigned task to node", now)
        else:
            # [SWARM-014] no node fits: the task waits, and says why
            status = {**_status("pending", "pending task scheduling", now), "Err": action.reason}
        await self.store.put(f"status/{task_id}", status)
        await self.store.put(f"tasks/{task_id}", task)


def _status(state: str, message: str, now: float) -> dict:
    return {"Timestamp": objects.timestamp(now), "State": state, "Message": message, "_changed": now}


def update_status(service: dict, action: Action, now: float) -> dict:
    """A service record after a pause, rollback or completion of its update."""
    service = dict(service)
    status = dict(service.get("UpdateStatus") or {})
    if action.kind == "pause":
        status.update(State="rollback_paused" if status.get("State", "").startswith("rollback") else "paused",
                      Message=action.reason)
    elif action.kind == "completed":
        rolling_back = status.get("State", "").startswith("rollback")
        status.update(State="rollback_completed" if rolling_back else "completed",
                      CompletedAt=objects.timestamp(now), Message=action.reason)
    elif action.kind == "rollback":
        return roll_back(service, action.reason, now)
    service["UpdateStatus"] = status
    return service


def roll_back(service: dict, message: str, now: float) -> dict:
    """Go back to PreviousSpec (a new spec version, so that the tasks of the failed one are outdated)."""
    service = dict(service)
    service["Spec"], service["PreviousSpec"] = service["PreviousSpec"], service["Spec"]
    service["_spec_version"] = service.get("_spec_version", 1) + 1
    service["_update_started"] = now
    service["UpdatedAt"] = objects.timestamp(now)
    service["UpdateStatus"] = {"State": "rollback_started", "StartedAt": objects.timestamp(now), "Message": message}
    return service
