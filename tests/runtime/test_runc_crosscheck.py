"""The same bundle under runc and under minidock-runtime: what the process sees must match
(identity, filesystem, limits, and security: capabilities, no_new_privs, seccomp)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

PROBE = r"""
echo "hostname=$(hostname)"
echo "pid=$$"
echo "id=$(id)"
echo "cwd=$(pwd)"
echo "env=$PROBE_VALUE"
echo "nofile=$(ulimit -n)"
echo "dev=$(ls /dev | tr '\n' ' ')"
echo "mounts=$(cut -d' ' -f2,3 /proc/self/mounts | grep -v ' cgroup$' | sort | tr '\n' ',')"
echo "cgroup-mounts=$(grep ' cgroup ' /proc/self/mounts | cut -d' ' -f2 | grep -v /systemd | sort | tr '\n' ' ')"
echo "memory=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
echo "pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"
echo "sys=$(grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1)"
echo "pid1=$(cat /proc/1/comm)"
grep -E '^(CapEff|CapPrm|CapBnd|CapInh|NoNewPrivs|Seccomp):' /proc/self/status | tr -d ' \t' | tr ':' '='
echo "mount-refused=$(mount -t tmpfs x /mnt 2>&1 >/dev/null | head -c 40)"
"""


@pytest.mark.spec("RT-CROSS-001")
@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed (make setup installs it)")
def test_runc_and_minidock_runtime_agree(bundle, tmp_path):
    bundle.config["hostname"] = "crosscheck"
    bundle.config["process"]["env"].append("PROBE_VALUE=same")
    bundle.config["process"]["cwd"] = "/tmp"
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}]
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 * 2**20}, "pids": {"limit": 40}}
    bundle.config["process"]["args"] = ["sh", "-c", PROBE]
    bundle.write()
    theirs = subprocess.run(["runc", "--root", str(tmp_path / "runc-state"), "run", "--bundle",
                             str(bundle.path), bundle.id + "-runc"], capture_output=True, text=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "minidock.runtime.cli", "--root", str(tmp_path / "our-state"),
                           "run", "--bundle", str(bundle.path), bundle.id], capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert dict(line.split("=", 1) for line in ours.stdout.splitlines()) == \
        dict(line.split("=", 1) for line in theirs.stdout.splitlines())


@pytest.mark.spec("RT-VERB-010")
@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed (make setup installs it)")
def test_features_answers_in_runcs_shape_what_the_tables_enforce():
    import json

    from minidock.runtime.mounts import FLAGS

    ours = json.loads(subprocess.run([sys.executable, "-m", "minidock.runtime.cli", "features"], check=True,
                                     capture_output=True, text=True, timeout=30).stdout)
    theirs = json.loads(subprocess.run(["runc", "features"], check=True, capture_output=True, text=True,
                                       timeout=30).stdout)
    assert set(ours) == set(theirs) and set(ours["linux"]) == set(theirs["linux"])
    assert set(ours["linux"]["cgroup"]) == set(theirs["linux"]["cgroup"])
    assert ours["hooks"] == theirs["hooks"]
    assert set(theirs["linux"]["namespaces"]) <= set(ours["linux"]["namespaces"])  # and time, where runc 1.1 has none
    assert set(ours["linux"]["seccomp"]["operators"]) == set(theirs["linux"]["seccomp"]["operators"])
    assert set(FLAGS) <= set(ours["mountOptions"]) == set(theirs["mountOptions"])
    assert ours["linux"]["cgroup"]["systemd"] is False  # --systemd-cgroup is refused (RT-SHIM-007)
    assert ours["linux"]["apparmor"] == {"enabled": False}
