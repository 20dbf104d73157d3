"""Devices through minidock-runtime: linux.devices nodes, the devices cgroup and runc's defaults.

Each test runs busybox through `minidock-runtime run` with a config.json that names
devices. The devices cgroup is v1's files on this host and a v2 eBPF program in
the VM (scripts/vm/vm-test.sh runs this file there), so the same tests check both.

A block device 8:0 (sda) that the host does not have tells the two refusals apart:
opening its node fails with EPERM when the devices cgroup refuses it, and with
ENXIO ("No such device or address") once the cgroup has let it through.
"""

from __future__ import annotations

import pytest

from tests.runtime.conftest import cgroup_dirs_named

EPERM = "Operation not permitted"
ENXIO = "No such device or address"
DENY_ALL = {"allow": False, "access": "rwm"}
NODES = [{"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 1, "gid": 2},
         {"path": "/dev/nodisk", "type": "b", "major": 8, "minor": 0}]


def run(bundle, script: str, rules: list | None = None, nodes: list | None = None):
    """`sh -c script` with these device rules and nodes in config.json."""
    config = bundle.config
    config["process"]["args"] = ["sh", "-c", script]
    if rules is not None:
        config["linux"].setdefault("resources", {})["devices"] = rules
    if nodes is not None:
        config["linux"]["devices"] = nodes
    return bundle.run(config=config)


@pytest.mark.spec("RT-DEV-001", "CG-DEV-001", "CG-DEV-002")
def test_nodes_are_made_and_opened_as_the_rules_say(bundle):
    script = "ls -ln /dev/myzero; head -c 3 /dev/myzero | wc -c; head -c 1 /dev/nodisk"
    allowed = run(bundle, script, rules=[DENY_ALL, {"allow": True, "type": "b", "major": 8,
                                                    "minor": 0, "access": "r"}], nodes=NODES)
    listing, count = allowed.stdout.splitlines()
    assert listing.split()[:6] == ["crw-r-----", "1", "1", "2", "1,", "5"], listing
    assert count.strip() == "3"
    assert f"/dev/nodisk: {ENXIO}" in allowed.stderr          # past the cgroup: no such disk
    refused = run(bundle, script, rules=[DENY_ALL], nodes=NODES)
    assert refused.stdout.splitlines()[1].strip() == "3"     # /dev/zero is one of runc's defaults
    assert f"/dev/nodisk: {EPERM}" in refused.stderr


@pytest.mark.spec("RT-DEV-002")
def test_a_config_without_rules_gets_runcs_defaults(bundle):
    bundle.config["linux"].get("resources", {}).pop("devices", None)
    script = ("echo x > /dev/null && head -c 1 /dev/urandom | wc -c && test -c /dev/full && echo FULL; "
              "mknod /tmp/mem c 1 1 && echo MADE; head -c 1 /tmp/mem; rm -f /tmp/mem")
    result = run(bundle, script)
    assert result.stdout.split() == ["1", "FULL", "MADE"], result.stderr
    assert f"/tmp/mem: {EPERM}" in result.stderr             # /dev/mem is not among them


@pytest.mark.spec("RT-DEV-003", "CG-DEV-003", "CG-RES-006")
@pytest.mark.parametrize("rules, nodes, named", [
    ([{"allow": True, "type": "x", "access": "r"}], None, "linux.resources.devices[0].type 'x'"),
    ([DENY_ALL, {"allow": True, "type": "c", "access": "rwx"}], None, "linux.resources.devices[1].access"),
    ([{"allow": True, "type": "c", "major": "1", "access": "r"}], None, "linux.resources.devices[0].major"),
    (None, [{"path": "dev/x", "type": "c", "major": 1, "minor": 3}], "'linux.devices[0]'.path"),
    (None, [{"path": "/dev/x", "type": "z", "major": 1, "minor": 3}], "'linux.devices[0]'.type 'z'"),
    (None, [{"path": "/dev/x", "type": "c", "major": 1}], "'linux.devices[0]'.minor"),
], ids=["rule-type", "rule-access", "rule-number", "node-path", "node-type", "node-number"])
def test_bad_devices_are_refused_and_leave_nothing(bundle, rules, nodes, named):
    result = run(bundle, "true", rules=rules, nodes=nodes)
    assert result.returncode == 1 and result.stderr.startswith("minidock-runtime: "), result.stderr
    assert named in result.stderr, result.stderr
    assert cgroup_dirs_named(bundle.id) == []


@pytest.mark.spec("RT-DEV-004")
def test_a_ptmx_entry_leaves_the_link_to_the_containers_devpts(bundle):
    ptmx = {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 0o666, "uid": 0, "gid": 0}
    result = run(bundle, "readlink /dev/ptmx; test -c /dev/pts/ptmx && echo devpts", nodes=[ptmx])
    assert (result.returncode, result.stdout.split()) == (0, ["pts/ptmx", "devpts"]), result.stderr
