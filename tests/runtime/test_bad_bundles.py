"""Bad bundles and ids: a clear error, and nothing left behind."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.runtime.conftest import RUNTIME, cgroup_dirs_named


def _assert_refused(result, *words):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("minidock-runtime: ")
    for word in words:
        assert word in result.stderr


@pytest.mark.spec("RT-CFG-001", "RT-CFG-005")
def test_invalid_json(bundle):
    result = bundle.run(config='{"ociVersion": "1.0.2", "process": ')
    _assert_refused(result, "invalid JSON", "line 1")
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-CFG-002", "RT-CFG-005")
@pytest.mark.parametrize("change, named", [
    (lambda c: c["process"].pop("args"), "process.args"),
    (lambda c: c["process"].__setitem__("args", []), "process.args"),
    (lambda c: c["process"].__setitem__("args", "sh"), "process.args"),
    (lambda c: c.pop("ociVersion"), "ociVersion"),
    (lambda c: c["root"].__setitem__("path", 7), "root.path"),
    (lambda c: c["process"]["user"].__setitem__("uid", "root"), "process.user.uid"),
    (lambda c: c["process"].__setitem__("env", ["NOEQUALS"]), "NOEQUALS"),
    (lambda c: c["process"].__setitem__("cwd", "relative"), "process.cwd"),
])
def test_missing_and_mistyped_fields_are_named(bundle, change, named):
    change(bundle.config)
    _assert_refused(bundle.run(), named)
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-CFG-003", "RT-CFG-005")
def test_rootfs_outside_the_bundle_or_missing(bundle):
    bundle.config["root"]["path"] = "../../etc"
    _assert_refused(bundle.run(), "outside the bundle")
    (bundle.path / "escape").symlink_to("/tmp")
    bundle.config["root"]["path"] = "escape"
    _assert_refused(bundle.run(), "outside the bundle")
    bundle.config["root"]["path"] = "/"
    _assert_refused(bundle.run(), "the host's own root")
    bundle.config["root"]["path"] = "../../../../../../.."
    _assert_refused(bundle.run(), "the host's own root")
    bundle.config["root"]["path"] = "no-such-rootfs"
    _assert_refused(bundle.run(), "does not exist")
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-CFG-003")
def test_an_absolute_root_path_elsewhere_is_taken(bundle, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (bundle.path / "rootfs").rename(elsewhere)
    bundle.config["root"]["path"] = str(elsewhere)
    result = bundle.run("sh", "-c", "echo inside; ls /bin/busybox")
    assert (result.returncode, result.stdout) == (0, "inside\n/bin/busybox\n"), result.stderr


@pytest.mark.spec("RT-CFG-004", "NS-003")
def test_unknown_namespace(bundle):
    bundle.config["linux"]["namespaces"].append({"type": "bogus"})
    _assert_refused(bundle.run(), "unknown namespace type 'bogus'", "network")


@pytest.mark.spec("RT-CLI-001")
def test_spec_writes_a_config_and_will_not_overwrite(tmp_path):
    first = subprocess.run([*RUNTIME, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    assert first.returncode == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    second = subprocess.run([*RUNTIME, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    _assert_refused(second, "exists")


@pytest.mark.spec("RT-CLI-002")
@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "", "-flag"])
def test_unsafe_ids_are_refused(bundle, bad_id):
    bundle.write()
    result = subprocess.run([*RUNTIME, "run", "--bundle", str(bundle.path), "--", bad_id],
                            capture_output=True, text=True)
    _assert_refused(result, "invalid container id")


@pytest.mark.spec("RT-CLI-003")
def test_a_duplicate_id_is_refused(bundle):
    bundle.config["process"]["args"] = ["sleep", "120"]
    bundle.write()
    first = subprocess.Popen([*RUNTIME, "run", "--bundle", str(bundle.path), bundle.id],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # running, however slow the machine (an emulated VM takes seconds): `state` says so
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run([*RUNTIME, "state", bundle.id], capture_output=True, text=True)
            if state.returncode == 0 and json.loads(state.stdout)["status"] == "running":
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        second = subprocess.run([*RUNTIME, "run", "--bundle", str(bundle.path), bundle.id],
                                capture_output=True, text=True, timeout=60)
        _assert_refused(second, f"container with id exists: {bundle.id}")
    finally:
        subprocess.run([*RUNTIME, "kill", bundle.id, "KILL"], capture_output=True)
        first.wait(60)
    assert first.returncode == 137  # the first ran on until killed: the refusal touched nothing


@pytest.mark.spec("RT-SEC-025", "RT-CFG-005")
@pytest.mark.parametrize("with_hook", [False, True], ids=["alone", "with-a-createRuntime-hook"])
def test_a_filter_longer_than_the_kernel_takes_is_refused_before_the_program_runs(bundle, with_hook):
    # 1,500 rules with a condition on one syscall: some 7,700 instructions, where BPF takes 4,096.
    # With a hook, init waits for the monitor's go-ahead before "ready": it must not wait for ever.
    if with_hook:
        bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/true"}]}
    bundle.config["linux"]["seccomp"]["syscalls"] += [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": n, "op": "SCMP_CMP_EQ"}]}
        for n in range(1500)]
    result = bundle.run("echo", "the program ran")
    _assert_refused(result, "cannot start container", "linux.seccomp", "at most 4096 instructions")
    assert "the program ran" not in result.stdout
    assert cgroup_dirs_named(bundle.id) == []
    assert subprocess.run([*RUNTIME, "state", bundle.id], capture_output=True).returncode != 0
