"""From raw syscalls to the steps a learner reads: decode, filter, name the phase.

Implements: spec/trace.md TRACE-010 .. TRACE-014
Explained:  chapters/05-engine.md#tracing-a-start
Modelled on: strace's decoders, as a pure function of what the tracer read

    RawCall(pid, name, values, memory, result)    what the tracer saw at one syscall's exit
    Step(pid, phase, call, text, result, error, anchor, details)   one line of a trace
    Decoder().feed(raw)       keeps the cgroup files each process has open; appends steps
    Decoder().steps           the steps so far, in the order the kernel ran them

Pure: no ptrace, no files. The tracer reads the tracee's memory for the argument kinds of
calls.CALLS; this module only turns numbers and bytes into words.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field

from minidock.runtime.security.capabilities import NAMES as CAPABILITY_NAMES
from minidock.runtime.trace import calls
from minidock.runtime.trace.calls import CALLS, CGROUP_ROOT

AT_FDCWD = -100
O_ACCMODE = 0o3


@dataclass(frozen=True)
class RawCall:
    """One syscall as the tracer saw it: registers, what it read at entry, the result."""

    pid: int
    name: str
    values: tuple[int, ...]
    memory: dict[int, object] = field(default_factory=dict)  # argument index -> str | bytes | list | tuple
    result: int = 0


@dataclass(frozen=True)
class Step:
    """One kernel-facing step of a container's start."""

    pid: int
    phase: str
    call: str
    text: str  # as strace would print it, with the flags named
    result: int
    error: str = ""  # the errno's name when the call failed
    anchor: str = ""  # chapters/0N-x.md#section
    details: dict = field(default_factory=dict)  # the decoded arguments, for --format json

    def to_json(self) -> dict:
        """The step as a JSON object (--format json)."""
        return {"pid": self.pid, "phase": self.phase, "call": self.call, "text": self.text,
                "result": self.result, "error": self.error, "anchor": self.anchor, **self.details}

    @classmethod
    def from_json(cls, document: dict) -> Step:
        """The step again, from to_json()'s object (the book reads a traced run's JSON)."""
        names = ("pid", "phase", "call", "text", "result", "error", "anchor")
        return cls(*(document[name] for name in names),
                   details={key: value for key, value in document.items() if key not in names})


def signed(value: int) -> int:
    """A register as the kernel's signed long."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def quoted(value: object) -> str:
    """A C string as strace shows it: in double quotes, or NULL."""
    return "NULL" if value is None else json.dumps(value)


def capability_names(mask: int) -> list[str]:
    """The capabilities set in a 64-bit mask, by name."""
    return [name for bit, name in enumerate(CAPABILITY_NAMES) if mask >> bit & 1]


def under_cgroup_root(path: object) -> bool:
    return isinstance(path, str) and (path == CGROUP_ROOT or path.startswith(CGROUP_ROOT + "/"))


class Decoder:
    """Turns RawCalls into Steps, remembering which descriptors name cgroup files."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._cgroup_files: dict[int, dict[int, str]] = {}  # pid -> fd -> path

    def feed(self, raw: RawCall) -> None:
        """Decode one call; keep it if it is a step of a start."""
        call = CALLS.get(raw.name)
        if call is None:
            return
        result = signed(raw.result)
        error = errno.errorcode.get(-result, str(-result)) if -4096 < result < 0 else ""
        if raw.name in ("clone", "clone3", "fork", "vfork") and result > 0:
            # a child starts with its parent's descriptors (threads share them: the same)
            # (its own opens may already be in: it can run before its parent's clone returns)
            self._cgroup_files[result] = {**self._cgroup_files.get(raw.pid, {}),
                                          **self._cgroup_files.get(result, {})}
        decoded = self._decode(raw, call, result)
        if decoded is None:
            return
        text, details, anchor = decoded
        step = Step(raw.pid, details.pop("phase", call.phase), raw.name, text, result, error,
                    anchor or call.anchor, details)
        self._append(step)

    def is_cgroup_file(self, pid: int, fd: int) -> bool:
        """Whether ``fd`` of ``pid`` is a cgroup file opened for writing (its writes are steps)."""
        return fd in self._cgroup_files.get(pid, {})

    def _append(self, step: Step) -> None:
        last = self.steps[-1] if self.steps else None
        if (last is not None and last.pid == step.pid and step.details.get("option") == "PR_CAPBSET_DROP"
                and last.details.get("option") == "PR_CAPBSET_DROP" and not last.error and not step.error):
            # one line for the run of drops from the bounding set, not forty
            dropped = last.details["capabilities"] + step.details["capabilities"]
            self.steps[-1] = Step(last.pid, last.phase, last.call,
                                  f"prctl(PR_CAPBSET_DROP, {'|'.join(dropped)})", 0, "", last.anchor,
                                  {"option": "PR_CAPBSET_DROP", "capabilities": dropped})
            return
        self.steps.append(step)

    # -- one decoder per kind of call --------------------------------------------------------

    def _decode(self, raw: RawCall, call: calls.Call, result: int) -> tuple[str, dict, str] | None:
        name, values, memory = raw.name, raw.values, raw.memory
        if name in ("open", "openat", "write", "close", "mkdir", "mkdirat", "rmdir"):
            return self._cgroup_file(raw, result)
        if name in ("clone", "unshare", "setns"):
            flags_at = 1 if name == "setns" else 0
            value = values[flags_at]
            signal = value & calls.CLONE_SIGNAL_MASK if name == "clone" else 0
            if name == "clone":
                value &= ~calls.CLONE_SIGNAL_MASK
            flags = calls.flag_names(value, calls.CLONE_FLAGS) or (["0"] if name != "clone" else [])
            shown = flags + ([f"SIG{_signal_name(signal)}"] if signal else [])
            argument = "|".join(shown) or "0"
            text = f"setns({values[0]}, {argument})" if name == "setns" else f"{name}({argument})"
            details = {"flags": flags, "namespaces": [f for f in flags if f in calls.CLONE_NAMESPACES]}
            return text + _shown_result(name, result), details, ""
        if name == "clone3":
            flags = calls.flag_names(int(memory.get(0) or 0), calls.CLONE_FLAGS)
            details = {"flags": flags, "namespaces": [f for f in flags if f in calls.CLONE_NAMESPACES]}
            return f"clone3({{flags={'|'.join(flags) or '0'}}})" + _shown_result(name, result), details, ""
        if name in ("fork", "vfork"):
            return f"{name}()" + _shown_result(name, result), {"flags": []}, ""
        if name == "sethostname":
            return f"sethostname({quoted(memory.get(0))})", {"hostname": memory.get(0)}, ""
        if name == "mount":
            source, target, fstype, data = (memory.get(i) for i in (0, 1, 2, 4))
            flags = calls.flag_names(values[3], calls.MOUNT_FLAGS)
            text = (f"mount({quoted(source)}, {quoted(target)}, {quoted(fstype)}, "
                    f"{'|'.join(flags) or '0'}, {quoted(data)})")
            anchor = calls.ANCHOR_PROPAGATION if calls.PROPAGATION_FLAGS & set(flags) or \
                (flags == ["MS_BIND", "MS_REC"] and source == target) else ""
            return text, {"source": source, "target": target, "fstype": fstype, "flags": flags,
                          "data": data}, anchor
        if name == "umount2":
            flags = calls.flag_names(values[1], calls.UMOUNT_FLAGS)
            return f"umount2({quoted(memory.get(0))}, {'|'.join(flags) or '0'})", \
                {"target": memory.get(0), "flags": flags}, ""
        if name in ("pivot_root", "chroot"):
            paths = [memory.get(i) for i in range(len(call.args))]
            return f"{name}({', '.join(quoted(p) for p in paths)})", {"paths": paths}, ""
        if name in ("mknod", "mknodat"):
            at = 1 if name == "mknodat" else 0
            device = values[at + 2]
            major, minor = os.major(device), os.minor(device)
            return f"{name}({quoted(memory.get(at))}, {oct(values[at + 1])}, makedev({major}, {minor}))", \
                {"path": memory.get(at), "device": [major, minor]}, ""
        if name == "prctl":
            return self._prctl(values)
        if name == "capset":
            return _capset(memory.get(1))
        if name == "seccomp":
            operation = calls.choice_name(values[0], calls.SECCOMP_OPERATIONS)
            length = memory.get(2)
            shown = f"{{{length} BPF instructions}}" if length is not None else hex(values[2])
            return f"seccomp({operation}, {values[1]}, {shown})", \
                {"operation": operation, "instructions": length}, ""
        if name in ("setuid", "setgid"):
            return f"{name}({signed(values[0])})", {"id": signed(values[0])}, ""
        if name in ("setresuid", "setresgid"):
            ids = [signed(v) for v in values[:3]]
            return f"{name}({', '.join(map(str, ids))})", {"ids": ids}, ""
        if name == "setgroups":
            return f"setgroups({values[0]}, ...)", {"count": values[0]}, ""
        if name in ("execve", "execveat"):
            at = 1 if name == "execveat" else 0
            path, argv = memory.get(at), memory.get(at + 1) or []
            return f"{name}({quoted(path)}, {json.dumps(argv)})", {"path": path, "argv": argv}, ""
        return None

    def _cgroup_file(self, raw: RawCall, result: int) -> tuple[str, dict, str] | None:
        """Directories and file writes under /sys/fs/cgroup; the opens and closes only remembered."""
        name, values, memory = raw.name, raw.values, raw.memory
        files = self._cgroup_files.setdefault(raw.pid, {})
        if name in ("open", "openat"):
            at = 1 if name == "openat" else 0
            path = memory.get(at)
            if result >= 0 and under_cgroup_root(path) and values[at + 1] & O_ACCMODE:
                files[result] = path  # opened for writing: its writes are steps
            else:
                files.pop(result, None)
            return None
        if name == "close":
            files.pop(values[0], None)
            return None
        if name == "write":
            path = files.get(values[0])
            if path is None:
                return None
            value = memory.get(1, b"").decode(errors="replace")
            joins = os.path.basename(path) in ("cgroup.procs", "tasks")
            return f"write({quoted(path)}, {quoted(value)})", {"path": path, "value": value}, \
                calls.ANCHOR_CGROUP_JOIN if joins else ""
        at = 1 if name == "mkdirat" else 0
        path = memory.get(at)
        if not under_cgroup_root(path):
            return None
        return f"{name}({quoted(path)})", {"path": path}, ""

    def _prctl(self, values: tuple[int, ...]) -> tuple[str, dict, str] | None:
        option = calls.choice_name(values[0], calls.PRCTL_OPTIONS)
        if option in calls.PRCTL_QUESTIONS:
            return None
        if option in calls.PRCTL_CAPABILITY_ARGUMENT:
            capability = CAPABILITY_NAMES[values[1]] if values[1] < len(CAPABILITY_NAMES) else str(values[1])
            return f"prctl({option}, {capability})", {"option": option, "capabilities": [capability]}, \
                calls.ANCHOR_BOUNDING
        if option == "PR_SET_CHILD_SUBREAPER":
            return f"prctl({option}, {values[1]})", {"option": option, "phase": "namespaces"}, \
                calls.ANCHOR_SUBREAPER
        return f"prctl({option}, {values[1]})", {"option": option, "value": values[1]}, ""


def _capset(data: object) -> tuple[str, dict, str]:
    """capset(2)'s two __user_cap_data_struct: effective, permitted, inheritable, 32 bits each."""
    if not isinstance(data, tuple) or len(data) != 6:
        return "capset(...)", {}, ""
    sets = {}
    for offset, name in enumerate(("effective", "permitted", "inheritable")):
        sets[name] = capability_names(data[offset] | data[offset + 3] << 32)
    shown = ", ".join(f"{name}={'|'.join(caps) or '0'}" if name == "effective" or caps != sets["effective"]
                      else f"{name}=(as effective)" for name, caps in sets.items())
    return f"capset({shown})", {"sets": sets}, ""


def _shown_result(name: str, result: int) -> str:
    """clone's and fork's result is the new process: worth showing."""
    return f" = {result}" if name in ("clone", "clone3", "fork", "vfork") and result > 0 else ""


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name[3:]
    except ValueError:
        return str(number)
