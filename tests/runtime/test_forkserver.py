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
