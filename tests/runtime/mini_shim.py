"""A shim's part, played for the tests of spec/runtime.md RT-SHIM-*: run as a program.

    python -m tests.runtime.mini_shim ROOT BUNDLE ID MODE   prints one JSON object

What containerd-shim and conmon do around runc, in a few lines: become a child
subreaper, give the runtime pipes as stdio, call `create --pid-file` (with
`--console-socket` for a terminal), `start`, and wait for the pid in the pid file,
which is our child once the runtime has exited. MODE:

    plain   the container's program runs to its end; its output comes on our pipe
    tty     process.terminal: the pty master arrives on our console socket
    exec    the program sleeps; `exec --process --detach --pid-file` runs another
            process, which we wait for too; then `kill ID KILL`
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from minidock.kernel import syscalls as sc


def _read_all(fd: int) -> str:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: a pty whose last slave closed
            break
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data.decode(errors="replace")


def main() -> None:
    root, bundle, container_id, mode = sys.argv[1:5]
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    runtime = [sys.executable, "-m", "minidock.runtime.cli", "--root", root]
    pid_file = os.path.join(root, f"{container_id}.pid")
    os.makedirs(root, exist_ok=True)

    def call(*args: str, **options) -> subprocess.CompletedProcess:
        return subprocess.run([*runtime, *args], check=True, timeout=30, **options)

    def state() -> dict:
        return json.loads(call("state", container_id, capture_output=True).stdout)

    report: dict = {}
    out_r, out_w = os.pipe()
    create = ["create", "--bundle", bundle, "--pid-file", pid_file]
    if mode == "tty":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.path.join(root, "console.sock"))
        listener.listen(1)
        call(*create, "--console-socket", os.path.join(root, "console.sock"), container_id,
             stdin=subprocess.DEVNULL, stdout=out_w)
        connection, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(connection, 64, 1)
        report["console_message"] = message.decode()
        # containerd's shim reads create's output until end-of-file: init, on its terminal
        # by now, must not hold the pipe create was given
        os.close(out_w)
        os.set_blocking(out_r, False)
        try:
            report["create_output_ended"] = os.read(out_r, 1) == b""
        except BlockingIOError:
            report["create_output_ended"] = False  # a writer is left: the shim would wait forever
        os.close(out_r)
        out_r = fds[0]
    else:
        call(*create, container_id, stdin=subprocess.DEVNULL, stdout=out_w)
        os.close(out_w)
    with open(pid_file) as file:
        pid = int(file.read())
    report["pid"], report["created"] = pid, state()
    report["runtime_left"] = [p for p in _children() if p != pid]  # nothing of the runtime's but init
    call("start", container_id)
    report["started"] = state()
    if mode == "exec":
        process = dict(json.load(open(os.path.join(bundle, "config.json")))["process"])
        process["args"] = ["sh", "-c", "echo exec says $(hostname); exit 7"]
        process_file = os.path.join(root, "process.json")
        with open(process_file, "w") as file:
            json.dump(process, file)
        exec_r, exec_w = os.pipe()
        exec_pid_file = os.path.join(root, "exec.pid")
        call("exec", "--process", process_file, "--detach", "--pid-file", exec_pid_file, container_id,
             stdin=subprocess.DEVNULL, stdout=exec_w)
        os.close(exec_w)
        with open(exec_pid_file) as file:
            exec_pid = int(file.read())
        report["exec_output"] = _read_all(exec_r)
        report["exec_exit"] = os.waitstatus_to_exitcode(os.waitpid(exec_pid, 0)[1])
        call("kill", container_id, "KILL")
    report["output"] = _read_all(out_r)
    _, status = os.waitpid(pid, 0)  # init is our child: the runtime left it to us
    report["exit"] = os.waitstatus_to_exitcode(status)
    report["stopped"] = state()
    call("delete", container_id)
    report["after_delete"] = sorted(os.listdir(root))
    print(json.dumps(report))


def _children() -> list[int]:
    """The pids whose parent we are (/proc/PID/stat field 4)."""
    mine, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as file:
                    if int(file.read().rsplit(")", 1)[1].split()[1]) == mine:
                        found.append(int(name))
            except (OSError, IndexError, ValueError):
                continue
    return found


if __name__ == "__main__":
    main()
