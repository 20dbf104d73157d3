"""The runtime benchmarks' own logic, with fake runtimes: no root, no containers, no numbers."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import monitor_memory  # noqa: E402
from bench.bundles import Bundle, fresh_id, with_args  # noqa: E402
from bench.isolation import oci_argv, oci_run  # noqa: E402
from bench.monitor_memory import leftovers, minidock_monitors, pss_kib, shares_kib  # noqa: E402

SMAPS_ROLLUP = """\
00400000-7ffce3afa000 ---p 00000000 00:00 0                              [rollup]
Rss:               16260 kB
Pss:               11454 kB
Pss_Dirty:         10912 kB
Pss_Anon:          10912 kB
Pss_File:            542 kB
Shared_Clean:       5344 kB
"""

SMAPS = """\
00400000-00401000 r--p 00000000 08:01 1 /usr/bin/python3
Rss:                   4 kB
Pss:                   2 kB
Pss_Anon:              0 kB
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
Rss:                 132 kB
Pss:                 132 kB
"""


class MadeBundle(Bundle):
    """A bundle that is already there: path() runs no bootstrap."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, ["true"])
        self._made = True


class FakeRuntime:
    """minidock-runtime's verbs as the monitor benchmark uses them, recorded, on a state folder."""

    def __init__(self, state_root: Path, fail: str = "", forget_delete: bool = False) -> None:
        self.state_root = state_root
        self.fail = fail  # "start 2": the second start fails
        self.forget_delete = forget_delete
        self.calls: list[tuple[str, ...]] = []
        self.monitors: dict[str, int] = {}

    def __call__(self, *args: str) -> str:
        self.calls.append(args)
        verb, container_id = args[0], args[-1] if args[0] != "kill" else args[1]
        if self.fail == f"{verb} {sum(call[0] == verb for call in self.calls)}":
            raise RuntimeError(f"{verb}: exit 1: boom")
        if verb == "create":
            (self.state_root / container_id).mkdir(parents=True)
            self.monitors[container_id] = 1000 + len(self.monitors)
        elif verb == "state":
            return json.dumps({"id": container_id, "monitor_pid": self.monitors[container_id]})
        elif verb == "delete" and not self.forget_delete:
            if not (self.state_root / container_id).exists():
                raise RuntimeError("delete: exit 1: container does not exist")
            (self.state_root / container_id).rmdir()
        return ""

    def verbs(self, container_id: str) -> list[str]:
        return [call[0] for call in self.calls if container_id in call]


@pytest.mark.spec("HARNESS-BENCH-009")
def test_the_bundle_runs_true_without_a_terminal():
    config = {"process": {"args": ["sh"], "terminal": True, "cwd": "/"}, "root": {"path": "rootfs"}}
    changed = with_args(config, ["true"])
    assert changed["process"] == {"args": ["true"], "terminal": False, "cwd": "/"}
    assert config["process"]["args"] == ["sh"]  # the original is left alone
    assert fresh_id("x") != fresh_id("x")


@pytest.mark.spec("HARNESS-BENCH-009")
def test_each_run_uses_the_runtimes_own_root_and_a_fresh_id(tmp_path):
    log = tmp_path / "argv.log"
    runtime = tmp_path / "fake-runtime"
    runtime.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    runtime.chmod(runtime.stat().st_mode | stat.S_IXUSR)
    bundle = MadeBundle(tmp_path / "bundle")
    run = oci_run(str(runtime), tmp_path / "fake-state", bundle)
    run()
    run()
    first, second = (line.split() for line in log.read_text().splitlines())
    assert first[:5] == ["--root", str(tmp_path / "fake-state"), "run", "--bundle", str(tmp_path / "bundle")]
    assert first[5] != second[5]  # a fresh container id per run
    assert (tmp_path / "fake-state").is_dir()
    assert oci_argv("runc", tmp_path, "delete", "x") == ["runc", "--root", str(tmp_path), "delete", "x"]


@pytest.mark.spec("HARNESS-BENCH-010")
def test_pss_is_the_sum_of_the_pss_lines():
    assert pss_kib(SMAPS_ROLLUP) == 11454  # Pss_Anon, Pss_File ... are parts of it, not more of it
    assert pss_kib(SMAPS) == 134
    assert pss_kib("") == 0


@pytest.mark.spec("HARNESS-BENCH-010")
def test_a_shared_shim_counts_a_share_per_container():
    assert shares_kib([7, 7, 9], {7: 300.0, 9: 100.0}.__getitem__) == [150.0, 150.0, 100.0]
    assert shares_kib([], {}.__getitem__) == []


@pytest.mark.spec("HARNESS-BENCH-010")
def test_one_sample_per_idle_container(tmp_path):
    runtime = FakeRuntime(tmp_path / "state")
    measure = minidock_monitors(MadeBundle(tmp_path / "bundle"), tmp_path / "state", runtime, count=3,
                                is_alive=lambda pid: False, pss=lambda pid: float(pid), cgroups=str(tmp_path))
    assert measure() == [1000.0, 1001.0, 1002.0]
    container_id = runtime.calls[0][-1]
    assert runtime.verbs(container_id) == ["create", "state", "start", "kill", "delete"]
    assert runtime.calls[0] == ("create", "--bundle", str(tmp_path / "bundle"), container_id)
    assert ("kill", container_id, "KILL") in runtime.calls and ("delete", "--force", container_id) in runtime.calls
    assert list((tmp_path / "state").iterdir()) == []
    assert monitor_memory.CONTAINERS == 20 and monitor_memory.IDLE == ["sleep", "3600"]


@pytest.mark.spec("HARNESS-BENCH-011")
def test_every_container_is_removed_when_a_step_fails(tmp_path):
    runtime = FakeRuntime(tmp_path / "state", fail="start 2")
    measure = minidock_monitors(MadeBundle(tmp_path / "bundle"), tmp_path / "state", runtime, count=5,
                                is_alive=lambda pid: False, pss=lambda pid: 1.0, cgroups=str(tmp_path))
    with pytest.raises(RuntimeError, match="start: exit 1: boom"):
        measure()
    created = [call[-1] for call in runtime.calls if call[0] == "create"]
    assert len(created) == 2  # it stopped at the failure...
    for container_id in created:  # ...and removed both
        assert runtime.verbs(container_id)[-2:] == ["kill", "delete"]
    assert list((tmp_path / "state").iterdir()) == []


@pytest.mark.spec("HARNESS-BENCH-011")
def test_whatever_remains_fails_the_run_by_name(tmp_path):
    state_root = tmp_path / "state"
    (state_root / "c1").mkdir(parents=True)
    (tmp_path / "cgroup" / "memory" / "minidock-runtime" / "c1").mkdir(parents=True)
    (tmp_path / "cgroup" / "minidock-runtime" / "c2").mkdir(parents=True)
    found = leftovers(state_root, ["c1", "c2"], [41, 42], alive=lambda pid: pid == 42,
                      cgroups=str(tmp_path / "cgroup"))
    assert found == [
        f"state directory {state_root / 'c1'}",
        f"cgroup {tmp_path / 'cgroup/memory/minidock-runtime/c1'}",
        f"cgroup {tmp_path / 'cgroup/minidock-runtime/c2'}",
        "monitor process 42",
    ]
    assert leftovers(tmp_path / "empty", ["c3"], [41], alive=lambda pid: False, cgroups=str(tmp_path)) == []

    runtime = FakeRuntime(tmp_path / "other-state", forget_delete=True)
    measure = minidock_monitors(MadeBundle(tmp_path / "bundle"), tmp_path / "other-state", runtime, count=1,
                                is_alive=lambda pid: False, pss=lambda pid: 1.0, cgroups=str(tmp_path / "none"))
    with pytest.raises(RuntimeError, match="left behind: state directory"):
        measure()
