"""make vm-test (scripts/vm/): the image's cache key, when `make test` runs the VM, the shared
provisioning, and, inside the VM itself, that it really is a pure cgroup v2 Debian 12."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.report import cgroup_mode
from tests.harness_selftest.conftest import REPO

VM_TEST = REPO / "scripts" / "vm" / "vm-test.sh"
PACKAGES = "busybox-static iproute2 runc"


def run_vm_test(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("MINIDOCK_SKIP_VM", "DEB_PACKAGES")}
    return subprocess.run([str(script), *args], env={**environment, **env},
                          capture_output=True, text=True, timeout=60)


def key_of(tree: Path, packages: str = PACKAGES) -> str:
    result = run_vm_test(tree / "scripts" / "vm" / "vm-test.sh", "--key", DEB_PACKAGES=packages)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the scripts that make the image: the key is computed from the copy's files."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    return tmp_path


@pytest.mark.spec("HARNESS-VM-002")
def test_the_cache_key_is_stable_and_ignores_the_package_lists_order(tree):
    key = key_of(tree)
    assert len(key) == 16 and key == key_of(tree)
    assert key_of(tree, "runc  busybox-static\tiproute2") == key


@pytest.mark.spec("HARNESS-VM-002")
@pytest.mark.parametrize("changed", ["scripts/provision.sh", "scripts/vm/build-image.sh", "scripts/vm/init"])
def test_the_cache_key_changes_with_what_makes_the_image(tree, changed):
    key = key_of(tree)
    with open(tree / changed, "a") as file:
        file.write("# changed\n")
    assert key_of(tree) != key


@pytest.mark.spec("HARNESS-VM-002")
def test_the_cache_key_changes_with_the_packages_but_not_with_the_run_scripts(tree):
    key = key_of(tree)
    assert key_of(tree, PACKAGES + " crun") != key
    with open(tree / "scripts" / "vm" / "guest.sh", "a") as file:   # read from the checkout at each run
        file.write("# changed\n")
    assert key_of(tree) == key


@pytest.mark.spec("HARNESS-VM-002")
def test_the_cache_lives_outside_the_checkout_and_runs_say_so():
    makefile = (REPO / "Makefile").read_text()
    assert "VM_CACHE    ?= /var/cache/minidock/vm" in makefile
    assert run_vm_test(VM_TEST, "--key").returncode != 0    # no package list: not run through make


@pytest.mark.spec("HARNESS-VM-003")
def test_make_test_skips_the_vm_when_asked_and_says_so():
    result = run_vm_test(VM_TEST, "--can-run", MINIDOCK_SKIP_VM="1")
    assert result.returncode == 1
    assert "vm-test: SKIPPED (MINIDOCK_SKIP_VM=1)" in result.stdout


@pytest.mark.spec("HARNESS-VM-003")
def test_make_test_runs_the_vm_unless_asked_not_to():
    result = run_vm_test(VM_TEST, "--can-run")
    if cgroup_mode(Path("/proc/self/mountinfo").read_text()) == "v2":   # the Vagrant box, the VM itself
        assert result.returncode == 1 and "SKIPPED: this host is pure cgroup v2 already" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
    test_target = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("test:"))
    assert "test-vm" in test_target.split()


@pytest.mark.spec("HARNESS-VM-004")
def test_the_vagrant_box_and_the_image_share_the_provisioning():
    """Vagrant cannot run here (no box without the internet): what can be checked without it is
    that both paths run the one script, on the checkout, and that it installs the Makefile's list."""
    vagrantfile = (REPO / "Vagrantfile").read_text()
    # the box: the checkout synced to one folder, and the provisioner runs the script from there
    synced = re.search(r'config\.vm\.synced_folder "\.", "(?P<path>[^"]+)",\s*type: "rsync"', vagrantfile)
    assert synced, "the Vagrantfile must sync the checkout with rsync"
    folder = synced["path"]
    provision = re.search(r'config\.vm\.provision "shell".*?<<-SHELL\n(?P<script>.*?)\n\s*SHELL', vagrantfile, re.S)
    assert provision, "the Vagrantfile must provision with an inline shell script"
    commands = [line.strip() for line in provision["script"].splitlines()
                if line.strip() and not line.strip().startswith(("#", "set "))]
    assert commands == [f"sudo {folder}/scripts/provision.sh {folder}"]
    # the image: the same script, copied into the chroot with the Makefile, run with --image
    build = (REPO / "scripts" / "vm" / "build-image.sh").read_text()
    assert re.search(r'^cp "\$repo/scripts/provision\.sh" ', build, re.M)
    assert re.search(r'^cp "\$repo/Makefile" ', build, re.M)
    assert re.search(r'^chroot "\$root" /tmp/provision/scripts/provision\.sh --image /tmp/provision ', build, re.M)
    # the script: the Makefile's Debian packages in both, the venv only where there is no shared one
    provision_sh = (REPO / "scripts" / "provision.sh").read_text()
    assert 'make -C "$repo" --no-print-directory deb' in provision_sh
    assert re.search(r'if \[ "\$image" = no \]; then\n\s*make -C "\$repo" --no-print-directory setup', provision_sh)
    if shutil.which("ruby"):
        checked = subprocess.run(["ruby", "-c", str(REPO / "Vagrantfile")], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


@pytest.mark.spec("HARNESS-VM-001")
def test_inside_the_vm_cgroup_v2_is_the_only_hierarchy():
    if os.environ.get("MINIDOCK_VM") != "1":
        pytest.skip("only inside make vm-test's VM (scripts/vm/guest.sh sets MINIDOCK_VM=1)")
    assert cgroup_mode(Path("/proc/self/mountinfo").read_text()) == "v2"
    assert {"cpu", "memory", "pids"} <= set(Path("/sys/fs/cgroup/cgroup.controllers").read_text().split())
    assert 'VERSION_ID="12"' in Path("/etc/os-release").read_text()
    assert "cgroup_no_v1=all" in Path("/proc/cmdline").read_text()
