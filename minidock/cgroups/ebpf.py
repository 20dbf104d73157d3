"""The devices controller of cgroup v2: an eBPF program, assembled here from device rules.

Implements: spec/cgroups.md CG-DEV-002
Explained:  chapters/02-cgroups.md#devices
Modelled on: runc's libcontainer/cgroups/devices/devicefilter.go, and the
             kernel's <linux/bpf.h> (struct bpf_insn, struct bpf_cgroup_dev_ctx)

    device_program(state) -> [Instruction]    DeviceState -> a BPF_PROG_TYPE_CGROUP_DEVICE program
    encode(program) -> bytes                  what bpf(BPF_PROG_LOAD) is given
    Instruction(code, dst, src, off, imm)     one struct bpf_insn, 8 bytes

cgroup v2 has no devices.allow file. The kernel runs the group's program at each
open(2) of a device node and each mknod(2), with r1 pointing at

    struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*

and allows the access when the program returns 1. The program reads the context
into registers once, then has one block per exception of the DeviceState, each
falling through to the next when the device does not match, and ends with the
default. Jumps go forward only, so the verifier sees at once that it ends.

Rules: pure; the program calls no kernel helper, so any license string will load it.
"""

from __future__ import annotations

import struct

from minidock.cgroups.devices import DeviceRule, DeviceState
from minidock.records import record

# Instruction classes and operations, from <linux/bpf_common.h> and <linux/bpf.h>.
BPF_LDX, BPF_ALU, BPF_JMP = 0x01, 0x04, 0x05
BPF_W, BPF_MEM = 0x00, 0x60            # 32-bit load from memory
BPF_K, BPF_X = 0x00, 0x08              # immediate or register operand
BPF_AND, BPF_RSH, BPF_MOV = 0x50, 0x70, 0xB0
BPF_JEQ, BPF_JNE, BPF_EXIT = 0x10, 0x50, 0x90

# <linux/bpf.h>: the device types and accesses in bpf_cgroup_dev_ctx.access_type.
BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2
BPF_DEVCG_ACC = {"m": 1, "r": 2, "w": 4}
DEVICE_TYPE = {"b": BPF_DEVCG_DEV_BLOCK, "c": BPF_DEVCG_DEV_CHAR}

# The registers the program keeps the context in (r1 holds the context pointer on entry).
R0, R1, TYPE, ACCESS, MAJOR, MINOR = 0, 1, 2, 3, 4, 5


@record
class Instruction:
    """struct bpf_insn: opcode, destination and source registers, offset, immediate."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        # u8 code; u8 dst_reg:4, src_reg:4 (dst in the low nibble on little-endian); s16 off; s32 imm
        return struct.pack("<BBhi", self.code, self.src << 4 | self.dst, self.off, self.imm)


def load_word(dst: int, offset: int) -> Instruction:
    """dst = *(u32 *)(r1 + offset)"""
    return Instruction(BPF_LDX | BPF_MEM | BPF_W, dst, R1, offset)


def alu32(op: int, dst: int, imm: int) -> Instruction:
    """w_dst op= imm (32-bit: the upper half of the register is zeroed)."""
    return Instruction(BPF_ALU | op | BPF_K, dst, 0, 0, imm)


def move32(dst: int, src: int) -> Instruction:
    """w_dst = w_src"""
    return Instruction(BPF_ALU | BPF_MOV | BPF_X, dst, src)


def jump_if(op: int, dst: int, imm: int, skip: int) -> Instruction:
    """if (dst op imm) skip ``skip`` instructions."""
    return Instruction(BPF_JMP | op | BPF_K, dst, 0, skip, imm)


def leave(verdict: bool) -> list[Instruction]:
    """return 1 (allow) or 0 (deny)."""
    return [alu32(BPF_MOV, R0, int(verdict)), Instruction(BPF_JMP | BPF_EXIT)]


def _access_mask(access: str) -> int:
    return sum(BPF_DEVCG_ACC[letter] for letter in access)


def rule_block(rule: DeviceRule) -> list[Instruction]:
    """The instructions for one exception: test each field it names, then return its verdict.

    A failed test jumps past the block's end, to the next exception.
    """
    tests: list[tuple[int, int, int] | str] = []   # (register, op on mismatch, value), or "access"
    if rule.type in DEVICE_TYPE:
        tests.append((TYPE, BPF_JNE, DEVICE_TYPE[rule.type]))
    if rule.access != "rwm":
        tests.append("access")
    if rule.major is not None:
        tests.append((MAJOR, BPF_JNE, rule.major))
    if rule.minor is not None:
        tests.append((MINOR, BPF_JNE, rule.minor))
    # each test is one jump, but the access test is three instructions
    remaining = sum(3 if test == "access" else 1 for test in tests) + 2
    block: list[Instruction] = []
    for test in tests:
        if test == "access":
            remaining -= 3
            if rule.allow:
                # an allow exception must grant every letter asked for: access & ~rule == 0
                block += [move32(R1, ACCESS), alu32(BPF_AND, R1, ~_access_mask(rule.access) & 7),
                          jump_if(BPF_JNE, R1, 0, remaining)]
            else:
                # a deny exception refuses when it shares a letter: access & rule != 0
                block += [move32(R1, ACCESS), alu32(BPF_AND, R1, _access_mask(rule.access)),
                          jump_if(BPF_JEQ, R1, 0, remaining)]
        else:
            register, op, value = test
            remaining -= 1
            block.append(jump_if(op, register, value, remaining))
    return block + leave(rule.allow)


def device_program(state: DeviceState) -> list[Instruction]:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program that decides as ``state`` does."""
    # [CG-DEV-002] v2: the same DeviceState, as a program, default last
    program = [
        load_word(TYPE, 0),                 # access_type
        move32(ACCESS, TYPE),
        alu32(BPF_RSH, ACCESS, 16),         # the access bits: m 1, r 2, w 4
        alu32(BPF_AND, TYPE, 0xFFFF),       # the device type: b 1, c 2
        load_word(MAJOR, 4),
        load_word(MINOR, 8),
    ]
    for rule in state.exceptions:
        program += rule_block(rule)
    return program + leave(state.default_allow)


def encode(program: list[Instruction]) -> bytes:
    """The program as the kernel reads it: struct bpf_insn[], 8 bytes each."""
    return b"".join(instruction.encode() for instruction in program)
