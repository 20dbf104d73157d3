"""The swarm's records as the reconciler sees them: nodes, services, tasks, and the task's states.

Implements: spec/swarm.md SWARM-010, SWARM-011
Explained:  chapters/11-swarm.md#desired-and-observed-state
Modelled on: swarmkit's api/objects.proto (Node, Service, Task) and its TaskState enum

    Node, Service, Task          frozen records, read from the Engine API's JSON by from_api()
    TaskState                    new -> pending -> assigned -> ... -> running -> complete | failed | shutdown
    TRANSITIONS, transition()    the task's state machine as a table (chapter 11 draws it)
    parse_constraint(text)       "node.role==manager" -> Constraint, or InvalidArgument
    parse_preference(object)     {"Spread": {"SpreadDescriptor": KEY}} -> KEY, or InvalidArgument

Rules: the cluster store keeps the Engine API's own JSON (what `docker service inspect`
shows); these records are the few fields the decisions need, so that reconcile.py is
pure and its tests build records with keywords, not JSON.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from minidock.errors import InvalidArgument

SECOND = 1_000_000_000  # the Engine API's durations are nanoseconds


class TaskState(str, enum.Enum):
    """A task's observed state, in swarmkit's words and order."""

    NEW = "new"
    PENDING = "pending"        # no node can take it yet (Status.Err says why)
    ASSIGNED = "assigned"      # a node is chosen; its agent has not answered yet
    PREPARING = "preparing"    # the agent creates the container
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"      # exited 0
    FAILED = "failed"          # exited non-zero, or could not be created
    REJECTED = "rejected"      # the agent refused it (an image the engine cannot get)
    SHUTDOWN = "shutdown"      # stopped because the managers asked
    ORPHANED = "orphaned"      # its node went away for good

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskState.COMPLETE, TaskState.FAILED, TaskState.REJECTED,
                      TaskState.SHUTDOWN, TaskState.ORPHANED})

# [SWARM-011] who moves a task from one state to the next: the managers up to
# "assigned", the node's agent after that. A state never goes backwards.
TRANSITIONS: dict[TaskState, dict[TaskState, str]] = {
    TaskState.NEW: {TaskState.PENDING: "manager", TaskState.ASSIGNED: "manager"},
    TaskState.PENDING: {TaskState.ASSIGNED: "manager", TaskState.SHUTDOWN: "manager"},
    TaskState.ASSIGNED: {TaskState.PREPARING: "agent", TaskState.REJECTED: "agent",
                         TaskState.SHUTDOWN: "agent", TaskState.ORPHANED: "manager"},
    TaskState.PREPARING: {TaskState.STARTING: "agent", TaskState.REJECTED: "agent",
                          TaskState.SHUTDOWN: "agent", TaskState.ORPHANED: "manager"},
    TaskState.STARTING: {TaskState.RUNNING: "agent", TaskState.FAILED: "agent",
                         TaskState.SHUTDOWN: "agent", TaskState.ORPHANED: "manager"},
    TaskState.RUNNING: {TaskState.COMPLETE: "agent", TaskState.FAILED: "agent",
                        TaskState.SHUTDOWN: "agent", TaskState.ORPHANED: "manager"},
    TaskState.COMPLETE: {},
    TaskState.FAILED: {},
    TaskState.REJECTED: {},
    TaskState.SHUTDOWN: {},
    TaskState.ORPHANED: {},
}


class TaskStateError(InvalidArgument):
    """A move the task state machine does not have."""


def transition(current: TaskState, wanted: TaskState) -> TaskState:
    """Return ``wanted`` if a task may go there from ``current``; raise TaskStateError otherwise."""
    if wanted == current:
        return current
    if wanted not in TRANSITIONS[current]:
        # [SWARM-011] a task's state never goes backwards, and a finished task stays finished
        raise TaskStateError(f"task state cannot go from {current.value} to {wanted.value}")
    return wanted


@dataclass(frozen=True)
class Constraint:
    """One placement constraint: ``node.labels.zone==east``."""

    key: str
    equal: bool
    value: str

    def holds(self, node: "Node") -> bool:
        """Does ``node`` satisfy this constraint?"""
        have = node.attribute(self.key)
        return (have == self.value) == self.equal


_CONSTRAINT = re.compile(r"^\s*(?P<key>[\w.-]+)\s*(?P<op>==|!=)\s*(?P<value>\S.*?)\s*$")
_KEYS = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")


def parse_constraint(text: str) -> Constraint:
    """Parse ``key==value`` or ``key!=value``, with Docker's error for anything else."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise InvalidArgument(f"invalid constraint: {text!r}: expected a key and a value "
                              "joined by == or != (for example node.role==manager)")
    key = match["key"]
    if key not in _KEYS and not key.startswith(("node.labels.", "engine.labels.")):
        raise InvalidArgument(f"invalid constraint: {text!r}: unknown key {key!r}")
    return Constraint(key, match["op"] == "==", match["value"])


def parse_preference(preference: dict) -> str:
    """``{"Spread": {"SpreadDescriptor": "node.labels.zone"}}`` -> the key to spread over."""
    key = ((preference or {}).get("Spread") or {}).get("SpreadDescriptor") if isinstance(preference, dict) else None
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"invalid placement preference {preference!r}: only spread is supported "
                              "({\"Spread\": {\"SpreadDescriptor\": \"node.labels.zone\"}})")
    if key not in _KEYS and not key.startswith(("node.labels.", "engine.labels.")):
        raise InvalidArgument(f"invalid placement preference: spread={key}: unknown key {key!r}")
    return key


@dataclass(frozen=True)
class Node:
    """A member of the swarm as the scheduler sees it."""

    id: str
    hostname: str = ""
    role: str = "worker"              # worker | manager
    availability: str = "active"      # active | pause | drain
    ready: bool = True                # False once its heartbeat lease has expired: "down"
    labels: dict = field(default_factory=dict)
    engine_labels: dict = field(default_factory=dict)

    def attribute(self, key: str) -> str | None:
        """The value a constraint's key names on this node."""
        simple = {"node.id": self.id, "node.hostname": self.hostname, "node.role": self.role,
                  "node.platform.os": "linux", "node.platform.arch": "x86_64"}
        if key in simple:
            return simple[key]
        if key.startswith("node.labels."):
            return self.labels.get(key[len("node.labels."):])
        return self.engine_labels.get(key[len("engine.labels."):])

    @classmethod
    def from_api(cls, obj: dict, ready: bool) -> "Node":
        spec, description = obj.get("Spec") or {}, obj.get("Description") or {}
        return cls(id=obj["ID"], hostname=description.get("Hostname", ""), role=spec.get("Role", "worker"),
                   availability=spec.get("Availability", "active"), ready=ready,
                   labels=spec.get("Labels") or {},
                   engine_labels=(description.get("Engine") or {}).get("Labels") or {})


@dataclass(frozen=True)
class UpdateConfig:
    """How a rolling update (or a rollback) replaces tasks: docker service update --update-*."""

    parallelism: int = 1              # tasks replaced at once; 0 = all at once
    delay: float = 0.0                # seconds between batches
    order: str = "stop-first"         # stop-first | start-first
    failure_action: str = "pause"     # pause | continue | rollback
    monitor: float = 5.0              # seconds a new task must keep running to count as a success

    @classmethod
    def from_api(cls, obj: dict | None, rollback: bool = False) -> "UpdateConfig":
        obj = obj or {}
        return cls(parallelism=int(obj.get("Parallelism", 1)), delay=obj.get("Delay", 0) / SECOND,
                   order=obj.get("Order") or "stop-first",
                   failure_action=obj.get("FailureAction") or "pause",
                   monitor=obj.get("Monitor", 5 * SECOND) / SECOND)


@dataclass(frozen=True)
class Service:
    """A service's desired state: what to run, how many, where, and how to replace."""

    id: str
    name: str = ""
    version: int = 1                  # the spec's version; a task made from an older one is outdated
    global_mode: bool = False
    replicas: int = 1
    constraints: tuple[Constraint, ...] = ()
    preferences: tuple[str, ...] = ()  # spread over these keys' values, the first one first
    restart_condition: str = "any"    # any | on-failure | none
    restart_delay: float = 5.0        # seconds, Docker's default
    max_attempts: int = 0             # 0 = no limit
    update: UpdateConfig = UpdateConfig()
    rollback: UpdateConfig = UpdateConfig(failure_action="pause")
    update_state: str = ""            # "" | updating | paused | completed | rollback_started | ...
    update_started: float = 0.0       # when the update (or rollback) started, in seconds
    has_previous: bool = False        # PreviousSpec is there to roll back to

    @property
    def rolling_back(self) -> bool:
        return self.update_state.startswith("rollback")

    @classmethod
    def from_api(cls, obj: dict) -> "Service":
        spec = obj["Spec"]
        template = spec.get("TaskTemplate") or {}
        restart = template.get("RestartPolicy") or {}
        mode = spec.get("Mode") or {"Replicated": {"Replicas": 1}}
        status = obj.get("UpdateStatus") or {}
        return cls(id=obj["ID"], name=spec.get("Name", ""), version=obj["Version"]["Index"],
                   global_mode="Global" in mode,
                   replicas=int((mode.get("Replicated") or {}).get("Replicas", 1)),
                   constraints=tuple(parse_constraint(c) for c in
                                     (template.get("Placement") or {}).get("Constraints") or ()),
                   preferences=tuple(parse_preference(p) for p in
                                     (template.get("Placement") or {}).get("Preferences") or ()),
                   restart_condition=restart.get("Condition") or "any",
                   restart_delay=restart.get("Delay", 5 * SECOND) / SECOND,
                   max_attempts=int(restart.get("MaxAttempts") or 0),
                   update=UpdateConfig.from_api(spec.get("UpdateConfig")),
                   rollback=UpdateConfig.from_api(spec.get("RollbackConfig")),
                   update_state=status.get("State", ""), update_started=status.get("_started", 0.0),
                   has_previous=obj.get("PreviousSpec") is not None)


@dataclass(frozen=True)
class Task:
    """One scheduled copy of a service: its slot, its node, what is wanted and what is seen."""

    id: str
    service_id: str
    slot: int = 0                     # 1.. for replicated services; 0 for global ones (the node is the slot)
    node_id: str = ""                 # "" while pending
    version: int = 1                  # the service spec version it was made from
    desired: str = "running"          # running | shutdown | remove
    state: TaskState = TaskState.NEW
    created: float = 0.0              # seconds
    changed: float = 0.0              # when the observed state last changed
    exit_code: int | None = None

    @property
    def live(self) -> bool:
        """Wanted and not finished: it holds its slot."""
        return self.desired == "running" and not self.state.terminal

    def key(self) -> tuple:
        """What a task stands for: a slot of a replicated service, a node of a global one."""
        return (self.service_id, self.slot if self.slot else self.node_id)
