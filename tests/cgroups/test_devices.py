"""The devices controller: rules read as the kernel reads them, v1 files, a v2 eBPF program.

Pure tests first (the rules, the v1 lines, and the eBPF program run by a small
interpreter of the instructions it uses, against DeviceState.allows for every
case). Then the real kernel: a process in a group opens device nodes made in a
temporary directory. On this hybrid host the driver is v1, and the v2 program is
attached for real to a group on the cgroup2 mount beside it (the kernel runs a
cgroup-v2 device program on hybrid hosts too); in the VM both tests run v2.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import struct
import time

import pytest

from minidock.cgroups import Driver, Hierarchy, Resources, ebpf, v2
from minidock.cgroups.devices import RUNC_DEFAULTS, DeviceRule, DeviceState, parse_oci
from minidock.cgroups.plan import plan_v1
from minidock.errors import InvalidArgument, SystemError as MinidockSystemError
from minidock.kernel import syscalls as sc
from tests.cgroups.conftest import UNIFIED
from tests.cgroups.test_real import leftovers

DENY_ALL = DeviceRule(False)
ALLOW_ALL = DeviceRule(True)
DOCKER_DEFAULT = (DENY_ALL, *RUNC_DEFAULTS)


def rule(text: str, allow: bool = True) -> DeviceRule:
    return DeviceRule.parse(text, allow)


# ---- the rules, pure ------------------------------------------------------------------------

@pytest.mark.spec("CG-DEV-001")
def test_rules_are_read_in_order_from_deny_all():
    state = DeviceState.of(DOCKER_DEFAULT)
    assert not state.default_allow
    assert state.allows("c", 1, 3, "rw") and state.allows("c", 136, 7, "rw")
    assert state.allows("b", 8, 0, "m")          # mknod of anything, as runc allows
    assert not state.allows("b", 8, 0, "r")      # but not opening a disk
    assert not state.allows("c", 1, 1, "r")      # nor /dev/mem
    # an allow-all rule resets, and a later deny makes an exception
    state = DeviceState.of([ALLOW_ALL, rule("c 1:3 w", allow=False)])
    assert state.default_allow and state.exceptions == (rule("c 1:3 w", allow=False),)
    assert state.allows("c", 1, 3, "r") and not state.allows("c", 1, 3, "rw")
    assert state.allows("b", 8, 0, "rwm")
    # a rule agreeing with the default takes its access out of an exception, as dev_exception_rm
    state = DeviceState.of([DENY_ALL, rule("c 1:5 rwm"), rule("c 1:5 w", allow=False)])
    assert state.exceptions == (rule("c 1:5 rm"),)
    state = DeviceState.of([DENY_ALL, rule("c 1:5 r"), rule("c 1:5 r", allow=False)])
    assert state.exceptions == ()
    # no rules at all: nothing is allowed
    assert DeviceState.of([]) == DeviceState(False, ())


@pytest.mark.spec("CG-DEV-001")
def test_v1_writes_reset_then_one_line_per_exception():
    lines = DeviceState.of([DENY_ALL, rule("c 1:3 rwm"), rule("b 8:* r")]).lines()
    assert lines == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.allow", "b 8:* r")]
    assert DeviceState.of([ALLOW_ALL]).lines() == [("devices.allow", "a")]
    plan = plan_v1(Resources(pids_limit=5, devices=(DENY_ALL, rule("c 1:3 rwm"))))
    assert plan == [("pids", "pids.max", "5"), ("devices", "devices.deny", "a"),
                    ("devices", "devices.allow", "c 1:3 rwm")]
    assert plan_v1(Resources()) == []   # no rules given: the devices files are not touched


@pytest.mark.spec("CG-DEV-003")
def test_bad_rules_are_refused_naming_the_entry():
    good = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    assert parse_oci([good, {"allow": False}]) == (rule("c 1:3 rwm"), DENY_ALL)
    assert parse_oci([{"allow": True, "type": "b", "major": -1, "access": "mr"}]) == (rule("b *:* rm"),)
    for bad, words in (
            ({**good, "type": "x"}, r"devices\[1\]\.type 'x' is not a device type"),
            ({**good, "access": "rwx"}, r"devices\[1\]\.access 'rwx' is not an access string"),
            ({**good, "access": 7}, r"devices\[1\]\.access 7 is not an access string"),
            ({**good, "major": -2}, r"devices\[1\]\.major must be a device number"),
            ({**good, "minor": 1 << 20}, r"devices\[1\]\.minor must be a device number"),
            ({**good, "allow": "yes"}, r"devices\[1\]\.allow must be true or false"),
            ({"allow": True, "type": "a", "major": 1}, r"devices\[1\]: type a means every device"),
            ("c 1:3 rwm", r"devices\[1\] must be an object")):
        with pytest.raises(InvalidArgument, match=words):
            Resources.from_oci({"devices": [good, bad]})
    with pytest.raises(InvalidArgument, match="linux.resources.devices must be a list"):
        Resources.from_oci({"devices": {"allow": True}})
    for text in ("c 1:3", "x 1:3 r", "c 1:3 rwx", "c 1:3 rr", "c a:3 r", "c 1:9999999 r", "a 1:3 rwm"):
        with pytest.raises(InvalidArgument):
            DeviceRule.parse(text)


# ---- the eBPF program, pure -----------------------------------------------------------------

def run_program(code: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Interpret the eBPF instructions device_program emits, on one bpf_cgroup_dev_ctx."""
    context = struct.pack("<III", sum(ebpf.BPF_DEVCG_ACC[a] for a in access) << 16
                          | ebpf.DEVICE_TYPE[kind], major, minor)
    registers: list = [0] * 11
    registers[ebpf.R1] = "ctx"   # r1 points at the context on entry
    pc = 0
    while True:
        op, regs, off, imm = struct.unpack_from("<BBhi", code, pc * 8)
        dst, src = regs & 0xF, regs >> 4
        pc += 1
        if op == ebpf.BPF_LDX | ebpf.BPF_MEM | ebpf.BPF_W:
            assert registers[src] == "ctx", "loads only from the context"
            registers[dst] = struct.unpack_from("<I", context, off)[0]
        elif op == ebpf.BPF_ALU | ebpf.BPF_MOV | ebpf.BPF_X:
            registers[dst] = registers[src] & 0xFFFFFFFF
        elif op & 0x07 == ebpf.BPF_ALU:
            value, operation = imm & 0xFFFFFFFF, op & 0xF0
            if operation == ebpf.BPF_MOV:
                registers[dst] = value
            elif operation == ebpf.BPF_AND:
                registers[dst] &= value
            else:
                assert operation == ebpf.BPF_RSH, f"unexpected opcode {op:#x}"
                registers[dst] >>= value
        elif op == ebpf.BPF_JMP | ebpf.BPF_EXIT:
            return registers[ebpf.R0]
        else:
            assert op & 0x07 == ebpf.BPF_JMP and off >= 0, "forward jumps only"
            if (registers[dst] == imm) == (op & 0xF0 == ebpf.BPF_JEQ):
                pc += off


@pytest.mark.spec("CG-DEV-002")
@pytest.mark.parametrize("rules", [
    DOCKER_DEFAULT,
    (ALLOW_ALL,),
    (DENY_ALL,),
    (ALLOW_ALL, rule("c 1:3 w", allow=False), rule("b 8:* rm", allow=False)),
    (DENY_ALL, rule("c 1:* r"), rule("b *:0 rw"), rule("c *:* m"), rule("c 5:7 rwm")),
], ids=["docker-default", "allow-all", "deny-all", "allow-with-denials", "wildcards"])
def test_the_program_decides_as_the_rules_do(rules):
    state = DeviceState.of(rules)
    code = ebpf.encode(ebpf.device_program(state))
    accesses = ["".join(c) for n in (1, 2, 3) for c in itertools.combinations("rwm", n)]
    for kind, major, minor, access in itertools.product("cb", (1, 5, 8, 136), (0, 3, 7), accesses):
        expected = int(state.allows(kind, major, minor, access))
        assert run_program(code, kind, major, minor, access) == expected, (kind, major, minor, access)


# ---- the real kernel ------------------------------------------------------------------------

PROBE = """
import json, os, sys
results = {}
for path in sys.argv[1:]:
    try:
        os.close(os.open(path, os.O_RDONLY))
        results[os.path.basename(path)] = "ok"
    except OSError as error:
        results[os.path.basename(path)] = os.strerror(error.errno)
print(json.dumps(results), flush=True)
"""


@pytest.fixture
def nodes(tmp_path):
    """Device nodes in a temporary directory: null (allowed by default), zero and mem."""
    for name, (major, minor) in {"null": (1, 3), "zero": (1, 5), "mem": (1, 1)}.items():
        os.mknod(tmp_path / name, 0o600 | 0o020000, os.makedev(major, minor))
    return [str(tmp_path / name) for name in ("null", "zero", "mem")]


def opens(lab, group, nodes) -> dict[str, str]:
    """What a process inside ``group`` gets from opening each node for reading."""
    process = lab.spawn(group, "import sys; sys.argv[1:] = " + json.dumps(nodes) + "\n" + PROBE)
    return json.loads(process.stdout.readline())


def wait_until_freed(program_ids: list[int]) -> bool:
    """The kernel frees a detached program a little after the group goes (RCU, a work queue)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            for program_id in program_ids:
                os.close(sc.bpf_prog_get_fd_by_id(program_id))
        except sc.SyscallError as error:
            assert error.errno == errno.ENOENT
            return True
        time.sleep(0.05)
    return False


def check_group(lab, driver, nodes) -> None:
    """Docker's default rules then one more: each open is decided by the group's rules."""
    resources = Resources(devices=DOCKER_DEFAULT)
    group = lab.group(resources, driver=driver)
    assert opens(lab, group, nodes) == {"null": "ok", "zero": "ok", "mem": "Operation not permitted"}
    widened = lab.group(resources._replace(devices=(*DOCKER_DEFAULT, rule("c 1:1 r"))),
                        driver=driver)
    assert opens(lab, widened, nodes)["mem"] != "Operation not permitted"   # past the cgroup check
    narrowed = lab.group(Resources(devices=(DENY_ALL, rule("c 1:5 r"))), driver=driver)
    assert opens(lab, narrowed, nodes) == {"null": "Operation not permitted", "zero": "ok",
                                           "mem": "Operation not permitted"}


@pytest.mark.spec("CG-DEV-001", "CG-DEV-002")
def test_a_process_opens_only_the_devices_its_group_allows(lab, driver, nodes):
    check_group(lab, driver, nodes)
    if driver.version == 1:
        group = lab.groups[0]
        listed = open(os.path.join(group.paths["devices"], "devices.list")).read().splitlines()
        assert listed == [r.line() for r in RUNC_DEFAULTS]


@pytest.fixture
def v2_driver(driver):
    """The v2 driver: the host's, or on a hybrid host one on the cgroup2 mount beside v1."""
    if driver.version == 2:
        return driver
    if not os.path.exists(os.path.join(UNIFIED, "cgroup.procs")):
        pytest.skip("no cgroup2 mount beside v1 here")
    return Driver(Hierarchy(2, {}, UNIFIED))   # the kernel runs v2 device programs on a hybrid too


@pytest.mark.spec("CG-DEV-002", "CG-003")
def test_the_v2_program_for_real_and_freed_with_its_group(lab, v2_driver, nodes):
    check_group(lab, v2_driver, nodes)
    group = lab.groups[0]
    programs = group.device_programs()
    assert len(programs) == 1
    group.remove()
    assert wait_until_freed(programs), "the device program outlived its group"


@pytest.mark.spec("CG-DEV-002", "CG-RES-006")
def test_a_program_the_verifier_refuses_leaves_no_group(lab, v2_driver, monkeypatch):
    # a program the verifier must refuse: it returns r0 before anything set it
    monkeypatch.setattr(v2, "device_program", lambda state: [ebpf.Instruction(ebpf.BPF_JMP | ebpf.BPF_EXIT)])
    with pytest.raises(MinidockSystemError, match=r"(?s)linux.resources.devices: the kernel refused the device "
                                          r"program .*the verifier said: .*R0 !read_ok"):
        v2_driver.create(lab.name(), Resources(devices=DOCKER_DEFAULT))
    assert leftovers(v2_driver, lab.top) == []
