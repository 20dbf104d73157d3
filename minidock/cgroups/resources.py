"""Resources: what a container may use, read from the OCI config and checked.

Implements: spec/cgroups.md CG-RES-001 .. CG-RES-004, CG-RES-007, CG-MEM-001, CG-MEM-002, CG-DEV-003
Explained:  chapters/02-cgroups.md#resources
Modelled on: the OCI runtime-spec `linux.resources` object (config-linux.md),
             and the checks runc and dockerd make before touching a cgroup

    Resources.from_oci(config["linux"]["resources"]) -> Resources   (pure)
    check_cpuset(resources, online_cpus="0-1", online_mems="0")     (pure)

Rules: a field that is absent (or null) is None: "not set, leave the kernel's
default". As in runc, 0 also means "not set" and -1 means "unlimited" where a
limit can be unlimited. Every refusal is an InvalidArgument that names the
OCI field (`linux.resources.cpu.quota`), raised before any cgroup exists.
"""

from __future__ import annotations

from minidock.cgroups.devices import DeviceRule, parse_oci as parse_devices
from minidock.errors import InvalidArgument
from minidock.records import record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from typing import Any

UNLIMITED = -1

# Kernel ranges (sched/core.c, blk-cgroup); outside them the kernel would clamp or refuse.
CPU_SHARES_MIN, CPU_SHARES_MAX = 2, 262144
CPU_PERIOD_MIN, CPU_PERIOD_MAX = 1000, 1000000  # microseconds: 1 ms .. 1 s
CPU_QUOTA_MIN = 1000                             # microseconds: 1 ms
BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX = 10, 1000

# Fields of linux.resources that the OCI spec defines but minidock does not apply.
# They are reported in Resources.ignored, so the runtime can warn instead of silently dropping them.
NOT_APPLIED = {
    "memory": ("kernel", "kernelTCP", "swappiness", "disableOOMKiller", "useHierarchy",
               "checkBeforeUpdate"),
    "cpu": ("realtimeRuntime", "realtimePeriod", "idle", "burst"),
    "blockIO": ("leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice"),
}
NOT_APPLIED_SECTIONS = ("hugepageLimits", "network", "rdma", "unified")


@record
class Resources:
    """Limits for one group. None: not set; -1 (UNLIMITED): explicitly no limit."""

    memory_limit: int | None = None        # bytes               memory.limit
    memory_reservation: int | None = None  # bytes, a soft limit memory.reservation
    memory_swap: int | None = None         # bytes, memory + swap memory.swap (as in v1 and Docker)
    cpu_shares: int | None = None          # relative weight     cpu.shares (v1 units)
    cpu_quota: int | None = None           # microseconds per period   cpu.quota
    cpu_period: int | None = None          # microseconds        cpu.period
    cpuset_cpus: str | None = None         # "0-3,5"             cpu.cpus
    cpuset_mems: str | None = None         # "0"                 cpu.mems
    pids_limit: int | None = None          # tasks               pids.limit
    blkio_weight: int | None = None        # 10..1000            blockIO.weight
    devices: tuple[DeviceRule, ...] | None = None  # allow/deny rules, in order   devices
    ignored: tuple[str, ...] = ()          # fields present in the config but not applied

    @classmethod
    def from_oci(cls, resources: Any) -> Resources:
        """Check and translate an OCI ``linux.resources`` object (a dict, or None)."""
        if resources is None:
            return cls()
        section = _Section(resources, "linux.resources")
        memory, cpu = section.child("memory"), section.child("cpu")
        pids, block_io = section.child("pids"), section.child("blockIO")
        result = cls(
            # [CG-RES-002] a negative limit other than -1 is refused
            memory_limit=memory.integer("limit", minimum=1, unlimited=True),
            memory_reservation=memory.integer("reservation", minimum=1, unlimited=True),
            memory_swap=memory.integer("swap", minimum=1, unlimited=True),
            cpu_shares=cpu.integer("shares", minimum=CPU_SHARES_MIN, maximum=CPU_SHARES_MAX),
            cpu_quota=cpu.integer("quota", minimum=CPU_QUOTA_MIN, unlimited=True),
            cpu_period=cpu.integer("period", minimum=CPU_PERIOD_MIN, maximum=CPU_PERIOD_MAX),
            cpuset_cpus=cpu.cpu_list("cpus"),
            cpuset_mems=cpu.cpu_list("mems"),
            pids_limit=pids.integer("limit", minimum=1, unlimited=True),
            blkio_weight=block_io.integer("weight", minimum=BLKIO_WEIGHT_MIN,
                                          maximum=BLKIO_WEIGHT_MAX),
            devices=None if resources.get("devices") is None else parse_devices(resources["devices"]),
            ignored=tuple(_not_applied(resources)),
        )
        result.check()
        return result

    def check(self) -> None:
        """Check the rules that tie two fields together (from_oci calls it)."""
        limit = self.memory_limit if self.memory_limit not in (None, UNLIMITED) else None
        # [CG-MEM-001] memory+swap needs a memory limit, and cannot be below it
        if self.memory_swap not in (None, UNLIMITED):
            if limit is None:
                raise InvalidArgument("linux.resources.memory.swap is set without "
                                      "linux.resources.memory.limit: set the memory limit too")
            if self.memory_swap < limit:
                raise InvalidArgument(
                    f"linux.resources.memory.swap ({self.memory_swap}) is memory plus swap and must "
                    f"be at least linux.resources.memory.limit ({limit})")
        # [CG-MEM-002] a reservation (soft limit) above the hard limit is refused
        if limit is not None and self.memory_reservation not in (None, UNLIMITED) \
                and self.memory_reservation > limit:
            raise InvalidArgument(
                f"linux.resources.memory.reservation ({self.memory_reservation}) must not be above "
                f"linux.resources.memory.limit ({limit})")
        # [CG-RES-003] a quota means nothing without its period
        if self.cpu_quota not in (None, UNLIMITED) and self.cpu_period is None:
            raise InvalidArgument("linux.resources.cpu.quota is set without "
                                  "linux.resources.cpu.period: set both (--cpus=1.5 is quota "
                                  "150000 with period 100000)")

    def is_empty(self) -> bool:
        """True when no limit at all is set."""
        fields = self._asdict()
        fields.pop("ignored")
        return all(value is None for value in fields.values())


def parse_cpu_list(text: str, field: str = "cpu list") -> frozenset[int]:
    """Parse the kernel's list format ("0-3,5") into a set of numbers (cpuset(7) "List format")."""
    numbers: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise InvalidArgument(f"{field}: {text!r} is not a list like '0-3,5'")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise InvalidArgument(f"{field}: range {part.strip()!r} in {text!r} runs backwards")
        numbers.update(range(first, last + 1))
    return frozenset(numbers)


def check_cpuset(resources: Resources, online_cpus: str, online_mems: str) -> None:
    """Refuse CPUs or memory nodes the host does not have (the caller reads /sys)."""
    # [CG-RES-004] a cpuset outside the host's CPUs or memory nodes is refused
    for field, wanted, online in (("linux.resources.cpu.cpus", resources.cpuset_cpus, online_cpus),
                                  ("linux.resources.cpu.mems", resources.cpuset_mems, online_mems)):
        if wanted is None:
            continue
        missing = parse_cpu_list(wanted, field) - parse_cpu_list(online, "host")
        if missing:
            raise InvalidArgument(f"{field}: {wanted!r} asks for {sorted(missing)}, but this host "
                                  f"has only {online.strip()!r}")


class _Section:
    """One object of linux.resources, with typed getters that name the field on error."""

    def __init__(self, data: Any, path: str) -> None:
        # [CG-RES-001] a value of the wrong type is refused, naming the field
        if not isinstance(data, dict):
            raise InvalidArgument(f"{path} must be an object, not {type(data).__name__}")
        self.data, self.path = data, path

    def child(self, key: str) -> _Section:
        value = self.data.get(key)
        return _Section({} if value is None else value, f"{self.path}.{key}")

    def integer(self, key: str, minimum: int, maximum: int | None = None,
                unlimited: bool = False) -> int | None:
        value = self.data.get(key)
        field = f"{self.path}.{key}"
        if value is None or value == 0:  # runc: 0 is "not set"
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(f"{field} must be an integer, not {type(value).__name__}")
        if unlimited and value == UNLIMITED:
            return value
        if value < minimum or (maximum is not None and value > maximum):
            allowed = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
            extra = ", or -1 for unlimited" if unlimited else ""
            raise InvalidArgument(f"{field} must be {allowed}{extra}, got {value}")
        return value

    def cpu_list(self, key: str) -> str | None:
        value = self.data.get(key)
        field = f"{self.path}.{key}"
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise InvalidArgument(f"{field} must be a string like '0-3,5', not {type(value).__name__}")
        parse_cpu_list(value, field)
        return value


def _not_applied(resources: dict) -> list[str]:
    """The OCI fields that are set but that minidock does not apply, by their full names."""
    # [CG-RES-007] name what is not applied, so the runtime can warn
    names = [f"linux.resources.{s}" for s in NOT_APPLIED_SECTIONS if resources.get(s)]
    for section, keys in NOT_APPLIED.items():
        data = resources.get(section)
        if isinstance(data, dict):
            names += [f"linux.resources.{section}.{k}" for k in keys if data.get(k) is not None]
    return names
