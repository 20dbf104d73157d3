"""Mounts from the config, rlimits and groups: what the process sees, and bad entries refused."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.runtime.test_bad_bundles import _assert_refused
from tests.runtime.conftest import RUNTIME, cgroup_dirs_named


def _with_mount(bundle, **entry):
    bundle.config.setdefault("mounts", [])
    bundle.config["mounts"] = [*bundle.config["mounts"], entry]


@pytest.mark.spec("RT-MNT-001")
def test_a_relative_destination_is_refused(bundle):
    _with_mount(bundle, destination="data", type="tmpfs", source="tmpfs")
    _assert_refused(bundle.run("true"), "mounts[", "destination must be an absolute path")


@pytest.mark.spec("RT-MNT-003")
def test_a_missing_bind_source_is_named(bundle, tmp_path):
    _with_mount(bundle, destination="/data", type="bind", source=str(tmp_path / "nowhere"), options=["rbind"])
    _assert_refused(bundle.run("true"), str(tmp_path / "nowhere"), "does not exist")


@pytest.mark.spec("RT-MNT-002")
def test_a_symlink_in_the_image_cannot_aim_a_mount_at_the_host(bundle, tmp_path):
    host_dir = tmp_path / "host-side"
    host_dir.mkdir()
    os.symlink(str(host_dir), bundle.path / "rootfs" / "escape")
    _with_mount(bundle, destination="/escape/inner", type="tmpfs", source="tmpfs")
    result = bundle.run("sh", "-c", "grep -c ' /escape/inner \\| /tmp/.*/inner ' /proc/mounts; echo ok")
    assert result.returncode == 0, result.stderr
    assert os.listdir(host_dir) == []  # nothing was made on the host side
    # the mount landed inside the rootfs, at the symlink's target taken as a container path
    assert (bundle.path / "rootfs" / str(host_dir).lstrip("/") / "inner").is_dir()


@pytest.mark.spec("RT-MNT-004")
def test_bind_mounts_read_only_and_read_write(bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("from the host\n")
    _with_mount(bundle, destination="/ro", type="bind", source=str(shared), options=["rbind", "ro"])
    _with_mount(bundle, destination="/rw", type="bind", source=str(shared), options=["rbind", "rw"])
    _with_mount(bundle, destination="/scratch", type="tmpfs", source="tmpfs", options=["size=1m", "nosuid"])
    result = bundle.run("sh", "-c", "cat /ro/hello; touch /ro/x 2>&1 || echo ro-refused; "
                                    "echo back > /rw/written; grep ' /scratch ' /proc/mounts")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "from the host"
    assert "ro-refused" in lines
    assert (shared / "written").read_text() == "back\n"
    assert not (shared / "x").exists()
    scratch = [line for line in lines if " /scratch " in line][0]
    assert "tmpfs" in scratch and "nosuid" in scratch and "size=1024k" in scratch


@pytest.mark.spec("RT-CFG-006")
def test_rlimits_are_set_and_bad_ones_refused(bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
    result = bundle.run("sh", "-c", "ulimit -n; ulimit -Hn")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["123", "456"]
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]
    _assert_refused(bundle.run(), "RLIMIT_BOGUS")
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 8}]
    _assert_refused(bundle.run(), "soft 9 is above hard 8")
    # valid, but no process may raise RLIMIT_NOFILE past fs.nr_open: the start fails naming it
    above = int(open("/proc/sys/fs/nr_open").read()) + 1
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": above, "hard": above}]
    failed = bundle.run("true")
    assert failed.returncode != 0 and f"setting RLIMIT_NOFILE to soft {above}, hard {above} failed" in failed.stderr
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-RUN-005")
def test_additional_groups(bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 27]}
    result = bundle.run("id", "-G")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["1000", "27", "5"]
    bundle.config["process"]["user"]["additionalGids"] = ["wheel"]
    _assert_refused(bundle.run(), "additionalGids")


@pytest.mark.spec("RT-MNT-005")
def test_rootfs_propagation_makes_the_mount_tree_a_slave(bundle):

    # the bundle on a shared mount (this host's / is private): a slave needs a master
    where = str(bundle.path)
    subprocess.run(["mount", "--bind", where, where], check=True)
    try:
        subprocess.run(["mount", "--make-rshared", where], check=True)
        root_line = "awk '$5 == \"/\" {print}' /proc/self/mountinfo"
        private = bundle.run("sh", "-c", root_line)
        assert private.returncode == 0, private.stderr
        assert "master:" not in private.stdout and "shared:" not in private.stdout
        bundle.config.setdefault("linux", {})["rootfsPropagation"] = "rslave"
        slave = bundle.run("sh", "-c", root_line)
        assert slave.returncode == 0, slave.stderr
        assert "master:" in slave.stdout  # a slave: the host's later mounts come in, none go out
        bundle.config["linux"]["rootfsPropagation"] = "sideways"
        _assert_refused(bundle.run("true"), "rootfsPropagation", "not a propagation type")
    finally:
        subprocess.run(["umount", "-l", where], check=False)


@pytest.mark.spec("RT-MNT-006")
def test_a_tmpcopyup_tmpfs_starts_with_what_it_covers(bundle, tmp_path):
    image = bundle.path / "rootfs" / "opt" / "d"
    (image / "private").mkdir(parents=True)
    (image / "private").chmod(0o700)
    os.chown(image / "private", 1000, 1000)
    (image / "private" / "file").write_text("from the image\n")
    os.symlink("/", image / "up")  # copied as a link: never followed out of the image
    bundle.config["root"]["readonly"] = True
    _with_mount(bundle, destination="/opt/d", type="tmpfs", source="tmpfs", options=["tmpcopyup", "nosuid"])
    result = bundle.run("sh", "-c", "cat /opt/d/private/file; stat -c '%a %u %g' /opt/d/private; readlink /opt/d/up;"
                        " touch /opt/d/new && echo writable; touch /opt/x 2>/dev/null || echo root read-only")
    assert result.stdout.splitlines() == ["from the image", "700 1000 1000", "/", "writable", "root read-only"], \
        result.stderr
    assert sorted(os.listdir(image)) == ["private", "up"]  # the copy wrote nothing back


@pytest.mark.spec("RT-MNT-006")
def test_tmpcopyup_on_a_bind_mount_is_refused(bundle, tmp_path):
    _with_mount(bundle, destination="/data", type="bind", source=str(tmp_path), options=["rbind", "tmpcopyup"])
    _assert_refused(bundle.run("true"), "'tmpcopyup' is for tmpfs mounts")


@pytest.mark.spec("RT-MNT-007")
def test_mount8s_flag_words_become_flags_not_data(bundle):
    _with_mount(bundle, destination="/flags", type="tmpfs", source="tmpfs",
                options=["noatime", "nodiratime", "sync", "dirsync", "nosymfollow", "size=1m"])
    result = bundle.run("sh", "-c", "grep ' /flags ' /proc/mounts")
    assert result.returncode == 0, result.stderr
    options = result.stdout.split()[3].split(",")
    assert {"sync", "dirsync", "noatime", "nodiratime", "nosymfollow"} <= set(options), options


def _recursive_probe_runtimes() -> list:
    runc = pytest.param("runc", marks=pytest.mark.skipif(shutil.which("runc") is None, reason="runc not installed"))
    return ["minidock-runtime", runc]


@pytest.mark.spec("RT-MNT-008")
@pytest.mark.parametrize("runtime", _recursive_probe_runtimes())
def test_runcs_recursive_options_reach_the_mounts_below(bundle, tmp_path, runtime):
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "submount", str(outer / "inner")], check=True)
    try:
        # ro on an rbind is a remount of the top mount only; rro reaches the tmpfs below it too
        _with_mount(bundle, destination="/plain", type="bind", source=str(outer), options=["rbind", "ro"])
        _with_mount(bundle, destination="/rec", type="bind", source=str(outer),
                    options=["rbind", "rro", "rnoexec", "rnoatime"])
        _with_mount(bundle, destination="/last", type="bind", source=str(outer), options=["rbind", "rro", "rrw"])
        bundle.config["process"]["args"] = ["sh", "-c", """
            for f in /plain/x /plain/inner/x /rec/x /rec/inner/x /last/inner/y; do
                touch $f 2>/dev/null && echo "$f writable" || echo "$f read-only"
            done
            grep ' /rec/inner ' /proc/self/mounts | cut -d' ' -f4"""]
        bundle.write()
        command = ["runc", "--root", str(tmp_path / "runc-state")] if runtime == "runc" else \
            [*RUNTIME, "--root", str(tmp_path / "state")]
        result = subprocess.run([*command, "run", "--bundle", str(bundle.path), bundle.id],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        *writes, options = result.stdout.splitlines()
        # rro then rrw: the last word wins for us, as for every flag word; runc 1.1 sets
        # and clears the same attribute, and the kernel applies the set one
        last = "read-only" if runtime == "runc" else "writable"
        assert writes == ["/plain/x read-only", "/plain/inner/x writable", "/rec/x read-only",
                          "/rec/inner/x read-only", f"/last/inner/y {last}"]
        assert {"ro", "noexec", "noatime"} <= set(options.split(",")), options
    finally:
        subprocess.run(["umount", str(outer / "inner")], check=True)
