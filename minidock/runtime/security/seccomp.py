"""Seccomp: a BPF filter the kernel runs on every syscall, compiled from an OCI profile.

Implements: spec/security.md RT-SEC-020 .. RT-SEC-024
Explained:  chapters/03-runtime.md#seccomp
Modelled on: the OCI runtime-spec's linux.seccomp, libseccomp's compiler
             (without its binary-tree optimizations), runc's libcontainer/seccomp

    Profile / Rule / Condition      the OCI linux.seccomp object, checked (pure)
    parse(value, field) -> Profile  config.json -> Profile; errors name the field
    compile_profile(profile, arch) -> Compiled   a list of BPF instructions (pure)
    encode(compiled) -> bytes       the program packed as struct sock_filter[] (pure)
    load(compiled)                  seccomp(SECCOMP_SET_MODE_FILTER): the thin shell

The compiled program, top to bottom:

    ld arch;  jeq AUDIT_ARCH_<native>, 1, 0;  ret KILL_PROCESS   wrong arch: killed
    ld nr;    jge X32_SYSCALL_BIT -> ret KILL_PROCESS            (x86_64: x32 calls)
    for each syscall named by a rule, in order of first mention:
        jeq nr(name), 0, <next syscall>
        for each rule naming it, most severe action first:
            <its conditions, failing to the next rule>; ret action
        ret defaultAction                                       no rule matched
    ret defaultAction                                           a syscall no rule names

Rules: rules naming the same syscall are tried most severe action first (KILL,
TRAP, ERRNO, TRACE, LOG, ALLOW; in the order written within one action), so the
strictest matching rule wins, as libseccomp (and so runc) decides. A name this architecture lacks is skipped, as runc and
libseccomp do, and reported in Compiled.skipped. Other architectures (i386,
x32) are killed, not filtered: stricter than Docker, which also lists them.
"""

from __future__ import annotations

import errno
import itertools
import sys

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.records import record
from minidock.runtime.security import bpf
from minidock.runtime.security.bpf import Label
from minidock.runtime.security.syscall_numbers import X32_SYSCALL_BIT, Arch, ARCHES, native


# OCI action names -> SECCOMP_RET_* values (<linux/seccomp.h>). Tables of names rather
# than enum.Enum classes, here and below: enum costs a container's start 3 ms
# (chapters/03-runtime.md#start-up-time).
ACTIONS = {
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL": 0x00000000,          # the old name of KILL_THREAD
    "SCMP_ACT_TRAP": 0x00030000,          # SIGSYS
    "SCMP_ACT_ERRNO": 0x00050000,         # | errno, in the low 16 bits
    "SCMP_ACT_TRACE": 0x7FF00000,         # | data, for a ptrace(2) tracer
    "SCMP_ACT_LOG": 0x7FFC0000,           # allow, and log it
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}

# OCI linux.seccomp.syscalls[].args[].op: how an argument is compared
OPS = {
    "SCMP_CMP_NE": "!=",
    "SCMP_CMP_LT": "<",
    "SCMP_CMP_LE": "<=",
    "SCMP_CMP_EQ": "==",
    "SCMP_CMP_GE": ">=",
    "SCMP_CMP_GT": ">",
    "SCMP_CMP_MASKED_EQ": "&==",          # (arg & value) == valueTwo
}


@record
class Condition:
    """One comparison of a syscall argument (all 64 bits)."""

    index: int          # 0..5
    op: str             # a name in OPS
    value: int
    value_two: int = 0


@record
class Rule:
    """`names` get `action` when every condition holds."""

    names: tuple[str, ...]
    action: str                         # a name in ACTIONS
    errno_ret: int = errno.EPERM        # OCI: errnoRet, EPERM when absent
    conditions: tuple[Condition, ...] = ()


@record
class Profile:
    """The OCI linux.seccomp object."""

    default_action: str                 # a name in ACTIONS
    rules: tuple[Rule, ...] = ()
    default_errno_ret: int = errno.EPERM
    architectures: tuple[str, ...] = ()


@record
class Compiled:
    """A profile compiled for one architecture: the program and what was left out."""

    arch: Arch
    program: tuple[bpf.Instruction, ...]
    skipped: tuple[str, ...]            # names this architecture does not have


def return_value(action: str, errno_ret: int) -> int:
    """The 32-bit SECCOMP_RET_* value the filter returns for ``action``."""
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        return ACTIONS[action] | (errno_ret & 0xFFFF)
    return ACTIONS[action]


# ---- parse: the OCI object, checked --------------------------------------------------------

def _bad(field: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"config.json: field {field!r} {what}")


def _action(value: object, field: str) -> str:
    if value == "SCMP_ACT_NOTIFY":
        raise _bad(field, "is SCMP_ACT_NOTIFY, which needs a listener minidock does not have")
    if not isinstance(value, str) or value not in ACTIONS:
        raise _bad(field, f"is not a seccomp action: {value!r}; "
                          f"use one of {', '.join(ACTIONS)}")
    return value


def _int(value: object, field: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(field, f"must be a non-negative integer, not {value!r}")
    return value


def _condition(value: object, field: str) -> Condition:
    if not isinstance(value, dict):
        raise _bad(field, "must be an object {index, value, valueTwo, op}")
    index = _int(value.get("index"), f"{field}.index", -1)
    if not 0 <= index <= 5:
        raise _bad(f"{field}.index", "must be 0..5 (a syscall has six arguments)")
    op_name = value.get("op")
    if not isinstance(op_name, str) or op_name not in OPS:
        raise _bad(f"{field}.op", f"is not a comparison: {op_name!r}; use one of {', '.join(OPS)}")
    return Condition(index, op_name, _int(value.get("value"), f"{field}.value", 0) & (2**64 - 1),
                     _int(value.get("valueTwo"), f"{field}.valueTwo", 0) & (2**64 - 1))


def parse(value: object, field: str = "linux.seccomp") -> Profile:
    """Check an OCI linux.seccomp object; every error names the field."""
    # [RT-SEC-023] a malformed profile is refused, naming the field
    if not isinstance(value, dict):
        raise _bad(field, "must be an object")
    if "defaultAction" not in value:
        raise _bad(f"{field}.defaultAction", "is required")
    default = _action(value["defaultAction"], f"{field}.defaultAction")
    arches = value.get("architectures") or []
    known = {arch.name for arch in ARCHES.values()} | {"SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_ARM"}
    if not isinstance(arches, list) or any(a not in known for a in arches):
        raise _bad(f"{field}.architectures", f"must be a list of {', '.join(sorted(known))}")
    rules = []
    syscalls = value.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _bad(f"{field}.syscalls", "must be a list")
    for n, entry in enumerate(syscalls):
        where = f"{field}.syscalls[{n}]"
        if not isinstance(entry, dict):
            raise _bad(where, "must be an object {names, action, errnoRet, args}")
        names = entry.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
            raise _bad(f"{where}.names", "must be a non-empty list of syscall names")
        args = entry.get("args") or []
        if not isinstance(args, list):
            raise _bad(f"{where}.args", "must be a list")
        rules.append(Rule(tuple(names), _action(entry.get("action"), f"{where}.action"),
                          _int(entry.get("errnoRet"), f"{where}.errnoRet", errno.EPERM),
                          tuple(_condition(a, f"{where}.args[{i}]") for i, a in enumerate(args))))
    return Profile(default, tuple(rules), _int(value.get("defaultErrnoRet"), f"{field}.defaultErrnoRet",
                                               errno.EPERM), tuple(arches))


# ---- compile: a Profile -> BPF instructions (pure) ----------------------------------------

def _compare(condition: Condition, fail: Label, labels) -> list:
    """Instructions that fall through when ``condition`` holds and jump to ``fail`` when not.

    An argument is 64 bits but A holds 32: compare the high words, then the low.
    """
    hi, lo = bpf.arg_high(condition.index), bpf.arg_low(condition.index)
    value_hi, value_lo = condition.value >> 32, condition.value & 0xFFFFFFFF
    ok = Label(f"ok{next(labels)}")
    op = condition.op
    if op == "SCMP_CMP_MASKED_EQ":
        two_hi, two_lo = condition.value_two >> 32, condition.value_two & 0xFFFFFFFF
        return [bpf.load(hi), bpf.and_(value_hi), bpf.jump(bpf.BPF_JEQ, two_hi, 0, fail),
                bpf.load(lo), bpf.and_(value_lo), bpf.jump(bpf.BPF_JEQ, two_lo, 0, fail)]
    if op == "SCMP_CMP_EQ":
        return [bpf.load(hi), bpf.jump(bpf.BPF_JEQ, value_hi, 0, fail),
                bpf.load(lo), bpf.jump(bpf.BPF_JEQ, value_lo, 0, fail)]
    if op == "SCMP_CMP_NE":    # fails only when both halves are equal
        return [bpf.load(hi), bpf.jump(bpf.BPF_JEQ, value_hi, 0, ok),
                bpf.load(lo), bpf.jump(bpf.BPF_JEQ, value_lo, fail, ok), ok]
    # ordered comparisons: the high words decide unless they are equal
    if op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        low = bpf.BPF_JGT if op == "SCMP_CMP_GT" else bpf.BPF_JGE
        return [bpf.load(hi), bpf.jump(bpf.BPF_JGT, value_hi, ok, 0),
                bpf.jump(bpf.BPF_JEQ, value_hi, 0, fail),
                bpf.load(lo), bpf.jump(low, value_lo, ok, fail), ok]
    # LT is "not GE", LE is "not GT"
    low = bpf.BPF_JGE if op == "SCMP_CMP_LT" else bpf.BPF_JGT
    return [bpf.load(hi), bpf.jump(bpf.BPF_JGT, value_hi, fail, 0),
            bpf.jump(bpf.BPF_JEQ, value_hi, 0, ok),
            bpf.load(lo), bpf.jump(low, value_lo, fail, ok), ok]


# Most severe first: the order the kernel itself uses between filters (seccomp(2)).
_SEVERITY = ("SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
             "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW")


def _severity(rule: Rule) -> int:
    """The rank of a rule's action in _SEVERITY (KILL and KILL_THREAD share a value)."""
    return next(i for i, action in enumerate(_SEVERITY) if ACTIONS[action] == ACTIONS[rule.action])


def compile_profile(profile: Profile, arch: Arch | None = None) -> Compiled:
    """Compile ``profile`` for ``arch`` (this machine's by default) into a BPF program."""
    arch = arch or native()
    labels = itertools.count()
    default = bpf.ret(return_value(profile.default_action, profile.default_errno_ret))
    kill = bpf.ret(ACTIONS["SCMP_ACT_KILL_PROCESS"])

    # [RT-SEC-020] the architecture is checked first: another arch's numbers mean other calls
    program: list = [bpf.load(bpf.OFFSET_ARCH), bpf.jump(bpf.BPF_JEQ, arch.audit_arch, 1, 0), kill,
                     bpf.load(bpf.OFFSET_NR)]
    if arch.audit_arch == ARCHES["x86_64"].audit_arch:
        # x32 calls share AUDIT_ARCH_X86_64 but set bit 30: they would slip past every jeq
        program += [bpf.jump(bpf.BPF_JGE, X32_SYSCALL_BIT, 0, 1), kill]

    by_number: dict[int, list[Rule]] = {}
    skipped: list[str] = []
    for rule in profile.rules:
        for name in rule.names:
            if name in arch.numbers:
                by_number.setdefault(arch.numbers[name], []).append(rule)
            elif name not in skipped:
                skipped.append(name)

    for number, rules in by_number.items():
        block: list = []
        # [RT-SEC-021] as libseccomp (and so runc) does: when several rules match a
        # call, the most severe action wins, whatever their order in the profile
        for rule in sorted(rules, key=_severity):
            next_rule = Label(f"rule{next(labels)}")
            for condition in rule.conditions:
                block += _compare(condition, next_rule, labels)
            block += [bpf.ret(return_value(rule.action, rule.errno_ret)), next_rule]
            if not rule.conditions:
                break               # an unconditional rule decides; later ones are unreachable
        else:
            block.append(default)   # no rule's conditions held
        size = sum(1 for item in block if not isinstance(item, Label))
        if size <= 255:
            program += [bpf.jump(bpf.BPF_JEQ, number, 0, size)] + block
        else:                       # too far for jf: jump over the block with BPF_JA
            program += [bpf.jump(bpf.BPF_JEQ, number, 1, 0), bpf.goto(size)] + block
    program.append(default)
    return Compiled(arch, tuple(bpf.assemble(program)), tuple(skipped))


# ---- load: the thin shell -----------------------------------------------------------------

def encode(compiled: Compiled) -> bytes:
    """The program as the array of struct sock_filter that seccomp(2) reads."""
    if sys.byteorder != "little":
        raise NotImplementedError("the compiler reads 64-bit arguments as little-endian halves")
    return bpf.encode(list(compiled.program))


def load(compiled: Compiled | bytes) -> None:
    """Install the filter (compiled, or already encoded) on the calling thread, for good.

    seccomp(2): needs no_new_privs or CAP_SYS_ADMIN. The filter also applies to
    everything after this call, so it comes last, right before execve.
    """
    sc.seccomp_set_mode_filter(compiled if isinstance(compiled, bytes) else encode(compiled))
