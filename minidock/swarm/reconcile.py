"""The reconciler: desired state (services, nodes) and observed state (tasks) in, actions out.

Implements: spec/swarm.md SWARM-002, SWARM-003, SWARM-012 .. SWARM-019, SWARM-044
Explained:  chapters/11-swarm.md#the-reconcile-loop
Modelled on: swarmkit's orchestrator (replicated, global, restart supervisor, updater)
             and scheduler (filters, then spread), folded into one pure pass

    reconcile(services, nodes, tasks, now) -> [Action]
        per service: plan_update() (a batch of a rolling update), then fill each slot
        (replicated) or each eligible node (global); tasks of removed services go.
    plan_update(service, tasks, now) -> [Action]     one step of a rolling update or rollback
    schedule(service, nodes, load) -> (node_id, reason)
    spread(service, nodes, load) -> the nodes placement preferences leave

Rules: no I/O, no clock, no randomness: the same inputs give the same actions, so the
leader can run it again at any time (after a crash, on every change, on a timer) and
a test can check it with plain records. The shell (manager.py) gives new tasks their IDs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass

from minidock.swarm.model import Node, Service, Task, TaskState

HISTORY = 5  # finished tasks kept per slot: Docker's TaskHistoryRetentionLimit default


@dataclass(frozen=True)
class Action:
    """One change the shell makes to the store.

    kind:
      create     a task for ``service_id`` in ``slot`` (global: slot 0) at ``version`` on
                 ``node_id``; without a node it is created "pending" and ``reason`` says why
      assign     a pending task found a node: ``task_id`` goes to ``node_id``
      shutdown   ``task_id``'s desired state becomes ``desired`` (shutdown, or remove)
      remove     ``task_id``'s records leave the store (history trimmed, service gone)
      pause | rollback | completed   the service's UpdateStatus changes; ``reason`` is its message
    """

    kind: str
    service_id: str = ""
    task_id: str = ""
    slot: int = 0
    node_id: str = ""
    version: int = 0
    desired: str = ""
    reason: str = ""


def eligible(service: Service, node: Node, new_task: bool = True) -> str:
    """Why ``node`` cannot run a task of ``service`` ("" when it can)."""
    if not node.ready:
        return "node is down"
    if node.availability == "drain":
        return "node is drained"
    if new_task and node.availability == "pause":
        return "node is paused"
    if not all(constraint.holds(node) for constraint in service.constraints):
        return "scheduling constraints not satisfied"
    return ""


def schedule(service: Service, nodes: list[Node], load: Counter) -> tuple[str, str]:
    """Choose a node for a new task of ``service``: (node_id, "") or ("", why none can).

    Spread, as swarmkit's default strategy: the node with the fewest tasks of this
    service, then the fewest tasks at all, then the smallest ID (so a test can predict);
    with placement preferences, among the nodes that spread() leaves.
    """
    fitting = [node for node in nodes if not eligible(service, node)]
    if not fitting:
        # [SWARM-014] Docker's words for a task no node can take; it stays pending
        if service.constraints and any(node.ready and node.availability == "active" for node in nodes):
            return "", f"no suitable node (scheduling constraints not satisfied on {len(nodes)} nodes)"
        return "", "no suitable node (no available nodes)" if not nodes else \
            f"no suitable node ({len(nodes)} nodes not available for new tasks)"
    best = min(spread(service, fitting, load), key=lambda node: (load[(service.id, node.id)], load[node.id], node.id))
    load[(service.id, best.id)] += 1
    load[best.id] += 1
    return best.id, ""


def spread(service: Service, nodes: list[Node], load: Counter) -> list[Node]:
    """The nodes a new task may go to under ``--placement-pref spread=KEY`` (swarmkit's spread).

    For each preference in turn, the nodes are grouped by their value of KEY (the nodes
    without it make one group of their own) and only the group that has the fewest tasks of
    the service stays: the tasks are shared equally between the values, however many nodes
    each has; the next preference divides that group again.
    """
    for key in service.preferences:
        groups: dict[str, list[Node]] = defaultdict(list)
        for node in nodes:
            groups[node.attribute(key) or ""].append(node)
        # [SWARM-044] the value with the fewest tasks of this service (then the first value, to be predictable)
        nodes = groups[min(groups, key=lambda value: (sum(load[(service.id, n.id)] for n in groups[value]), value))]
    return nodes


def reconcile(services: list[Service], nodes: list[Node], tasks: list[Task], now: float) -> list[Action]:
    """Every action that brings the observed tasks closer to the services' desired state."""
    by_id = {node.id: node for node in nodes}
    load: Counter = Counter()
    for task in tasks:
        if task.live and task.node_id:
            load[(task.service_id, task.node_id)] += 1
            load[task.node_id] += 1
    actions: list[Action] = []
    known = {service.id for service in services}
    for service in sorted(services, key=lambda s: s.id):
        mine = [task for task in tasks if task.service_id == service.id]
        actions += _service(service, mine, nodes, by_id, load, now)
    for task in tasks:
        if task.service_id in known:
            continue
        # [SWARM-019] a removed service's tasks are stopped, then forgotten
        node = by_id.get(task.node_id)
        if task.state.terminal or node is None or not node.ready or not task.node_id:
            actions.append(Action("remove", task.service_id, task.id))
        elif task.desired != "remove":
            actions.append(Action("shutdown", task.service_id, task.id, desired="remove", reason="service removed"))
    return actions


def _service(service: Service, tasks: list[Task], nodes: list[Node], by_id: dict[str, Node],
             load: Counter, now: float) -> list[Action]:
    """The actions of one service: its update step, the tasks to stop, to start, to forget."""
    actions = []
    for action in plan_update(service, tasks, now):
        if action.kind == "create" and not action.node_id:  # start-first: the new task needs a node
            node_id, reason = schedule(service, nodes, load)
            action = dataclasses.replace(action, node_id=node_id, reason=reason)
        actions.append(action)
    stopped = {a.task_id for a in actions if a.kind == "shutdown"}
    tasks = [dataclasses.replace(t, desired="shutdown") if t.id in stopped else t for t in tasks]
    for task in tasks:
        if not task.live or not task.node_id:
            continue
        node = by_id.get(task.node_id)
        why = "node is gone" if node is None else eligible(service, node, new_task=False)
        if why:
            # [SWARM-015] [SWARM-016] a task on a down or drained node is replaced elsewhere
            actions.append(Action("shutdown", service.id, task.id, desired="shutdown", reason=why))
    stopped |= {a.task_id for a in actions if a.kind == "shutdown"}
    tasks = [dataclasses.replace(t, desired="shutdown") if t.id in stopped else t for t in tasks]
    by_key: dict[object, list[Task]] = defaultdict(list)
    for task in tasks:
        by_key[task.slot if task.slot else task.node_id].append(task)
    if service.global_mode:
        wanted = [node.id for node in nodes if not eligible(service, node, new_task=False)]
    else:
        wanted = list(range(1, service.replicas + 1))
    for key in wanted:
        actions += _fill(service, key, by_key.get(key, []), nodes, by_id, load, now)
    for key, group in sorted(by_key.items(), key=lambda item: str(item[0])):
        if key not in wanted:
            # [SWARM-013] scaled down (or a global task's node no longer fits): stop the extras
            actions += [Action("shutdown", service.id, t.id, desired="shutdown", reason="scaled down")
                        for t in group if t.live]
        actions += _trim_history(service, group)
    return actions


def _fill(service: Service, key: object, group: list[Task], nodes: list[Node], by_id: dict[str, Node],
          load: Counter, now: float) -> list[Action]:
    """Keep exactly one live task in a slot (replicated) or on a node (global)."""
    # lab 11: begin: keep one live task in this slot: assign the pending, stop the old once a new one runs, apply the restart policy, create one when none lives
    live = [task for task in group if task.live]
    actions = []
    pending = [task for task in live if not task.node_id]
    for task in pending:
        node_id, _ = _place(service, key, nodes, load)
        if node_id:
            actions.append(Action("assign", service.id, task.id, node_id=node_id))
    if live:
        current = [t for t in live if t.version == service.version and t.state == TaskState.RUNNING]
        if len(live) > 1 and current:
            # start-first: the new task runs, so the old one of this slot can stop now
            keep = max(current, key=lambda t: (t.created, t.id))
            actions += [Action("shutdown", service.id, t.id, desired="shutdown", reason="replaced")
                        for t in live if t is not keep]
        return actions
    ended = sorted((t for t in group if t.desired == "running" and t.state.terminal),
                   key=lambda t: (t.changed, t.id))
    if ended:
        last = ended[-1]
        # [SWARM-012] the restart policy decides whether a task that ended is replaced
        if service.restart_condition == "none":
            return actions
        if service.restart_condition == "on-failure" and last.state == TaskState.COMPLETE:
            return actions
        if service.max_attempts and len(ended) >= service.max_attempts:
            return actions
        if now - last.changed < service.restart_delay:
            return actions  # the restart delay: look again on a later pass
        actions += [Action("shutdown", service.id, t.id, desired="shutdown", reason="task ended") for t in ended]
    node_id, reason = _place(service, key, nodes, load)
    slot = key if isinstance(key, int) else 0
    actions.append(Action("create", service.id, slot=slot, node_id=node_id, version=service.version,
                          reason=reason))
    return actions
    # lab 11: end


def _place(service: Service, key: object, nodes: list[Node], load: Counter) -> tuple[str, str]:
    """A node for the task of ``key``: a global task's node is its key."""
    if isinstance(key, str):
        load[(service.id, key)] += 1
        load[key] += 1
        return key, ""
    return schedule(service, nodes, load)


def _trim_history(service: Service, group: list[Task]) -> list[Action]:
    """Forget the finished tasks of a slot beyond the HISTORY most recent."""
    done = sorted((t for t in group if not t.live and t.state.terminal), key=lambda t: (t.changed, t.id))
    return [Action("remove", service.id, t.id, reason="history") for t in done[:-HISTORY]] if len(done) > HISTORY else []


def plan_update(service: Service, tasks: list[Task], now: float) -> list[Action]:
    """One step of a rolling update (or rollback): the next batch, a wait, a pause or the end.

    A task made from an older spec version is outdated. Batches of ``parallelism``
    outdated tasks are replaced; the next batch starts once the last one runs and
    ``delay`` has passed. A new task that fails triggers the failure action.
    """
    if service.update_state not in ("updating", "rollback_started"):
        return []
    config = service.rollback if service.rolling_back else service.update
    word = "rollback" if service.rolling_back else "update"
    fresh = [t for t in tasks if t.version == service.version and t.created >= service.update_started]
    failed = [t for t in fresh if t.state in (TaskState.FAILED, TaskState.REJECTED)]
    if failed and config.failure_action != "continue":
        first = min(failed, key=lambda t: (t.changed, t.id))
        # [SWARM-017] a failed new task pauses the update, or rolls it back
        if config.failure_action == "rollback" and not service.rolling_back and service.has_previous:
            return [Action("rollback", service.id, first.id,
                           reason=f"update rolled back due to failure or early termination of task {first.id}")]
        return [Action("pause", service.id, first.id,
                       reason=f"{word} paused due to failure or early termination of task {first.id}")]
    if any(t.live and t.state != TaskState.RUNNING for t in fresh):
        return []  # a batch is still starting
    # lab 11: begin: the next batch of outdated tasks once the last runs and the delay has passed; completed after the monitor period
    outdated = sorted((t for t in tasks if t.live and t.version != service.version), key=lambda t: (t.slot, t.node_id))
    settled = max((t.changed for t in fresh if t.live), default=service.update_started)
    if outdated:
        # [SWARM-003] the next batch once the last one runs and the delay has passed
        if fresh and now - settled < config.delay:
            return []
        batch = outdated if config.parallelism == 0 else outdated[:config.parallelism]
        if config.order == "start-first":
            return [Action("create", service.id, slot=t.slot, node_id="" if t.slot else t.node_id,
                           version=service.version) for t in batch]
        return [Action("shutdown", service.id, t.id, desired="shutdown", reason=f"{word} in progress") for t in batch]
    if now - settled < config.monitor:
        return []  # the last batch is watched for `monitor` seconds before the update counts as done
    return [Action("completed", service.id, reason=f"{word} completed")]
    # lab 11: end
