"""Devices in a container: the nodes config.json's `linux.devices` asks for, and runc's defaults.

Implements: spec/runtime.md RT-DEV-001 .. RT-DEV-003
Explained:  chapters/02-cgroups.md#devices
Modelled on: runc's libcontainer/specconv (createDevices, AllowedDevices) and
             rootfs_linux.go (createDeviceNode, bindMountDeviceNode)

    parse(entries) -> (DeviceNode, ...)      check linux.devices  (pure)
    with_defaults(resources) -> Resources    the config's device rules, then runc's
    make(rootfs, nodes, user_namespace)      in the init: mknod (or bind) each node

Rules: two lists that do different things. `linux.devices` makes nodes in the
container's /dev; `linux.resources.devices` (the devices cgroup) decides which
nodes may be opened. A node made here and not allowed there fails with EPERM on
open, as in Docker.
"""

from __future__ import annotations

import os
import stat

from minidock.cgroups import Resources
from minidock.cgroups.devices import MAX_NUMBER, RUNC_DEFAULTS
from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.records import record
from minidock.runtime.mounts import secure_join

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from typing import Any

# runtime-spec linux.devices "type": c and u (unbuffered) are character devices, b block, p a FIFO
FILE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


@record
class DeviceNode:
    """One node to create in the container: where, what, and whose."""

    path: str            # absolute, inside the container
    type: str            # c, u, b or p
    major: int = 0
    minor: int = 0
    mode: int = 0o666    # fileMode's permission bits
    uid: int = 0
    gid: int = 0


def parse(entries: Any) -> tuple[DeviceNode, ...]:
    """Check linux.devices: [{"path", "type", "major", "minor", "fileMode", "uid", "gid"}]."""
    if not isinstance(entries, list):
        raise InvalidArgument(f"config.json: 'linux.devices' must be a list, not {type(entries).__name__}")
    nodes = []
    for index, entry in enumerate(entries):
        where = f"config.json: 'linux.devices[{index}]'"
        if not isinstance(entry, dict):
            raise InvalidArgument(f"{where} must be an object")
        path, kind = entry.get("path"), entry.get("type")
        # [RT-DEV-001] a node needs an absolute path below /, a known type and numbers
        if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") in ("", "/dev"):
            raise InvalidArgument(f"{where}.path must be an absolute path like /dev/fuse, got {path!r}")
        if kind not in FILE_TYPES:
            raise InvalidArgument(f"{where}.type {kind!r} is not c, u, b or p")
        numbers = {}
        for key, default in (("major", None), ("minor", None), ("fileMode", 0o666), ("uid", 0), ("gid", 0)):
            value = entry.get(key, default)
            if key in ("major", "minor") and kind == "p":
                value = 0 if value is None else value   # a FIFO has no numbers
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 \
                    or (key in ("major", "minor") and value > MAX_NUMBER):
                raise InvalidArgument(f"{where}.{key} must be a non-negative integer"
                                      f"{' (a device needs both numbers)' if value is None else ''}")
            numbers[key] = value
        nodes.append(DeviceNode(path, kind, numbers["major"], numbers["minor"],
                                numbers["fileMode"] & 0o7777, numbers["uid"], numbers["gid"]))
    return tuple(nodes)


def with_defaults(resources: Resources) -> Resources:
    """The config's device rules, then runc's defaults (which are always appended, as runc does).

    A config with no rules at all gets "deny everything" and the defaults: /dev/null
    and the other standard nodes, the ptys, and mknod(2) of any node.
    """
    # [RT-DEV-002] runc's AllowedDevices come after the config's rules
    return resources._replace(devices=(*(resources.devices or ()), *RUNC_DEFAULTS))


def make(rootfs: str, nodes: tuple[DeviceNode, ...], user_namespace: bool = False) -> None:
    """Create each node under ``rootfs`` (before pivot_root), replacing a default one of that path.

    In a user namespace mknod(2) is refused: the host's node of the same path is
    bind-mounted instead, as runc does.
    """
    for node in nodes:
        if os.path.normpath(node.path) == "/dev/ptmx":
            # [RT-DEV-004] it stays the link to the container's own devpts (RT-TTY-001), as in runc;
            # made here, it would replace pts/ptmx, which devpts refuses (podman --privileged asks)
            continue
        # [RT-DEV-001] a symlink in the image cannot send the node outside the root
        target = secure_join(rootfs, node.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)   # the user's node wins over a default of the same path
        if user_namespace:
            open(target, "w").close()
            sc.mount(node.path, target, None, sc.MS_BIND)
            continue
        os.mknod(target, FILE_TYPES[node.type] | node.mode, os.makedev(node.major, node.minor))
        os.chmod(target, node.mode)   # mknod(2) honours the umask
        os.chown(target, node.uid, node.gid)
