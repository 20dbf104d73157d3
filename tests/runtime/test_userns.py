"""User namespaces: root inside, an unprivileged uid outside."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.runtime.test_bad_bundles import _assert_refused
from tests.runtime.conftest import RUNTIME

HOST_BASE = 200000


@pytest.fixture
def bundle(busybox_bundle):
    """A bundle in a directory the mapped root may traverse (pytest's tmp dirs are 0700)."""
    import shutil
    import tempfile

    from tests.runtime.conftest import Bundle

    where = tempfile.mkdtemp(prefix="minidock-userns-")
    os.chmod(where, 0o755)
    try:
        yield Bundle(busybox_bundle, __import__("pathlib").Path(where))
    finally:
        shutil.rmtree(where)


def _userns(bundle):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]


@pytest.mark.spec("NS-USER-001")
def test_root_inside_is_an_unprivileged_uid_outside(bundle):
    _userns(bundle)
    bundle.config["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map; echo $$; ls /dev; sleep 2"]
    bundle.write()
    process = subprocess.Popen([*RUNTIME, "run", "--bundle", str(bundle.path), bundle.id],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        host_uid = None
        for _ in range(100):  # find the container's init and read its uid from the host side
            # the monitor's first child makes the user namespace, forks init and exits:
            # it may be gone between the two reads
            children = open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()
            for child in children:
                try:
                    status = open(f"/proc/{child}/status").read()
                except FileNotFoundError:
                    continue
                host_uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
                if host_uid == HOST_BASE:
                    break
            if host_uid == HOST_BASE:
                break
            time.sleep(0.05)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
            subprocess.run([*RUNTIME, "delete", "--force", bundle.id], capture_output=True)
    assert process.returncode == 0, err
    lines = out.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(HOST_BASE), "65536"]
    assert lines[2] == "1"
    assert "null" in out and "urandom" in out
    assert host_uid == HOST_BASE


@pytest.mark.spec("NS-USER-002")
def test_mappings_and_user_namespaces_come_together(bundle):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    _assert_refused(bundle.run("true"), "a user namespace needs 'linux.uidMappings'")
    bundle.config["linux"]["namespaces"].pop()
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    _assert_refused(bundle.run("true"), "without a new user namespace")
    _userns(bundle)
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": -1, "size": 1}]
    _assert_refused(bundle.run("true"), "linux.uidMappings[0]")


@pytest.mark.spec("NS-USER-003")
def test_limits_still_hold_in_a_user_namespace(bundle):
    _userns(bundle)
    # room for init's own start (a fork of the Python monitor, its copied pages charged
    # here) and none for dd's 256 MiB buffer
    limit = 64 * 2**20
    bundle.config["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    result = bundle.run("dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1")
    assert result.returncode == 137, result.stderr
