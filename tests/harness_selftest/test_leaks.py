"""The leak check, through inner sessions that leave things behind (or not).

Every object is named with this test's own token, and the inner runs report only
leaks matching it (--leak-check-match), so that tests running beside them in the
outer session cannot make them fail. The outer test removes everything in a finally.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import testinfra

from tests.harness.leaks import (Leak, compare, is_kept_by_a_daemon, is_someone_elses_cgroup, parse_iptables_save,
                                 parse_nft_ruleset, snapshot)
from tests.harness_selftest.conftest import output_of

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netns, mounts, cgroups, iptables)")


def cgroup_parent() -> Path:
    """Where a test may make a cgroup: the v2 hierarchy (pure v2, or hybrid's unified)."""
    unified = Path("/sys/fs/cgroup/unified")
    return unified if (unified / "cgroup.procs").exists() else Path("/sys/fs/cgroup")


class Objects:
    """One of each kind of object the leak check knows, named after one token."""

    def __init__(self, tmp: Path):
        self.token = uuid.uuid4().hex[:8]
        self.netns = f"mdt-leak-{self.token}"
        self.mount = Path(f"/tmp/mdt-leak-{self.token}")
        self.link = f"mdtl{self.token}"
        self.cgroup = cgroup_parent() / f"mdt-leak-{self.token}"
        self.chain = f"MDTLEAK{self.token}"
        self.nft_table = f"mdtleak_{self.token}"
        self.state = Path(f"/run/crun/mdt-leak-{self.token}")  # a container's state, its delete missed
        self.pid_file = tmp / f"sleep-{self.token}.pid"
        # A process is named by its command line: give the sleep a unique argument.
        self.sleep_seconds = f"599.{int(self.token, 16) % 10**8:08d}"
        # A container: a process in a PID namespace of its own, without the session's token.
        self.contained_seconds = f"598.{int(self.token, 16) % 10**8:08d}"
        self.unshare_pid_file = tmp / f"unshare-{self.token}.pid"
        self.match = rf"{self.token}|{re.escape(self.sleep_seconds)}|{re.escape(self.contained_seconds)}"

    def test_source(self, clean_up: bool) -> str:
        """An inner test that makes all of them (and, if clean_up, removes them again)."""
        make = f"""\
import os, subprocess, time
from pathlib import Path

def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)

def wait_for_command_line(*argv):
    wanted = "\\0".join(argv).encode() + b"\\0"
    for _ in range(200):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if Path("/proc", pid, "cmdline").read_bytes() == wanted:
                    return
            except OSError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"{{argv}} did not start")

def test_leaves_things_behind():
    sh("ip", "netns", "add", "{self.netns}")
    os.mkdir("{self.mount}")
    sh("mount", "-t", "tmpfs", "tmpfs", "{self.mount}")
    sh("ip", "link", "add", "{self.link}", "type", "bridge")
    os.mkdir("{self.cgroup}")
    sh("iptables", "-t", "filter", "-N", "{self.chain}")
    sh("nft", "add", "table", "inet", "{self.nft_table}")
    os.makedirs("{self.state}")
    sleeper = subprocess.Popen(["sleep", "{self.sleep_seconds}"], start_new_session=True)
    Path("{self.pid_file}").write_text(str(sleeper.pid))
    unshare = subprocess.Popen(["env", "-i", "unshare", "--pid", "--fork", "--kill-child",
                                "sleep", "{self.contained_seconds}"], start_new_session=True)
    Path("{self.unshare_pid_file}").write_text(str(unshare.pid))
    wait_for_command_line("sleep", "{self.contained_seconds}")
"""
        clean = f"""\
    sh("ip", "netns", "delete", "{self.netns}")
    sh("umount", "{self.mount}")
    os.rmdir("{self.mount}")
    sh("ip", "link", "delete", "{self.link}")
    os.rmdir("{self.cgroup}")
    sh("iptables", "-t", "filter", "-X", "{self.chain}")
    sh("nft", "delete", "table", "inet", "{self.nft_table}")
    os.rmdir("{self.state}")
    sleeper.kill()
    sleeper.wait()
    unshare.kill()  # --kill-child: the sleep in the new PID namespace goes with it
    unshare.wait()
"""
        return make + (clean if clean_up else "")

    def remove_all(self) -> None:
        """Remove whatever is left; never fails."""
        def quiet(*argv: str) -> None:
            subprocess.run(argv, capture_output=True)
        for pid_file in (self.pid_file, self.unshare_pid_file):
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        quiet("ip", "netns", "delete", self.netns)
        quiet("umount", str(self.mount))
        quiet("rmdir", str(self.mount))
        quiet("ip", "link", "delete", self.link)
        quiet("rmdir", str(self.cgroup))
        quiet("iptables", "-t", "filter", "-X", self.chain)
        quiet("nft", "delete", "table", "inet", self.nft_table)
        quiet("rmdir", str(self.state))


@pytest.fixture
def objects(tmp_path):
    made = Objects(tmp_path)
    try:
        yield made
    finally:
        made.remove_all()


@pytest.mark.spec("HARNESS-LEAK-001", "HARNESS-LEAK-002", "HARNESS-LEAK-003", "HARNESS-LEAK-004",
                  "HARNESS-LEAK-005", "HARNESS-LEAK-006", "HARNESS-LEAK-007", "HARNESS-LEAK-011")
def test_a_session_that_leaves_things_behind_fails_naming_each(inner, objects):
    inner.tests("test_leaky.py", objects.test_source(clean_up=False))
    result = inner.run(f"--leak-check-match={objects.match}", leak_check=True)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = output_of(result)
    sleeper = int(objects.pid_file.read_text())
    for line in (
        f"leak: netns {objects.netns}",
        f"leak: mount {objects.mount} (tmpfs)",
        f"leak: mount /run/netns/{objects.netns} (nsfs)",
        f"leak: link {objects.link} (bridge)",
        f"leak: cgroup {objects.cgroup}",
        f"leak: iptables iptables -t filter :{objects.chain} -",
        f"leak: nft table inet {objects.nft_table}",
        f"leak: state {objects.state}",
        f"leak: process {sleeper} sleep {objects.sleep_seconds}",
    ):
        assert line in text, f"{line!r} not in the inner run's output:\n{text}"
    contained = [line for line in text.splitlines() if line.endswith(f" sleep {objects.contained_seconds}")]
    assert len(contained) == 1 and contained[0].startswith("leak: process "), text


@pytest.mark.spec("HARNESS-LEAK-003", "HARNESS-LEAK-008")
def test_a_session_that_cleans_up_passes(inner, objects):
    inner.tests("test_clean.py", objects.test_source(clean_up=True))
    inner.tests("test_more.py", "def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    # Also match the xdist workers' command line: they must not count as leaks.
    result = inner.run("-p", "xdist", "-n", "2", rf"--leak-check-match={objects.match}|exec\(eval",
                       leak_check=True)
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    assert "leak:" not in output_of(result)


@pytest.mark.spec("HARNESS-LEAK-009")
def test_no_leak_check_turns_it_off(inner, objects):
    inner.tests("test_leaky.py", f"""\
        import subprocess
        from pathlib import Path

        def test_leaves_a_process():
            sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
            Path("{objects.pid_file}").write_text(str(sleeper.pid))
    """)
    result = inner.run()  # the default of inner.run() is --no-leak-check
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    assert "leak:" not in output_of(result)
    os.kill(int(objects.pid_file.read_text()), 0)  # it did leak, and nobody said so


@pytest.mark.spec("HARNESS-LEAK-010")
def test_a_snapshot_is_fast():
    host = testinfra.get_host("local://")
    started = time.monotonic()
    before = snapshot(host)
    after = snapshot(host)
    assert time.monotonic() - started < 2.0
    assert set(before) == {"mount", "cgroup", "link", "netns", "iptables", "nft", "state"}
    assert before["mount"] and before["link"]
    del after


@pytest.mark.spec("HARNESS-LEAK-006")
def test_iptables_counters_and_fresh_tables_are_no_change():
    before = parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [1:2]\n-A INPUT -j X\nCOMMIT\n", "iptables")
    after = parse_iptables_save(
        "# Generated at 12:00\n*filter\n:INPUT ACCEPT [9:99]\n:FORWARD DROP [5:500]\n-A INPUT -j X\nCOMMIT\n"
        "*nat\n:PREROUTING ACCEPT [3:4]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n", "iptables")
    assert compare({"iptables": before}, {"iptables": after}) == []
    changed = parse_iptables_save("*filter\n:FORWARD ACCEPT [0:0]\n:X - [0:0]\n-A INPUT -j X\n-A INPUT -j X\nCOMMIT\n",
                                  "iptables")
    assert [str(leak) for leak in compare({"iptables": before}, {"iptables": changed})] == [
        "leak: iptables iptables -t filter -A INPUT -j X",
        "leak: iptables iptables -t filter :X -",
    ]


@pytest.mark.spec("HARNESS-LEAK-007")
def test_nft_reports_the_top_of_what_is_new():
    before = parse_nft_ruleset("table inet a {\n\tchain c {\n\t\tcounter packets 1 bytes 2\n\t}\n}\n")
    after = parse_nft_ruleset(
        "table inet a {\n\tchain c {\n\t\tcounter packets 7 bytes 9\n\t\tip daddr 10.0.0.1 drop\n\t}\n}\n"
        "table ip filter {\n\tchain INPUT {\n\t\tjump X\n\t}\n}\ntable ip6 nat {\n}\n"
        "table inet new {\n\tchain d {\n\t\tdrop\n\t}\n}\n")
    assert [str(leak) for leak in compare({"nft": before}, {"nft": after})] == [
        "leak: nft table inet a / chain c / ip daddr 10.0.0.1 drop",
        "leak: nft table inet new",
    ]


@pytest.mark.spec("HARNESS-LEAK-005")
def test_a_new_cgroup_is_ours_unless_all_its_processes_are_someone_elses(tmp_path):
    empty = tmp_path / "empty"
    (empty / "child").mkdir(parents=True)
    (empty / "cgroup.procs").write_text("")
    (empty / "child" / "cgroup.procs").write_text("")
    assert not is_someone_elses_cgroup(str(empty), our_processes=set())
    theirs = tmp_path / "theirs"
    (theirs / "child").mkdir(parents=True)
    (theirs / "cgroup.procs").write_text("")
    (theirs / "child" / "cgroup.procs").write_text("101\n102\n")
    assert is_someone_elses_cgroup(str(theirs), our_processes={7})
    assert not is_someone_elses_cgroup(str(theirs), our_processes={102})


@pytest.mark.spec("HARNESS-LEAK-012", "HARNESS-LEAK-005", "HARNESS-LEAK-011")
def test_what_another_daemon_keeps_is_not_a_leak_while_it_is_empty(tmp_path):
    """dockerd's `docker` parent groups and a running containerd's folders, as the suite
    against real Docker leaves them (seen with dockerd 20.10 here); a container's leftovers
    in them still count."""
    cgroups, containerd = tmp_path / "cgroup", tmp_path / "containerd"
    for group in ("cpu/docker", "unified/docker", "docker", "memory/docker/0123abcd", "pids/docker",
                  "cpu/minidock-runtime/docker", "cpu/dockerd"):
        (cgroups / group).mkdir(parents=True)
        (cgroups / group / "cgroup.procs").write_text("")
    (cgroups / "pids/docker/cgroup.procs").write_text("4242\n")  # a container's process
    task = containerd / "io.containerd.runtime.v2.task/moby"
    (task / "0123abcd").mkdir(parents=True)
    (task / "0123abcd/config.json").write_text("{}")
    (containerd / "s").mkdir()
    (containerd / "s/5e1f").write_text("")  # a shim's socket, as a file
    (containerd / "runc/moby").mkdir(parents=True)

    def kept(kind: str, path: Path, running: bool = True) -> bool:
        return is_kept_by_a_daemon(Leak(kind, str(path)), running, cgroup_root=cgroups, containerd_root=containerd)

    # the empty parent group at the top of a v1 hierarchy, of the hybrid's unified one, of v2
    assert kept("cgroup", cgroups / "cpu/docker")
    assert kept("cgroup", cgroups / "unified/docker")
    assert kept("cgroup", cgroups / "docker")
    # a container's group, the parent that holds it, one with a process, other names and places
    assert not kept("cgroup", cgroups / "memory/docker/0123abcd")
    assert not kept("cgroup", cgroups / "memory/docker")
    assert not kept("cgroup", cgroups / "pids/docker")
    assert not kept("cgroup", cgroups / "cpu/minidock-runtime/docker")
    assert not kept("cgroup", cgroups / "cpu/dockerd")
    # containerd's empty folders, when it was running before the session ...
    assert kept("state", containerd / "runc/moby")
    assert kept("state", containerd / "runc")  # holds only the empty namespace folder
    # ... and not when the session made its root (a private containerd that left them)
    assert not kept("state", containerd / "runc/moby", running=False)
    # a task's folder with its files, a socket, another runtime's root
    assert not kept("state", task / "0123abcd")
    assert not kept("state", task / "0123abcd/config.json")
    assert not kept("state", containerd / "s/5e1f")
    assert not kept("state", task)
    other = tmp_path / "runc/abc"
    other.mkdir(parents=True)
    assert not kept("state", other)
    # dockerd's bind of the host's network namespace, and no other namespace
    assert kept("mount", Path("/run/docker/netns/default (nsfs)"))
    assert not kept("mount", Path("/run/docker/netns/0123abcd (nsfs)"))
    assert not kept("mount", Path("/run/netns/default (nsfs)"))  # `ip netns add default`
