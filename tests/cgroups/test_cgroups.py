"""Cgroup detection (pure) and the driver on this host (real cgroupfs)."""

from __future__ import annotations

import os

import pytest

from minidock.cgroups import detect, open_driver
from minidock.errors import InvalidArgument, Unavailable

HYBRID = """\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
"""
UNIFIED = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
NONE = "22 1 0:21 / /proc rw - proc proc rw\n"


@pytest.mark.spec("CG-001")
def test_detect_hybrid_unified_and_none():
    hybrid = detect(HYBRID)
    assert hybrid.version == 1
    assert hybrid.v1_mounts["memory"] == "/sys/fs/cgroup/memory"
    assert hybrid.v1_mounts["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert hybrid.v2_mount == "/sys/fs/cgroup/unified"
    unified = detect(UNIFIED)
    assert (unified.version, unified.v2_mount) == (2, "/sys/fs/cgroup")
    with pytest.raises(Unavailable, match="no cgroup filesystem"):
        detect(NONE)


@pytest.mark.spec("CG-004")
@pytest.mark.parametrize("name", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_group_names_stay_inside(name):
    with pytest.raises(InvalidArgument, match="invalid cgroup name"):
        open_driver().create(name)


@pytest.mark.spec("CG-002", "CG-003")
def test_limits_are_written_and_the_group_removed():
    driver = open_driver()
    name = f"minidock-test/cg-{os.getpid()}"
    group = driver.create(name)
    try:
        group.set_memory_limit(32 * 2**20)
        group.set_pids_limit(9)
        if driver.version == 1:
            memory = open(os.path.join(group.paths["memory"], "memory.limit_in_bytes")).read()
            pids = open(os.path.join(group.paths["pids"], "pids.max")).read()
        else:
            memory = open(os.path.join(group.path, "memory.max")).read()
            pids = open(os.path.join(group.path, "pids.max")).read()
        assert (int(memory), pids.strip()) == (32 * 2**20, "9")
    finally:
        group.remove()
    paths = group.paths.values() if driver.version == 1 else [group.path]
    for path in paths:
        assert not os.path.exists(path)
        assert not os.path.exists(os.path.dirname(path))  # the empty parent went too
