"""`docker stats`: a container's cgroup counters in the Engine API's StatsJSON shape.

Implements: spec/engine.md ENGINE-STAT-001
Explained:  chapters/05-engine.md#stats-and-update
Modelled on: moby's daemon/stats (a sample per second; the CLI computes CPU % from two)

    sample(group_stats, name, id, previous) -> dict       one reading, with the previous as precpu
    system_cpu_ns() -> int                                 the host's CPU time, from /proc/stat

The docker CLI's CPU % = (cpu delta / system delta) * online cpus * 100, so both
counters are sent in nanoseconds and every reading carries the one before it.
"""

from __future__ import annotations

import datetime
import os

from minidock.cgroups.stats import Stats

_TICKS = os.sysconf("SC_CLK_TCK")


def system_cpu_ns() -> int:
    """Every CPU's time since boot (the first line of /proc/stat), in nanoseconds."""
    with open("/proc/stat") as file:
        fields = file.readline().split()[1:8]
    return sum(int(value) for value in fields) * 10**9 // _TICKS


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def sample(stats: Stats, name: str, container_id: str, previous: dict | None) -> dict:
    """One StatsJSON document; ``previous`` (the last one) becomes its precpu_stats."""
    cpu = {"cpu_usage": {"total_usage": stats.cpu_usage_ns or 0, "percpu_usage": None,
                         "usage_in_kernelmode": 0, "usage_in_usermode": 0},
           "system_cpu_usage": system_cpu_ns(), "online_cpus": os.cpu_count() or 1,
           "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    blkio = [{"major": major, "minor": minor, "op": op, "value": value}
             for major, minor, op, value in stats.io_by_device]
    memory = {key: value for key, value in (("usage", stats.memory_usage), ("max_usage", stats.memory_max_usage))
              if value is not None}
    # [ENGINE-STAT-001] an unlimited container's limit is the host's memory, as in Docker
    memory["limit"] = stats.memory_limit or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    # memory.stat, from which the docker CLI takes the inactive page cache off the usage
    # (total_inactive_file on v1, inactive_file on v2), as `docker stats` shows it
    memory["stats"] = stats.memory_stat or {}
    return {
        "read": _now(),
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "pids_stats": {k: v for k, v in (("current", stats.pids_current), ("limit", stats.pids_limit)) if v is not None},
        "blkio_stats": {"io_service_bytes_recursive": blkio or None},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": previous["cpu_stats"] if previous else {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "memory_stats": memory,
        "name": f"/{name}",
        "id": container_id,
        "networks": {},
    }
