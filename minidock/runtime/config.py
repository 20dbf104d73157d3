"""The OCI runtime config (config.json): load it, check it, and default it.

Implements: spec/runtime.md RT-CFG-001 .. RT-CFG-007
Explained:  chapters/03-runtime.md#the-bundle
Modelled on: the OCI runtime-spec 1.x config.json, and `runc spec`

    default_config()          -> dict, what `minidock-runtime spec` writes
    load(bundle) -> RunConfig  parsed and checked, every error names its field

Rules: pure but for reading one file; a bad config is rejected before anything
is created, so a refused container leaves no mount, cgroup or process behind.
Honoured: process (args, env, cwd, user with additionalGids, rlimits, terminal,
capabilities, noNewPrivileges), root (path, readonly), hostname, mounts, hooks,
linux (namespaces with paths, uid/gid mappings, resources with runc's default
device rules appended, devices, seccomp, masked and read-only paths). Not yet:
sysctl, intelRdt, personality.
"""

from __future__ import annotations

import os
import resource

from minidock import jsonfile
from minidock.cgroups import Resources
from minidock.errors import InvalidArgument, NotFound
from minidock.namespaces import Kind, Namespace, parse as parse_namespace
from minidock.records import record
from minidock.runtime import devices as oci_devices, mounts as oci_mounts
from minidock.runtime.hooks import Hooks, parse as parse_hooks
from minidock.runtime.security import Security, docker_fields, merge, parse as parse_security

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
# An annotation (runtime-spec: free for implementations) telling the monitor where to
# write the container's output, instead of container.log in the state directory: an
# engine keeps logs after the runtime has forgotten the container.
LOG_PATH = "org.minidock.log-path"
# "true": keep the container's stdin open for the monitor to feed (`docker run -i`)
OPEN_STDIN = "org.minidock.open-stdin"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@record
class RunConfig:
    """What the runtime needs to start one container, already checked."""

    rootfs: str                        # absolute path of the root filesystem
    readonly_root: bool                # root.readonly: `docker run --read-only`
    args: tuple[str, ...]              # process.args
    env: dict[str, str]                # process.env
    cwd: str                           # process.cwd, absolute
    uid: int
    gid: int
    hostname: str | None
    namespaces: frozenset[Kind]   # to create
    resources: Resources               # linux.resources, checked (minidock.cgroups)
    additional_gids: tuple[int, ...] = ()
    joined_namespaces: tuple[tuple[Kind, str], ...] = ()   # to join: (kind, path)
    uid_mappings: tuple[tuple[int, int, int], ...] = ()   # (containerID, hostID, size)
    gid_mappings: tuple[tuple[int, int, int], ...] = ()
    terminal: bool = False                               # process.terminal: a pty as stdio
    hooks: Hooks = Hooks()                               # OCI hooks, by stage
    security: Security = Security()                      # capabilities, no_new_privs, seccomp, masked paths
    mounts: tuple[oci_mounts.Mount, ...] | None = None   # None: rootfs.default_mounts()
    rootfs_propagation: int = 0        # linux.rootfsPropagation's flags (0: rprivate)
    rlimits: tuple[tuple[int, int, int], ...] = ()       # (RLIMIT_*, soft, hard)
    log_path: str | None = None                          # annotation LOG_PATH: where the monitor logs
    open_stdin: bool = False                             # annotation OPEN_STDIN: stdin fed by the monitor
    cgroups_path: str | None = None                      # linux.cgroupsPath, under each hierarchy's root
    devices: tuple[oci_devices.DeviceNode, ...] = ()     # linux.devices: nodes made in the container
    preserve_fds: int = 0                                # not config.json's: --preserve-fds N, fds 3..3+N-1 kept


def default_config() -> dict[str, Any]:
    """Return the config `minidock-runtime spec` writes: busybox's sh, every namespace but user.

    Security is what `docker run` gives by default: Docker's 14 capabilities,
    its seccomp profile, masked and read-only paths (security.docker_fields).
    """
    from minidock.runtime.rootfs import DEFAULT_MOUNTS

    return merge(_base_config(DEFAULT_MOUNTS), docker_fields())


def _base_config(default_mounts: list[dict]) -> dict[str, Any]:
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [f"PATH={DEFAULT_PATH}", "TERM=xterm"],
            "cwd": "/",
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "minidock",
        "mounts": [dict(m) for m in default_mounts],
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
    # [RT-CFG-003] never the host's own root; a relative path stays inside the bundle, even
    # through symlinks; an absolute one is the caller's choice, as the runtime-spec allows
    # (podman's root filesystems are overlay mounts in its own storage)
    if rootfs == "/":
        raise InvalidArgument(f"config.json: 'root.path' {root!r} is the host's own root")
    if rootfs == bundle or (not os.path.isabs(root) and os.path.commonpath([bundle, rootfs]) != bundle):
        raise InvalidArgument(f"config.json: 'root.path' {root!r} is outside the bundle {bundle}")
    if not os.path.isdir(rootfs):
        raise NotFound(f"root filesystem {rootfs} does not exist")

    kinds, joined = set(), {}
    for entry in _field(data, "linux.namespaces", list, []):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise InvalidArgument("config.json: each 'linux.namespaces' entry needs a string 'type'")
        kind = parse_namespace(entry["type"])  # [RT-CFG-004] unknown types are refused
        path = entry.get("path")
        if path is None:
            kinds.add(kind)
            continue
        # [NS-JOIN-002] a namespace to join is an existing /proc/PID/ns/* (or bind-mounted) file
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidArgument(f"config.json: the {kind.oci_type} namespace path must be absolute, got {path!r}")
        if not os.path.exists(path):
            raise NotFound(f"config.json: the {kind.oci_type} namespace to join, {path}, does not exist")
        joined[kind] = path

    gids = _field(data, "process.user.additionalGids", list, [])
    if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in gids):
        raise InvalidArgument("config.json: 'process.user.additionalGids' must be a list of non-negative integers")
    mounts = oci_mounts.parse(data["mounts"], bundle) if "mounts" in data else None
    propagation = _field(data, "linux.rootfsPropagation", str, "")
    if propagation and propagation not in oci_mounts.PROPAGATION:
        # [RT-MNT-005] one of mount(8)'s propagation words, or nothing
        raise InvalidArgument(f"config.json: 'linux.rootfsPropagation' {propagation!r} is not a propagation type")
    cgroups_path = _cgroups_path(_field(data, "linux.cgroupsPath", str, ""))
    annotations = _field(data, "annotations", dict, {})
    log_path = annotations.get(LOG_PATH)
    if log_path is not None and (not isinstance(log_path, str) or not log_path.startswith("/")):
        raise InvalidArgument(f"config.json: annotation {LOG_PATH!r} must be an absolute path")

    return RunConfig(
        additional_gids=tuple(gids),
        terminal=_field(data, "process.terminal", bool, False),
        security=parse_security(data),
        hooks=parse_hooks(data),
        mounts=None if mounts is None else tuple(mounts),
        rootfs_propagation=oci_mounts.PROPAGATION.get(propagation, 0),
        rlimits=_rlimits(_field(data, "process.rlimits", list, [])),
        log_path=log_path,
        cgroups_path=cgroups_path,
        open_stdin=annotations.get(OPEN_STDIN) == "true",
        rootfs=rootfs,
        readonly_root=_field(data, "root.readonly", bool, False),
        args=tuple(args),
        env=env,
        cwd=cwd,
        uid=_field(data, "process.user.uid", int, 0),
        gid=_field(data, "process.user.gid", int, 0),
        hostname=_field(data, "hostname", str, None),
        namespaces=frozenset(kinds),
        joined_namespaces=tuple(joined.items()),
        uid_mappings=_mappings(data, "uidMappings", Namespace.USER in kinds),
        gid_mappings=_mappings(data, "gidMappings", Namespace.USER in kinds),
        resources=oci_devices.with_defaults(Resources.from_oci(_field(data, "linux.resources", dict, {}))),
        devices=oci_devices.parse(_field(data, "linux.devices", list, [])),
    )


def _cgroups_path(path: str) -> str | None:
    """[RT-CFG-007] linux.cgroupsPath as a group name under each hierarchy's root (None: ours).

    Absolute: from the hierarchy's root, as podman and containerd give it
    ("/machine/libpod-ID"); relative: under the runtime's own parent group. systemd's
    "slice:prefix:name" form is refused: minidock-runtime drives cgroupfs only.
    """
    if not path:
        return None
    parts = path.strip("/").split("/")
    if ":" in path or any(part in ("", ".", "..") for part in parts):
        raise InvalidArgument(f"config.json: 'linux.cgroupsPath' {path!r} is not a cgroup path "
                              "(no '..', no systemd 'slice:prefix:name')")
    return "/".join(parts) if path.startswith("/") else "minidock-runtime/" + "/".join(parts)


def _mappings(data: dict, name: str, user_namespace: bool) -> tuple[tuple[int, int, int], ...]:
    """Check linux.uidMappings / gidMappings: [{"containerID", "hostID", "size"}, ...]."""
    entries = _field(data, f"linux.{name}", list, [])
    # [NS-USER-002] a new user namespace needs mappings, and mappings need one
    if user_namespace and not entries:
        raise InvalidArgument(f"config.json: a user namespace needs 'linux.{name}'")
    if entries and not user_namespace:
        raise InvalidArgument(f"config.json: 'linux.{name}' given without a new user namespace")
    checked = []
    for index, entry in enumerate(entries):
        values = [entry.get(k) if isinstance(entry, dict) else None for k in ("containerID", "hostID", "size")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values) or values[2] == 0:
            raise InvalidArgument(f"config.json: 'linux.{name}[{index}]' needs non-negative integer "
                                  "containerID and hostID and a positive size")
        checked.append(tuple(values))
    return tuple(checked)


def _rlimits(entries: list) -> tuple[tuple[int, int, int], ...]:
    """Check process.rlimits: [{"type": "RLIMIT_NOFILE", "soft": N, "hard": N}, ...]."""
    checked = []
    for index, entry in enumerate(entries):
        where = f"process.rlimits[{index}]"
        if not isinstance(entry, dict):
            raise InvalidArgument(f"config.json: '{where}' must be an object")
        name = entry.get("type")
        # [RT-CFG-006] an unknown rlimit, or soft above hard, is refused
        if not isinstance(name, str) or not hasattr(resource, name) or not name.startswith("RLIMIT_"):
            raise InvalidArgument(f"config.json: '{where}.type' {name!r} is not an RLIMIT_* name")
        soft, hard = entry.get("soft"), entry.get("hard")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (soft, hard)):
            raise InvalidArgument(f"config.json: '{where}' needs non-negative integer soft and hard")
        if soft > hard:
            raise InvalidArgument(f"config.json: '{where}': soft {soft} is above hard {hard}")
        checked.append((getattr(resource, name), soft, hard))
    return tuple(checked)


def load(bundle: str) -> RunConfig:
    """Read and check ``bundle``/config.json."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as file:
            data = jsonfile.load(file)
    except FileNotFoundError:
        raise NotFound(f"no config.json in bundle {bundle}") from None
    except ValueError as error:  # json.JSONDecodeError, or a file that is not UTF-8
        # [RT-CFG-001] malformed JSON is named with its position
        raise InvalidArgument(f"config.json: invalid JSON: {error}") from None
    return parse(data, bundle)
