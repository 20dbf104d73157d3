"""The drivers against the real kernel (root): limits read back, freezing, stats, an OOM kill.

Every test goes through the `lab` fixture, which kills its processes and removes its groups
whatever happens. On this (hybrid) host the driver is v1; on the Vagrant box the same tests
drive v2. The hybrid's own cgroup2 mount has no controllers, but freezing, procs and cpu.stat
work there, so the v2 group is run for real against it too (`unified_driver`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from minidock.cgroups import Resources, plan_v1, plan_v2
from minidock.errors import InvalidArgument, Unavailable

MiB = 1 << 20
HOLD = "print('ready', flush=True); import time; time.sleep(60)\n"


def read_back(group, driver_version: int, resources: Resources) -> dict[str, str]:
    """What the group's files say now, for each file the plan wrote."""
    if driver_version == 1:
        return {file: open(os.path.join(group.paths[controller], file)).read().strip()
                for controller, file, _ in plan_v1(resources)}
    return {file: open(os.path.join(group.path, file)).read().strip() for file, _ in plan_v2(resources)}


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def state_of(pid: int) -> str:
    """The State: letter of /proc/PID/status (S, R, D, ...)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


@pytest.mark.spec("CG-002", "CG-CPU-001", "CG-MEM-003", "CG-PIDS-001")
def test_limits_are_applied_and_read_back(lab, driver):
    resources = Resources(memory_limit=64 * MiB, memory_swap=96 * MiB, memory_reservation=32 * MiB,
                          cpu_shares=512, cpu_quota=50000, cpu_period=100000, cpuset_cpus="0",
                          cpuset_mems="0", pids_limit=20)
    group = lab.group(resources)
    if driver.version == 1:
        assert read_back(group, 1, resources) == {
            "memory.limit_in_bytes": str(64 * MiB),
            "memory.memsw.limit_in_bytes": str(96 * MiB),  # v1: memory + swap
            "memory.soft_limit_in_bytes": str(32 * MiB),
            "cpu.shares": "512", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000",
            "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "20"}
    else:
        assert read_back(group, 2, resources) == {
            "memory.max": str(64 * MiB),
            "memory.swap.max": str(32 * MiB),  # v2: swap alone
            "memory.low": str(32 * MiB),
            "cpu.weight": "59", "cpu.max": "50000 100000",
            "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "20"}
    # and a process in the group finds itself there, in every controller we limit
    process = lab.spawn(group, "import json; print(json.dumps(open('/proc/self/cgroup').read()), "
                               "flush=True)\n" + HOLD)
    lines = json.loads(process.stdout.readline()).splitlines()
    for controller in (("memory", "cpu", "cpuset", "pids") if driver.version == 1 else ("",)):
        line = next(line for line in lines if controller in line.split(":")[1].split(","))
        assert line.endswith("/" + group.name), line


def leftovers(driver, top: str) -> list[str]:
    """Every directory named ``top`` at the root of the host's hierarchies."""
    roots = driver.hierarchy.v1_mounts.values() if driver.version == 1 else [driver.hierarchy.v2_mount]
    return [os.path.join(root, top) for root in set(roots) if os.path.exists(os.path.join(root, top))]


@pytest.mark.spec("CG-RES-004", "CG-RES-006")
def test_a_cpuset_beyond_the_host_creates_nothing(lab, driver):
    with pytest.raises(InvalidArgument, match=r"linux.resources.cpu.cpus: '0-4095' asks for"):
        driver.create(lab.name(), Resources(cpuset_cpus="0-4095"))
    with pytest.raises(InvalidArgument, match=r"linux.resources.cpu.mems: '0-63' asks for"):
        driver.create(lab.name(), Resources(cpuset_mems="0-63"))
    assert leftovers(driver, lab.top) == []


@pytest.mark.spec("CG-RES-005", "CG-RES-006", "CG-IO-001")
def test_block_io_weight_is_applied_or_refused_with_nothing_left(lab, driver):
    try:
        group = lab.group(Resources(blkio_weight=500))
    except Unavailable as error:  # this host: no I/O scheduler with weights
        assert "linux.resources.blockIO.weight: this host cannot apply it" in str(error)
        assert leftovers(driver, lab.top) == []
        return
    if driver.version == 1:
        written = {f: open(os.path.join(group.paths["blkio"], f)).read().split()
                   for f in ("blkio.weight", "blkio.bfq.weight")
                   if os.path.exists(os.path.join(group.paths["blkio"], f))}
    else:
        written = {f: open(os.path.join(group.path, f)).read().split()
                   for f in ("io.weight", "io.bfq.weight") if os.path.exists(os.path.join(group.path, f))}
    # "default 500" (io.bfq.weight, v2), "default 4950" (io.weight) or "500" (v1)
    assert any(words[-1] in ("500", "4950") for words in written.values()), written


@pytest.mark.spec("CG-FRZ-001", "CG-FRZ-002", "CG-PROCS-001")
def test_freeze_stops_every_process_until_thawed(lab):
    group = lab.group()
    sleeper = lab.spawn_command(group, "sleep", "60")
    spinner = lab.spawn_command(group, "sh", "-c", "while :; do :; done")
    assert sorted(group.procs()) == sorted([sleeper.pid, spinner.pid])
    group = lab.driver.open(group.name)  # as `minidock-runtime pause` would, in another process
    group.freeze()
    try:
        before = cpu_ticks(spinner.pid)
        time.sleep(0.3)
        assert cpu_ticks(spinner.pid) == before  # frozen: no CPU time at all
        if lab.driver.version == 1:
            assert open(os.path.join(group.paths["freezer"], "freezer.state")).read().strip() == "FROZEN"
            assert state_of(sleeper.pid) == "D"  # v1 freezer: uninterruptible
        else:
            assert "frozen 1" in open(os.path.join(group.path, "cgroup.events")).read()
    finally:
        group.thaw()
    before = cpu_ticks(spinner.pid)
    time.sleep(0.3)
    assert cpu_ticks(spinner.pid) > before
    assert state_of(sleeper.pid) == "S"


@pytest.mark.spec("CG-FRZ-001", "CG-FRZ-002", "CG-PROCS-001", "CG-STAT-002", "CG-RES-005")
def test_the_v2_group_freezes_for_real_on_the_hybrid_cgroup2(lab, unified_driver):
    group = lab.group(driver=unified_driver)
    spinner = lab.spawn_command(group, "sh", "-c", "while :; do :; done")
    assert group.procs() == [spinner.pid]
    group.freeze()
    try:
        assert "frozen 1" in open(os.path.join(group.path, "cgroup.events")).read()
        before = cpu_ticks(spinner.pid)
        time.sleep(0.3)
        assert cpu_ticks(spinner.pid) == before
    finally:
        group.thaw()
    assert "frozen 0" in open(os.path.join(group.path, "cgroup.events")).read()
    stats = group.stats()  # cpu.stat is core in v2; memory and pids need their controllers
    assert stats.cpu_usage_ns and stats.cpu_usage_ns > 0
    assert (stats.memory_usage, stats.pids_current) == (None, None)
    with pytest.raises(Unavailable, match="linux.resources.pids.limit: .*pids controller is not enabled"):
        group.apply(Resources(pids_limit=5))


@pytest.mark.spec("CG-PROCS-001")
def test_a_forked_child_moves_itself_in_whole(lab):
    """add_self(): v1's `tasks` write of `0` moves a child of one thread, every hierarchy."""
    group = lab.group()
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            group.add_self()
            os.write(ready_w, b"in")
            os.read(hold_r, 1)  # stay in the group until the test has looked
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 2) == b"in"
        assert group.procs() == [child]
        memberships = open(f"/proc/{child}/cgroup").read().splitlines()
        joined = [line for line in memberships if line.endswith("/" + group.name)]
        expected = len(set(group.mounts.values())) if lab.driver.version == 1 else 1  # co-mounted: one line
        assert len(joined) == expected, memberships
    finally:
        os.write(hold_w, b"x")
        os.waitpid(child, 0)
        for fd in (ready_r, ready_w, hold_r, hold_w):
            os.close(fd)


@pytest.mark.spec("CG-STAT-001")
def test_stats_after_a_process_allocates(lab, driver):
    group = lab.group(Resources(memory_limit=128 * MiB, pids_limit=50))
    process = lab.spawn(group, "b = b'x' * (24 << 20)\n" + HOLD)
    assert process.stdout.readline().strip() == "ready"
    stats = group.stats()
    assert stats.memory_usage is not None and stats.memory_usage >= 24 * MiB
    assert stats.memory_limit == 128 * MiB
    assert stats.cpu_usage_ns is not None and stats.cpu_usage_ns > 0
    assert (stats.pids_current, stats.pids_limit) == (1, 50)
    if stats.memory_max_usage is not None:  # v2 before Linux 5.19 has no memory.peak
        assert stats.memory_max_usage >= stats.memory_usage
    assert stats.io_read_bytes is None or stats.io_read_bytes >= 0
    assert group.oom_killed() is False


@pytest.mark.spec("CG-OOM-001", "CG-MEM-001")
def test_going_over_the_memory_limit_is_an_oom_kill(lab):
    # swap equal to the limit: no swap to go to, so the kernel must kill
    group = lab.group(Resources(memory_limit=32 * MiB, memory_swap=32 * MiB))
    process = lab.spawn(group, "b = b'x' * (128 << 20)\nprint('survived', flush=True)\n")
    assert process.wait(timeout=20) == -signal.SIGKILL  # a runtime reports 128 + 9 = 137
    assert process.stdout.read() == ""
    assert group.oom_killed() is True


@pytest.mark.spec("CG-005", "CG-003")
@pytest.mark.parametrize("which", ["driver", "unified_driver"])
def test_siblings_made_and_removed_at_once_keep_their_controllers(lab, which, request):
    """One thread makes and removes a group over and over while another does the same beside it.

    The remover rmdirs the shared parent whenever it looks empty, which it does between
    the other's mkdir of the parent and of its own leaf: that mkdir failed with ENOENT
    (v1), or (v2) the leaf was made under a new parent with no controllers enabled.
    """
    driver = request.getfixturevalue(which)
    wanted = {"memory", "pids"}
    failures: list[str] = []
    stop = time.monotonic() + 1.5

    def churn(tag: str) -> None:
        count = 0
        while time.monotonic() < stop and not failures:
            name = f"{lab.top}/{tag}{count}"
            count += 1
            try:
                group = driver.create(name, None)
            except Exception as error:  # noqa: BLE001 - the failure under test
                failures.append(f"create {name}: {error}")
                return
            try:
                if driver.version == 2:
                    root = set(open(os.path.join(driver.hierarchy.v2_mount, "cgroup.controllers")).read().split())
                    usable = set(open(os.path.join(group.path, "cgroup.controllers")).read().split())
                    if (wanted & root) - usable:
                        failures.append(f"{name} lacks {sorted((wanted & root) - usable)}")
                else:
                    missing = [path for path in group.paths.values() if not os.path.isdir(path)]
                    if missing:
                        failures.append(f"{name} lacks {missing}")
            finally:
                group.remove()

    threads = [threading.Thread(target=churn, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    roots = driver.hierarchy.v1_mounts.values() if driver.version == 1 else [driver.hierarchy.v2_mount]
    assert not any(os.path.exists(os.path.join(root, lab.top)) for root in roots)
