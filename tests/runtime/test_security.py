"""Security: the pure parts as data, and the real thing applied in forked children.

The forked-child tests do what the container's init does (security.apply, then
the probe that execve would run) without a whole container, so they run before
and after the runtime calls apply(). tests/runtime/test_breakout.py does the same
through `minidock-runtime run`.
"""

from __future__ import annotations

import errno
import json
import shutil
import os
import signal
import subprocess
import sys

import pytest

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.runtime import security
from minidock.runtime.security import bpf, capabilities as caps, seccomp
from minidock.runtime.security.syscall_numbers import ARCHES, X32_SYSCALL_BIT

X86 = ARCHES["x86_64"]
DOCKER_MASK = 0xA80425FB  # CapEff of a default `docker run`


# ---- a classic BPF interpreter, to test what the compiled programs decide ------------------

def run_bpf(program, nr: int, args=(0,) * 6, arch: int = X86.audit_arch) -> int:
    """Run a seccomp program on one struct seccomp_data; return the SECCOMP_RET_* value."""
    data = bytearray(64)
    data[0:4] = (nr & 0xFFFFFFFF).to_bytes(4, "little")
    data[4:8] = arch.to_bytes(4, "little")
    for index, value in enumerate(list(args) + [0] * (6 - len(args))):
        data[16 + 8 * index:24 + 8 * index] = (value & (2**64 - 1)).to_bytes(8, "little")
    a, pc = 0, 0
    while True:
        insn = program[pc]
        kind, op = insn.code & 0x07, insn.code & 0xF0
        pc += 1
        if kind == bpf.BPF_LD:
            a = int.from_bytes(data[insn.k:insn.k + 4], "little")
        elif kind == bpf.BPF_ALU:
            a &= insn.k
        elif kind == bpf.BPF_RET:
            return insn.k
        elif op == bpf.BPF_JA:
            pc += insn.k
        else:
            taken = {bpf.BPF_JEQ: a == insn.k, bpf.BPF_JGT: a > insn.k,
                     bpf.BPF_JGE: a >= insn.k, bpf.BPF_JSET: bool(a & insn.k)}[op]
            pc += insn.jt if taken else insn.jf


ALLOW = seccomp.ACTIONS["SCMP_ACT_ALLOW"]
KILL = seccomp.ACTIONS["SCMP_ACT_KILL_PROCESS"]


def errno_ret(number: int) -> int:
    return seccomp.ACTIONS["SCMP_ACT_ERRNO"] | number


def compiled(profile: dict, arch=X86):
    return list(seccomp.compile_profile(seccomp.parse(profile), arch).program)


# ---- capabilities ------------------------------------------------------------------------

@pytest.mark.spec("RT-SEC-010")
def test_the_capability_table_both_ways():
    assert len(caps.NAMES) == 41 and caps.LAST_CAP == 40
    assert caps.NUMBERS["CAP_CHOWN"] == 0 and caps.NUMBERS["CAP_SYS_ADMIN"] == 21
    assert caps.NUMBERS["CAP_SYS_RESOURCE"] == 24 and caps.NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert all(caps.NAMES[caps.NUMBERS[name]] == name for name in caps.NAMES)
    assert caps.from_mask(DOCKER_MASK) == caps.DOCKER_DEFAULT
    assert caps.to_mask(caps.DOCKER_DEFAULT) == DOCKER_MASK
    with open("/proc/sys/kernel/cap_last_cap") as file:
        assert int(file.read()) <= caps.LAST_CAP


@pytest.mark.spec("RT-SEC-011")
def test_names_with_or_without_prefix_and_unknown_ones_refused():
    assert caps.normalize("net_admin") == caps.normalize("CAP_NET_ADMIN") == "CAP_NET_ADMIN"
    assert caps.resolve([], ["sys_admin", "Cap_Kill"]) == {"CAP_SYS_ADMIN", "CAP_KILL"}
    with pytest.raises(InvalidArgument, match="unknown capabilities: CAP_NET_ADMN, CAP_FOO"):
        caps.resolve(caps.DOCKER_DEFAULT, ["NET_ADMN", "foo"])


@pytest.mark.spec("RT-SEC-012")
@pytest.mark.parametrize("add, drop, expected", [
    ((), (), caps.DOCKER_DEFAULT),
    (("NET_ADMIN",), ("MKNOD",), caps.DOCKER_DEFAULT - {"CAP_MKNOD"} | {"CAP_NET_ADMIN"}),
    (("ALL",), ("SYS_ADMIN",), set(caps.NAMES) - {"CAP_SYS_ADMIN"}),
    (("NET_ADMIN",), ("ALL",), {"CAP_NET_ADMIN"}),
    ((), ("ALL",), set()),
    (("CHOWN",), ("CHOWN",), caps.DOCKER_DEFAULT),  # moby: drop first, then add
])
def test_cap_add_and_cap_drop_by_dockers_rules(add, drop, expected):
    assert caps.resolve(caps.DOCKER_DEFAULT, add, drop) == expected


@pytest.mark.spec("RT-SEC-033", "RT-SEC-014")
@pytest.mark.parametrize("value, message", [
    (["CAP_KILL"], "'process.capabilities' must be an object"),
    ({"bounding": "CAP_KILL"}, "'process.capabilities.bounding' must be a list"),
    ({"effective": ["CAP_KILLL"]}, "process.capabilities.effective.*CAP_KILLL"),
    ({"bounded": []}, "unknown sets \\['bounded'\\]"),
    ({"ambient": ["CAP_KILL"], "permitted": ["CAP_KILL"]}, "ambient.*also be in permitted and inheritable"),
])
def test_bad_capabilities_are_refused_naming_the_field(value, message):
    with pytest.raises(InvalidArgument, match=message):
        security.parse({"process": {"capabilities": value}})


# ---- seccomp: the compiler, as data ------------------------------------------------------

@pytest.mark.spec("RT-SEC-020", "RT-SEC-021")
def test_a_small_profile_compiles_to_these_instructions():
    program = compiled({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]})
    assert program == [
        bpf.load(4), bpf.jump(bpf.BPF_JEQ, X86.audit_arch, 1, 0), bpf.ret(KILL),    # arch
        bpf.load(0), bpf.jump(bpf.BPF_JGE, X32_SYSCALL_BIT, 0, 1), bpf.ret(KILL),   # x32
        bpf.jump(bpf.BPF_JEQ, 165, 0, 1), bpf.ret(errno_ret(errno.EPERM)),         # mount
        bpf.ret(ALLOW),                                                            # default
    ]
    assert len(bpf.encode(program)) == 8 * len(program)


@pytest.mark.spec("RT-SEC-020")
def test_another_architecture_and_x32_calls_are_killed():
    program = compiled({"defaultAction": "SCMP_ACT_ALLOW"})
    assert run_bpf(program, 165) == ALLOW
    assert run_bpf(program, 165, arch=ARCHES["aarch64"].audit_arch) == KILL
    assert run_bpf(program, 165, arch=0x40000003) == KILL   # AUDIT_ARCH_I386: int 0x80
    assert run_bpf(program, X32_SYSCALL_BIT | 165) == KILL


BIG = 0x1_0000_0005  # high word 1, low word 5: the halves must both count


@pytest.mark.spec("RT-SEC-021")
@pytest.mark.parametrize("op, value, two, holds, fails", [
    ("SCMP_CMP_EQ", BIG, 0, [BIG], [5, BIG + 1, 1 << 32]),
    ("SCMP_CMP_NE", BIG, 0, [5, BIG + 1, 1 << 32], [BIG]),
    ("SCMP_CMP_GT", BIG, 0, [BIG + 1, 2 << 32], [BIG, 5, 0xFFFFFFFF]),
    ("SCMP_CMP_GE", BIG, 0, [BIG, 2 << 32], [BIG - 1, 0xFFFFFFFF]),
    ("SCMP_CMP_LT", BIG, 0, [BIG - 1, 0xFFFFFFFF, 0], [BIG, 2 << 32, (1 << 32) + 6]),
    ("SCMP_CMP_LE", BIG, 0, [BIG, 0xFFFFFFFF], [BIG + 1, 2 << 32]),
    ("SCMP_CMP_MASKED_EQ", 0xFF0000000F, 0x120000000A, [0x123400000A, 0x12FFFFFFFA], [0x130000000A, 0x12000000A0 | 0xB]),
])
def test_argument_comparisons_use_all_64_bits(op, value, two, holds, fails):
    program = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EINVAL,
         "args": [{"index": 2, "value": value, "valueTwo": two, "op": op}]}]})
    nr = X86.numbers["personality"]
    for argument in holds:
        assert run_bpf(program, nr, (0, 0, argument)) == errno_ret(errno.EINVAL), hex(argument)
    for argument in fails:
        assert run_bpf(program, nr, (0, 0, argument)) == ALLOW, hex(argument)


@pytest.mark.spec("RT-SEC-021")
def test_a_matching_rule_decides_then_the_default():
    program = compiled({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EACCES, "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kill", "tkill"], "action": "SCMP_ACT_TRAP", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]})
    kill, tkill = X86.numbers["kill"], X86.numbers["tkill"]
    assert run_bpf(program, kill, (1, 0)) == ALLOW
    assert run_bpf(program, kill, (1, 9)) == seccomp.ACTIONS["SCMP_ACT_TRAP"]
    assert run_bpf(program, tkill, (1, 9)) == seccomp.ACTIONS["SCMP_ACT_TRAP"]
    assert run_bpf(program, kill, (1, 15)) == errno_ret(errno.EACCES)
    assert run_bpf(program, X86.numbers["getpid"]) == ALLOW
    assert run_bpf(program, X86.numbers["getppid"]) == errno_ret(errno.EACCES)


@pytest.mark.spec("RT-SEC-021")
def test_the_most_severe_matching_rule_wins_whatever_the_order():
    # an unconditional ERRNO written after a conditional ALLOW still wins, as in libseccomp
    program = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}]})
    assert run_bpf(program, X86.numbers["clone"], (1,)) == errno_ret(errno.EPERM)
    assert run_bpf(program, X86.numbers["clone"], (2,)) == errno_ret(errno.EPERM)


@pytest.mark.spec("RT-SEC-021")
def test_a_long_rule_block_is_jumped_over_with_ja():
    rules = [{"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
              "args": [{"index": 1, "value": n, "op": "SCMP_CMP_EQ"}]} for n in range(80)]
    program = compiled({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules + [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]})
    assert any(i.code == bpf.BPF_JMP | bpf.BPF_JA for i in program)
    assert run_bpf(program, X86.numbers["ioctl"], (0, 79)) == ALLOW
    assert run_bpf(program, X86.numbers["ioctl"], (0, 80)) == errno_ret(errno.EPERM)
    assert run_bpf(program, X86.numbers["getpid"]) == ALLOW


@pytest.mark.spec("RT-SEC-022")
def test_names_use_the_architectures_table_and_missing_ones_are_skipped():
    profile = seccomp.parse({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mount", "iopl", "no_such_call"], "action": "SCMP_ACT_ERRNO"}]})
    arm = ARCHES["aarch64"]
    on_arm = seccomp.compile_profile(profile, arm)
    assert on_arm.skipped == ("iopl", "no_such_call")  # arm64 has no iopl
    assert run_bpf(on_arm.program, 40, arch=arm.audit_arch) == errno_ret(errno.EPERM)  # mount is 40
    assert run_bpf(on_arm.program, 165, arch=arm.audit_arch) == ALLOW                # 165: getrusage
    on_x86 = seccomp.compile_profile(profile, X86)
    assert on_x86.skipped == ("no_such_call",)
    assert run_bpf(on_x86.program, X86.numbers["iopl"]) == errno_ret(errno.EPERM)


@pytest.mark.spec("RT-SEC-023")
@pytest.mark.parametrize("value, field", [
    ({"syscalls": []}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}, "linux.seccomp.architectures"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "mount", "action": "SCMP_ACT_ERRNO"}]},
     "linux.seccomp.syscalls[0].names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "ERRNO"}]},
     "linux.seccomp.syscalls[0].action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                                                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                                                        "args": [{"index": 0, "value": 1, "op": "EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].op"),
    ("SCMP_ACT_ALLOW", "linux.seccomp"),
])
def test_a_malformed_profile_is_refused_naming_the_field(value, field):
    with pytest.raises(InvalidArgument) as error:
        security.parse({"linux": {"seccomp": value}})
    assert f"'{field}'" in str(error.value)


# ---- the config fields -------------------------------------------------------------------

@pytest.mark.spec("RT-SEC-030", "RT-SEC-031", "RT-SEC-032")
def test_absent_fields_change_nothing_and_lsm_labels_are_only_noted():
    assert security.parse({}) == security.Security()
    with pytest.raises(InvalidArgument, match="'process.noNewPrivileges' must be bool"):
        security.parse({"process": {"noNewPrivileges": "yes"}})
    labelled = security.parse({"process": {"apparmorProfile": "docker-default", "selinuxLabel": "x"}})
    assert labelled.ignored == ("process.apparmorProfile", "process.selinuxLabel")


# ---- Docker's defaults, as data ----------------------------------------------------------

def default_program(**options):
    parsed = security.parse(security.docker_fields(bounding=caps.NAMES, **options))
    return list(seccomp.compile_profile(parsed.seccomp, X86).program), parsed


@pytest.mark.spec("RT-SEC-050", "RT-SEC-051")
def test_the_default_capabilities_and_profile():
    program, parsed = default_program()
    assert parsed.capabilities.bounding == parsed.capabilities.effective == parsed.capabilities.permitted
    assert parsed.capabilities.effective == caps.DOCKER_DEFAULT and len(caps.DOCKER_DEFAULT) == 14
    assert parsed.capabilities.inheritable == parsed.capabilities.ambient == frozenset()
    for name in ("mount", "umount2", "pivot_root", "unshare", "setns", "keyctl", "add_key", "request_key",
                 "ptrace", "kexec_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
                 "swapoff", "open_by_handle_at", "bpf", "perf_event_open", "userfaultfd", "clock_settime",
                 "settimeofday", "acct", "quotactl", "lookup_dcookie", "iopl", "ioperm"):
        assert run_bpf(program, X86.numbers[name]) == errno_ret(errno.EPERM), name
    clone = X86.numbers["clone"]
    assert run_bpf(program, clone, (0x11 | 0x003D0F00,)) == ALLOW            # fork, pthread_create
    assert run_bpf(program, clone, (sc.CLONE_NEWUSER | 0x11,)) == errno_ret(errno.EPERM)
    assert run_bpf(program, X86.numbers["clone3"]) == errno_ret(errno.ENOSYS)
    for name in ("read", "write", "execve", "chroot", "sethostname", "setuid", "capset", "openat"):
        assert run_bpf(program, X86.numbers[name]) == ALLOW, name


@pytest.mark.spec("RT-SEC-052")
def test_a_kept_capability_unlocks_its_calls():
    program, _ = default_program(cap_add=["SYS_ADMIN", "SYS_PTRACE"])
    for name in ("mount", "unshare", "setns", "ptrace", "process_vm_readv"):
        assert run_bpf(program, X86.numbers[name]) == ALLOW, name
    assert run_bpf(program, X86.numbers["clone"], (sc.CLONE_NEWUSER,)) == ALLOW
    for name in ("init_module", "reboot", "keyctl"):
        assert run_bpf(program, X86.numbers[name]) == errno_ret(errno.EPERM), name


@pytest.mark.spec("RT-SEC-053")
def test_privileged_is_the_whole_bounding_set_and_no_filter():
    fields = security.docker_fields(privileged=True)
    parsed = security.parse(fields)
    assert parsed.seccomp is None and parsed.masked_paths == parsed.readonly_paths == ()
    # whatever the machine's bounding set holds (these CI machines lack CAP_SYS_RESOURCE; a VM
    # or a laptop has every capability), and nothing more
    assert parsed.capabilities.effective == caps.bounding_set()
    config = security.merge({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_KILL"}}}, fields)
    assert "seccomp" not in config["linux"]


@pytest.mark.spec("RT-SEC-055")
def test_mknod_is_left_to_the_devices_cgroup():
    program, _ = default_program()
    mknodat = X86.numbers["mknodat"]
    for mode, major, minor in ((0o020666, 1, 3), (0o020600, 1, 1), (0o060600, 8, 0), (0o010644, 0, 0)):
        assert run_bpf(program, mknodat, (-100, 0, mode, major << 8 | minor)) == ALLOW
    assert run_bpf(program, X86.numbers["mknod"], (0, 0o060600, 8 << 8)) == ALLOW
    # what docker run writes instead: deny every device (the runtime adds the standard
    # nodes), or with --privileged allow every one
    assert security.docker_fields()["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    privileged = security.docker_fields(privileged=True)["linux"]["resources"]
    assert privileged == {"devices": [{"allow": True, "access": "rwm"}]}
    merged = security.merge({"linux": {"resources": {"memory": {"limit": 1 << 26},
                                                     "devices": [{"allow": True, "access": "rwm"}]}}},
                            security.docker_fields())
    assert merged["linux"]["resources"] == {"memory": {"limit": 1 << 26},
                                            "devices": [{"allow": False, "access": "rwm"}]}


# ---- the real thing, in forked children --------------------------------------------------

def in_child(body) -> dict:
    """Run ``body()`` in a forked child; return what it returned (JSON), or its error."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(read_end)
            result = {"value": body()}
        except BaseException as error:  # noqa: BLE001 - report it to the parent
            result, status = {"error": repr(error)}, 1
        os.write(write_end, json.dumps(result).encode())
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    assert "error" not in result, result["error"]
    return result["value"]


def status_fields() -> dict[str, str]:
    with open("/proc/self/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def private_mounts() -> None:
    """A mount namespace of the child's own: apply() mounts over /proc paths, never the host's."""
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)


def fork_and_wait() -> None:
    """fork(2) still works under the filter: a child that exits at once."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def outcome(call) -> str:
    """'ok', or the errno name the call failed with."""
    try:
        call()
        return "ok"
    except sc.SyscallError as error:
        return errno.errorcode[error.errno]
    except OSError as error:
        return errno.errorcode[error.errno]


DEFAULT = security.parse(security.docker_fields())
PRIVILEGED = security.parse(security.docker_fields(privileged=True))


@pytest.mark.spec("RT-SEC-013", "RT-SEC-024", "RT-SEC-050", "RT-SEC-031")
def test_the_default_really_drops_capabilities_and_loads_the_filter():
    def body():
        sc.unshare(sc.CLONE_NEWNS)  # the masked paths are mounted; keep them to this child
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        security.apply(security.parse(security.docker_fields(no_new_privileges=True)))
        return status_fields()

    status = in_child(body)
    assert int(status["CapBnd"], 16) == int(status["CapEff"], 16) == int(status["CapPrm"], 16) == DOCKER_MASK
    assert int(status["CapInh"], 16) == int(status["CapAmb"], 16) == 0
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"


@pytest.mark.spec("RT-SEC-024", "RT-SEC-051", "RT-SEC-060", "RT-SEC-067", "RT-SEC-068", "RT-SEC-064")
def test_under_the_default_filter_these_calls_get_eperm(tmp_path):
    def body():
        private_mounts()
        security.apply(DEFAULT)
        return {
            "mount": outcome(lambda: sc.mount("tmpfs", str(tmp_path), "tmpfs")),
            "unshare(CLONE_NEWUSER)": outcome(lambda: sc.unshare(sc.CLONE_NEWUSER)),
            "keyctl": outcome(lambda: sc.keyctl(sc.KEYCTL_GET_KEYRING_ID, sc.KEY_SPEC_SESSION_KEYRING)),
            "ptrace": outcome(lambda: sc.ptrace(sc.PTRACE_ATTACH, os.getppid())),
            "fork": outcome(fork_and_wait),
        }

    assert in_child(body) == {"mount": "EPERM", "unshare(CLONE_NEWUSER)": "EPERM", "keyctl": "EPERM",
                              "ptrace": "EPERM", "fork": "ok"}


@pytest.mark.spec("RT-SEC-053", "RT-SEC-060", "RT-SEC-067", "RT-SEC-068")
def test_privileged_the_same_calls_succeed(tmp_path):
    def body():
        private_mounts()
        security.apply(PRIVILEGED)
        return {
            "mount": outcome(lambda: sc.mount("tmpfs", str(tmp_path), "tmpfs")),
            "unshare(CLONE_NEWUSER)": outcome(lambda: sc.unshare(sc.CLONE_NEWUSER)),
            "keyctl": outcome(lambda: sc.keyctl(sc.KEYCTL_GET_KEYRING_ID, sc.KEY_SPEC_SESSION_KEYRING)),
            "status": status_fields(),
        }

    result = in_child(body)
    assert result.pop("status")["Seccomp"] == "0"
    assert result == {"mount": "ok", "unshare(CLONE_NEWUSER)": "ok", "keyctl": "ok"}


@pytest.mark.spec("RT-SEC-062", "RT-SEC-055")
def test_module_loading_and_device_nodes_default_versus_privileged(tmp_path):
    def body(settings, name):
        def run():
            private_mounts()
            security.apply(settings)
            node = tmp_path / name
            result = {"init_module": outcome(lambda: sc.init_module(b"\x7fELF not a module")),
                      "mknod sda": outcome(lambda: os.mknod(node, 0o600 | 0o060000, os.makedev(8, 0))),
                      "mknod null": outcome(lambda: os.mknod(tmp_path / f"{name}-null", 0o666 | 0o020000,
                                                             os.makedev(1, 3)))}
            return result
        return run

    default = in_child(body(DEFAULT, "default"))
    privileged = in_child(body(PRIVILEGED, "privileged"))
    # mknod passes the filter (CAP_MKNOD is kept): the devices cgroup decides, not seccomp
    assert default == {"init_module": "EPERM", "mknod sda": "ok", "mknod null": "ok"}
    # past the permission check; this kernel has no modules (ENOSYS), others reject the image
    assert privileged["init_module"] in ("ENOSYS", "ENOEXEC", "EINVAL")
    assert privileged["mknod sda"] == privileged["mknod null"] == "ok"


@pytest.mark.spec("RT-SEC-064")
def test_ptrace_of_a_host_process_default_versus_privileged():
    target = subprocess.Popen(["sleep", "30"])
    try:
        def body(settings):
            def run():
                private_mounts()
                security.apply(settings)
                result = {"ptrace": outcome(lambda: sc.ptrace(sc.PTRACE_ATTACH, target.pid))}
                if result["ptrace"] == "ok":
                    os.waitpid(target.pid, 0)  # the SIGSTOP that attaching sends
                    sc.ptrace(sc.PTRACE_DETACH, target.pid)
                return result
            return run

        assert in_child(body(DEFAULT)) == {"ptrace": "EPERM"}
        assert in_child(body(PRIVILEGED)) == {"ptrace": "ok"}
    finally:
        target.send_signal(signal.SIGKILL)
        target.wait()


@pytest.mark.spec("RT-SEC-041", "RT-SEC-014", "RT-SEC-040")
def test_a_non_root_user_keeps_exactly_the_configured_sets():
    config = {"process": {"capabilities": {
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"], "permitted": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "effective": ["CAP_NET_BIND_SERVICE", "CAP_KILL"], "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]}}}

    def body():
        private_mounts()
        security.apply(security.parse(config), uid=65534, gid=65534, additional_gids=[65533])
        before_exec = status_fields()
        # what the container's program sees: execve keeps only the ambient set for a non-root uid
        after_exec = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
        return {"before": before_exec, "after": dict(line.split(":\t", 1) for line in after_exec.splitlines()
                                                    if ":\t" in line)}

    result = in_child(body)
    before, after = result["before"], result["after"]
    both, bind = caps.to_mask({"CAP_NET_BIND_SERVICE", "CAP_KILL"}), caps.to_mask({"CAP_NET_BIND_SERVICE"})
    assert before["Uid"].split()[0] == "65534" and before["Groups"].split() == ["65533"]
    assert (int(before["CapEff"], 16), int(before["CapPrm"], 16), int(before["CapBnd"], 16)) == (both,) * 3
    assert int(before["CapInh"], 16) == int(before["CapAmb"], 16) == bind
    assert int(after["CapEff"], 16) == int(after["CapPrm"], 16) == int(after["CapAmb"], 16) == bind


@pytest.mark.spec("RT-SEC-034", "RT-SEC-063", "RT-SEC-061")
def test_masked_and_read_only_paths(tmp_path):
    (tmp_path / "secret").write_text("host memory")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text("k")
    (tmp_path / "sysrq").mkdir()

    def body():
        private_mounts()
        settings = security.parse({"linux": {
            "maskedPaths": [str(tmp_path / "secret"), str(tmp_path / "secrets"), str(tmp_path / "absent")],
            "readonlyPaths": [str(tmp_path / "sysrq"), "/proc/sysrq-trigger"]}})
        security.apply(settings)
        return {"secret": (tmp_path / "secret").read_text(), "secrets": os.listdir(tmp_path / "secrets"),
                "write": outcome(lambda: (tmp_path / "sysrq" / "b").write_text("x")),
                "sysrq-trigger": outcome(lambda: open("/proc/sysrq-trigger", "w"))}

    # this kernel has no magic SysRq: there /proc/sysrq-trigger is absent, elsewhere read-only
    sysrq = "EROFS" if os.path.exists("/proc/sysrq-trigger") else "ENOENT"
    assert in_child(body) == {"secret": "", "secrets": [], "write": "EROFS", "sysrq-trigger": sysrq}
    assert (tmp_path / "secret").read_text() == "host memory"  # masked only in the child's namespace
    with pytest.raises(InvalidArgument, match="'linux.maskedPaths'"):
        security.parse({"linux": {"maskedPaths": ["relative"]}})
    assert "/proc/kcore" in security.paths.DOCKER_MASKED


def chroot_trick() -> list[str]:
    """The classic escape: chroot into a subdirectory, keep the cwd outside it, climb, chroot '.'."""
    os.makedirs("/jail", exist_ok=True)
    os.chdir("/")
    os.chroot("/jail")            # the cwd is now outside the root: '..' is not stopped at it
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    return sorted(os.listdir("/"))


@pytest.mark.spec("RT-SEC-066")
def test_the_chroot_trick_stays_inside_after_pivot_root(busybox_bundle, tmp_path):
    from minidock.cgroups import open_driver
    from minidock.runtime import rootfs

    root = tmp_path / "rootfs"
    shutil.copytree(busybox_bundle / "rootfs", root, symlinks=True)
    inside = sorted(os.listdir(root)) + ["jail"]
    host = sorted(os.listdir("/"))

    def pivoted():
        sc.unshare(sc.CLONE_NEWNS)
        rootfs.enter(str(root), open_driver().hierarchy)
        security.apply(DEFAULT)  # CAP_SYS_CHROOT is among Docker's defaults: chroot works
        return chroot_trick()

    def chrooted():
        private_mounts()
        os.chroot(str(root))
        security.apply(DEFAULT)
        return chroot_trick()

    assert sorted(set(in_child(pivoted)) - {"dev", "proc", "sys"}) == sorted(set(inside) - {"dev", "proc", "sys"})
    assert in_child(chrooted) == host  # a plain chroot is escaped: the test can fail


@pytest.mark.spec("RT-SEC-013", "RT-SEC-014")
def test_a_dropped_capability_is_what_breaks(bundle):
    # Docker's defaults with one dropped (--cap-drop CHOWN): root's chown is refused, and only it
    kept = caps.resolve(caps.DOCKER_DEFAULT, drop=["CHOWN"])
    probe = ("touch /tmp/f; grep -E '^Cap(Eff|Bnd)' /proc/self/status | tr -d ' \\t'; "
             "chown 1 /tmp/f && echo chown ok; chmod 600 /tmp/f && echo chmod ok")
    plain = bundle.run("sh", "-c", probe)
    bundle.config["process"]["capabilities"] = caps.Capabilities.docker(kept).to_oci()
    dropped = bundle.run("sh", "-c", probe)
    assert plain.returncode == dropped.returncode == 0, plain.stderr + dropped.stderr
    assert plain.stdout.split() == [f"CapEff:{DOCKER_MASK:016x}", f"CapBnd:{DOCKER_MASK:016x}", "chown", "ok",
                                    "chmod", "ok"]
    without = DOCKER_MASK & ~(1 << caps.NUMBERS["CAP_CHOWN"])
    assert dropped.stdout.split() == [f"CapEff:{without:016x}", f"CapBnd:{without:016x}", "chmod", "ok"]
    assert "Operation not permitted" in dropped.stderr
