"""Classic BPF, the little machine a seccomp filter runs on, and an assembler for it.

Implements: spec/security.md RT-SEC-020 .. RT-SEC-021 (the machine they compile to)
Explained:  chapters/03-runtime.md#seccomp
Modelled on: <linux/filter.h> (struct sock_filter, BPF_STMT, BPF_JUMP) and the
             seccomp BPF examples in the kernel's samples/seccomp/

    Instruction(code, jt, jf, k)       one struct sock_filter, 8 bytes
    load(offset) / and_(k) / ret(k)    BPF_STMT(...)
    jump(op, k, jt, jf) / goto(label)  BPF_JUMP(...), targets may be Labels
    assemble(items) -> [Instruction]   resolve Labels into relative offsets
    encode(program) -> bytes           what seccomp(2) is given

The machine has one register A, reads the 64-byte struct seccomp_data (never
memory), and only jumps forward, so every filter ends. Conditional jumps skip
at most 255 instructions (jt and jf are one byte each); `goto` (BPF_JA) has 32 bits.

Rules: pure data; nothing here knows about syscalls or profiles.
"""

from __future__ import annotations

import struct

from minidock.records import record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

# Instruction classes, sizes, modes and operations, from <linux/bpf_common.h>.
BPF_LD, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x04, 0x05, 0x06
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_AND = 0x50
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40

BPF_MAXINSNS = 4096  # the kernel refuses longer programs (EINVAL)

# struct seccomp_data, from <linux/seccomp.h>: where each field is.
OFFSET_NR = 0          # int nr
OFFSET_ARCH = 4        # __u32 arch (AUDIT_ARCH_*)
OFFSET_ARGS = 16       # __u64 args[6], 8 bytes each; little-endian: low word first


def arg_low(index: int) -> int:
    """Offset of the low 32 bits of syscall argument ``index`` (little-endian machines)."""
    return OFFSET_ARGS + 8 * index


def arg_high(index: int) -> int:
    """Offset of the high 32 bits of syscall argument ``index``."""
    return OFFSET_ARGS + 8 * index + 4


@record
class Label:
    """A place in a program; jumps name it, assemble() turns it into an offset."""

    name: str


Target = int | Label  # a jump's target: an offset, or a Label before assemble()


@record
class Instruction:
    """struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }.

    Before assemble(), ``jt``, ``jf`` (and ``k`` of a goto) may be Labels.
    """

    code: int
    jt: Target = 0
    jf: Target = 0
    k: Target = 0

    def __str__(self) -> str:
        return disassemble_one(self)


def load(offset: int) -> Instruction:
    """A = the 32-bit word at ``offset`` of struct seccomp_data."""
    return Instruction(BPF_LD | BPF_W | BPF_ABS, k=offset)


def and_(mask: int) -> Instruction:
    """A = A & mask."""
    return Instruction(BPF_ALU | BPF_AND | BPF_K, k=mask & 0xFFFFFFFF)


def jump(op: int, k: int, jt: Target = 0, jf: Target = 0) -> Instruction:
    """If A <op> k, skip ``jt`` instructions (or go to a Label), else ``jf``."""
    return Instruction(BPF_JMP | op | BPF_K, jt, jf, k & 0xFFFFFFFF)


def goto(target: Target) -> Instruction:
    """Always jump (BPF_JA): the only jump that reaches further than 255."""
    return Instruction(BPF_JMP | BPF_JA, k=target)


def ret(value: int) -> Instruction:
    """Stop and return ``value`` (a SECCOMP_RET_* action) to the kernel."""
    return Instruction(BPF_RET | BPF_K, k=value & 0xFFFFFFFF)


def assemble(items: Iterable[Instruction | Label]) -> list[Instruction]:
    """Resolve Labels: each becomes the number of instructions to skip to reach it."""
    program: list[Instruction] = []
    where: dict[str, int] = {}
    for item in items:
        if isinstance(item, Label):
            if item.name in where:
                raise ValueError(f"label {item.name!r} placed twice")
            where[item.name] = len(program)
        else:
            program.append(item)

    def offset(index: int, target: Target, limit: int) -> int:
        if not isinstance(target, Label):
            return target
        if target.name not in where:
            raise ValueError(f"jump to a label never placed: {target.name!r}")
        distance = where[target.name] - index - 1
        if not 0 <= distance <= limit:
            # BPF only jumps forward, and a conditional jump at most 255 ahead
            raise ValueError(f"jump to {target.name!r} is {distance} instructions; limit {limit}")
        return distance

    resolved = []
    for index, insn in enumerate(program):
        if insn.code == BPF_JMP | BPF_JA:
            resolved.append(Instruction(insn.code, 0, 0, offset(index, insn.k, 0xFFFFFFFF)))
        else:
            resolved.append(Instruction(insn.code, offset(index, insn.jt, 255),
                                        offset(index, insn.jf, 255), insn.k))
    return resolved


def encode(program: list[Instruction]) -> bytes:
    """Pack the program as the array of struct sock_filter that seccomp(2) reads."""
    if len(program) > BPF_MAXINSNS:
        raise ValueError(f"a BPF program has at most {BPF_MAXINSNS} instructions, not {len(program)}")
    return b"".join(struct.pack("=HBBI", i.code, i.jt, i.jf, i.k) for i in program)


_JUMP_NAMES = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}


def disassemble_one(insn: Instruction) -> str:
    """One instruction in the style of the kernel's bpf_dbg: `jeq #0xa5, 0, 3`."""
    kind = insn.code & 0x07
    if kind == BPF_LD:
        return f"ld [{insn.k}]"
    if kind == BPF_ALU:
        return f"and #{insn.k:#x}"
    if kind == BPF_RET:
        return f"ret #{insn.k:#x}"
    if insn.code & 0xF0 == BPF_JA:
        return f"ja {insn.k}"
    return f"{_JUMP_NAMES[insn.code & 0xF0]} #{insn.k:#x}, {insn.jt}, {insn.jf}"


def disassemble(program: list[Instruction]) -> str:
    """The whole program, one numbered instruction a line (for the chapter and for debugging)."""
    return "\n".join(f"{n:4d}: {disassemble_one(i)}" for n, i in enumerate(program))
