"""Statistics: what a group has used, read from its files (for `docker stats`).

Implements: spec/cgroups.md CG-STAT-001, CG-STAT-002, CG-OOM-001
Explained:  chapters/02-cgroups.md#statistics
Modelled on: runc's libcontainer/cgroups/fs and fs2 GetStats, and the
             flat-keyed and nested-keyed file formats of cgroup-v2.rst

    stats_v1(files) -> Stats      files: {"memory.usage_in_bytes": "1234\\n", ...}
    stats_v2(files) -> Stats      files: {"memory.current": "1234\\n", ...}
    oom_kills(text) -> int        memory.oom_control (v1) or memory.events (v2)

Rules: pure; the group reads the files that exist and passes their text in.
A number the host cannot give (no such file, a controller not enabled) is None,
never 0, so `stats` can tell "unknown" from "nothing".

    statistic     v1 file (controller)                        v2 file
    memory usage  memory.usage_in_bytes                       memory.current
    memory max    memory.max_usage_in_bytes                   memory.peak (Linux 5.19+)
    memory limit  memory.limit_in_bytes                       memory.max
    cpu usage     cpuacct.usage (ns)                          cpu.stat usage_usec (us)
    pids          pids.current, pids.max                      pids.current, pids.max
    block I/O     blkio.throttle.io_service_bytes_recursive   io.stat rbytes= wbytes=
    memory.stat   memory.stat (cache, rss, total_*, ...)      memory.stat (anon, file, ...)

Block I/O is kept per device, as (major, minor, op, bytes) with runc's and Docker's op
names ("Read", "Write"; v1 also lists Sync, Async, Discard and Total), and summed.
"""

from __future__ import annotations

from minidock.records import record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Mapping


# The v1 memory controller's "no limit": PAGE_COUNTER_MAX pages, 2**63 - 4096 with 4 KiB pages.
V1_UNLIMITED_FROM = 2**62

V1_BLKIO_FILES = ("blkio.throttle.io_service_bytes_recursive",  # every bio, any I/O scheduler
                  "blkio.io_service_bytes_recursive",           # CFQ (before Linux 5.0)
                  "blkio.bfq.io_service_bytes_recursive")       # BFQ

# What a group reads for stats(): (controller, file) in v1, file in v2.
V1_FILES = (("memory", "memory.usage_in_bytes"), ("memory", "memory.max_usage_in_bytes"),
            ("memory", "memory.limit_in_bytes"), ("memory", "memory.stat"), ("cpuacct", "cpuacct.usage"),
            ("pids", "pids.current"), ("pids", "pids.max"),
            *(("blkio", name) for name in V1_BLKIO_FILES))
V2_FILES = ("memory.current", "memory.peak", "memory.max", "memory.stat", "cpu.stat", "pids.current",
            "pids.max", "io.stat")


@record
class Stats:
    """One reading of a group's counters. None: this host does not report it."""

    memory_usage: int | None = None      # bytes in use now (page cache included, as the kernel counts)
    memory_max_usage: int | None = None  # the highest memory_usage seen
    memory_limit: int | None = None      # bytes; None also when unlimited
    cpu_usage_ns: int | None = None      # CPU time of every task, user + system
    pids_current: int | None = None
    pids_limit: int | None = None        # None also when unlimited
    io_read_bytes: int | None = None     # summed over devices
    io_write_bytes: int | None = None
    io_by_device: tuple = ()             # ((major, minor, op, bytes), ...): "Read", "Write", ...
    memory_stat: dict | None = None      # memory.stat as it is: {"cache": N, ...} (v1), {"anon": N, ...} (v2)


def parse_flat_keyed(text: str) -> dict[str, int]:
    """'key value' lines (cpu.stat, memory.events, memory.oom_control) -> {key: value}."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def parse_io_stat(text: str) -> tuple[tuple[int, int, str, int], ...]:
    """v2 io.stat ('8:0 rbytes=1 wbytes=2 rios=..') -> ((8, 0, "Read", 1), (8, 0, "Write", 2), ...)."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        values = {key: value for key, _, value in (pair.partition("=") for pair in pairs)}
        for key, op in (("rbytes", "Read"), ("wbytes", "Write")):
            if key in values:
                entries.append((int(major), int(minor), op, int(values[key])))
    return tuple(entries)


def parse_blkio_service_bytes(text: str) -> tuple[tuple[int, int, str, int], ...]:
    """v1 blkio.*io_service_bytes* ('8:0 Read 4096' lines, then 'Total N') -> ((8, 0, "Read", 4096), ...)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and ":" in fields[0]:  # not the last line, the grand 'Total N'
            major, _, minor = fields[0].partition(":")
            entries.append((int(major), int(minor), fields[1], int(fields[2])))
    return tuple(entries)


def _sums(entries: tuple | None) -> tuple[int | None, int | None]:
    """(read, written) summed over devices; (None, None) when the host has no such file."""
    if entries is None:
        return None, None
    return (sum(value for *_, op, value in entries if op == "Read"),
            sum(value for *_, op, value in entries if op == "Write"))


def oom_kills(text: str) -> int:
    """How many tasks the OOM killer killed in the group: the `oom_kill` line.

    v1 memory.oom_control has it since Linux 4.13; v2 memory.events counts the
    group and its descendants (memory.events.local would count the group alone).
    """
    return parse_flat_keyed(text).get("oom_kill", 0)


def stats_v1(files: Mapping[str, str]) -> Stats:
    """Build Stats from the text of the v1 files that exist (file name -> text)."""
    blkio = next((files[name] for name in V1_BLKIO_FILES if name in files), None)
    devices = parse_blkio_service_bytes(blkio) if blkio is not None else None
    read, written = _sums(devices)
    limit = _number(files.get("memory.limit_in_bytes"))
    return Stats(
        memory_usage=_number(files.get("memory.usage_in_bytes")),
        memory_max_usage=_number(files.get("memory.max_usage_in_bytes")),
        memory_limit=None if limit is None or limit >= V1_UNLIMITED_FROM else limit,
        cpu_usage_ns=_number(files.get("cpuacct.usage")),
        pids_current=_number(files.get("pids.current")),
        pids_limit=_number(files.get("pids.max")),
        io_read_bytes=read,
        io_write_bytes=written,
        io_by_device=devices or (),
        memory_stat=parse_flat_keyed(files["memory.stat"]) if "memory.stat" in files else None,
    )


def stats_v2(files: Mapping[str, str]) -> Stats:
    """Build Stats from the text of the v2 files that exist (file name -> text)."""
    usage_usec = parse_flat_keyed(files["cpu.stat"]).get("usage_usec") if "cpu.stat" in files else None
    devices = parse_io_stat(files["io.stat"]) if "io.stat" in files else None
    read, written = _sums(devices)
    return Stats(
        memory_usage=_number(files.get("memory.current")),
        memory_max_usage=_number(files.get("memory.peak")),
        memory_limit=_number(files.get("memory.max")),
        cpu_usage_ns=usage_usec * 1000 if usage_usec is not None else None,
        pids_current=_number(files.get("pids.current")),
        pids_limit=_number(files.get("pids.max")),
        io_read_bytes=read,
        io_write_bytes=written,
        io_by_device=devices or (),
        memory_stat=parse_flat_keyed(files["memory.stat"]) if "memory.stat" in files else None,
    )


def _number(text: str | None) -> int | None:
    """'1234\\n' -> 1234; 'max' or a missing file -> None."""
    # [CG-STAT-002] unknown (no file) and unlimited ("max") are None, never 0
    if text is None or text.strip() in ("", "max"):
        return None
    return int(text.split()[0])
