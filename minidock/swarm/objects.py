"""The swarm's objects in the Engine API's shape (v1.41): IDs, tokens, specs checked, views.

Implements: spec/swarm.md SWARM-024, SWARM-027
Explained:  chapters/11-swarm.md#the-api-and-the-cli
Modelled on: the Engine API's Swarm, Node, Service and Task definitions (docker-engine-api-v1.41.yaml)

    new_id() / join_token(kind) / timestamp()
    check_service_spec(spec) -> spec with Docker's defaults, or InvalidArgument
    view(record) -> the record without our own "_" fields (what the API answers)
    task_view(task, status) -> a Task as GET /tasks shows it
    to_model_*(...) -> the reconciler's records (model.py)

Rules: records are stored as the API shows them, plus a few "_" fields (the spec version
a task was made from, times as numbers) that view() leaves out.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from datetime import datetime, timezone

from minidock.errors import InvalidArgument
from minidock.swarm.model import SECOND, Node, Service, Task, TaskState, parse_constraint, parse_preference

_ALPHABET = string.digits + string.ascii_lowercase
_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


def new_id() -> str:
    """A 25-character base-36 ID, as swarmkit makes them."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(25))


def join_token(kind: str, cluster_secret: str) -> str:
    """``SWMTKN-1-<cluster>-<secret>``: the cluster part is shared, the secret part is per role."""
    return f"SWMTKN-1-{cluster_secret}-{''.join(secrets.choice(_ALPHABET) for _ in range(25))}"


def timestamp(seconds: float | None = None) -> str:
    """RFC 3339 with nanoseconds, as Go prints a time.Time."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def view(record: dict) -> dict:
    """The record as the API shows it: our own "_" fields left out."""
    return {key: value for key, value in record.items() if not key.startswith("_")}


def _duration(value: object, where: str) -> int:
    if not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"invalid {where}: {value!r}: expected a duration in nanoseconds")
    return value


def check_service_spec(spec: dict) -> dict:
    """Check a ServiceSpec and fill Docker's defaults; raise InvalidArgument naming what is wrong."""
    if not isinstance(spec, dict):
        raise InvalidArgument("invalid JSON body: expected a ServiceSpec object")
    spec = dict(spec)
    name = spec.get("Name") or ""
    if not name:
        spec["Name"] = name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
    if not _NAME.match(name):
        # [SWARM-027] swarmkit's words for a name that cannot be a DNS label
        raise InvalidArgument(f"rpc error: code = InvalidArgument desc = name must be valid as a DNS name component")
    template = dict(spec.get("TaskTemplate") or {})
    container = dict(template.get("ContainerSpec") or {})
    if not container.get("Image"):
        raise InvalidArgument("rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided")
    template["ContainerSpec"] = container
    mode = spec.get("Mode") or {"Replicated": {"Replicas": 1}}
    if set(mode) - {"Replicated", "Global"} or len(mode) != 1:
        raise InvalidArgument(f"invalid mode {list(mode)}: expected Replicated or Global")
    if "Replicated" in mode:
        replicas = (mode["Replicated"] or {}).get("Replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise InvalidArgument(f"invalid replicas value {replicas!r}: expected a number >= 0")
        mode = {"Replicated": {"Replicas": replicas}}
    spec["Mode"] = mode
    for text in (template.get("Placement") or {}).get("Constraints") or ():
        parse_constraint(text)  # [SWARM-014] a malformed constraint is refused here, not when scheduling
    for preference in (template.get("Placement") or {}).get("Preferences") or ():
        parse_preference(preference)  # [SWARM-044] likewise a placement preference
    restart = dict(template.get("RestartPolicy") or {})
    if restart.get("Condition", "any") not in ("any", "on-failure", "none"):
        raise InvalidArgument(f"invalid restart condition {restart['Condition']!r}: expected none, on-failure or any")
    restart.setdefault("Condition", "any")
    restart.setdefault("Delay", 5 * SECOND)
    restart.setdefault("MaxAttempts", 0)
    template["RestartPolicy"] = restart
    template.setdefault("ForceUpdate", 0)
    template.setdefault("Runtime", "container")
    spec["TaskTemplate"] = template
    for key in ("UpdateConfig", "RollbackConfig"):
        config = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SECOND,
                  "MaxFailureRatio": 0, "Order": "stop-first", **(spec.get(key) or {})}
        if config["Order"] not in ("stop-first", "start-first"):
            raise InvalidArgument(f"invalid {key} order {config['Order']!r}: expected stop-first or start-first")
        if config["FailureAction"] not in ("pause", "continue", "rollback"):
            raise InvalidArgument(f"invalid {key} failure action {config['FailureAction']!r}: "
                                  "expected pause, continue or rollback")
        for field in ("Delay", "Monitor"):
            if field in config:
                _duration(config[field], f"{key}.{field}")
        spec[key] = config
    spec.setdefault("Labels", {})
    spec.setdefault("EndpointSpec", {"Mode": "vip"})
    return spec


def seconds_of(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 stamp written by timestamp()."""
    return datetime.strptime(stamp[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def task_view(task: dict, status: dict | None) -> dict:
    """A task as GET /tasks shows it: the managers' record with the agent's Status."""
    shown = view(task)
    shown["Status"] = view(status or {"State": "new", "Message": "created", "Timestamp": task["CreatedAt"]})
    return shown


def model_service(record: dict) -> Service:
    return Service.from_api({**record, "Version": {"Index": record.get("_spec_version", 1)},
                             "UpdateStatus": {**(record.get("UpdateStatus") or {}),
                                              "_started": record.get("_update_started", 0.0)}})


def model_node(record: dict, alive: bool) -> Node:
    return Node.from_api(record, ready=alive)


def model_task(task: dict, status: dict | None) -> Task:
    status = status or {}
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    return Task(id=task["ID"], service_id=task["ServiceID"], slot=task.get("Slot", 0),
                node_id=task.get("NodeID", ""), version=task.get("_spec_version", 1),
                desired=task.get("DesiredState", "running"),
                state=TaskState(status.get("State", "new")), created=task.get("_created", 0.0),
                changed=status.get("_changed", task.get("_created", 0.0)), exit_code=exit_code)
