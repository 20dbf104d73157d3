"""Conformance of `minidock-runtime run`: a busybox bundle, observed from inside and outside."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

from tests.runtime.conftest import RUNTIME, cgroup_dirs_named


@pytest.mark.spec("RT-RUN-001")
def test_args_env_cwd_user_and_exit_code(bundle):
    bundle.config["process"]["env"] = ["PATH=/bin", "GREETING=hello"]
    bundle.config["process"]["cwd"] = "/tmp"
    bundle.config["process"]["user"] = {"uid": 65534, "gid": 65534}
    result = bundle.run("sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; exit 7')
    assert result.returncode == 7, result.stderr
    assert result.stdout.split() == ["hello", "/tmp", "65534", "65534"]


@pytest.mark.spec("RT-RUN-002", "NS-002")
def test_own_hostname_pid_1_and_new_namespaces(bundle):
    bundle.config["hostname"] = "inside-" + bundle.id[:6]
    result = bundle.run("sh", "-c", "hostname; echo $$; for n in mnt uts ipc pid net cgroup; "
                                    "do readlink /proc/self/ns/$n; done")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == bundle.config["hostname"]
    assert lines[1] == "1"
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "uts", "ipc", "pid", "net", "cgroup")]
    for inside, outside in zip(lines[2:], host):
        assert inside != outside
    assert socket.gethostname() != bundle.config["hostname"]


@pytest.mark.spec("RT-RUN-003")
def test_missing_program_is_127_and_signals_are_128_plus_n(bundle):
    result = bundle.run("no-such-program")
    assert result.returncode == 127
    assert "no-such-program" in result.stderr


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(p) for p in file.read().split()]


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except FileNotFoundError:  # it exited (or exec'd) while we looked
        return ""


@pytest.mark.spec("RT-RUN-003")
def test_a_container_killed_by_a_signal_exits_128_plus_n(bundle):
    # PID 1 of a namespace ignores signals it has no handler for, even SIGKILL
    # sent from inside; from the host, SIGKILL always lands.
    bundle.config["process"]["args"] = ["sleep", "30"]
    bundle.write()
    runtime = subprocess.Popen([*RUNTIME, "run", "--bundle", str(bundle.path), bundle.id],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        init = []
        deadline = time.monotonic() + 30  # an emulated VM (make vm-test without KVM) takes seconds
        while not init and time.monotonic() < deadline:
            init = [pid for pid in _children(runtime.pid) if _exe(pid).endswith("busybox")]
            time.sleep(0.05)
        assert init, "the container's init (busybox sleep) did not start within 30 s"
        os.kill(init[0], signal.SIGKILL)
        assert runtime.wait(30) == 137
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait()


@pytest.mark.spec("RT-RUN-004", "CG-003")
def test_the_cgroup_is_gone_after_the_container(bundle):
    result = bundle.run("sh", "-c", "cat /proc/self/cgroup")
    assert result.returncode == 0
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-FS-001")
def test_mounts_inside_do_not_reach_the_host(bundle):
    bundle.privileged()  # a default container may not mount at all (RT-SEC)
    result = bundle.run("sh", "-c", "mount -t tmpfs inside-only /tmp && grep -c inside-only /proc/mounts")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    with open("/proc/self/mountinfo") as file:
        host = file.read()
    assert "inside-only" not in host
    assert str(bundle.path) not in host


@pytest.mark.spec("RT-FS-002")
def test_the_root_is_the_rootfs_and_the_host_is_unreachable(bundle, tmp_path):
    marker = f"/tmp/minidock-host-marker-{uuid.uuid4().hex}"
    open(marker, "w").close()
    try:
        result = bundle.run("sh", "-c", f"echo /*; test -e {marker} && echo LEAK; "
                                        "test -e /.pivot_root && echo OLDROOT; "
                                        "grep ' / ' /proc/self/mountinfo | wc -l")
    finally:
        os.unlink(marker)
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.split() == sorted("/" + name for name in os.listdir(bundle.path / "rootfs"))
    assert "LEAK" not in rest and "OLDROOT" not in rest


@pytest.mark.spec("RT-FS-003")
def test_proc_dev_and_a_read_only_sys(bundle):
    result = bundle.run("sh", "-c", "ls /dev; echo ---; grep -E ' /(proc|sys|dev/pts|dev/shm|dev/mqueue) ' /proc/mounts; "
                                    "echo ---; touch /sys/x 2>&1 || echo sys-refused; "
                                    "echo hi > /dev/null && head -c 4 /dev/zero | wc -c")
    assert result.returncode == 0, result.stderr
    devices, mounts, tail = result.stdout.split("---\n")
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
        assert name in devices.split(), name
    assert any(line.split()[1] == "/sys" and line.split()[3].startswith("ro") for line in mounts.splitlines())
    assert {line.split()[1] for line in mounts.splitlines()} >= {"/proc", "/sys", "/dev/pts", "/dev/shm", "/dev/mqueue"}
    assert "sys-refused" in tail and tail.split()[-1] == "4"


@pytest.mark.spec("RT-FS-004", "CG-002")
def test_the_container_reads_its_own_limits(bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 48 * 2**20}, "pids": {"limit": 17}}
    result = bundle.run("sh", "-c", "if [ -f /sys/fs/cgroup/memory.max ]; then "
                                    "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; else "
                                    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; fi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(48 * 2**20), "17"]


@pytest.mark.spec("RT-FS-005")
def test_a_read_only_root(bundle):
    bundle.config["root"]["readonly"] = True
    result = bundle.run("sh", "-c", "touch /etc/x 2>&1 || echo root-refused; echo ok > /dev/shm/y && cat /dev/shm/y")
    assert result.returncode == 0, result.stderr
    assert "root-refused" in result.stdout and result.stdout.strip().endswith("ok")
    assert not (bundle.path / "rootfs" / "etc" / "x").exists()


@pytest.mark.spec("RT-RUN-008")
def test_a_missing_cwd_fails_after_ready_with_its_reason(bundle):
    bundle.config["process"]["cwd"] = "/no/such/dir"
    result = bundle.run("true")
    assert result.returncode == 127
    assert "chdir to cwd '/no/such/dir' set in config.json failed: No such file or directory" in result.stderr
    assert cgroup_dirs_named(bundle.id) == []  # run deleted what it made


@pytest.mark.spec("RT-SEC-024", "RT-HOOK-001")
def test_a_filter_larger_than_a_pipe_write_reaches_init_whole(bundle):
    # The monitor hands init its filter on the start pipe. Some 3,200 instructions (25 KiB),
    # more than one write(2) to a pipe delivers at once, with a createRuntime hook (a
    # handshake before "ready"); the last rule, far down the program, must still hold.
    bundle.config["linux"]["seccomp"]["syscalls"] += [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": n, "op": "SCMP_CMP_EQ"}]}
        for n in range(600)] + [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/true"}]}
    result = bundle.run("sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/d || echo refused")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Seccomp:", "2", "refused"]
    assert "Permission denied" in result.stderr  # EACCES, the rule's errnoRet


@pytest.mark.spec("RT-RUN-009")
def test_creates_monitor_lets_go_of_the_preserved_descriptors(bundle, tmp_path):
    # a FIFO's write end at 3, passed with --preserve-fds 1; the program writes, closes it, sleeps
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    root = str(tmp_path / "state")
    bundle.config["process"]["args"] = ["sh", "-c", "echo hello >&3; exec 3>&-; sleep 30"]
    bundle.write()
    try:
        subprocess.run(["sh", "-c", f'exec 3>"{fifo}"; exec "$@"', "sh", *RUNTIME, "--root", root, "create",
                        "--preserve-fds", "1", "--bundle", str(bundle.path), bundle.id],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
        subprocess.run([*RUNTIME, "--root", root, "start", bundle.id], check=True, capture_output=True, timeout=30)
        # while the container lives, nobody but its program held the write end: end-of-file
        got, deadline = b"", time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = os.read(reader, 100)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            if not chunk:
                break
            got += chunk
        else:
            raise AssertionError(f"no end-of-file after {got!r}: someone still holds the write end")
        assert got == b"hello\n"
        assert json.loads(subprocess.run([*RUNTIME, "--root", root, "state", bundle.id], capture_output=True,
                                         text=True, timeout=30).stdout)["status"] == "running"
    finally:
        subprocess.run([*RUNTIME, "--root", root, "delete", "--force", bundle.id], capture_output=True, timeout=30)
        os.close(reader)


@pytest.mark.spec("RT-RUN-009")
def test_descriptors_the_caller_left_open_do_not_reach_the_container(bundle, tmp_path):
    # a host directory and a pipe's write end, open and inheritable in the runtime's caller
    directory = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    read_end, write_end = os.pipe()
    left_open = (directory, write_end)  # pass_fds: inheritable in the runtime, at these numbers
    # ls lists its own descriptors: stdio, then the directory it reads, at the lowest free number
    list_fds = ["ls", "/proc/self/fd"]
    own = ["0", "1", "2", "3"]
    try:
        bundle.config["process"]["args"] = list_fds
        bundle.write()
        ran = subprocess.run([*RUNTIME, "run", "--bundle", str(bundle.path), bundle.id],
                             capture_output=True, text=True, timeout=30, pass_fds=left_open)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == own  # nothing of ours
        # create's monitor outlives the command: it must not keep the caller's pipe open either
        bundle.config["process"]["args"] = ["sleep", "30"]
        bundle.write()
        root = str(tmp_path / "state")
        subprocess.run([*RUNTIME, "--root", root, "create", "--bundle", str(bundle.path), bundle.id + "c"],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30, pass_fds=left_open)
        try:
            os.close(write_end)
            os.set_blocking(read_end, False)
            assert os.read(read_end, 1) == b""  # end-of-file: nobody holds the write end any more
            subprocess.run([*RUNTIME, "--root", root, "start", bundle.id + "c"], check=True, timeout=30)
            shown = subprocess.run([*RUNTIME, "--root", root, "exec", bundle.id + "c", *list_fds],
                                   capture_output=True, text=True, timeout=30, pass_fds=(directory,))
            assert shown.stdout.split() == own, shown.stderr
            # --preserve-fds N passes 3 .. 3+N-1: a shell opens the directory at 3, then becomes the runtime
            kept = subprocess.run(["sh", "-c", f'exec 3<"{tmp_path}"; exec "$@"', "sh", *RUNTIME, "--root", root,
                                   "exec", "--preserve-fds", "1", bundle.id + "c", *list_fds],
                                  capture_output=True, text=True, timeout=30)
            assert kept.stdout.split() == [*own, "4"], kept.stderr  # 3 is ours, 4 ls's
            # and run and create take it too
            bundle.config["process"]["args"] = list_fds
            bundle.write()
            for verb in (["run"], ["run", "--detach"], ["create"]):
                started = subprocess.run(["sh", "-c", f'exec 3<"{tmp_path}"; exec "$@"', "sh", *RUNTIME, "--root",
                                          root, *verb, "--preserve-fds", "1", "--bundle", str(bundle.path),
                                          bundle.id + "p"], capture_output=True, text=True, timeout=30)
                assert started.returncode == 0, (verb, started.stderr)
                if verb != ["run"]:
                    subprocess.run([*RUNTIME, "--root", root, "start", bundle.id + "p"], capture_output=True)
                    for _ in range(100):  # the program's output: in the monitor's log, or ours (run -d)
                        log = os.path.join(root, bundle.id + "p", "container.log")
                        shown = started.stdout if verb == ["run", "--detach"] else \
                            "".join(json.loads(line)["log"] for line in open(log)) if os.path.exists(log) else ""
                        if shown.strip():
                            break
                        time.sleep(0.05)
                    subprocess.run([*RUNTIME, "--root", root, "delete", "--force", bundle.id + "p"], capture_output=True)
                else:
                    shown = started.stdout
                assert shown.split() == [*own, "4"], (verb, shown)
        finally:
            subprocess.run([*RUNTIME, "--root", root, "delete", "--force", bundle.id + "c"], capture_output=True)
    finally:
        for fd in (directory, read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass
