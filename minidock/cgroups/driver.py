"""Cgroup drivers: one interface (group.py), two implementations (v1 and v2).

Implements: spec/cgroups.md CG-002 .. CG-004, CG-RES-004, CG-RES-006
Explained:  chapters/02-cgroups.md#drivers
Modelled on: runc's libcontainer/cgroups manager (fs for v1, fs2 for v2)

    driver = open_driver()                   # picks v1 or v2 for this host
    resources = Resources.from_oci(config["linux"].get("resources"))
    group = driver.create("minidock/ID", resources)   # check, mkdir, apply
    group.add(pid)                           # write the pid to cgroup.procs
    group.add_self()                         # the caller, one thread: v1's quick `tasks` write
    group = driver.open("minidock/ID")       # later, from another process: no mkdir, no writes
    group.freeze(); group.thaw()             # pause / unpause
    group.stats(); group.procs()             # docker stats / docker top
    group.oom_killed()                       # after the container exits, before remove()
    group.remove()                           # rmdir; the group must be empty

Rules: names are relative paths under the hierarchy root; resources are checked
against the host before any directory is made, and a group whose limits cannot
be applied is removed again, so a refused container leaves nothing behind.
"""

from __future__ import annotations

from minidock.cgroups import files
from minidock.cgroups.detect import Hierarchy, detect
from minidock.cgroups.resources import Resources, check_cpuset
from minidock.errors import InvalidArgument

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from minidock.cgroups.v1 import V1Group
    from minidock.cgroups.v2 import V2Group

ONLINE_CPUS = "/sys/devices/system/cpu/online"
ONLINE_MEMS = "/sys/devices/system/node/online"  # absent on a kernel without NUMA: node 0 only


def _check_name(name: str) -> str:
    # [CG-004] a group name never climbs out of the hierarchy
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(f"invalid cgroup name {name!r}: use a relative path like minidock/ID")
    return name


class Driver:
    """Makes groups in the hierarchy the host has."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy

    @property
    def version(self) -> int:
        return self.hierarchy.version

    def check(self, resources: Resources) -> None:
        """Refuse resources this host cannot have (a cpuset beyond its CPUs), touching nothing."""
        if resources.cpuset_cpus is not None or resources.cpuset_mems is not None:
            cpus = files.read(ONLINE_CPUS)
            mems = files.read_if_exists(ONLINE_MEMS) or "0"
            check_cpuset(resources, cpus, mems)

    def open(self, name: str) -> V1Group | V2Group:
        """The group ``name`` as it is, made by an earlier create(): nothing is written."""
        # only this host's driver is imported: v2's brings the eBPF device programs, and
        # the two together cost a container's start 2.6 ms (chapters/03-runtime.md#start-up-time)
        if self.hierarchy.version == 1:
            from minidock.cgroups.v1 import V1Group as group_class
        else:
            from minidock.cgroups.v2 import V2Group as group_class
        return group_class(self.hierarchy, _check_name(name))

    def create(self, name: str, resources: Resources | None = None) -> V1Group | V2Group:
        """Create (or reuse) the group ``name``, apply ``resources`` to it, and return it."""
        group = self.open(name)
        if resources is not None:
            self.check(resources)
        group.create()
        if resources is not None:
            try:
                group.apply(resources)
            except BaseException:
                # [CG-RES-006] a group whose limits cannot be applied is not left behind
                group.remove()
                raise
        return group


def open_driver(mountinfo_path: str = "/proc/self/mountinfo") -> Driver:
    """Return the driver for this host's cgroup hierarchy."""
    with open(mountinfo_path) as file:
        return Driver(detect(file.read()))
