"""A group in cgroup v2: one directory in the single, unified hierarchy.

Implements: spec/cgroups.md CG-002, CG-003, CG-FRZ-001, CG-FRZ-002, CG-OOM-001, CG-DEV-002
Explained:  chapters/02-cgroups.md#v2
Modelled on: runc's libcontainer/cgroups/fs2, and the kernel's cgroup-v2.rst

    /sys/fs/cgroup/minidock/ID/{memory.max, cpu.max, pids.max, cgroup.freeze, ...}

    group.create(); group.apply(resources); group.add(pid)
    group.apply_devices(state)             the eBPF program, loaded and attached to the directory
    group.freeze() / group.thaw()          cgroup.freeze 1 / 0, until cgroup.events says so
    group.stats(); group.oom_killed(); group.procs(); group.remove()

Rules: a controller's files appear in a group only when its parent lists the
controller in cgroup.subtree_control; freezing is not a controller, every
non-root group has cgroup.freeze (Linux 5.2+); nor are devices: a program
attached to the directory decides, and goes when the directory goes.
"""

from __future__ import annotations

import os

from minidock import errors
from minidock.cgroups import files
from minidock.cgroups.detect import Hierarchy
from minidock.cgroups.devices import DeviceState
from minidock.cgroups.ebpf import device_program, encode
from minidock.cgroups.plan import field_of, plan_v2
from minidock.cgroups.resources import Resources
from minidock.cgroups.stats import V2_FILES, Stats, oom_kills, parse_flat_keyed, stats_v2
from minidock.kernel import syscalls as sc

FREEZE_TIMEOUT = 5.0
WANTED_CONTROLLERS = ("memory", "pids", "cpu", "cpuset", "io")
# The license string the program is loaded with: it calls no GPL-only helper, so
# the project's own license will do (runc passes "Apache" too).
PROGRAM_LICENSE = "Apache"


class V2Group:
    """A group in cgroup v2: one directory in the unified hierarchy."""

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        self.name = name
        self.root = hierarchy.v2_mount or "/sys/fs/cgroup"
        self.path = os.path.join(self.root, name)

    def create(self) -> None:
        """mkdir the group, then enable the controllers we use in every ancestor, top down."""
        # The leaf first: once it exists no other container's removal can rmdir
        # an ancestor, so what we write into their subtree_control stays.
        files.make_with_parents(self.path)
        # cgroups(7) v2: a controller is usable in a child only when every
        # ancestor lists it in cgroup.subtree_control
        parent = self.root
        for part in self.name.split("/"):
            available = files.read(os.path.join(parent, "cgroup.controllers")).split()
            wanted = [c for c in WANTED_CONTROLLERS if c in available]
            if wanted:
                try:
                    files.write(os.path.join(parent, "cgroup.subtree_control"),
                                " ".join("+" + c for c in wanted))
                except errors.SystemError:
                    # "no internal processes" (cgroups(7)): a non-root group that holds
                    # processes itself cannot enable controllers for its children (only
                    # the root is exempt); the limit that needs one then fails by name
                    pass
            parent = os.path.join(parent, part)

    def apply(self, resources: Resources) -> None:
        """Write every limit that is set in ``resources``; leave the others alone."""
        plan = plan_v2(resources, bfq=os.path.exists(self._file("io.bfq.weight")))
        for file, value in plan:
            if not os.path.exists(self._file(file)):
                raise files.missing_knob(file, field_of(file), self._why_missing(file))
            files.write(self._file(file), value, field_of(file))
        if resources.devices is not None:
            self.apply_devices(DeviceState.of(resources.devices))

    def apply_devices(self, state: DeviceState) -> None:
        """Load the program that decides as ``state`` does and attach it to this group.

        Once attached the program is held by the group, not by our fd: closing
        the fd keeps it working, and the kernel frees it when the group is removed.
        """
        # [CG-DEV-002] cgroup v2 has no devices files: BPF_PROG_TYPE_CGROUP_DEVICE
        try:
            program = sc.bpf_prog_load(sc.BPF_PROG_TYPE_CGROUP_DEVICE, encode(device_program(state)),
                                       PROGRAM_LICENSE, name="minidock_dev")
        except sc.SyscallError as error:
            raise errors.SystemError(f"linux.resources.devices: the kernel refused the device "
                                     f"program for {self.name}: {error.message}") from None
        directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # BPF_F_ALLOW_MULTI, as runc: an ancestor's program (systemd's) still runs too
            sc.bpf_prog_attach(directory, program, sc.BPF_CGROUP_DEVICE, sc.BPF_F_ALLOW_MULTI)
        except sc.SyscallError as error:
            raise errors.SystemError(f"linux.resources.devices: cannot attach the device program "
                                     f"to {self.path}: {error.message}") from None
        finally:
            os.close(directory)
            os.close(program)

    def device_programs(self) -> list[int]:
        """The ids of the device programs attached to this group (for checks and tests)."""
        directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return sc.bpf_prog_query(directory, sc.BPF_CGROUP_DEVICE)
        finally:
            os.close(directory)

    def set_memory_limit(self, limit_bytes: int) -> None:
        """Set memory.max (kept for callers older than apply())."""
        files.write(self._file("memory.max"), str(limit_bytes))

    def set_pids_limit(self, maximum: int) -> None:
        """Set pids.max (kept for callers older than apply())."""
        files.write(self._file("pids.max"), str(maximum))

    def add(self, pid: int) -> None:
        """Move ``pid`` into the group."""
        files.write(self._file("cgroup.procs"), str(pid))

    def add_self(self) -> None:
        """Move the calling process into the group (v2 has no faster way than cgroup.procs)."""
        self.add(os.getpid())

    def procs(self) -> list[int]:
        """The PIDs of the processes in the group (threads not listed)."""
        return [int(pid) for pid in files.read(self._file("cgroup.procs")).split()]

    def freeze(self) -> None:
        """Stop every task in the group; return once cgroup.events says `frozen 1`."""
        # [CG-FRZ-002] freeze() returns only when every task is frozen
        files.write(self._file("cgroup.freeze"), "1")
        if not files.wait_until(lambda: self._frozen() is True, FREEZE_TIMEOUT):
            files.write(self._file("cgroup.freeze"), "0")
            raise errors.SystemError(f"cannot freeze {self.name}: cgroup.events did not say "
                                     f"'frozen 1' within {FREEZE_TIMEOUT:g}s")

    def thaw(self) -> None:
        """Let every task in the group run again."""
        files.write(self._file("cgroup.freeze"), "0")
        if not files.wait_until(lambda: self._frozen() is not True, FREEZE_TIMEOUT):
            raise errors.SystemError(f"cannot thaw {self.name}: cgroup.events still says "
                                     f"'frozen 1' after {FREEZE_TIMEOUT:g}s")

    def stats(self) -> Stats:
        """Memory, CPU, pids and I/O counters, where this host has them."""
        texts = {file: files.read_if_exists(self._file(file)) for file in V2_FILES}
        return stats_v2({file: text for file, text in texts.items() if text is not None})

    def oom_killed(self) -> bool:
        """Has the OOM killer killed a task of this group (memory.events oom_kill)?"""
        # [CG-OOM-001] read before remove(): the count goes with the directory
        text = files.read_if_exists(self._file("memory.events"))
        return text is not None and oom_kills(text) > 0

    def remove(self) -> None:
        """rmdir the group, and each parent left empty."""
        files.remove_with_parents(self.root, self.name)

    # -- helpers --

    def _file(self, file: str) -> str:
        return os.path.join(self.path, file)

    def _frozen(self) -> bool | None:
        """cgroup.events' `frozen` key: True, False, or None when the kernel has no freezer."""
        text = files.read_if_exists(self._file("cgroup.events"))
        frozen = parse_flat_keyed(text).get("frozen") if text is not None else None
        return None if frozen is None else frozen == 1

    def _why_missing(self, file: str) -> str:
        controller = file.split(".")[0]
        parent = os.path.dirname(self.path)
        available = files.read_if_exists(os.path.join(parent, "cgroup.subtree_control")) or ""
        if controller not in available.split():
            return (f"the {controller} controller is not enabled for this group "
                    f"(the parent's cgroup.subtree_control lacks it)")
        if file == "memory.swap.max":
            return "the kernel does not account swap"
        return f"this kernel's {controller} controller lacks the file"
