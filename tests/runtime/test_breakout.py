"""The breakout suite: from inside a default container, each escape fails; privileged, it works.

Each test runs the same busybox command twice through `minidock-runtime run`: in a
container with what `docker run` writes into config.json (security.docker_fields())
and in a privileged one. The privileged run shows the probe really does the thing,
so a test fails if the defaults stop holding.

What busybox cannot do (keyctl, ptrace(2) itself, the chroot trick, which needs
the cwd kept outside the new root) is done with Python in forked children in
test_security.py.

Facts of these machines: no /proc/kcore, no /proc/sysrq-trigger, no loadable modules.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import uuid

import pytest

from minidock.runtime import security
from minidock.runtime.config import RunConfig

EPERM = "Operation not permitted"


def run(bundle, script: str, privileged: bool = False, host_pid: bool = False):
    """Run ``sh -c script`` in a default (or privileged) container of ``bundle``."""
    config = security.merge(bundle.config, security.docker_fields(privileged=privileged))
    if host_pid:  # like --pid host: the container sees the host's processes
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "pid"]
    config["process"]["args"] = ["sh", "-c", script]
    return bundle.run(config=config)


@pytest.mark.spec("RT-SEC-060")
def test_mount(bundle):
    default = run(bundle, "mkdir -p /tmp/m && mount -t tmpfs breakout /tmp/m")
    assert default.returncode != 0
    assert "permission denied" in default.stderr.lower() or EPERM in default.stderr
    privileged = run(bundle, "mkdir -p /tmp/m && mount -t tmpfs breakout /tmp/m && grep -c breakout /proc/mounts",
                     privileged=True)
    assert privileged.returncode == 0, privileged.stderr
    assert privileged.stdout.strip() == "1"


@pytest.mark.spec("RT-SEC-061")
def test_write_sysrq_trigger(bundle):
    # 'h' only prints the SysRq help to the kernel log: harmless where the file exists
    script = "if [ -e /proc/sysrq-trigger ]; then echo h > /proc/sysrq-trigger && echo WROTE; else echo ABSENT; fi"
    default = run(bundle, script)
    assert "WROTE" not in default.stdout
    if not os.path.exists("/proc/sysrq-trigger"):
        assert default.stdout.strip() == "ABSENT"
        pytest.skip("this kernel has no /proc/sysrq-trigger: the privileged half cannot run here")
    assert "Read-only file system" in default.stderr
    assert run(bundle, script, privileged=True).stdout.strip() == "WROTE"


@pytest.mark.spec("RT-SEC-062")
def test_load_a_kernel_module(bundle):
    default = run(bundle, "insmod /bin/busybox")
    assert default.returncode != 0 and EPERM in default.stderr
    privileged = run(bundle, "insmod /bin/busybox", privileged=True)
    # past the permission check: "Function not implemented" here (no modules), or a bad format
    assert privileged.returncode != 0 and EPERM not in privileged.stderr, privileged.stderr


@pytest.mark.spec("RT-SEC-063")
def test_read_proc_kcore(bundle):
    script = "if [ -e /proc/kcore ]; then head -c 16 /proc/kcore | wc -c; else echo ABSENT; fi"
    assert run(bundle, script).stdout.strip() in ("ABSENT", "0")  # absent here, masked elsewhere
    if not os.path.exists("/proc/kcore"):
        pytest.skip("this kernel has no /proc/kcore: the privileged half cannot run here")
    assert run(bundle, script, privileged=True).stdout.strip() == "16"


@pytest.mark.spec("RT-SEC-064")
def test_ptrace_access_to_a_host_process(bundle):
    marker = f"MINIDOCK_BREAKOUT_{uuid.uuid4().hex}"
    target = subprocess.Popen(["sleep", "30"], env={**os.environ, marker: "1"})
    try:
        # reading another process's environ is a ptrace access check (PTRACE_MODE_READ)
        script = f"tr '\\0' '\\n' < /proc/{target.pid}/environ | grep -c {marker}"
        default = run(bundle, script, host_pid=True)
        assert default.returncode != 0 and "denied" in default.stderr.lower(), default.stderr
        privileged = run(bundle, script, privileged=True, host_pid=True)
        assert privileged.stdout.strip() == "1", privileged.stderr
    finally:
        target.kill()
        target.wait()


@pytest.mark.spec("RT-SEC-069", "RT-DEV-002")
def test_a_disk_node_made_in_the_container_does_not_open(bundle):
    # as in Docker: mknod succeeds (CAP_MKNOD, any node), opening the node is what is refused
    script = "rm -f /tmp/sda; mknod /tmp/sda b 8 0 && echo MADE; head -c 1 /tmp/sda; cat /dev/null && echo NULL"
    default = run(bundle, script)
    assert default.stdout.split() == ["MADE", "NULL"], default.stderr
    assert f"/tmp/sda: {EPERM}" in default.stderr
    privileged = run(bundle, script, privileged=True)
    # past the devices cgroup: no such disk here (ENXIO), or a byte where there is one
    assert "MADE" in privileged.stdout and EPERM not in privileged.stderr, privileged.stderr


@pytest.mark.spec("RT-SEC-067")
def test_unshare_a_user_namespace(bundle):
    default = run(bundle, "unshare -U true")
    assert default.returncode != 0 and EPERM in default.stderr
    privileged = run(bundle, "unshare -U true && echo OK", privileged=True)
    assert privileged.stdout.strip() == "OK", privileged.stderr
