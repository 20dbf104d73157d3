"""The tracer: run a command under ptrace(2), follow every process it makes, keep the steps.

Implements: spec/trace.md TRACE-001 .. TRACE-006
Explained:  chapters/05-engine.md#tracing-a-start
Modelled on: strace -f (PTRACE_O_TRACEFORK/CLONE/EXEC, syscall-stops), through python-ptrace

    trace(argv, output_to_stderr=False) -> Trace(steps, exit_code, interrupted)

    fork ─ PTRACE_TRACEME, exec ─▶ SIGTRAP ─ setoptions ─▶ loop:
      waitpid(-1, __WALL) ─▶ syscall-enter: read the arguments calls.CALLS asks for
                          ─▶ syscall-exit:  the result; Decoder.feed(RawCall)
                          ─▶ fork/clone event: the child is traced from its first instruction
                          ─▶ a successful execve outside the first process: the container's
                             program runs; detach it (what it does is its own business)
      until the first process (`minidock-runtime run`) exits.

Rules: only `trace` talks to ptrace; what a step means is steps.py's business. Ctrl-C
(SIGINT, SIGTERM) kills the container's processes, and any process born after it, and
lets the runtime clean up after them under the tracer's eye; a second one kills the
runtime too. PTRACE_O_EXITKILL: if
the tracer itself dies, the kernel kills every tracee, so nothing runs on untraced and
half set up. Where the kernel refuses ptrace, TraceRefused says why.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
from dataclasses import dataclass, field

from minidock.errors import Forbidden, InvalidArgument
from minidock.runtime.trace.calls import CALLS
from minidock.runtime.trace.steps import Decoder, RawCall, Step

PTRACE_O_EXITKILL = 0x100000  # <linux/ptrace.h>; python-ptrace does not name it
PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 1, 2, 3, 4
SYSCALL_STOP = signal.SIGTRAP | 0x80  # PTRACE_O_TRACESYSGOOD marks syscall-stops
YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"
WAIT_ALL = 0x40000000  # __WALL: wait for threads and children alike (os.__WALL, out of a class)
MAX_STRING = 4096
MAX_ARGV = 64
MAX_WRITE = 256  # bytes of a cgroup file write worth showing


class TraceRefused(Forbidden):
    """The kernel (or the machine's policy) does not let this process use ptrace."""


@dataclass
class Trace:
    """What a traced run did: its steps in order, and how it ended."""

    steps: list[Step] = field(default_factory=list)
    exit_code: int = 0
    interrupted: bool = False


@dataclass
class _Tracee:
    process: object  # ptrace.debugger.PtraceProcess
    fresh: bool = True  # a new child: its first stop is the SIGSTOP ptrace gives it
    entry: tuple | None = None  # (name, values, memory) between syscall-enter and -exit
    in_syscall: bool = False


def check_allowed() -> None:
    """Refuse early, naming the setting, where ptrace is switched off for everyone."""
    try:
        with open(YAMA_SCOPE) as file:
            scope = file.read().strip()
    except OSError:
        return  # no Yama: the usual rules (same user, or CAP_SYS_PTRACE) apply
    if scope == "3":
        # [TRACE-005] Yama's scope 3: no ptrace at all until the next boot
        raise TraceRefused("cannot trace: ptrace is disabled on this machine "
                           "(kernel.yama.ptrace_scope is 3; only a reboot turns it back on)")


def trace(argv: list[str], output_to_stderr: bool = False) -> Trace:
    """Run ``argv`` under ptrace until it exits; return its steps and exit code.

    ``output_to_stderr``: the command's stdout goes to our stderr, so that our stdout
    carries only the trace (--format json or html).
    """
    from ptrace.debugger import PtraceDebugger

    check_allowed()
    debugger = PtraceDebugger()
    debugger.traceFork()
    debugger.traceClone()
    debugger.traceExec()
    loop = _Loop(debugger)
    # Ctrl-C is ours from before the fork: one that comes early must still end the run
    previous = {signum: signal.signal(signum, loop.interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        pid = _start_traced(list(argv), output_to_stderr)
        loop.attach(debugger.addProcess(pid, is_attached=True))  # waits for the exec's SIGTRAP
        return loop.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start_traced(argv: list[str], output_to_stderr: bool) -> int:
    """Fork; the child asks to be traced (PTRACE_TRACEME) and execs ``argv``; return its pid.

    A failure in the child (ptrace refused, no such program) comes back over a pipe that
    the exec closes, and is raised here; the child then never runs ``argv``.
    """
    from ptrace.binding.func import ptrace_traceme

    errors_r, errors_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(errors_r)
            if output_to_stderr:
                os.dup2(2, 1)
            try:
                ptrace_traceme()
            except Exception as error:  # noqa: BLE001 - python-ptrace's PtraceError
                os.write(errors_w, f"ptrace {error}".encode())
                os._exit(126)
            os.execvp(argv[0], argv)  # stops with SIGTRAP: the tracer is in charge from here
        except OSError as error:
            os.write(errors_w, f"exec {error}".encode())
        finally:
            os._exit(127)
    os.close(errors_w)
    with os.fdopen(errors_r, "rb") as errors:
        failure = errors.read().decode(errors="replace")
    if failure:
        os.waitpid(pid, 0)
        kind, _, reason = failure.partition(" ")
        if kind == "ptrace":
            raise _refused(reason)
        raise InvalidArgument(f"cannot run {argv[0]!r} under the tracer: {reason}")
    return pid


def _refused(error: object) -> TraceRefused:
    # [TRACE-005] a clear refusal, with the usual reasons
    return TraceRefused(
        f"cannot trace: the kernel refused ptrace ({error}). Is this process already traced "
        "(a debugger, strace), under a seccomp filter or a security module that forbids ptrace, "
        "or without CAP_SYS_PTRACE over the program (kernel.yama.ptrace_scope)?")


class _Loop:
    """The wait loop of one traced run."""

    def __init__(self, debugger) -> None:
        from ptrace.binding import func as ptrace_calls
        from ptrace.syscall import SYSCALL_NAMES
        from ptrace.syscall.ptrace_syscall import RETURN_VALUE_REGISTER, SYSCALL_REGISTER

        self.ptrace = ptrace_calls
        self.names = SYSCALL_NAMES
        self.number_register = SYSCALL_REGISTER
        self.result_register = RETURN_VALUE_REGISTER
        self.debugger = debugger
        self.root = 0  # the traced command, once attach() has it
        self.tracees: dict[int, _Tracee] = {}
        self.detached: set[int] = set()  # the container's programs, running on their own
        self.decoder = Decoder()
        self.result = Trace(steps=self.decoder.steps)
        self.interrupts = 0

    def attach(self, root) -> None:
        """Take the traced command (stopped after its exec) into the loop."""
        self.root = root.pid
        self.tracees[root.pid] = _Tracee(root, fresh=False)
        self.ptrace.ptrace_setoptions(self.root, self.debugger.options | PTRACE_O_EXITKILL)
        if self.result.interrupted:
            os.kill(self.root, signal.SIGKILL)  # interrupted before it ran a single instruction

    def run(self) -> Trace:
        """Resume the command and handle every stop until it exits."""
        try:
            self._resume(self.root)
            while self.root in self.tracees:
                try:
                    pid, status = os.waitpid(-1, WAIT_ALL)
                except ChildProcessError:
                    break
                self._handle(pid, status)
        finally:
            self._let_go()
        return self.result

    # -- Ctrl-C --------------------------------------------------------------------------------

    def interrupt(self, signum, _frame) -> None:
        """[TRACE-004] first: kill the container, the runtime cleans up; second: kill the runtime."""
        self.interrupts += 1
        self.result.interrupted = True
        victims = [pid for pid in (*self.tracees, *self.detached) if pid != self.root]
        if self.interrupts > 1 and self.root:
            victims.append(self.root)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _let_go(self) -> None:
        """Leave nothing stopped or traced behind (the loop ended early: an error)."""
        for pid in list(self.tracees):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, WAIT_ALL)
            except ChildProcessError:
                pass
        self.tracees.clear()

    # -- one stop --------------------------------------------------------------------------------

    def _handle(self, pid: int, status: int) -> None:
        tracee = self.tracees.get(pid)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            if pid == self.root:
                self.result.exit_code = os.waitstatus_to_exitcode(status)
                if self.result.exit_code < 0:
                    self.result.exit_code = 128 - self.result.exit_code
            self.tracees.pop(pid, None)
            return
        if not os.WIFSTOPPED(status):
            return
        if tracee is None:
            # a child whose first stop came before its parent's fork event: this is that stop
            tracee = self._adopt(pid)
            tracee.fresh = False
            self._resume(pid)
            return
        stop, event = os.WSTOPSIG(status), status >> 16
        if stop == SYSCALL_STOP:
            if self._syscall_stop(tracee):
                return  # detached
            self._resume(pid)
        elif event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE):
            child = self.ptrace.ptrace_geteventmsg(pid)
            if child not in self.tracees:
                self._adopt(child)  # its SIGSTOP is still to come
            self._resume(pid)
        elif event == PTRACE_EVENT_EXEC or stop == signal.SIGTRAP:
            self._resume(pid)
        elif stop == signal.SIGSTOP and tracee.fresh:
            tracee.fresh = False
            self._resume(pid)
        else:
            self._resume(pid, stop)  # a real signal: deliver it

    def _adopt(self, pid: int) -> _Tracee:
        from ptrace.debugger import PtraceProcess

        tracee = _Tracee(PtraceProcess(self.debugger, pid, is_attached=True))
        self.tracees[pid] = tracee
        if self.result.interrupted:
            os.kill(pid, signal.SIGKILL)  # born after Ctrl-C: never let it start a container
        return tracee

    def _resume(self, pid: int, signum: int = 0) -> None:
        from ptrace.error import PtraceError

        try:
            self.ptrace.ptrace_syscall(pid, signum)
        except PtraceError:
            pass  # it died meanwhile (SIGKILL): its exit is the next thing waitpid reports

    def _syscall_stop(self, tracee: _Tracee) -> bool:
        """Entry: read what the call needs. Exit: decode it. True when the tracee was let go."""
        pid = tracee.process.pid
        if not tracee.in_syscall:
            tracee.in_syscall = True
            tracee.entry = self._enter(tracee)
            return False
        tracee.in_syscall = False
        entry, tracee.entry = tracee.entry, None
        if entry is None:
            return False
        name, values, memory = entry
        result = self._register(pid, self.result_register)
        self.decoder.feed(RawCall(pid, name, values, memory, result))
        if name in ("execve", "execveat") and result == 0 and pid != self.root:
            # [TRACE-003] the container's program (or a hook) runs now: stop following it
            from ptrace.error import PtraceError

            try:
                self.ptrace.ptrace_detach(pid, 0)
            except PtraceError:
                pass
            del self.tracees[pid]
            self.detached.add(pid)
            return True
        return False

    def _register(self, pid: int, name: str) -> int:
        return getattr(self.ptrace.ptrace_getregs(pid), name)

    def _enter(self, tracee: _Tracee) -> tuple | None:
        """At syscall entry: the call's name, registers and memory, if it is one we decode."""
        from ptrace.error import PtraceError

        pid = tracee.process.pid
        regs = self.ptrace.ptrace_getregs(pid)
        name = self.names.get(getattr(regs, self.number_register))
        call = CALLS.get(name)
        if call is None:
            return None
        values = _argument_registers(regs)
        memory: dict[int, object] = {}
        for index, kind in enumerate(call.args):
            address = values[index]
            if kind == "buf" and not self.decoder.is_cgroup_file(pid, values[0]):
                continue  # most writes are not to cgroup files: do not read them
            try:
                read = _read(tracee.process, kind, address, values[index + 1] if index + 1 < len(values) else 0)
            except (PtraceError, OSError, ValueError):
                read = None
            if read is not None:
                memory[index] = read
        return name, values, memory


def _argument_registers(regs) -> tuple[int, ...]:
    """The six argument registers of the syscall ABI, for this machine."""
    from ptrace.cpu_info import CPU_AARCH64, CPU_X86_64

    if CPU_X86_64:
        return (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
    if CPU_AARCH64:
        return (regs.r0, regs.r1, regs.r2, regs.r3, regs.r4, regs.r5)
    raise InvalidArgument("the tracer knows the syscall registers of x86_64 and aarch64 only")


def _read(process, kind: str, address: int, next_value: int) -> object:
    """What an argument of ``kind`` points at in the tracee, or None for nothing to read."""
    if kind in ("path", "str"):
        if address == 0:
            return None
        text, _ = process.readCString(address, MAX_STRING)
        return text.decode(errors="replace")
    if kind == "argv":
        words = []
        for index in range(MAX_ARGV):
            pointer = process.readWord(address + 8 * index)
            if pointer == 0:
                break
            words.append(process.readCString(pointer, MAX_STRING)[0].decode(errors="replace"))
        return words
    if kind == "buf":
        return process.readBytes(address, min(next_value, MAX_WRITE))
    if kind == "clone_args":
        return struct.unpack("=Q", process.readBytes(address, 8))[0]  # struct clone_args.flags
    if kind == "cap_data":
        return struct.unpack("=6I", process.readBytes(address, 24))  # two __user_cap_data_struct
    if kind == "fprog" and address:
        return struct.unpack("=H", process.readBytes(address, 2))[0]  # struct sock_fprog.len
    return None
