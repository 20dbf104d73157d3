"""Stats from the text of cgroup files, v1 and v2 (pure)."""

from __future__ import annotations

import pytest

from minidock.cgroups import Stats
from minidock.cgroups.stats import (oom_kills, parse_blkio_service_bytes, parse_io_stat,
                                    stats_v1, stats_v2)

V1_FILES = {
    "memory.usage_in_bytes": "25165824\n",
    "memory.max_usage_in_bytes": "33554432\n",
    "memory.limit_in_bytes": "67108864\n",
    "cpuacct.usage": "123456789\n",
    "pids.current": "3\n",
    "pids.max": "max\n",
    "memory.stat": "cache 4096\nrss 8192\ntotal_inactive_file 4096\n",
    "blkio.throttle.io_service_bytes_recursive":
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n"
        "8:16 Read 1\n8:16 Write 2\nTotal 12291\n",
}
V2_FILES = {
    "memory.current": "25165824\n",
    "memory.peak": "33554432\n",
    "memory.max": "max\n",
    "cpu.stat": "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 0\n",
    "pids.current": "3\n",
    "pids.max": "20\n",
    "memory.stat": "anon 8192\nfile 4096\ninactive_file 4096\n",
    "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
               "8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
}


@pytest.mark.spec("CG-STAT-001")
def test_v1_stats():
    assert stats_v1(V1_FILES) == Stats(memory_usage=24 << 20, memory_max_usage=32 << 20,
                                       memory_limit=64 << 20, cpu_usage_ns=123456789,
                                       pids_current=3, pids_limit=None,
                                       io_read_bytes=4097, io_write_bytes=8194,
                                       io_by_device=((8, 0, "Read", 4096), (8, 0, "Write", 8192),
                                                     (8, 0, "Sync", 0), (8, 0, "Async", 12288),
                                                     (8, 0, "Discard", 0), (8, 0, "Total", 12288),
                                                     (8, 16, "Read", 1), (8, 16, "Write", 2)),
                                       memory_stat={"cache": 4096, "rss": 8192, "total_inactive_file": 4096})


@pytest.mark.spec("CG-STAT-001")
def test_v2_stats():
    assert stats_v2(V2_FILES) == Stats(memory_usage=24 << 20, memory_max_usage=32 << 20,
                                       memory_limit=None, cpu_usage_ns=123456000,
                                       pids_current=3, pids_limit=20,
                                       io_read_bytes=4097, io_write_bytes=8194,
                                       io_by_device=((8, 0, "Read", 4096), (8, 0, "Write", 8192),
                                                     (8, 16, "Read", 1), (8, 16, "Write", 2)),
                                       memory_stat={"anon": 8192, "file": 4096, "inactive_file": 4096})


@pytest.mark.spec("CG-STAT-002")
def test_what_the_host_lacks_is_unknown_not_zero():
    assert stats_v2({}) == Stats() and stats_v1({}) == Stats()
    # v2 before Linux 5.19 has no memory.peak; a hybrid host's cgroup2 has only cpu.stat
    assert stats_v2({"cpu.stat": "usage_usec 5\n"}) == Stats(cpu_usage_ns=5000)
    # v1 writes "no limit" as a huge number
    assert stats_v1({"memory.limit_in_bytes": "9223372036854771712\n"}).memory_limit is None


@pytest.mark.spec("CG-STAT-001")
def test_block_io_is_kept_per_device_and_summed():
    assert parse_io_stat(V2_FILES["io.stat"])[-2:] == ((8, 16, "Read", 1), (8, 16, "Write", 2))
    assert parse_io_stat("") == () and parse_io_stat("\n") == ()
    # a device with no I/O yet, and a grand total that belongs to no device
    assert parse_blkio_service_bytes("8:0 Read 0\n8:0 Write 0\nTotal 0\n") == ((8, 0, "Read", 0), (8, 0, "Write", 0))
    # a group that did no I/O: v1 lists no device ('Total 0'), v2 an empty io.stat: zero, not unknown
    assert (stats_v1({"blkio.throttle.io_service_bytes_recursive": "Total 0\n"}).io_read_bytes,
            stats_v2({"io.stat": ""}).io_write_bytes) == (0, 0)


@pytest.mark.spec("CG-OOM-001")
def test_oom_kills_are_read_from_either_version():
    v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    v2 = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"
    assert (oom_kills(v1), oom_kills(v2)) == (2, 1)
    assert oom_kills("oom_kill_disable 0\nunder_oom 0\n") == 0  # before Linux 4.13
