"""The runtime's fork server: create requests answered by forks of one process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.runtime.conftest import RUNTIME


@pytest.mark.spec("RT-CLI-004")
def test_the_fork_server_creates_as_the_command_does(bundle, tmp_path):
    root = tmp_path / "state"
    bundle.config["process"]["args"] = ["sh", "-c", "exit 3"]
    bundle.write()
    server = subprocess.Popen([sys.executable, "-m", "minidock.runtime.forkserver", "--root", str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        def ask(request: str) -> dict:
            server.stdin.write(request + "\n")
            server.stdin.flush()
            return json.loads(server.stdout.readline())

        assert "bad request" in ask("{not json")["error"]
        created = ask(json.dumps({"bundle": str(bundle.path), "id": bundle.id}))
        assert created["pid"] > 1
        state = json.loads(subprocess.run([*RUNTIME, "--root", str(root), "state", bundle.id],
                                          capture_output=True, text=True, check=True).stdout)
        assert (state["status"], state["pid"]) == ("created", created["pid"])
        again = ask(json.dumps({"bundle": str(bundle.path), "id": bundle.id}))
        assert "container with id exists" in again["error"]  # the command's refusal, word for word
    finally:
        subprocess.run([*RUNTIME, "--root", str(root), "delete", "--force", bundle.id], capture_output=True)
        server.stdin.close()
        assert server.wait(10) == 0  # the end of its input is its end


def _memory_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.spec("RT-MON-004")
def test_monitors_share_the_fork_servers_pages(busybox_bundle, tmp_path):
    """Each monitor is the fork server's child and init's parent, and keeps few pages of its own."""
    from tests.runtime.conftest import Bundle

    root = tmp_path / "state"
    server = subprocess.Popen([sys.executable, "-m", "minidock.runtime.forkserver", "--root", str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    bundles = [Bundle(busybox_bundle, tmp_path / f"b{n}") for n in range(3)]
    try:
        for bundle in bundles:
            bundle.config["process"]["args"] = ["sleep", "60"]
            bundle.write()
            server.stdin.write(json.dumps({"bundle": str(bundle.path), "id": bundle.id}) + "\n")
            server.stdin.flush()
            assert "pid" in json.loads(server.stdout.readline())
            subprocess.run([*RUNTIME, "--root", str(root), "start", bundle.id], check=True, capture_output=True)
        for bundle in bundles:
            state = json.loads(subprocess.run([*RUNTIME, "--root", str(root), "state", bundle.id],
                                              capture_output=True, text=True, check=True).stdout)
            monitor = state["monitor_pid"]
            assert _parent(state["pid"]) == monitor  # the launcher has gone; init is the monitor's
            assert _parent(monitor) == server.pid    # forked by the server: its pages are shared
            # what the monitor wrote to is its own; the rest (the runtime the server imported) is shared
            assert _memory_kib(monitor, "Private_Dirty") < _memory_kib(monitor, "Rss") / 3
    finally:
        for bundle in bundles:
            subprocess.run([*RUNTIME, "--root", str(root), "delete", "--force", bundle.id], capture_output=True)
        server.stdin.close()
        assert server.wait(10) == 0
