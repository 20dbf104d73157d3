"""A group in cgroup v1: one directory per controller, each in its own hierarchy.

Implements: spec/cgroups.md CG-002, CG-003, CG-FRZ-001, CG-FRZ-002, CG-OOM-001
Explained:  chapters/02-cgroups.md#v1
Modelled on: runc's libcontainer/cgroups/fs (one "subsystem" per controller)

    /sys/fs/cgroup/memory/minidock/ID/memory.limit_in_bytes
    /sys/fs/cgroup/cpu/minidock/ID/cpu.shares         <- the same group, five directories
    /sys/fs/cgroup/freezer/minidock/ID/freezer.state

    group.create(); group.apply(resources); group.add(pid) (or add_self() in a fresh child)
    group.freeze() / group.thaw()          freezer.state FROZEN / THAWED
    group.stats(); group.oom_killed(); group.procs(); group.remove()

Rules: a process joins every controller's directory; the group is removed from
every hierarchy, with each parent left empty.
"""

from __future__ import annotations

import os

from minidock import errors
from minidock.cgroups import files
from minidock.cgroups.detect import Hierarchy
from minidock.cgroups.plan import field_of, order_v1_memory, plan_v1
from minidock.cgroups.resources import Resources
from minidock.cgroups.stats import V1_FILES, Stats, oom_kills, stats_v1

FREEZE_TIMEOUT = 5.0  # seconds; a task in uninterruptible sleep can hold FREEZING for a while


class V1Group:
    """A group in cgroup v1: one directory per controller hierarchy."""

    CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "freezer", "devices")

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        self.name = name
        self.mounts = {c: m for c, m in hierarchy.v1_mounts.items() if c in self.CONTROLLERS}
        self.paths = {c: os.path.join(m, name) for c, m in self.mounts.items()}

    def create(self) -> None:
        """mkdir the group in every hierarchy (an existing one is reused)."""
        for controller, path in self.paths.items():
            files.make_with_parents(path)
            if controller == "cpuset":
                # cpuset(7): a new v1 cpuset is empty and refuses tasks until filled in
                parent = os.path.dirname(path)
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    _fill_cpuset(path, parent, knob)

    def apply(self, resources: Resources) -> None:
        """Write every limit that is set in ``resources``; leave the others alone."""
        plan = plan_v1(resources, bfq=self._has("blkio", "blkio.bfq.weight"))
        if "memory" in self.paths:
            current = files.read_if_exists(self._file("memory", "memory.limit_in_bytes"))
            plan = order_v1_memory(plan, int(current) if current else 0)
        for controller, file, value in plan:
            if not self._has(controller, file):
                raise files.missing_knob(file, field_of(file), _why_missing(controller, file))
            files.write(self._file(controller, file), value, field_of(file))

    def set_memory_limit(self, limit_bytes: int) -> None:
        """Set memory.limit_in_bytes (kept for callers older than apply())."""
        files.write(self._file("memory", "memory.limit_in_bytes"), str(limit_bytes))

    def set_pids_limit(self, maximum: int) -> None:
        """Set pids.max (kept for callers older than apply())."""
        files.write(self._file("pids", "pids.max"), str(maximum))

    def add(self, pid: int) -> None:
        """Move ``pid`` into the group, in every hierarchy."""
        for path in self.paths.values():
            files.write(os.path.join(path, "cgroup.procs"), str(pid))

    def add_self(self) -> None:
        """Move the calling process, which must have one thread (a child just forked), in.

        Writing a pid to cgroup.procs takes the kernel's cgroup_threadgroup_rwsem for
        writing, which waits for an RCU grace period: 7 to 90 ms on a busy host. A
        thread that moves itself (`0` written to `tasks`) needs no such lock, and a
        process of one thread moves whole: the same result in well under a millisecond.
        """
        for path in self.paths.values():
            files.write(os.path.join(path, "tasks"), "0")

    def procs(self) -> list[int]:
        """The PIDs of the processes in the group (threads not listed)."""
        # [CG-PROCS-001] every hierarchy holds the same processes: read one
        controller = "memory" if "memory" in self.paths else next(iter(self.paths))
        return [int(pid) for pid in files.read(self._file(controller, "cgroup.procs")).split()]

    def freeze(self) -> None:
        """Stop every task in the group; return once the kernel says FROZEN."""
        # [CG-FRZ-002] freeze() returns only when every task is frozen
        state = self._file("freezer", "freezer.state")

        def frozen() -> bool:
            if files.read(state).strip() == "FROZEN":
                return True
            files.write(state, "FROZEN")  # runc writes again: a new task may have joined
            return False

        files.write(state, "FROZEN")
        if not files.wait_until(frozen, FREEZE_TIMEOUT):
            files.write(state, "THAWED")  # do not leave a half-frozen container behind
            raise errors.SystemError(f"cannot freeze {self.name}: still FREEZING after "
                                     f"{FREEZE_TIMEOUT:g}s (a task is stuck in the kernel)")

    def thaw(self) -> None:
        """Let every task in the group run again."""
        state = self._file("freezer", "freezer.state")
        files.write(state, "THAWED")
        if not files.wait_until(lambda: files.read(state).strip() == "THAWED", FREEZE_TIMEOUT):
            raise errors.SystemError(f"cannot thaw {self.name}: freezer.state is not THAWED "
                                     f"after {FREEZE_TIMEOUT:g}s")

    def stats(self) -> Stats:
        """Memory, CPU, pids and block I/O counters, where this host has them."""
        texts = {file: self._read_if_exists(controller, file) for controller, file in V1_FILES}
        return stats_v1({file: text for file, text in texts.items() if text is not None})

    def oom_killed(self) -> bool:
        """Has the OOM killer killed a task of this group (memory.oom_control oom_kill)?"""
        # [CG-OOM-001] read before remove(): the count goes with the directory
        text = self._read_if_exists("memory", "memory.oom_control")
        return text is not None and oom_kills(text) > 0

    def remove(self) -> None:
        """rmdir the group in every hierarchy, and each parent left empty."""
        for mount in self.mounts.values():
            files.remove_with_parents(mount, self.name)

    # -- helpers --

    def _file(self, controller: str, file: str) -> str:
        if controller not in self.paths:
            raise errors.Unavailable(f"the cgroup v1 {controller} controller is not mounted "
                                     f"on this host (needed for {file})")
        return os.path.join(self.paths[controller], file)

    def _read_if_exists(self, controller: str, file: str) -> str | None:
        if controller not in self.paths:
            return None
        return files.read_if_exists(os.path.join(self.paths[controller], file))

    def _has(self, controller: str, file: str) -> bool:
        return controller in self.paths and os.path.exists(os.path.join(self.paths[controller], file))


def _why_missing(controller: str, file: str) -> str:
    """Why a v1 host may lack a knob, in words a user can act on."""
    if file == "memory.memsw.limit_in_bytes":
        return "the kernel does not account swap (boot with swapaccount=1)"
    if controller == "blkio":
        return "no I/O scheduler here supports weights (BFQ does)"
    return f"the {controller} controller is not mounted, or this kernel lacks the file"


def _fill_cpuset(path: str, parent: str, knob: str) -> None:
    """Copy a cpuset knob down from the nearest ancestor that has it set."""
    current = files.read(os.path.join(path, knob)).strip()
    if current:
        return
    value = files.read(os.path.join(parent, knob)).strip()
    if not value:
        _fill_cpuset(parent, os.path.dirname(parent), knob)
        value = files.read(os.path.join(parent, knob)).strip()
    files.write(os.path.join(path, knob), value)
