"""Conformance of the life-cycle verbs: create, start, state, kill, delete, list, ps, exec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.runtime.conftest import RUNTIME, cgroup_dirs_named


class Runtime:
    """minidock-runtime with a private --root, deleting what a test leaves."""

    def __init__(self, root, bundle) -> None:
        self.root = str(root)
        self.bundle = bundle

    def __call__(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        result = subprocess.run([*RUNTIME, "--root", self.root, *args], capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
        return result

    def create(self, *program: str) -> dict:
        self.bundle.config["process"]["args"] = list(program)
        self.bundle.write()
        self("create", "--bundle", str(self.bundle.path), self.bundle.id)
        return self.state()

    def state(self) -> dict:
        return json.loads(self("state", self.bundle.id).stdout)

    def wait_for(self, status: str, seconds: float = 10) -> dict:
        """Poll `state` until ``status``; for "stopped", also until the monitor has recorded the exit.

        `state` says stopped as soon as init is a zombie, a moment before its monitor reaps
        it and writes exit_code: a test that reads exit_code waits for that too (unless
        the monitor itself is gone, when nobody will write it).
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            current = self.state()
            monitor = current.get("monitor_pid") or 0
            recorded = current.get("exit_code") is not None or not (monitor and os.path.exists(f"/proc/{monitor}"))
            if current["status"] == status and (status != "stopped" or recorded):
                return current
            time.sleep(0.05)
        raise AssertionError(f"never {status}: {current}")


@pytest.fixture
def runtime(tmp_path, bundle):
    rt = Runtime(tmp_path / "state", bundle)
    yield rt
    rt("delete", "--force", bundle.id, check=False)


def _marker(bundle) -> str:
    return str(bundle.path / "rootfs" / "tmp" / "started")


@pytest.mark.spec("RT-VERB-001", "RT-STATE-002")
def test_create_waits_for_start(runtime, bundle):
    state = runtime.create("sh", "-c", "echo yes > /tmp/started; sleep 30")
    assert state["status"] == "created" and state["id"] == bundle.id
    assert os.path.exists(f"/proc/{state['pid']}")
    time.sleep(0.3)
    assert not os.path.exists(_marker(bundle))  # the program has not run


@pytest.mark.spec("RT-VERB-002", "RT-STATE-001")
def test_start_runs_the_program_once(runtime, bundle):
    runtime.create("sh", "-c", "echo yes > /tmp/started; sleep 30")
    runtime("start", bundle.id)
    assert runtime.state()["status"] == "running"
    for _ in range(100):
        if os.path.exists(_marker(bundle)):
            break
        time.sleep(0.05)
    assert open(_marker(bundle)).read() == "yes\n"
    again = runtime("start", bundle.id, check=False)
    assert again.returncode == 1
    assert "cannot start an already running container" in again.stderr


@pytest.mark.spec("RT-STATE-001", "RT-STATE-003", "RT-MON-002")
def test_a_finished_container_is_stopped_with_its_exit_code(runtime, bundle):
    runtime.create("sh", "-c", "exit 3")
    runtime("start", bundle.id)
    state = runtime.wait_for("stopped")
    assert state["exit_code"] == 3
    again = runtime("start", bundle.id, check=False)
    assert "cannot start a container that has stopped" in again.stderr


@pytest.mark.spec("RT-VERB-004")
def test_kill_signals_init(runtime, bundle):
    runtime.create("sleep", "30")
    runtime("start", bundle.id)
    bad = runtime("kill", bundle.id, "NOSUCHSIG", check=False)
    assert bad.returncode == 1 and "unknown signal 'NOSUCHSIG'" in bad.stderr
    runtime("kill", bundle.id, "KILL")
    state = runtime.wait_for("stopped")
    assert state["exit_code"] == 137
    late = runtime("kill", bundle.id, check=False)
    assert late.returncode == 1 and "container not running" in late.stderr


@pytest.mark.spec("RT-VERB-005", "RT-STATE-004")
def test_delete_needs_stopped_or_force(runtime, bundle):
    state = runtime.create("sleep", "30")
    runtime("start", bundle.id)
    refused = runtime("delete", bundle.id, check=False)
    assert refused.returncode == 1
    assert f"cannot delete container {bundle.id} that is not stopped: running" in refused.stderr
    runtime("delete", "--force", bundle.id)
    assert not os.path.exists(f"/proc/{state['pid']}") or \
        open(f"/proc/{state['pid']}/stat").read().split(")")[1].split()[0] == "Z"
    assert cgroup_dirs_named(bundle.id) == []
    assert not os.path.exists(os.path.join(runtime.root, bundle.id))
    missing = runtime("state", bundle.id, check=False)
    assert missing.returncode == 1 and f"container does not exist: {bundle.id}" in missing.stderr
    # gone already: plain delete says so; --force succeeds, as runc's (a shim's cleanup deletes twice)
    again = runtime("delete", bundle.id, check=False)
    assert again.returncode == 1 and f"container does not exist: {bundle.id}" in again.stderr
    runtime("delete", "--force", bundle.id)
    os.makedirs(os.path.join(runtime.root, "half-made"))  # a create that died before its state.json
    runtime("delete", "--force", "half-made")
    assert not os.path.exists(os.path.join(runtime.root, "half-made"))
    escape = runtime("delete", "--force", "../outside", check=False)
    assert escape.returncode == 1 and "invalid container id" in escape.stderr


@pytest.mark.spec("RT-VERB-006")
def test_list_and_ps(runtime, bundle):
    state = runtime.create("sh", "-c", "sleep 30 & sleep 30")
    runtime("start", bundle.id)
    time.sleep(0.3)
    listed = json.loads(runtime("list", "--format", "json").stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(bundle.id, "running")]
    pids = json.loads(runtime("ps", "--format", "json", bundle.id).stdout)
    assert state["pid"] in pids and len(pids) == 2
    assert bundle.id in runtime("list").stdout
    # the table is ps(1)'s, as runc's: -ef by default, or the options after the id; only our lines
    header, *lines = runtime("ps", bundle.id).stdout.splitlines()
    assert header.split()[:3] == ["UID", "PID", "PPID"] and len(lines) == 2
    assert sorted(int(line.split()[1]) for line in lines) == sorted(pids)
    header, *lines = runtime("ps", bundle.id, "-o", "pid,comm").stdout.splitlines()
    assert header.split() == ["PID", "COMMAND"]
    assert sorted((int(pid), comm) for pid, comm in map(str.split, lines)) == [(pid, "sleep") for pid in pids]
    no_pid = runtime("ps", bundle.id, "-o", "comm", check=False)
    assert no_pid.returncode == 1 and "no PID column" in no_pid.stderr
    bad = runtime("ps", bundle.id, "--no-such-option", check=False)
    assert bad.returncode == 1 and "ps --no-such-option: error" in bad.stderr


@pytest.mark.spec("RT-EXEC-001", "NS-JOIN-001")
def test_exec_joins_the_namespaces(runtime, bundle):
    bundle.config["hostname"] = "exec-target"
    runtime.create("sleep", "30")
    runtime("start", bundle.id)
    result = runtime("exec", "--env", "EXTRA=1", bundle.id, "sh", "-c",
                     'hostname; echo "$EXTRA"; cat /proc/1/cmdline | tr "\\0" " "; echo; echo /*; exit 5',
                     check=False)
    assert result.returncode == 5, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "exec-target" and lines[1] == "1"
    assert lines[2].strip() == "sleep 30"  # PID 1 is the container's init
    assert "/bin" in lines[3] and "/home" in lines[3]


@pytest.mark.spec("RT-EXEC-002", "RT-EXEC-003")
def test_exec_needs_a_running_container_and_a_real_program(runtime, bundle):
    runtime.create("sleep", "30")
    early = runtime("exec", bundle.id, "true", check=False)
    assert early.returncode == 1 and "not running" in early.stderr
    runtime("start", bundle.id)
    missing = runtime("exec", bundle.id, "no-such-program", check=False)
    assert missing.returncode == 127 and "no-such-program" in missing.stderr


@pytest.mark.spec("RT-EXEC-005")
def test_exec_takes_runcs_process_flags(runtime, bundle):
    runtime.create("sleep", "30")
    runtime("start", bundle.id)
    probe = ["sh", "-c", "id -G; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -d ' \\t'"]
    plain = runtime("exec", bundle.id, *probe).stdout.split()
    flagged = runtime("exec", "-g", "5", "--additional-gids", "27", "--cap", "net_admin", "--no-new-privs",
                      bundle.id, *probe).stdout.split()
    assert plain[0] == "0" and flagged[:3] == ["0", "5", "27"]
    assert int(flagged[3].split(":")[1], 16) == int(plain[1].split(":")[1], 16) | 1 << 12  # CAP_NET_ADMIN
    assert (plain[2], flagged[4]) == ("NoNewPrivs:0", "NoNewPrivs:1")
    unknown = runtime("exec", "--cap", "CAP_BOGUS", bundle.id, "true", check=False)
    assert unknown.returncode == 1 and "--cap: unknown capability: CAP_BOGUS" in unknown.stderr
    bad = runtime("exec", "--preserve-fds", "-1", bundle.id, "true", check=False)
    assert bad.returncode == 2 and "not a non-negative integer" in bad.stderr
    for gid in ("x", "-3"):
        bad_gid = runtime("exec", "-g", gid, bundle.id, "true", check=False)
        assert bad_gid.returncode == 2 and f"--additional-gids/-g: '{gid}' is not a non-negative integer" in bad_gid.stderr
    labelled = runtime("exec", "--apparmor", "docker-default", bundle.id, "true")
    assert "--apparmor ignored" in labelled.stderr


@pytest.mark.spec("RT-MON-001", "RT-MON-003")
def test_the_monitor_keeps_the_output_and_outlives_create(runtime, bundle):
    state = runtime.create("sh", "-c", "echo out; echo err >&2")
    monitor = state["monitor_pid"]
    assert monitor != os.getpid() and os.path.exists(f"/proc/{monitor}")
    runtime("start", bundle.id)
    runtime.wait_for("stopped")
    records = [json.loads(line) for line in open(os.path.join(runtime.root, bundle.id, "container.log"))]
    assert sorted((r["stream"], r["log"]) for r in records) == [("stderr", "err\n"), ("stdout", "out\n")]
    assert all(r["time"].endswith("Z") for r in records)


@pytest.mark.spec("RT-RUN-007", "RT-MON-002")
def test_an_oom_kill_is_137_and_recorded(runtime, bundle):
    # room for init's own start (a fork of the Python monitor, its copied pages charged
    # here) and none for dd's 256 MiB buffer
    limit = 64 * 2**20
    bundle.config["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    runtime.create("dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1")
    runtime("start", bundle.id)
    state = runtime.wait_for("stopped")
    assert state["exit_code"] == 137
    assert state["oom_killed"] is True


def _cgroup_file(container_id: str, v1: tuple[str, str], v2: str) -> str:
    """Read a limit of the container's group from the host side."""
    v1_path = f"/sys/fs/cgroup/{v1[0]}/minidock-runtime/{container_id}/{v1[1]}"
    if os.path.exists(v1_path):
        return open(v1_path).read().strip()
    return open(f"/sys/fs/cgroup/minidock-runtime/{container_id}/{v2}").read().strip()


@pytest.mark.spec("RT-RUN-006")
def test_cpu_limits_are_applied_before_the_program_runs(runtime, bundle):
    bundle.config["linux"]["resources"] = {"cpu": {"quota": 50000, "period": 100000, "cpus": "0"}}
    runtime.create("sleep", "30")
    quota = _cgroup_file(bundle.id, ("cpu", "cpu.cfs_quota_us"), "cpu.max")
    cpus = _cgroup_file(bundle.id, ("cpuset", "cpuset.cpus"), "cpuset.cpus")
    assert quota in ("50000", "50000 100000") and cpus == "0"


@pytest.mark.spec("RT-RUN-006", "RT-CFG-005")
def test_bad_resources_are_refused_before_anything_exists(runtime, bundle):
    bundle.config["linux"]["resources"] = {"cpu": {"quota": "lots"}}
    bundle.write()
    result = runtime("create", "--bundle", str(bundle.path), bundle.id, check=False)
    assert result.returncode == 1 and "linux.resources.cpu.quota" in result.stderr
    assert cgroup_dirs_named(bundle.id) == []
    assert not os.path.exists(os.path.join(runtime.root, bundle.id))


@pytest.mark.spec("NS-JOIN-001", "NS-JOIN-002")
def test_a_second_container_joins_the_first_ones_network_and_ipc(runtime, bundle, busybox_bundle, tmp_path):
    from tests.runtime.conftest import Bundle

    first = runtime.create("sleep", "30")
    runtime("start", bundle.id)
    second = Bundle(busybox_bundle, tmp_path / "second")
    second.config["linux"]["namespaces"] = [
        {"type": t} for t in ("pid", "uts", "mount", "cgroup")] + [
        {"type": "network", "path": f"/proc/{first['pid']}/ns/net"},
        {"type": "ipc", "path": f"/proc/{first['pid']}/ns/ipc"}]
    result = second.run("sh", "-c", "for n in net ipc uts; do readlink /proc/self/ns/$n; done")
    assert result.returncode == 0, result.stderr
    net, ipc, uts = result.stdout.split()
    assert net == os.readlink(f"/proc/{first['pid']}/ns/net")
    assert ipc == os.readlink(f"/proc/{first['pid']}/ns/ipc")
    assert uts != os.readlink(f"/proc/{first['pid']}/ns/uts")
    second.config["linux"]["namespaces"][-1]["path"] = "/proc/999999999/ns/ipc"
    refused = second.run("true")
    assert refused.returncode == 1 and "/proc/999999999/ns/ipc" in refused.stderr


@pytest.mark.spec("NS-JOIN-001")
def test_the_host_pid_namespace_when_pid_is_left_out(bundle):
    bundle.config["linux"]["namespaces"] = [{"type": t} for t in ("uts", "mount", "ipc", "cgroup")]
    result = bundle.run("sh", "-c", "echo $$; readlink /proc/self/ns/pid")
    assert result.returncode == 0, result.stderr
    pid, namespace = result.stdout.split()
    assert pid != "1"
    assert namespace == os.readlink("/proc/self/ns/pid")


@pytest.mark.spec("RT-VERB-007", "RT-STATE-001")
def test_pause_freezes_and_resume_thaws(runtime, bundle):
    # written aside and renamed: a reader never sees the file truncated and still empty
    runtime.create("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/t; mv /tmp/t /tmp/tick; usleep 20000; done")
    runtime("start", bundle.id)
    tick = bundle.path / "rootfs" / "tmp" / "tick"
    time.sleep(0.3)
    runtime("pause", bundle.id)
    assert runtime.state()["status"] == "paused"
    frozen = tick.read_text()
    time.sleep(0.3)
    assert tick.read_text() == frozen  # nothing runs while paused
    again = runtime("pause", bundle.id, check=False)
    assert again.returncode == 1 and "container not running: paused" in again.stderr
    runtime("resume", bundle.id)
    assert runtime.state()["status"] == "running"
    time.sleep(0.3)
    assert tick.read_text() != frozen
    not_paused = runtime("resume", bundle.id, check=False)
    assert not_paused.returncode == 1 and "container not paused: running" in not_paused.stderr
    runtime("pause", bundle.id)
    runtime("delete", "--force", bundle.id)  # a paused container can still be removed
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-MON-003")
def test_a_deep_state_directory_still_reaches_its_monitor(bundle, tmp_path):
    # sun_path holds 107 bytes; this socket's real path is longer than that
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    runtime = Runtime(deep, bundle)
    runtime.create("sh", "-c", "echo yes > /tmp/started")
    try:
        assert len(str(deep / bundle.id / "monitor.sock")) > 107
        runtime("start", bundle.id)
        runtime.wait_for("stopped")
        assert os.path.exists(_marker(bundle))
    finally:
        runtime("delete", "--force", bundle.id, check=False)
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-MON-003")
def test_init_never_runs_the_program_when_its_monitor_dies(runtime, bundle):
    import signal as signals

    state = runtime.create("sh", "-c", "echo yes > /tmp/started")
    os.kill(state["monitor_pid"], signals.SIGKILL)
    for _ in range(100):  # init sees EOF on the start pipe and leaves
        if not os.path.exists(f"/proc/{state['pid']}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{state['pid']}")
    assert not os.path.exists(_marker(bundle))
    assert runtime.state()["status"] == "stopped"


@pytest.mark.spec("RT-MON-004", "RT-MON-003")
def test_a_launcher_that_dies_leaves_nothing_behind(runtime, bundle, tmp_path):
    """The launcher (create's short-lived child) killed mid-start: create fails, nothing stays."""
    # a createRuntime hook runs as the launcher's child: it kills its parent, the launcher
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}]}
    bundle.config["process"]["args"] = ["sleep", "30"]
    bundle.write()
    created = runtime("create", "--bundle", str(bundle.path), bundle.id, check=False)
    assert created.returncode == 1
    assert "the launcher died before the container was created" in created.stderr
    assert not (tmp_path / "state" / bundle.id).exists()
    assert cgroup_dirs_named(bundle.id) == []  # and so no process of it: init was killed with the group


@pytest.mark.spec("RT-STATE-005")
@pytest.mark.parametrize("text", ['{"id": "c", "bundle": "/b", "status": "sleeping"}', "{not json",
                                  '{"id": "c", "bundle": "/b"}', '{"id": "c", "bundle": "/b", "status": "running", "x": 1}',
                                  "[1, 2]"])
def test_a_damaged_state_file_is_said_not_a_traceback(tmp_path, text):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "state.json").write_text(text)
    result = subprocess.run([*RUNTIME, "--root", str(tmp_path), "state", "c"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("minidock-runtime: container c: state.json is damaged: "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.spec("RT-VERB-008")
def test_update_applies_new_limits_and_refuses_bad_ones(runtime, bundle, tmp_path):
    runtime.create("sleep", "30")
    runtime("start", bundle.id)
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}))
    runtime("update", "--resources", str(resources), bundle.id)
    assert _cgroup_file(bundle.id, ("memory", "memory.limit_in_bytes"), "memory.max") == str(64 << 20)
    assert _cgroup_file(bundle.id, ("pids", "pids.max"), "pids.max") == "20"
    # from stdin, as `runc update -r -`: only what it names changes
    piped = subprocess.run([*RUNTIME, "--root", runtime.root, "update", "-r", "-", bundle.id], text=True,
                           input=json.dumps({"pids": {"limit": 30}}), capture_output=True, timeout=30)
    assert piped.returncode == 0, piped.stderr
    assert _cgroup_file(bundle.id, ("pids", "pids.max"), "pids.max") == "30"
    assert _cgroup_file(bundle.id, ("memory", "memory.limit_in_bytes"), "memory.max") == str(64 << 20)
    for text, said in [("{oops", "invalid JSON"), ("[1]", "must be a JSON object"),
                       ('{"memory": {"limit": -5}}', "memory.limit")]:
        resources.write_text(text)
        result = runtime("update", "--resources", str(resources), bundle.id, check=False)
        assert result.returncode == 1 and said in result.stderr, (text, result.stderr)
    result = runtime("update", "--resources", str(tmp_path / "missing.json"), bundle.id, check=False)
    assert result.returncode == 1 and "No such file" in result.stderr
    # nothing of the refused ones was applied
    assert _cgroup_file(bundle.id, ("memory", "memory.limit_in_bytes"), "memory.max") == str(64 << 20)
    runtime("kill", bundle.id, "KILL")
    runtime.wait_for("stopped")
    result = runtime("update", "--resources", str(tmp_path / "missing.json"), bundle.id, check=False)
    assert result.returncode == 1 and "container not running" in result.stderr


def _path(event: dict, *keys: str):
    for key in keys:
        event = event[key]
    return event


@pytest.mark.spec("RT-VERB-009")
def test_events_reports_the_cgroups_counters_in_runcs_shape(runtime, bundle, tmp_path):
    limit = 64 << 20
    bundle.config["linux"]["resources"] = {"memory": {"limit": limit}, "pids": {"limit": 50}}
    # 64 KiB written past the page cache (O_DIRECT), so charged to the container's group
    done = bundle.path / "rootfs" / "done"
    runtime.create("sh", "-c", "dd if=/dev/zero of=/io bs=4096 count=16 oflag=direct 2>/dev/null; : > /done;"
                   " exec sleep 30")  # ': >' is the shell's own: no process but the shell's, then sleep
    runtime("start", bundle.id)
    for _ in range(100):
        if done.exists():
            break
        time.sleep(0.05)
    event = json.loads(runtime("events", "--stats", bundle.id).stdout)
    assert (event["type"], event["id"]) == ("stats", bundle.id)
    assert _path(event, "data", "memory", "usage", "limit") == limit
    assert _path(event, "data", "memory", "usage", "usage") > 0
    assert _path(event, "data", "pids") == {"current": 1, "limit": 50}
    assert _path(event, "data", "cpu", "usage", "total") > 0
    raw = _path(event, "data", "memory", "raw")
    assert "inactive_file" in raw or "total_inactive_file" in raw, raw  # memory.stat, v2 or v1
    io_device = os.stat(bundle.path).st_dev  # the disk under the bundle, where dd wrote
    writes = [entry for entry in event["data"].get("blkio", {}).get("ioServiceBytesRecursive", [])
              if entry["op"] == "Write" and (entry["major"], entry["minor"]) == (os.major(io_device), os.minor(io_device))]
    if os.path.isdir("/sys/fs/cgroup/blkio"):  # v1's blkio; v2 counts only where io is enabled
        assert writes and writes[0]["value"] >= 16 * 4096, event["data"].get("blkio")
    if shutil.which("runc"):  # runc's own event for the same bundle has these at the same places
        state = str(tmp_path / "runc-state")
        try:
            subprocess.run(["runc", "--root", state, "run", "-d", "--bundle", str(bundle.path), bundle.id + "r"],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)  # init holds what it is given: no pipes
            theirs = json.loads(subprocess.run(["runc", "--root", state, "events", "--stats", bundle.id + "r"],
                                               check=True, capture_output=True, text=True, timeout=30).stdout)
        finally:
            subprocess.run(["runc", "--root", state, "delete", "--force", bundle.id + "r"], capture_output=True)
        assert theirs["type"] == "stats"
        assert _path(theirs, "data", "memory", "usage", "limit") == limit
        assert set(_path(theirs, "data", "memory", "raw")) == set(raw)  # the same memory.stat
        assert _path(theirs, "data", "pids", "limit") == 50
        assert _path(theirs, "data", "cpu", "usage", "total") > 0
    for interval in ("soon", "0s", "0"):
        result = runtime("events", "--interval", interval, bundle.id, check=False)
        assert result.returncode == 1 and f"invalid --interval {interval!r}" in result.stderr
    runtime("kill", bundle.id, "KILL")
    runtime.wait_for("stopped")
    result = runtime("events", "--stats", bundle.id, check=False)
    assert result.returncode == 1 and "container not running" in result.stderr


@pytest.mark.spec("RT-VERB-009")
def test_events_follows_until_the_end_and_says_oom(runtime, bundle):
    limit = 64 * 2**20
    bundle.config["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    runtime.create("sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=256M count=1")
    follower = subprocess.Popen([*RUNTIME, "--root", runtime.root, "events", "--interval", "100ms", bundle.id],
                                stdout=subprocess.PIPE, text=True)
    runtime("start", bundle.id)
    output, _ = follower.communicate(timeout=30)  # it ends by itself once the container has stopped
    kinds = [json.loads(line)["type"] for line in output.splitlines()]
    assert kinds.count("stats") >= 3 and kinds.count("oom") == 1, kinds
