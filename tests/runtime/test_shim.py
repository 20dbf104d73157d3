"""Conformance of a shim's use of the runtime: `create --pid-file`, `--console-socket`,
`exec --process --detach`, linux.cgroupsPath, and podman (conmon) driving minidock-runtime
as it drives runc."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runtime.conftest import RUNTIME, cgroup_dirs_named

ROOT_DIR = Path(__file__).resolve().parents[2]


def _mini_shim(root: Path, bundle, mode: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.runtime.mini_shim", str(root), str(bundle.path),
                             bundle.id, mode], capture_output=True, text=True, timeout=90, cwd=ROOT_DIR)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _leaves_nothing(bundle, root: Path) -> None:
    assert cgroup_dirs_named(bundle.id) == []
    assert not (root / bundle.id).exists()
    assert bundle.id not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.spec("RT-SHIM-001", "RT-SHIM-002")
def test_create_with_a_pid_file_leaves_init_to_the_caller(bundle, tmp_path):
    bundle.config["process"]["args"] = ["sh", "-c", "echo out of $(hostname); echo on stderr >&2; exit 3"]
    bundle.write()
    report = _mini_shim(tmp_path / "state", bundle, "plain")
    # init is the caller's child, with the caller's pipe as stdout; nothing of ours in between
    assert report["runtime_left"] == []
    assert report["created"]["status"] == "created" and report["created"]["pid"] == report["pid"]
    assert report["created"]["monitor_pid"] == 0
    assert report["output"] == "out of minidock\n"
    assert report["exit"] == 3  # from the caller's own waitpid
    assert report["stopped"]["status"] == "stopped"
    assert report["after_delete"] == [f"{bundle.id}.pid"]
    _leaves_nothing(bundle, tmp_path / "state")


@pytest.mark.spec("RT-SHIM-003")
def test_the_terminal_master_goes_to_the_console_socket(bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["args"] = ["sh", "-c", "tty; [ -t 0 ] && echo stdin is a terminal"]
    bundle.write()
    report = _mini_shim(tmp_path / "state", bundle, "tty")
    assert report["console_message"] == "/dev/ptmx"
    assert report["create_output_ended"]  # init let go of create's stdout for its terminal
    assert report["output"].replace("\r\n", "\n") == "/dev/pts/0\nstdin is a terminal\n"
    assert report["exit"] == 0
    _leaves_nothing(bundle, tmp_path / "state")


@pytest.mark.spec("RT-SHIM-004")
def test_exec_with_a_process_file_detaches_and_leaves_the_process_to_the_caller(bundle, tmp_path):
    bundle.config["process"]["args"] = ["sleep", "30"]
    bundle.config["hostname"] = "shimmed"
    bundle.write()
    report = _mini_shim(tmp_path / "state", bundle, "exec")
    assert report["started"]["status"] == "running"
    assert report["exec_output"] == "exec says shimmed\n"
    assert report["exec_exit"] == 7  # waited for by the caller, not by the runtime
    assert report["exit"] == -9      # `kill ID KILL`
    _leaves_nothing(bundle, tmp_path / "state")


def _runtime(root: Path, *args: str, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
             **options) -> subprocess.CompletedProcess:
    """minidock-runtime. A shim's create gives init our stdio: a test that does not read
    the container's output says DEVNULL, or reading would wait for the container's end."""
    return subprocess.run([*RUNTIME, "--root", str(root), *args], stdout=stdout, stderr=stderr,
                          text=True, timeout=30, **options)


@contextlib.contextmanager
def _container(root: Path, bundle, *program: str, shim: bool = False):
    """A created container (a shim's, with a pid file, if ``shim``); deleted after, checked gone."""
    bundle.config["process"]["args"] = list(program)
    bundle.write()
    pid_file = ["--pid-file", str(root.parent / "pid")] if shim else []
    created = _runtime(root, "create", "--bundle", str(bundle.path), *pid_file, bundle.id,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert created.returncode == 0
    try:
        yield json.loads(_runtime(root, "state", bundle.id).stdout)["pid"]
    finally:
        assert _runtime(root, "delete", "--force", bundle.id).returncode == 0
    _leaves_nothing(bundle, root)


@pytest.mark.spec("RT-SHIM-005")
def test_a_shims_bad_input_is_refused_and_leaves_nothing(bundle, tmp_path):
    root = tmp_path / "state"
    create = ["create", "--bundle", str(bundle.path), "--pid-file", str(tmp_path / "pid")]
    bundle.config["process"]["terminal"] = True
    bundle.write()
    result = _runtime(root, *create, bundle.id, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert "cannot allocate tty if runc will detach without setting console socket" in result.stderr
    result = _runtime(root, *create, "--console-socket", str(tmp_path / "nobody-listens"), bundle.id)
    assert result.returncode == 1 and "cannot connect to the console socket" in result.stderr
    bundle.config["process"]["terminal"] = False
    bundle.write()
    result = _runtime(root, *create, "--console-socket", str(tmp_path / "nobody-listens"), bundle.id)
    assert result.returncode == 1 and "cannot use console socket" in result.stderr
    # a pid file that cannot be written: init was ready, and is killed and reaped again
    result = _runtime(root, "create", "--bundle", str(bundle.path), "--pid-file",
                      str(tmp_path / "no-such-dir" / "pid"), bundle.id, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "cannot write the pid file" in result.stderr, result.stderr
    assert not (tmp_path / "pid").exists()
    _leaves_nothing(bundle, root)
    assert subprocess.run(["pgrep", "-f", bundle.id], capture_output=True).stdout == b""


@pytest.mark.spec("RT-SHIM-005")
def test_exec_refuses_a_bad_process_file(bundle, tmp_path):
    root = tmp_path / "state"
    with _container(root, bundle, "sleep", "30", shim=True) as init:
        assert _runtime(root, "start", bundle.id).returncode == 0
        bad = tmp_path / "process.json"
        for text, said in [("{not json", "invalid JSON"), ("[]", "must be a JSON object"),
                           ('{"args": []}', "'process.args' must be a non-empty list"),
                           ('{"args": ["true"], "cwd": "relative"}', "'process.cwd' must be absolute")]:
            bad.write_text(text)
            result = _runtime(root, "exec", "--process", str(bad), "--detach", bundle.id)
            assert result.returncode == 1 and f"--process {bad}: " in result.stderr and said in result.stderr, \
                (text, result.stderr)
        result = _runtime(root, "exec", "--process", str(tmp_path / "missing.json"), bundle.id)
        assert result.returncode == 1 and "No such file" in result.stderr
        result = _runtime(root, "exec", "--process", str(bad), bundle.id, "true")
        assert result.returncode == 1 and "not both" in result.stderr
        bad.write_text('{"args": ["tty"], "terminal": true, "cwd": "/"}')
        result = _runtime(root, "exec", "--process", str(bad), "--detach", bundle.id)
        assert result.returncode == 1 and "cannot allocate tty if runc will detach" in result.stderr
        result = _runtime(root, "exec", "--process", str(bad), "--detach", "--console-socket",
                          str(tmp_path / "nobody-listens"), bundle.id)
        assert result.returncode == 1 and "cannot connect to the console socket" in result.stderr
        # in the foreground too, --pid-file names the program (its host pid, not init's)
        exec_pid = tmp_path / "exec.pid"
        result = _runtime(root, "exec", "--pid-file", str(exec_pid), bundle.id, "true")
        assert result.returncode == 0, result.stderr
        assert int(exec_pid.read_text()) not in (0, init)
        # the container is untouched by all of it
        assert json.loads(_runtime(root, "state", bundle.id).stdout)["status"] == "running"


@pytest.mark.spec("RT-SHIM-002")
def test_start_after_init_died_says_so(bundle, tmp_path):
    root = tmp_path / "state"
    with _container(root, bundle, "true", shim=True) as pid:
        os.kill(pid, 9)
        for _ in range(200):  # until pid 1 (not a subreaper of ours) has reaped it
            if json.loads(_runtime(root, "state", bundle.id).stdout)["status"] == "stopped":
                break
        result = _runtime(root, "start", bundle.id)
        assert result.returncode == 1 and "cannot start a container that has stopped" in result.stderr


@pytest.mark.spec("RT-SHIM-007")
def test_errors_go_to_the_log_in_runcs_formats_and_systemd_cgroups_are_refused(bundle, tmp_path):
    root, log = tmp_path / "state", tmp_path / "log.json"
    result = _runtime(root, "--log", str(log), "--log-format", "json", "start", "no-such-container")
    assert result.returncode == 1 and "container does not exist: no-such-container" in result.stderr
    entry = json.loads(log.read_text())
    assert (entry["level"], entry["msg"]) == ("error", "container does not exist: no-such-container")
    assert entry["time"].endswith("Z")
    text_log = tmp_path / "log.txt"
    _runtime(root, "--log", str(text_log), "delete", "no-such-container")
    assert text_log.read_text().endswith('level=error msg="container does not exist: no-such-container"\n')
    result = _runtime(root, "--systemd-cgroup", "create", "--bundle", str(bundle.path), "--pid-file",
                      str(tmp_path / "pid"), bundle.id)
    assert result.returncode == 1 and "--systemd-cgroup is not supported" in result.stderr
    _leaves_nothing(bundle, root)


@pytest.mark.spec("RT-VERB-004")
def test_kill_all_signals_every_process_in_the_container(bundle, tmp_path):
    root = tmp_path / "state"

    def processes() -> dict[int, str]:
        found = {}
        for pid in json.loads(_runtime(root, "ps", "--format", "json", bundle.id).stdout):
            try:
                found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:  # a short sleep gone meanwhile
                pass
        return found

    program = "trap 'echo caught' TERM; sleep 60 & sleep 61 & while :; do sleep 0.2; done"
    with _container(root, bundle, "sh", "-c", program) as init:
        assert _runtime(root, "start", bundle.id).returncode == 0
        for _ in range(100):
            sleeps = [pid for pid, line in processes().items() if line in ("sleep 60", "sleep 61")]
            if len(sleeps) == 2:
                break
        assert len(sleeps) == 2
        assert _runtime(root, "kill", "--all", bundle.id, "TERM").returncode == 0
        for _ in range(100):  # the sleeps die of TERM; the shell, which traps it, goes on
            left = processes()
            if not set(sleeps) & set(left):
                break
        assert not set(sleeps) & set(left) and init in left
        assert json.loads(_runtime(root, "state", bundle.id).stdout)["status"] == "running"


@pytest.mark.spec("RT-CFG-007")
def test_linux_cgroups_path_places_the_group(bundle, tmp_path):
    root = tmp_path / "state"
    parent = f"mdtest-{bundle.id}"
    bundle.config["linux"]["cgroupsPath"] = f"/{parent}/leaf"
    with _container(root, bundle, "sleep", "30") as pid:
        groups = cgroup_dirs_named(f"{parent}/leaf")
        assert groups, "no group at the config's cgroupsPath"
        assert all(str(pid) in Path(group, "cgroup.procs").read_text().split() for group in groups)
    assert cgroup_dirs_named(parent) == []
    for bad in ("/up/../../escape", "system.slice:docker:abc"):
        bundle.config["linux"]["cgroupsPath"] = bad
        bundle.write()
        result = _runtime(root, "create", "--bundle", str(bundle.path), bundle.id)
        assert result.returncode == 1 and "'linux.cgroupsPath'" in result.stderr and "not a cgroup path" in result.stderr
        assert not (root / bundle.id).exists()


def _shim_runtimes() -> list:
    runc = pytest.param("runc", marks=pytest.mark.skipif(not shutil.which("runc"), reason="runc not installed"))
    return ["minidock-runtime", runc]


def _runtime_binary(name: str) -> str:
    return str(ROOT_DIR / ".venv" / "bin" / "minidock-runtime") if name == "minidock-runtime" else shutil.which("runc")


def _busybox_archive(tmp_path: Path) -> Path:
    """busybox:latest as a docker-save archive, for an engine to load: the image minidock runs."""
    archive = tmp_path / "busybox.tar"
    subprocess.run([sys.executable, "-m", "minidock.cli.main", "image", "bootstrap", "busybox",
                    "--output", str(archive)], check=True, capture_output=True, cwd=ROOT_DIR)
    return archive


@pytest.mark.spec("RT-SHIM-006")
@pytest.mark.skipif(not shutil.which("podman"), reason="podman not installed (make setup installs it)")
@pytest.mark.parametrize("runtime_name", _shim_runtimes())
def test_podman_runs_containers_through_the_runtime(runtime_name, tmp_path):
    from bench.container_run import Podman

    archive = _busybox_archive(tmp_path)
    podman = Podman(lambda: archive)
    runtime = _runtime_binary(runtime_name)
    podman.prepare()
    try:
        def call(*args: str, check: bool = True) -> subprocess.CompletedProcess:
            result = subprocess.run([*podman.prefix(), *args], capture_output=True, text=True, timeout=60)
            assert not check or result.returncode == 0, (args, result.stderr)
            return result

        flags = ["--network", "none", "--runtime", runtime, "--cgroup-parent", f"/{podman.cgroup_parent}",
                 "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
        ran = call("run", "--rm", *flags, "busybox", "sh", "-c", "echo hello from $(hostname); exit 3", check=False)
        assert ran.returncode == 3 and ran.stdout.startswith("hello from "), ran.stderr
        assert call("run", "--rm", "-t", *flags, "busybox", "tty").stdout.strip() == "/dev/pts/0"
        piped = subprocess.run([*podman.prefix(), "run", "--rm", "-i", *flags, "busybox", "cat"],
                               input="through stdin\n", capture_output=True, text=True, timeout=60)
        assert piped.stdout == "through stdin\n", piped.stderr
        if shutil.which("catatonit"):  # --init: podman mounts catatonit at /run/podman-init, PID 1
            init = call("run", "--rm", "--init", *flags, "busybox", "sh", "-c", "cat /proc/1/cmdline; exit 4",
                        check=False)
            assert init.returncode == 4 and init.stdout.startswith("/run/podman-init\0--\0sh"), init.stderr
        read_only = call("run", "--rm", "--read-only", *flags, "busybox", "sh", "-c",
                         "touch /tmp/y && echo tmp writable; touch /x 2>/dev/null || echo root read-only")
        assert read_only.stdout == "tmp writable\nroot read-only\n"  # /tmp: a tmpfs with tmpcopyup
        privileged = call("run", "--rm", "--privileged", *flags, "busybox", "sh", "-c",
                          "readlink /dev/ptmx; grep CapEff /proc/self/status")
        link, _, effective = privileged.stdout.split()
        assert link == "pts/ptmx" and int(effective, 16) & 1 << 21  # CAP_SYS_ADMIN, which no default keeps
        call("run", "-d", "--name", "kept", "--memory", "64m", *flags, "busybox", "sleep", "100")
        executed = call("exec", "kept", "sh", "-c", "echo exec ok; exit 5", check=False)
        assert (executed.returncode, executed.stdout) == (5, "exec ok\n"), executed.stderr
        assert call("exec", "-t", "kept", "tty").stdout.strip() == "/dev/pts/0"
        limits = cgroup_dirs_named(f"{podman.cgroup_parent}/libpod-")
        memory = [group for group in limits if "/memory/" in group or Path(group, "memory.max").exists()]
        assert memory, limits  # the container's group is where its config's cgroupsPath says
        limit = Path(memory[0], "memory.limit_in_bytes" if "/memory/" in memory[0] else "memory.max")
        assert limit.read_text().strip() == str(64 * 1024 * 1024)
        # podman reads the usage in the group at the config's cgroupsPath (and fails if there is none)
        name, usage, _, _ = call("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "kept").stdout.split()
        assert name == "kept" and usage[0].isdigit() and not usage.startswith("0B"), usage
        call("update", "--memory", "96m", "kept")  # `update --resources FILE ID` (RT-VERB-008)
        assert limit.read_text().strip() == str(96 * 1024 * 1024)
        call("pause", "kept")
        assert "Paused" in call("ps", "-a").stdout
        call("unpause", "kept")
        call("stop", "--time", "1", "kept")
        assert "Exited (137)" in call("ps", "-a").stdout  # sleep ignores TERM as PID 1: KILL after 1 s
        call("rm", "kept")
    finally:
        podman.finish()  # raises naming anything left: containers, cgroups, mounts
    assert cgroup_dirs_named(podman.cgroup_parent) == []


@pytest.mark.spec("RT-SHIM-008")
def test_run_detach_starts_and_leaves_the_container_as_runc_run_d(bundle, tmp_path):
    root, pid_file = tmp_path / "state", tmp_path / "pid"
    bundle.config["process"]["args"] = ["sh", "-c", "echo started > /tmp/mark; sleep 30"]
    bundle.write()
    result = _runtime(root, "run", "-d", "--bundle", str(bundle.path), "--pid-file", str(pid_file), bundle.id,
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert result.returncode == 0
    try:
        current = json.loads(_runtime(root, "state", bundle.id).stdout)
        assert (current["status"], current["pid"], current["monitor_pid"]) == ("running", int(pid_file.read_text()), 0)
        for _ in range(100):
            if (bundle.path / "rootfs" / "tmp" / "mark").exists():
                break
            time.sleep(0.05)
        assert (bundle.path / "rootfs" / "tmp" / "mark").read_text() == "started\n"
    finally:
        assert _runtime(root, "delete", "--force", bundle.id).returncode == 0
    _leaves_nothing(bundle, root)
    result = _runtime(root, "run", "--pid-file", str(pid_file), "--bundle", str(bundle.path), bundle.id)
    assert result.returncode == 1 and "go with --detach" in result.stderr
    assert not (root / bundle.id).exists()


@pytest.mark.spec("RT-SHIM-009")
@pytest.mark.skipif(not shutil.which("containerd"), reason="containerd not installed (make setup installs it)")
@pytest.mark.parametrize("runtime_name", _shim_runtimes())
def test_containerd_runs_containers_through_the_runtime(runtime_name, tmp_path):
    from bench.containerd import IMAGE, PrivateContainerd

    archive = _busybox_archive(tmp_path)
    runtime = _runtime_binary(runtime_name)
    containerd = PrivateContainerd(lambda: archive)
    containerd.start()
    try:
        def ctr(*args: str, terminal: bool = False) -> subprocess.CompletedProcess:
            line = [*containerd.prefix(), *args]
            if terminal:  # ctr -t wants a terminal of its own: script(1) gives it one
                line = ["script", "--quiet", "--return", "--command", " ".join(line), "/dev/null"]
            return subprocess.run(line, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

        flags = ["--runc-binary", runtime]
        ran = ctr("run", "--rm", *flags, IMAGE, "c1", "sh", "-c", "echo hello; exit 3")
        assert (ran.returncode, ran.stdout) == (3, "hello\n"), ran.stderr
        # a terminal: the master goes to the shim's console socket, and `create` must not keep
        # the pipe the shim reads its output from (it waits for end-of-file)
        tty = ctr("run", "--rm", "-t", *flags, IMAGE, "c2", "sh", "-c", "'tty; exit 4'", terminal=True)
        assert tty.returncode == 4 and "/dev/pts/0" in tty.stdout, (tty.stdout, tty.stderr)
        assert ctr("run", "-d", *flags, "--memory-limit", str(64 * 2**20), IMAGE, "k", "sleep", "100").returncode == 0
        # (the process outlives its `exec` a moment: with one that ends at once, ctr loses a stream
        # now and then on a busy machine, with runc as with minidock-runtime: chapter 03)
        executed = ctr("task", "exec", "--exec-id", "e1", "k", "sh", "-c", "echo exec ok; sleep 0.3; exit 5")
        assert (executed.returncode, executed.stdout) == (5, "exec ok\n"), executed.stderr
        exec_tty = ctr("task", "exec", "-t", "--exec-id", "e2", "k", "tty", terminal=True)
        assert "/dev/pts/" in exec_tty.stdout, (exec_tty.stdout, exec_tty.stderr)
        metrics = ctr("task", "metrics", "k").stdout  # the shim reads the group the config names
        assert str(64 * 2**20) in metrics.split(), metrics
        ctr("task", "pause", "k")
        assert "PAUSED" in ctr("task", "list").stdout
        ctr("task", "resume", "k")
        ctr("task", "kill", "--signal", "KILL", "k")
        for _ in range(100):
            if "STOPPED" in ctr("task", "list").stdout:
                break
            time.sleep(0.05)
        assert ctr("task", "delete", "k").returncode == 0
        assert ctr("container", "delete", "k").returncode == 0
        # (the shim deletes once more as it cleans up, with --force, which must succeed on a container
        # that is gone: test_lifecycle checks that. Its log is no judge: with any runtime slower than
        # ~0.3 s there, runc behind a delay too, the shim reports "exit status 255" for an exit of 0.)
    finally:
        containerd.stop()  # raises naming anything left: shims, cgroups, mounts
