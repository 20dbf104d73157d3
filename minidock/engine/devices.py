"""Devices for `docker run`: --device, --device-cgroup-rule and --privileged, as config.json lists.

Implements: spec/engine.md ENGINE-DEV-001 .. ENGINE-DEV-003
Explained:  chapters/02-cgroups.md#devices
Modelled on: moby's daemon/oci_linux.go WithDevices and oci/devices_linux.go
             (DevicesFromPath, AppendDevicePermissionsFromCgroupRules)

    check(host)                         refuse bad HostConfig.Devices / DeviceCgroupRules (at create)
    oci_devices(host) -> (nodes, rules) linux.devices and the rules for linux.resources.devices

Rules: the engine reads the host's /dev (stat) but changes nothing. Each
--device becomes a node in the container (linux.devices) and an allow rule
(its CgroupPermissions); each --device-cgroup-rule an allow rule; both come
after the "deny everything" that docker_fields writes. A privileged container
gets every node of the host's /dev and "allow everything" instead.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from minidock.cgroups.devices import DeviceRule
from minidock.errors import InvalidArgument

# runc's HostDevices skips these directories of /dev (and /dev/console): they are the host's own.
SKIPPED = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")


def _mappings(host: dict) -> list[dict]:
    mappings = host.get("Devices") or []
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise InvalidArgument("json: cannot unmarshal HostConfig.Devices: a list of "
                              "{PathOnHost, PathInContainer, CgroupPermissions} is expected")
    return mappings


def cgroup_rules(host: dict) -> list[DeviceRule]:
    """HostConfig.DeviceCgroupRules ('c 1:3 rwm') as allow rules."""
    rules = host.get("DeviceCgroupRules") or []
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise InvalidArgument("json: cannot unmarshal HostConfig.DeviceCgroupRules: a list of strings is expected")
    # [ENGINE-DEV-002] moby's words for a rule it cannot read
    try:
        return [DeviceRule.parse(rule) for rule in rules]
    except InvalidArgument as error:
        raise InvalidArgument(f"invalid device cgroup rule format: {error.message}") from None


def nodes_from_path(mapping: dict) -> list[tuple[dict, DeviceRule]]:
    """One --device: the host's node (or every node under a directory), each with its rule."""
    source, target = mapping.get("PathOnHost") or "", mapping.get("PathInContainer") or ""
    access = mapping.get("CgroupPermissions") or "rwm"
    target = target or source
    # [ENGINE-DEV-001] refused at create, in moby's words, before anything exists
    if not source.startswith("/") or not target.startswith("/"):
        raise InvalidArgument(f"invalid device specification: {source}:{target}: "
                              f"both paths must be absolute")
    if any(letter not in "rwm" for letter in access) or not access:
        raise InvalidArgument(f"bad mode specified: {access}")
    try:
        resolved = os.path.realpath(source, strict=True)
        info = os.stat(resolved)
    except OSError as error:
        raise InvalidArgument(f"error gathering device information while adding custom device "
                              f'"{source}": {os.strerror(error.errno or 0).lower()}') from None
    if stat.S_ISDIR(info.st_mode):
        found = [(os.path.join(target, os.path.relpath(path, resolved)), os.stat(path))
                 for path in _walk_devices(resolved)]
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        found = [(target, info)]
    else:
        raise InvalidArgument(f"error gathering device information while adding custom device "
                              f'"{source}": not a device node')
    return [_node(path, info, access) for path, info in found]


def _walk_devices(top: str) -> list[str]:
    """Every character and block device under ``top``, skipping runc's skipped directories."""
    found = []
    for parent, children, names in os.walk(top):
        children[:] = [c for c in children if not (parent == "/dev" and c in SKIPPED)]
        for name in sorted(names):
            path = os.path.join(parent, name)
            if path in ("/dev/console", "/dev/ptmx"):
                continue   # the container has its own console, and /dev/ptmx is a link into its devpts
            mode = os.lstat(path).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                found.append(path)
    return found


def _node(path: str, info: os.stat_result, access: str) -> tuple[dict, DeviceRule]:
    kind = "b" if stat.S_ISBLK(info.st_mode) else "c"
    major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
    node = {"path": path, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid}
    access = "".join(letter for letter in "rwm" if letter in access)
    return node, DeviceRule(True, kind, major, minor, access)


def check(host: dict) -> None:
    """Refuse what oci_devices would refuse, when the container is created."""
    oci_devices(host)


def oci_devices(host: dict) -> tuple[list[dict], list[dict]]:
    """(linux.devices, the rules to append to linux.resources.devices) for a HostConfig."""
    if host.get("Privileged"):
        # [ENGINE-DEV-003] privileged: every node of the host's /dev (docker_fields allows all)
        return [_node(path, os.stat(path), "rwm")[0] for path in _walk_devices("/dev")], []
    pairs = [pair for mapping in _mappings(host) for pair in nodes_from_path(mapping)]
    rules = [rule for _, rule in pairs] + cgroup_rules(host)
    return [node for node, _ in pairs], [_oci_rule(rule) for rule in rules]


def _oci_rule(rule: DeviceRule) -> dict[str, Any]:
    entry: dict[str, Any] = {"allow": rule.allow, "type": rule.type, "access": rule.access}
    if rule.major is not None:
        entry["major"] = rule.major
    if rule.minor is not None:
        entry["minor"] = rule.minor
    return entry
