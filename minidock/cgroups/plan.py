"""Plans: which cgroup files to write, and with what, for a set of Resources.

Implements: spec/cgroups.md CG-CPU-001, CG-CPU-002, CG-MEM-003, CG-IO-001, CG-PIDS-001, CG-DEV-001
Explained:  chapters/02-cgroups.md#one-limit-two-spellings
Modelled on: runc's libcontainer/cgroups/fs (v1) and fs2 (v2) Set() functions,
             and its conversions in libcontainer/cgroups/utils.go

    plan_v1(resources) -> [(controller, file, value)]   e.g. ("cpu", "cpu.shares", "512")
    plan_v2(resources) -> [(file, value)]               e.g. ("cpu.weight", "59")
    field_of(file)     -> the OCI field a file comes from, for error messages

Rules: pure; only the fields that are set appear in a plan, so a knob the user
did not ask for is never written. Order matters and is kept: a cgroup checks
each write against the values already there.

    resource            v1 file (controller)                 v2 file
    memory.limit        memory.limit_in_bytes                memory.max
    memory.reservation  memory.soft_limit_in_bytes           memory.low
    memory.swap         memory.memsw.limit_in_bytes (mem+sw) memory.swap.max (swap only)
    cpu.shares          cpu.shares                           cpu.weight (converted)
    cpu.quota/period    cpu.cfs_period_us, cpu.cfs_quota_us  cpu.max "QUOTA PERIOD"
    cpu.cpus/mems       cpuset.cpus, cpuset.mems             cpuset.cpus, cpuset.mems
    pids.limit          pids.max                             pids.max
    blockIO.weight      blkio.weight or blkio.bfq.weight     io.bfq.weight, or io.weight (converted)
    devices             devices.deny "a", devices.allow ...  (no file: an eBPF program, v2.py)
"""

from __future__ import annotations

import math

from minidock.cgroups.devices import DeviceState
from minidock.cgroups.resources import UNLIMITED, Resources

V1Write = tuple[str, str, str]  # (controller, file, value)
V2Write = tuple[str, str]       # (file, value)

FIELDS = {
    "memory.limit_in_bytes": "memory.limit", "memory.max": "memory.limit",
    "memory.soft_limit_in_bytes": "memory.reservation", "memory.low": "memory.reservation",
    "memory.memsw.limit_in_bytes": "memory.swap", "memory.swap.max": "memory.swap",
    "cpu.shares": "cpu.shares", "cpu.weight": "cpu.shares",
    "cpu.cfs_period_us": "cpu.period", "cpu.cfs_quota_us": "cpu.quota", "cpu.max": "cpu.quota",
    "cpuset.cpus": "cpu.cpus", "cpuset.mems": "cpu.mems",
    "pids.max": "pids.limit",
    "blkio.weight": "blockIO.weight", "blkio.bfq.weight": "blockIO.weight",
    "io.weight": "blockIO.weight", "io.bfq.weight": "blockIO.weight",
    "devices.allow": "devices", "devices.deny": "devices",
}


def field_of(file: str) -> str:
    """The OCI field that a cgroup file is written from: 'linux.resources.cpu.quota'."""
    return "linux.resources." + FIELDS.get(file, file)


# -- conversions v1 -> v2 ------------------------------------------------------


def cpu_weight_from_shares(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000, default 100).

    The quadratic-in-log2 formula that crun adopted in 2025 and runc followed
    (ConvertCPUSharesToCgroupV2Value in runc's cgroups utils.go): it maps the
    ends and the default exactly (2 -> 1, 1024 -> 100, 262144 -> 10000). The
    older linear formula, 1 + (shares - 2) * 9999 // 262142, sent the default
    1024 to 39, so a container with default shares lost to systemd's services.
    """
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    exponent_of_two = math.log2(shares)
    exponent = (exponent_of_two ** 2 + 125 * exponent_of_two) / 612.0 - 7.0 / 34.0
    return math.ceil(10 ** exponent)


def io_weight_from_blkio(weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000), linearly.

    runc libcontainer/cgroups/utils.go ConvertBlkIOToIOWeightValue. Not needed
    when io.bfq.weight exists: BFQ takes the v1 range as it is.
    """
    return 1 + (weight - 10) * 9999 // 990


def swap_max_v2(memory_swap: int, memory_limit: int | None) -> str:
    """v1-style memory+swap -> v2 memory.swap.max, which is swap alone.

    runc ConvertMemorySwapToCgroupV2Value: -1 stays "max"; otherwise
    swap.max = (memory + swap) - memory. Resources.check() has already made
    sure that a limit is set and not above memory_swap.
    """
    # lab 02: begin: turn v1's memory+swap into v2's swap alone ("max" stays unlimited)
    # [CG-MEM-003] v2 counts swap alone: memory.swap.max = swap - limit
    if memory_swap == UNLIMITED:
        return "max"
    assert memory_limit is not None and memory_limit != UNLIMITED, "Resources.check() was skipped"
    return str(memory_swap - memory_limit)
    # lab 02: end


def _max(value: int) -> str:
    return "max" if value == UNLIMITED else str(value)


# -- the plans -----------------------------------------------------------------


def plan_v1(resources: Resources, bfq: bool = False) -> list[V1Write]:
    """The writes that apply ``resources`` to a v1 group, in order.

    ``bfq``: the blkio hierarchy has blkio.bfq.weight (the BFQ scheduler's),
    which runc prefers to blkio.weight (CFQ's, gone since Linux 5.0).
    """
    r = resources
    plan: list[V1Write] = []
    # lab 02: begin: plan the v1 memory writes: the limit, then memory+swap, then the reservation (only the fields that are set)
    if r.memory_limit is not None:  # v1 takes -1 itself as "unlimited"
        plan.append(("memory", "memory.limit_in_bytes", str(r.memory_limit)))
    if r.memory_swap is not None:   # after the limit: memsw may never be below it
        plan.append(("memory", "memory.memsw.limit_in_bytes", str(r.memory_swap)))
    if r.memory_reservation is not None:
        plan.append(("memory", "memory.soft_limit_in_bytes", str(r.memory_reservation)))
    # lab 02: end
    if r.cpu_shares is not None:
        plan.append(("cpu", "cpu.shares", str(r.cpu_shares)))
    if r.cpu_period is not None:    # the period first, so the quota is checked against it
        plan.append(("cpu", "cpu.cfs_period_us", str(r.cpu_period)))
    if r.cpu_quota is not None:
        plan.append(("cpu", "cpu.cfs_quota_us", str(r.cpu_quota)))
    if r.cpuset_cpus is not None:
        plan.append(("cpuset", "cpuset.cpus", r.cpuset_cpus))
    if r.cpuset_mems is not None:
        plan.append(("cpuset", "cpuset.mems", r.cpuset_mems))
    # lab 02: begin: plan the v1 pids limit (unlimited is spelled "max")
    if r.pids_limit is not None:  # [CG-PIDS-001] v1 pids.max, like v2, says "max" for unlimited
        plan.append(("pids", "pids.max", _max(r.pids_limit)))
    # lab 02: end
    if r.blkio_weight is not None:
        plan.append(("blkio", "blkio.bfq.weight" if bfq else "blkio.weight", str(r.blkio_weight)))
    if r.devices is not None:
        # [CG-DEV-001] "a" to devices.deny (or .allow), then each exception, as runc does
        plan += [("devices", file, line) for file, line in DeviceState.of(r.devices).lines()]
    return plan


def order_v1_memory(plan: list[V1Write], current_limit: int) -> list[V1Write]:
    """Put memsw before the memory limit when the new memsw is above the current limit.

    v1 insists memory.limit <= memory.memsw.limit after every single write, so
    raising both must write memsw first and lowering both the limit first.
    runc fs/memory.go setMemoryAndSwap makes the same choice.
    """
    files = [file for _, file, _ in plan]
    if "memory.limit_in_bytes" not in files or "memory.memsw.limit_in_bytes" not in files:
        return plan
    swap = int(plan[files.index("memory.memsw.limit_in_bytes")][2])
    if swap != UNLIMITED and current_limit >= swap:
        return plan
    memsw = plan.pop(files.index("memory.memsw.limit_in_bytes"))
    plan.insert(files.index("memory.limit_in_bytes"), memsw)
    return plan


def plan_v2(resources: Resources, bfq: bool = False) -> list[V2Write]:
    """The writes that apply ``resources`` to a v2 group, in order.

    ``bfq``: the group has io.bfq.weight, which takes the v1 range (1..1000)
    unchanged; without it the weight is converted for io.weight.
    """
    r = resources
    plan: list[V2Write] = []
    # lab 02: begin: plan the v2 memory writes: the limit, then swap, then the reservation (only the fields that are set)
    if r.memory_limit is not None:
        plan.append(("memory.max", _max(r.memory_limit)))
    if r.memory_swap is not None:
        plan.append(("memory.swap.max", swap_max_v2(r.memory_swap, r.memory_limit)))
    if r.memory_reservation is not None:
        plan.append(("memory.low", _max(r.memory_reservation)))
    # lab 02: end
    if r.cpu_shares is not None:
        # [CG-CPU-002] shares become a weight by the runc/crun formula
        plan.append(("cpu.weight", str(cpu_weight_from_shares(r.cpu_shares))))
    if r.cpu_quota is not None or r.cpu_period is not None:
        # cgroup-v2.rst: cpu.max is "$MAX $PERIOD"; writing "$MAX" alone keeps the period
        quota = "max" if r.cpu_quota in (None, UNLIMITED) else str(r.cpu_quota)
        period = f" {r.cpu_period}" if r.cpu_period is not None else ""
        plan.append(("cpu.max", quota + period))
    if r.cpuset_cpus is not None:
        plan.append(("cpuset.cpus", r.cpuset_cpus))
    if r.cpuset_mems is not None:
        plan.append(("cpuset.mems", r.cpuset_mems))
    # lab 02: begin: plan the v2 pids limit (unlimited is spelled "max")
    if r.pids_limit is not None:
        plan.append(("pids.max", _max(r.pids_limit)))
    # lab 02: end
    if r.blkio_weight is not None:
        # [CG-IO-001] BFQ takes the weight as it is; io.weight needs it converted
        if bfq:
            plan.append(("io.bfq.weight", str(r.blkio_weight)))
        else:
            plan.append(("io.weight", str(io_weight_from_blkio(r.blkio_weight))))
    return plan
