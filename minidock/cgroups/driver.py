"""Cgroup drivers: one interface, two implementations (v1 and v2).

Implements: spec/cgroups.md CG-002 .. CG-004
Explained:  chapters/02-cgroups.md#drivers

    driver = open_driver()                 # picks V1Driver or V2Driver for this host
    group  = driver.create("minidock/ID")  # mkdir in each hierarchy
    group.set_memory_limit(64 << 20); group.set_pids_limit(64)
    group.add(pid)                         # write the pid to cgroup.procs
    group.remove()                         # rmdir; the group must be empty

Rules: names are relative paths under the hierarchy root; a group is removed
only when no process is left in it (the kernel refuses otherwise: EBUSY).
"""

from __future__ import annotations

import os
import time
from typing import Protocol

from minidock.cgroups.detect import Hierarchy, detect
from minidock.errors import InvalidArgument


class Group(Protocol):
    """A control group, in whichever hierarchy the host has."""

    name: str

    def set_memory_limit(self, limit_bytes: int) -> None: ...
    def set_pids_limit(self, maximum: int) -> None: ...
    def add(self, pid: int) -> None: ...
    def remove(self) -> None: ...


def _write(path: str, value: str) -> None:
    with open(path, "w") as file:
        file.write(value)


def _check_name(name: str) -> str:
    # [CG-004] a group name never climbs out of the hierarchy
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(f"invalid cgroup name {name!r}: use a relative path like minidock/ID")
    return name


def _remove_with_parents(root: str, name: str) -> None:
    """rmdir the group, then each parent of it under ``root`` that is left empty."""
    _rmdir_when_empty(os.path.join(root, name))
    parent = os.path.dirname(name)
    while parent:
        try:
            os.rmdir(os.path.join(root, parent))
        except OSError:
            return  # still holds other groups (or is gone): leave it
        parent = os.path.dirname(parent)


def _rmdir_when_empty(path: str, attempts: int = 50) -> None:
    """rmdir a cgroup, waiting briefly for the kernel to finish reaping its tasks."""
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while an exiting task is still accounted
            time.sleep(0.02)
    os.rmdir(path)


class V1Group:
    """A group in cgroup v1: one directory per controller hierarchy."""

    CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "freezer", "devices")

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        self.name = name
        self.mounts = {c: m for c, m in hierarchy.v1_mounts.items() if c in self.CONTROLLERS}
        self.paths = {c: os.path.join(m, name) for c, m in self.mounts.items()}

    def create(self) -> None:
        for controller, path in self.paths.items():
            os.makedirs(path, exist_ok=True)
            if controller == "cpuset":
                # cpuset(7): a new v1 cpuset is empty and refuses tasks until filled in
                parent = os.path.dirname(path)
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    _fill_cpuset(path, parent, knob)

    def set_memory_limit(self, limit_bytes: int) -> None:
        _write(os.path.join(self.paths["memory"], "memory.limit_in_bytes"), str(limit_bytes))

    def set_pids_limit(self, maximum: int) -> None:
        _write(os.path.join(self.paths["pids"], "pids.max"), str(maximum))

    def add(self, pid: int) -> None:
        for path in self.paths.values():
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    def remove(self) -> None:
        for mount in self.mounts.values():
            _remove_with_parents(mount, self.name)


def _fill_cpuset(path: str, parent: str, knob: str) -> None:
    """Copy a cpuset knob down from the nearest ancestor that has it set."""
    current = open(os.path.join(path, knob)).read().strip()
    if current:
        return
    value = open(os.path.join(parent, knob)).read().strip()
    if not value:
        _fill_cpuset(parent, os.path.dirname(parent), knob)
        value = open(os.path.join(parent, knob)).read().strip()
    _write(os.path.join(path, knob), value)


class V2Group:
    """A group in cgroup v2: one directory in the unified hierarchy."""

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        self.name = name
        self.root = hierarchy.v2_mount or "/sys/fs/cgroup"
        self.path = os.path.join(self.root, name)

    def create(self) -> None:
        # cgroups(7) v2: a controller is usable in a child only when every
        # ancestor lists it in cgroup.subtree_control
        parent = self.root
        for part in self.name.split("/"):
            available = open(os.path.join(parent, "cgroup.controllers")).read().split()
            wanted = [c for c in ("memory", "pids", "cpu", "cpuset", "io") if c in available]
            if wanted:
                try:
                    _write(os.path.join(parent, "cgroup.subtree_control"),
                           " ".join("+" + c for c in wanted))
                except OSError:
                    pass  # "no internal processes": the root may hold processes itself
            parent = os.path.join(parent, part)
            os.makedirs(parent, exist_ok=True)

    def set_memory_limit(self, limit_bytes: int) -> None:
        _write(os.path.join(self.path, "memory.max"), str(limit_bytes))

    def set_pids_limit(self, maximum: int) -> None:
        _write(os.path.join(self.path, "pids.max"), str(maximum))

    def add(self, pid: int) -> None:
        _write(os.path.join(self.path, "cgroup.procs"), str(pid))

    def remove(self) -> None:
        _remove_with_parents(self.root, self.name)


class Driver:
    """Makes groups in the hierarchy the host has."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy

    @property
    def version(self) -> int:
        return self.hierarchy.version

    def create(self, name: str) -> V1Group | V2Group:
        """Create (or reuse) the group ``name`` and return it."""
        group_class = V1Group if self.hierarchy.version == 1 else V2Group
        group = group_class(self.hierarchy, _check_name(name))
        group.create()
        return group


def open_driver(mountinfo_path: str = "/proc/self/mountinfo") -> Driver:
    """Return the driver for this host's cgroup hierarchy."""
    with open(mountinfo_path) as file:
        return Driver(detect(file.read()))
