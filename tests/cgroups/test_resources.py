"""Resources.from_oci and check_cpuset: the checks made before any cgroup exists (pure)."""

from __future__ import annotations

import pytest

from minidock.cgroups import UNLIMITED, Resources
from minidock.cgroups.resources import check_cpuset, parse_cpu_list
from minidock.errors import InvalidArgument

MiB = 1 << 20


def test_a_full_config_is_translated():
    resources = Resources.from_oci({
        "memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 128 * MiB},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 20},
        "blockIO": {"weight": 500},
    })
    assert resources == Resources(memory_limit=64 * MiB, memory_reservation=32 * MiB,
                                  memory_swap=128 * MiB, cpu_shares=512, cpu_quota=50000,
                                  cpu_period=100000, cpuset_cpus="0-1", cpuset_mems="0",
                                  pids_limit=20, blkio_weight=500)


def test_absent_null_and_zero_mean_not_set_and_minus_one_unlimited():
    assert Resources.from_oci(None).is_empty()
    assert Resources.from_oci({}).is_empty()
    assert Resources.from_oci({"memory": None, "cpu": {"shares": None, "quota": 0, "cpus": ""}}).is_empty()
    unlimited = Resources.from_oci({"memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1},
                                    "cpu": {"quota": -1}})
    assert (unlimited.memory_limit, unlimited.memory_swap, unlimited.pids_limit,
            unlimited.cpu_quota) == (UNLIMITED,) * 4


@pytest.mark.spec("CG-RES-001")
@pytest.mark.parametrize(("resources", "message"), [
    ({"cpu": {"quota": "50000", "period": 100000}},
     "linux.resources.cpu.quota must be an integer, not str"),
    ({"memory": {"limit": 1.5}}, "linux.resources.memory.limit must be an integer, not float"),
    ({"pids": {"limit": True}}, "linux.resources.pids.limit must be an integer, not bool"),
    ({"cpu": {"cpus": 1}}, "linux.resources.cpu.cpus must be a string"),
    ({"memory": [1]}, "linux.resources.memory must be an object, not list"),
    ("big", "linux.resources must be an object, not str"),
])
def test_wrong_types_are_refused_naming_the_field(resources, message):
    with pytest.raises(InvalidArgument, match=message):
        Resources.from_oci(resources)


@pytest.mark.spec("CG-RES-002")
@pytest.mark.parametrize(("resources", "message"), [
    ({"memory": {"limit": -2}}, r"linux.resources.memory.limit must be at least 1, or -1 for unlimited, got -2"),
    ({"memory": {"limit": 64 * MiB, "reservation": -5}}, "linux.resources.memory.reservation must be"),
    ({"pids": {"limit": -7}}, "linux.resources.pids.limit must be at least 1, or -1"),
    ({"cpu": {"shares": 1}}, r"linux.resources.cpu.shares must be 2..262144, got 1"),
    ({"cpu": {"shares": 300000}}, r"linux.resources.cpu.shares must be 2..262144"),
    ({"cpu": {"shares": -1}}, r"linux.resources.cpu.shares must be 2..262144, got -1"),
    ({"cpu": {"period": 999}}, r"linux.resources.cpu.period must be 1000..1000000"),
    ({"cpu": {"quota": 500, "period": 100000}}, "linux.resources.cpu.quota must be at least 1000"),
    ({"blockIO": {"weight": 5}}, r"linux.resources.blockIO.weight must be 10..1000, got 5"),
    ({"cpu": {"cpus": "0-"}}, "linux.resources.cpu.cpus: '0-' is not a list like '0-3,5'"),
    ({"cpu": {"mems": "a"}}, "linux.resources.cpu.mems: 'a' is not a list"),
    ({"cpu": {"cpus": "3-1"}}, "runs backwards"),
])
def test_values_out_of_range_are_refused(resources, message):
    with pytest.raises(InvalidArgument, match=message):
        Resources.from_oci(resources)


@pytest.mark.spec("CG-RES-003")
def test_a_quota_without_a_period_is_refused():
    with pytest.raises(InvalidArgument, match="cpu.quota is set without linux.resources.cpu.period"):
        Resources.from_oci({"cpu": {"quota": 50000}})
    # a period alone is fine (cpu.max "max PERIOD"), and so is an unlimited quota alone
    assert Resources.from_oci({"cpu": {"period": 50000}}).cpu_period == 50000
    assert Resources.from_oci({"cpu": {"quota": -1}}).cpu_quota == UNLIMITED


@pytest.mark.spec("CG-MEM-001")
def test_swap_needs_a_limit_and_cannot_be_below_it():
    with pytest.raises(InvalidArgument, match="memory.swap is set without linux.resources.memory.limit"):
        Resources.from_oci({"memory": {"swap": 64 * MiB}})
    with pytest.raises(InvalidArgument, match="must be at least linux.resources.memory.limit"):
        Resources.from_oci({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}})
    assert Resources.from_oci({"memory": {"limit": 64 * MiB, "swap": 64 * MiB}}).memory_swap == 64 * MiB
    assert Resources.from_oci({"memory": {"swap": -1}}).memory_swap == UNLIMITED


@pytest.mark.spec("CG-MEM-002")
def test_a_reservation_above_the_limit_is_refused():
    with pytest.raises(InvalidArgument, match="memory.reservation .* must not be above"):
        Resources.from_oci({"memory": {"limit": 32 * MiB, "reservation": 64 * MiB}})
    assert Resources.from_oci({"memory": {"reservation": 64 * MiB}}).memory_reservation == 64 * MiB


@pytest.mark.spec("CG-RES-004")
def test_a_cpuset_beyond_the_host_is_refused():
    check_cpuset(Resources(cpuset_cpus="0,1", cpuset_mems="0"), "0-1\n", "0\n")
    with pytest.raises(InvalidArgument, match=r"cpu.cpus: '0-3' asks for \[2, 3\], but this host has only '0-1'"):
        check_cpuset(Resources(cpuset_cpus="0-3"), "0-1\n", "0\n")
    with pytest.raises(InvalidArgument, match=r"cpu.mems: '1' asks for \[1\]"):
        check_cpuset(Resources(cpuset_mems="1"), "0-1\n", "0\n")


def test_cpu_lists_parse_like_the_kernel_writes_them():
    assert parse_cpu_list("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_cpu_list("3") == {3}


@pytest.mark.spec("CG-RES-007")
def test_fields_not_applied_are_named():
    resources = Resources.from_oci({
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 64 * MiB, "swappiness": 10},
        "cpu": {"realtimeRuntime": 0},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
    })
    assert resources.ignored == ("linux.resources.hugepageLimits", "linux.resources.memory.swappiness",
                                 "linux.resources.cpu.realtimeRuntime")
