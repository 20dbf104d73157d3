"""process.terminal: a pty inside the container, driven like a person at a keyboard (pexpect)."""

from __future__ import annotations

import json
import os
import sys
import time

import pexpect
import pytest

from tests.runtime.test_lifecycle import Runtime


@pytest.mark.spec("RT-TTY-001", "RT-TTY-002")
def test_a_foreground_container_gets_a_terminal_of_our_size(bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["args"] = ["sh", "-c", "tty; stty size; read line; echo got:$line; exit 4"]
    bundle.write()
    child = pexpect.spawn(sys.executable, ["-m", "minidock.runtime.cli", "--root", str(tmp_path / "state"),
                                           "run", "--bundle", str(bundle.path), bundle.id],
                          dimensions=(30, 100), timeout=20, encoding="utf-8")
    try:
        child.expect("/dev/pts/0")
        child.expect("30 100")
        child.sendline("hello")
        child.expect("got:hello")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 4


@pytest.mark.spec("RT-TTY-003")
def test_a_detached_terminal_is_logged_by_the_monitor(bundle, tmp_path):
    runtime = Runtime(tmp_path / "state", bundle)
    bundle.config["process"]["terminal"] = True
    try:
        runtime.create("sh", "-c", "tty; echo on-the-pty")
        runtime("start", bundle.id)
        runtime.wait_for("stopped")
        deadline = time.monotonic() + 5
        logged = ""
        while "on-the-pty" not in logged and time.monotonic() < deadline:
            path = os.path.join(runtime.root, bundle.id, "container.log")
            logged = "".join(json.loads(line)["log"] for line in open(path)) if os.path.exists(path) else ""
            time.sleep(0.05)
        assert "/dev/pts/0" in logged and "on-the-pty" in logged
    finally:
        runtime("delete", "--force", bundle.id, check=False)
