"""plan_v1 / plan_v2 and the v1 -> v2 conversions (pure)."""

from __future__ import annotations

import pytest

from minidock.cgroups import UNLIMITED, Resources, plan_v1, plan_v2
from minidock.cgroups.plan import (cpu_weight_from_shares, field_of, io_weight_from_blkio,
                                   order_v1_memory, swap_max_v2)

MiB = 1 << 20
EVERYTHING = Resources(memory_limit=64 * MiB, memory_reservation=32 * MiB, memory_swap=96 * MiB,
                       cpu_shares=512, cpu_quota=50000, cpu_period=100000, cpuset_cpus="0",
                       cpuset_mems="0", pids_limit=20, blkio_weight=500)


@pytest.mark.spec("CG-CPU-001", "CG-MEM-003", "CG-PIDS-001", "CG-IO-001")
def test_plan_v1_writes_every_field_in_order():
    assert plan_v1(EVERYTHING) == [
        ("memory", "memory.limit_in_bytes", str(64 * MiB)),
        ("memory", "memory.memsw.limit_in_bytes", str(96 * MiB)),  # v1: memory + swap
        ("memory", "memory.soft_limit_in_bytes", str(32 * MiB)),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "20"),
        ("blkio", "blkio.weight", "500"),
    ]
    assert plan_v1(Resources(blkio_weight=500), bfq=True) == [("blkio", "blkio.bfq.weight", "500")]


@pytest.mark.spec("CG-CPU-001", "CG-CPU-002", "CG-MEM-003", "CG-PIDS-001", "CG-IO-001")
def test_plan_v2_writes_every_field_in_order():
    assert plan_v2(EVERYTHING) == [
        ("memory.max", str(64 * MiB)),
        ("memory.swap.max", str(32 * MiB)),  # v2: swap alone, 96 - 64 MiB
        ("memory.low", str(32 * MiB)),
        ("cpu.weight", "59"),
        ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0"),
        ("cpuset.mems", "0"),
        ("pids.max", "20"),
        ("io.weight", str(1 + (500 - 10) * 9999 // 990)),
    ]
    assert plan_v2(Resources(blkio_weight=500), bfq=True) == [("io.bfq.weight", "500")]


@pytest.mark.spec("CG-RES-005")
def test_only_the_fields_that_are_set_are_planned():
    assert plan_v1(Resources()) == [] and plan_v2(Resources()) == []
    assert plan_v2(Resources(pids_limit=5)) == [("pids.max", "5")]
    assert plan_v1(Resources(memory_limit=MiB)) == [("memory", "memory.limit_in_bytes", str(MiB))]


@pytest.mark.spec("CG-CPU-001", "CG-PIDS-001")
def test_unlimited_is_spelled_as_each_version_wants():
    unlimited = Resources(memory_limit=UNLIMITED, memory_swap=UNLIMITED, pids_limit=UNLIMITED,
                          cpu_quota=UNLIMITED)
    assert plan_v2(unlimited) == [("memory.max", "max"), ("memory.swap.max", "max"),
                                  ("cpu.max", "max"), ("pids.max", "max")]
    assert plan_v1(unlimited) == [("memory", "memory.limit_in_bytes", "-1"),
                                  ("memory", "memory.memsw.limit_in_bytes", "-1"),
                                  ("cpu", "cpu.cfs_quota_us", "-1"), ("pids", "pids.max", "max")]
    # a period alone keeps the quota unlimited
    assert plan_v2(Resources(cpu_period=50000)) == [("cpu.max", "max 50000")]


@pytest.mark.spec("CG-CPU-002")
@pytest.mark.parametrize(("shares", "weight"), [
    (2, 1), (1024, 100), (262144, 10000), (512, 59), (2048, 174), (1, 1), (300000, 10000),
])
def test_shares_become_a_weight_keeping_the_ends_and_the_default(shares, weight):
    assert cpu_weight_from_shares(shares) == weight


@pytest.mark.spec("CG-CPU-002")
def test_the_weight_grows_with_the_shares():
    weights = [cpu_weight_from_shares(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights) and 1 <= min(weights) and max(weights) <= 10000


@pytest.mark.spec("CG-IO-001")
def test_blkio_weight_converts_to_io_weight():
    assert (io_weight_from_blkio(10), io_weight_from_blkio(1000)) == (1, 10000)
    assert io_weight_from_blkio(500) == 4950


@pytest.mark.spec("CG-MEM-003")
def test_v2_swap_is_swap_alone():
    assert swap_max_v2(96 * MiB, 64 * MiB) == str(32 * MiB)
    assert swap_max_v2(64 * MiB, 64 * MiB) == "0"  # swap equal to the limit: no swap at all
    assert swap_max_v2(UNLIMITED, 64 * MiB) == "max"


def test_v1_memory_and_memsw_are_written_in_an_order_the_kernel_accepts():
    plan = plan_v1(Resources(memory_limit=64 * MiB, memory_swap=96 * MiB))
    fresh = 2**63 - 4096  # a new group: unlimited, so the limit goes first
    assert [f for _, f, _ in order_v1_memory(list(plan), fresh)] == \
        ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    # raising both above a current 32 MiB: memsw first, or the new limit would exceed it
    assert [f for _, f, _ in order_v1_memory(list(plan), 32 * MiB)] == \
        ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_files_name_the_oci_field_they_come_from():
    assert field_of("cpu.max") == "linux.resources.cpu.quota"
    assert field_of("memory.memsw.limit_in_bytes") == "linux.resources.memory.swap"
    assert field_of("io.weight") == "linux.resources.blockIO.weight"
