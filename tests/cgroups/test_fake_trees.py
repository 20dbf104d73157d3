"""The drivers' shells on fake cgroup trees: plain files in tmp_path stand in for cgroupfs.

This host drives cgroup v1; these tests check the v2 group's files and decisions (and the
v1 write order) without a kernel behind them. What the kernel itself does (freezing, OOM
kills) is tested for real in test_real.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from minidock.cgroups import Driver, Hierarchy, Resources, Stats, v1, v2
from minidock.cgroups.devices import parse_oci as parse_devices
from minidock.cgroups.v1 import V1Group
from minidock.cgroups.v2 import V2Group
from minidock.errors import SystemError as KernelRefused, Unavailable

MiB = 1 << 20
V2_KNOBS = ("memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus",
            "cpuset.mems", "pids.max", "io.weight", "cgroup.procs")


def make_tree(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) under ``root``, making directories."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def fake_v2(tmp_path):
    """A fake unified hierarchy with one group, minidock/c, holding the files given."""
    def build(group_files: dict[str, str]) -> tuple[Driver, Path]:
        make_tree(tmp_path, {"cgroup.controllers": "cpuset cpu io memory pids\n",
                             "cgroup.subtree_control": "",
                             "minidock/cgroup.controllers": "cpuset cpu io memory pids\n",
                             "minidock/cgroup.subtree_control": ""})
        (tmp_path / "minidock" / "c").mkdir(exist_ok=True)
        make_tree(tmp_path / "minidock" / "c", group_files)
        return Driver(Hierarchy(2, {}, str(tmp_path))), tmp_path / "minidock" / "c"
    return build


@pytest.mark.spec("CG-CPU-001", "CG-CPU-002", "CG-MEM-003", "CG-IO-001", "CG-PIDS-001")
def test_v2_apply_writes_the_plan(fake_v2):
    driver, group_dir = fake_v2({knob: "" for knob in V2_KNOBS})
    resources = Resources(memory_limit=64 * MiB, memory_swap=64 * MiB, memory_reservation=16 * MiB,
                          cpu_shares=1024, cpu_quota=150000, cpu_period=100000, pids_limit=9,
                          blkio_weight=1000)
    group = driver.create("minidock/c", resources)
    written = {knob: (group_dir / knob).read_text() for knob in V2_KNOBS}
    assert written == {"memory.max": str(64 * MiB), "memory.swap.max": "0",
                       "memory.low": str(16 * MiB), "cpu.weight": "100", "cpu.max": "150000 100000",
                       "cpuset.cpus": "", "cpuset.mems": "", "pids.max": "9", "io.weight": "10000",
                       "cgroup.procs": ""}
    # create() enabled the controllers on the way down
    assert (group_dir.parent / "cgroup.subtree_control").read_text() == "+memory +pids +cpu +cpuset +io"
    # the older callers still work
    group.set_memory_limit(32 * MiB)
    group.set_pids_limit(3)
    assert ((group_dir / "memory.max").read_text(), (group_dir / "pids.max").read_text()) == \
        (str(32 * MiB), "3")


@pytest.mark.spec("CG-IO-001")
def test_v2_prefers_bfq_when_the_group_has_it(fake_v2):
    driver, group_dir = fake_v2({"io.bfq.weight": "", "io.weight": ""})
    driver.create("minidock/c", Resources(blkio_weight=500))
    assert ((group_dir / "io.bfq.weight").read_text(), (group_dir / "io.weight").read_text()) == ("500", "")


@pytest.mark.spec("CG-RES-005")
def test_v2_a_missing_knob_is_an_error_only_when_asked_for(fake_v2):
    driver, group_dir = fake_v2({"memory.max": ""})  # no pids.max, no memory.swap.max
    group = driver.create("minidock/c", Resources(memory_limit=MiB))  # pids not asked for: fine
    assert (group_dir / "memory.max").read_text() == str(MiB)
    subtree_control = group_dir.parent / "cgroup.subtree_control"
    subtree_control.write_text("memory pids\n")  # as the kernel shows it
    with pytest.raises(Unavailable, match=r"linux.resources.pids.limit: this host cannot apply it: "
                                          r".*lacks the file \(no pids.max\)"):
        group.apply(Resources(pids_limit=5))
    subtree_control.write_text("memory\n")
    with pytest.raises(Unavailable, match="the pids controller is not enabled for this group"):
        group.apply(Resources(pids_limit=5))


@pytest.mark.spec("CG-RES-006")
def test_v2_a_group_the_kernel_refuses_is_removed(fake_v2, monkeypatch):
    driver, group_dir = fake_v2({})
    (group_dir / "memory.max").mkdir()  # writing to it fails, as a kernel's EINVAL would
    removed = []
    monkeypatch.setattr(V2Group, "remove", lambda self: removed.append(self.name))
    with pytest.raises(KernelRefused, match=r"linux.resources.memory.limit: the kernel refused '1048576'"):
        driver.create("minidock/c", Resources(memory_limit=MiB))
    assert removed == ["minidock/c"]


@pytest.mark.spec("CG-FRZ-002")
def test_v2_freeze_waits_for_cgroup_events(fake_v2, monkeypatch):
    driver, group_dir = fake_v2({"cgroup.freeze": "0", "cgroup.events": "populated 1\nfrozen 1\n"})
    group = driver.create("minidock/c")
    group.freeze()
    assert (group_dir / "cgroup.freeze").read_text() == "1"
    (group_dir / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    group.thaw()
    assert (group_dir / "cgroup.freeze").read_text() == "0"
    # a group that never reports frozen is thawed again, and the caller told
    monkeypatch.setattr(v2, "FREEZE_TIMEOUT", 0.05)
    with pytest.raises(KernelRefused, match="did not say 'frozen 1'"):
        group.freeze()
    assert (group_dir / "cgroup.freeze").read_text() == "0"


@pytest.mark.spec("CG-STAT-001", "CG-OOM-001", "CG-PROCS-001")
def test_v2_stats_oom_and_procs_read_the_group_files(fake_v2):
    driver, _ = fake_v2({"memory.current": "4096\n", "memory.max": "max\n",
                         "cpu.stat": "usage_usec 7\n", "pids.current": "2\n", "pids.max": "max\n",
                         "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
                         "cgroup.procs": "41\n42\n"})
    group = driver.create("minidock/c")
    assert group.stats() == Stats(memory_usage=4096, cpu_usage_ns=7000, pids_current=2)
    assert group.oom_killed() is True
    assert group.procs() == [41, 42]


def test_v2_no_oom_without_memory_events(fake_v2):
    driver, _ = fake_v2({})
    assert driver.create("minidock/c").oom_killed() is False


@pytest.mark.spec("CG-MEM-001")
def test_v1_raising_memory_writes_memsw_first(tmp_path, monkeypatch):
    # a v1 group whose current limit (32 MiB) is below the new memory+swap (96 MiB)
    make_tree(tmp_path / "memory" / "minidock" / "c",
              {"memory.limit_in_bytes": str(32 * MiB), "memory.memsw.limit_in_bytes": str(32 * MiB)})
    group = V1Group(Hierarchy(1, {"memory": str(tmp_path / "memory")}, None), "minidock/c")
    order = []
    write = v1.files.write
    monkeypatch.setattr(v1.files, "write",
                        lambda path, value, field=None: (order.append(Path(path).name),
                                                         write(path, value, field)))
    group.apply(Resources(memory_limit=64 * MiB, memory_swap=96 * MiB))
    assert order == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


@pytest.mark.spec("CG-RES-005")
def test_v1_a_missing_knob_names_the_field_and_why(tmp_path):
    make_tree(tmp_path / "memory" / "minidock" / "c", {"memory.limit_in_bytes": ""})
    group = V1Group(Hierarchy(1, {"memory": str(tmp_path / "memory")}, None), "minidock/c")
    with pytest.raises(Unavailable, match=r"linux.resources.memory.swap: .*swapaccount=1"):
        group.apply(Resources(memory_limit=MiB, memory_swap=2 * MiB))
    with pytest.raises(Unavailable, match=r"linux.resources.blockIO.weight: .*I/O scheduler"):
        group.apply(Resources(blkio_weight=100))
    with pytest.raises(Unavailable, match="the cgroup v1 pids controller is not mounted"):
        group.set_pids_limit(3)


def test_driver_for_a_fake_tree_is_v2(fake_v2):
    driver, _ = fake_v2({})
    assert isinstance(driver, Driver) and driver.version == 2


@pytest.mark.spec("CG-DEV-004")
def test_v1_without_the_devices_controller_refuses_device_rules_and_leaves_nothing(tmp_path):
    # a v1 host with the memory controller mounted, and no devices hierarchy at all
    driver = Driver(Hierarchy(1, {"memory": str(tmp_path / "memory")}, None))
    (tmp_path / "memory").mkdir()
    rules = parse_devices([{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
    with pytest.raises(Unavailable, match=r"linux.resources.devices: .*devices controller is not mounted"):
        driver.create("minidock/c", Resources(devices=rules))
    assert list((tmp_path / "memory").iterdir()) == []  # the group made for it is gone
    # without device rules the same host makes the group
    group = driver.create("minidock/c", Resources())
    assert (tmp_path / "memory" / "minidock" / "c").is_dir()
    group.remove()
