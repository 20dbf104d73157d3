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
            ("memory", "memory.limit_in_bytes"), ("cpuacct", "cpuacct.usage"),
            ("pids", "pids.current"), ("pids", "pids.max"),
            *(("blkio", name) for name in V1_BLKIO_FILES))
V2_FILES = ("memory.current", "memory.peak", "memory.max", "cpu.stat", "pids.current", "pids.max",
            "io.stat")


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


def parse_flat_keyed(text: str) -> dict[str, int]:
    """'key value' lines (cpu.stat, memory.events, memory.oom_control) -> {key: value}."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def parse_io_stat(text: str) -> tuple[int, int]:
    """v2 io.stat ('8:0 rbytes=1 wbytes=2 rios=..') -> (read bytes, written bytes), summed."""
    read = written = 0
    for line in text.splitlines():
        for pair in line.split()[1:]:
            key, _, value = pair.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                written += int(value)
    return read, written


def parse_blkio_service_bytes(text: str) -> tuple[int, int]:
    """v1 blkio.*io_service_bytes* ('8:0 Read 4096' lines, then 'Total N') -> (read, written)."""
    read = written = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == "Read":
            read += int(fields[2])
        elif len(fields) == 3 and fields[1] == "Write":
            written += int(fields[2])
    return read, written


def oom_kills(text: str) -> int:
    """How many tasks the OOM killer killed in the group: the `oom_kill` line.

    v1 memory.oom_control has it since Linux 4.13; v2 memory.events counts the
    group and its descendants (memory.events.local would count the group alone).
    """
    return parse_flat_keyed(text).get("oom_kill", 0)


def stats_v1(files: Mapping[str, str]) -> Stats:
    """Build Stats from the text of the v1 files that exist (file name -> text)."""
    blkio = next((files[name] for name in V1_BLKIO_FILES if name in files), None)
    read, written = parse_blkio_service_bytes(blkio) if blkio is not None else (None, None)
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
    )


def stats_v2(files: Mapping[str, str]) -> Stats:
    """Build Stats from the text of the v2 files that exist (file name -> text)."""
    usage_usec = parse_flat_keyed(files["cpu.stat"]).get("usage_usec") if "cpu.stat" in files else None
    read, written = parse_io_stat(files["io.stat"]) if "io.stat" in files else (None, None)
    return Stats(
        memory_usage=_number(files.get("memory.current")),
        memory_max_usage=_number(files.get("memory.peak")),
        memory_limit=_number(files.get("memory.max")),
        cpu_usage_ns=usage_usec * 1000 if usage_usec is not None else None,
        pids_current=_number(files.get("pids.current")),
        pids_limit=_number(files.get("pids.max")),
        io_read_bytes=read,
        io_write_bytes=written,
    )


def _number(text: str | None) -> int | None:
    """'1234\\n' -> 1234; 'max' or a missing file -> None."""
    # [CG-STAT-002] unknown (no file) and unlimited ("max") are None, never 0
    if text is None or text.strip() in ("", "max"):
        return None
    return int(text.split()[0])
