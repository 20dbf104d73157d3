"""The OCI runtime config (config.json): load it, check it, and default it.

Implements: spec/runtime.md RT-CFG-001 .. RT-CFG-004
Explained:  chapters/03-runtime.md#the-bundle
Modelled on: the OCI runtime-spec 1.x config.json, and `runc spec`

    default_config()          -> dict, what `minidock-runtime spec` writes
    load(bundle) -> RunConfig  parsed and checked, every error names its field

Rules: pure but for reading one file; a bad config is rejected before anything
is created, so a refused container leaves no mount, cgroup or process behind.
This is the subset the current runtime honours; issue 3 grows it to the whole
runtime-spec (mounts, capabilities, seccomp, rlimits, hooks, terminal).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from minidock.errors import InvalidArgument, NotFound
from minidock.namespaces import Namespace, parse as parse_namespace

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What the runtime needs to start one container, already checked."""

    rootfs: str                        # absolute path of the root filesystem
    args: tuple[str, ...]              # process.args
    env: dict[str, str]                # process.env
    cwd: str                           # process.cwd, absolute
    uid: int
    gid: int
    hostname: str | None
    namespaces: frozenset[Namespace]
    memory_limit: int | None           # linux.resources.memory.limit, bytes
    pids_limit: int | None             # linux.resources.pids.limit


def default_config() -> dict[str, Any]:
    """Return the config `minidock-runtime spec` writes: busybox's sh, every namespace but user."""
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [f"PATH={DEFAULT_PATH}", "TERM=xterm"],
            "cwd": "/",
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "minidock",
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "resources": {},
        },
    }


def _field(data: dict, path: str, kind: type, default: Any = ...) -> Any:
    """Return data[path...] checked against ``kind``; name the field when it is wrong."""
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            if default is ...:
                raise InvalidArgument(f"config.json: missing required field {path!r}")
            return default
        value = value[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidArgument(f"config.json: field {path!r} must be {kind.__name__}, "
                              f"not {type(value).__name__}")
    return value


def parse(data: Any, bundle: str) -> RunConfig:
    """Check a decoded config.json against the runtime-spec rules we enforce."""
    if not isinstance(data, dict):
        raise InvalidArgument("config.json: the top level must be a JSON object")
    _field(data, "ociVersion", str)
    args = _field(data, "process.args", list)
    # [RT-CFG-002] process.args must name a program
    if not args or not all(isinstance(a, str) for a in args):
        raise InvalidArgument("config.json: 'process.args' must be a non-empty list of strings")
    env: dict[str, str] = {}
    for entry in _field(data, "process.env", list, []):
        if not isinstance(entry, str) or "=" not in entry:
            raise InvalidArgument(f"config.json: 'process.env' entry {entry!r} is not KEY=VALUE")
        key, _, value = entry.partition("=")
        env[key] = value
    cwd = _field(data, "process.cwd", str, "/")
    if not cwd.startswith("/"):
        raise InvalidArgument(f"config.json: 'process.cwd' must be absolute, got {cwd!r}")

    root = _field(data, "root.path", str)
    bundle = os.path.realpath(bundle)
    rootfs = os.path.realpath(os.path.join(bundle, root))
    # [RT-CFG-003] the root filesystem must be inside the bundle
    if os.path.commonpath([bundle, rootfs]) != bundle or rootfs == bundle:
        raise InvalidArgument(f"config.json: 'root.path' {root!r} is outside the bundle {bundle}")
    if not os.path.isdir(rootfs):
        raise NotFound(f"root filesystem {rootfs} does not exist")

    kinds = set()
    for entry in _field(data, "linux.namespaces", list, []):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise InvalidArgument("config.json: each 'linux.namespaces' entry needs a string 'type'")
        kinds.add(parse_namespace(entry["type"]))  # [RT-CFG-004] unknown types are refused

    return RunConfig(
        rootfs=rootfs,
        args=tuple(args),
        env=env,
        cwd=cwd,
        uid=_field(data, "process.user.uid", int, 0),
        gid=_field(data, "process.user.gid", int, 0),
        hostname=_field(data, "hostname", str, None),
        namespaces=frozenset(kinds),
        memory_limit=_field(data, "linux.resources.memory.limit", int, None),
        pids_limit=_field(data, "linux.resources.pids.limit", int, None),
    )


def load(bundle: str) -> RunConfig:
    """Read and check ``bundle``/config.json."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as file:
            data = json.load(file)
    except FileNotFoundError:
        raise NotFound(f"no config.json in bundle {bundle}") from None
    except json.JSONDecodeError as error:
        # [RT-CFG-001] malformed JSON is named with its position
        raise InvalidArgument(f"config.json: invalid JSON: {error}") from None
    return parse(data, bundle)
