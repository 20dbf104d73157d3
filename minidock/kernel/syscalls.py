"""The raw syscalls Python's `os` module lacks, through ctypes.

Implements: spec/namespaces.md NS-SYS-001 .. NS-SYS-002
Explained:  chapters/01-namespaces.md#the-syscalls
Modelled on: the small syscall shims of runc's libcontainer (unix.Mount, unix.Unshare)

Each wrapper is one libc call with its man-page section, and turns a failure
into SyscallError naming the call, its arguments and errno:

    unshare(flags)                   unshare(2)
    setns(fd, nstype)                setns(2)
    mount(source, target, ...)       mount(2)
    umount2(target, flags)           umount(2)
    pivot_root(new_root, put_old)    pivot_root(2)  (no libc wrapper: syscall(2))
    mount_setattr(path, set, clear)  mount_setattr(2) (no libc wrapper: syscall(2))
    sethostname(name)                sethostname(2)
    prctl(option, arg2, ...)         prctl(2)
    capget() / capset(...)           capget(2)      (no libc wrapper: syscall(2))
    seccomp_set_mode_filter(prog)    seccomp(2)     (prctl(PR_SET_SECCOMP) if absent)
    ptrace(request, pid)             ptrace(2)      (probes of the breakout tests)
    keyctl(operation, ...)           keyctl(2)      (no libc wrapper: syscall(2))
    init_module(image, params)       init_module(2) (no libc wrapper: syscall(2))
    bpf_prog_load(type, insns, ...)  bpf(2) BPF_PROG_LOAD, the verifier's log in the error
    bpf_prog_attach(cgroup_fd, ...)  bpf(2) BPF_PROG_ATTACH (and bpf_prog_query, bpf_prog_get_fd_by_id)

Rules: nothing here decides anything; callers pass the flags. Importing this
module loads libc and does nothing else.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

from minidock.errors import SystemError as MinidockSystemError

def _load_libc() -> ctypes.CDLL:
    """glibc's soname is libc.so.6; ask ctypes.util (which runs ldconfig) only if that fails."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library  # only here: it imports subprocess, tempfile, ... (6 ms)

        return ctypes.CDLL(find_library("c"), use_errno=True)


_libc = _load_libc()

# clone(2) / unshare(2) flags, from <linux/sched.h>.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags, from <linux/mount.h>.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 0x10000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_I_VERSION = 0x800000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

# umount2(2) flags.
MNT_DETACH = 0x2

# mount_setattr(2): struct mount_attr's attributes, from <linux/mount.h>, and its flags.
# The atime modes are a 3-bit field (MOUNT_ATTR__ATIME), not bits: changing the mode
# clears the whole field and sets one value in it.
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_FDCWD = -100
AT_RECURSIVE = 0x8000

# prctl(2) options used by the runtime.
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# seccomp(2): operation and mode, from <linux/seccomp.h>.
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1

# capget(2)/capset(2): the header version whose data is two 32-bit halves.
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# ptrace(2) requests and keyctl(2) operations the breakout probes use.
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_SESSION_KEYRING = -3

# pivot_root has no glibc wrapper; its syscall number depends on the architecture
# (uname(2)'s machine, what platform.machine() returns, without importing platform).
MACHINE = os.uname().machine
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "armv7l": 218, "riscv64": 41}
# The same for the other calls glibc does not wrap (or wraps only recently).
_SYS_CAPGET = {"x86_64": 125, "aarch64": 90}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
_SYS_INIT_MODULE = {"x86_64": 175, "aarch64": 105}
_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}  # Linux 5.12; one number on both

# bpf(2) commands, program and attach types and flags, from <linux/bpf.h>.
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


class SyscallError(MinidockSystemError):
    """A syscall failed: carries the call, its arguments and errno."""

    def __init__(self, call: str, args: tuple, err: int) -> None:
        shown = ", ".join(repr(a) for a in args)
        super().__init__(f"{call}({shown}) failed: {errno.errorcode.get(err, err)} ({os.strerror(err)})")
        self.call = call
        self.errno = err


def _check(call: str, args: tuple, result: int) -> int:
    """Raise SyscallError when a libc call returned -1."""
    if result == -1:
        raise SyscallError(call, args, ctypes.get_errno())
    return result


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces. See unshare(2)."""
    # lab 01: begin: call libc's unshare(2) with these flags; a failure must raise SyscallError
    _check("unshare", (hex(flags),), _libc.unshare(ctypes.c_int(flags)))
    # lab 01: end


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that ``fd`` (an open /proc/PID/ns/* file) refers to. See setns(2)."""
    # lab 01: begin: call libc's setns(2) on this fd; a failure must raise SyscallError
    _check("setns", (fd, hex(nstype)), _libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)))
    # lab 01: end


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    """Attach a filesystem, or change a mount's flags or propagation. See mount(2)."""
    args = (source, target, fstype, hex(flags), data)
    result = _libc.mount(_bytes(source), _bytes(target), _bytes(fstype),
                         ctypes.c_ulong(flags), _bytes(data))
    _check("mount", args, result)


def umount2(target: str, flags: int = 0) -> None:
    """Detach the filesystem mounted at ``target``. See umount(2)."""
    _check("umount2", (target, hex(flags)), _libc.umount2(_bytes(target), ctypes.c_int(flags)))


def pivot_root(new_root: str, put_old: str) -> None:
    """Make ``new_root`` the root of this mount namespace. See pivot_root(2).

    new_root must be a mount point and put_old must be at or under it;
    the caller arranges both.
    """
    number = _SYS_PIVOT_ROOT.get(MACHINE)
    if number is None:
        raise SyscallError("pivot_root", (new_root, put_old), errno.ENOSYS)
    result = _libc.syscall(ctypes.c_long(number), _bytes(new_root), _bytes(put_old))
    _check("pivot_root", (new_root, put_old), result)


def mount_setattr(path: str, attr_set: int, attr_clr: int, flags: int = AT_RECURSIVE) -> None:
    """Change the attributes of the mount at ``path`` (with AT_RECURSIVE: and of every mount
    below it). See mount_setattr(2)."""
    # struct mount_attr: attr_set, attr_clr, propagation, userns_fd, four native 64-bit words
    attr = b"".join(word.to_bytes(8, sys.byteorder) for word in (attr_set, attr_clr, 0, 0))
    args = (path, hex(attr_set), hex(attr_clr), hex(flags))
    _syscall("mount_setattr", _SYS_MOUNT_SETATTR, args, ctypes.c_int(AT_FDCWD), _bytes(path),
             ctypes.c_uint(flags), ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)))


def sethostname(name: str) -> None:
    """Set the hostname of the calling process's UTS namespace. See sethostname(2)."""
    # lab 01: begin: call libc's sethostname(2) with the name's bytes and their length; a failure must raise SyscallError
    raw = name.encode()
    _check("sethostname", (name,), _libc.sethostname(raw, ctypes.c_size_t(len(raw))))
    # lab 01: end


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Operate on the calling process (no_new_privs, death signal, name). See prctl(2)."""
    args = (option, arg2, arg3, arg4, arg5)
    result = _libc.prctl(*(ctypes.c_ulong(a) for a in args))
    return _check("prctl", args, result)


def _syscall(call: str, numbers: dict[str, int], args: tuple, *raw) -> int:
    """syscall(2) by number for this machine; ENOSYS when we do not know the number."""
    number = numbers.get(MACHINE)
    if number is None:
        raise SyscallError(call, args, errno.ENOSYS)
    return _check(call, args, _libc.syscall(ctypes.c_long(number), *raw))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) of ``pid`` (0: us) as 64-bit masks. See capget(2)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()  # version 3: capabilities 0-31 in data[0], 32-63 in data[1]
    _syscall("capget", _SYS_CAPGET, (pid,), ctypes.byref(header), data)
    low, high = data
    return (low.effective | high.effective << 32,
            low.permitted | high.permitted << 32,
            low.inheritable | high.inheritable << 32)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's three capability sets (64-bit masks). See capset(2)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for half in (0, 1):
        shift = 32 * half
        data[half] = _CapData((effective >> shift) & 0xFFFFFFFF, (permitted >> shift) & 0xFFFFFFFF,
                              (inheritable >> shift) & 0xFFFFFFFF)
    args = (hex(effective), hex(permitted), hex(inheritable))
    _syscall("capset", _SYS_CAPSET, args, ctypes.byref(header), data)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_set_mode_filter(program: bytes, flags: int = 0) -> None:
    """Install a classic BPF program (packed struct sock_filter[]) as a seccomp filter.

    See seccomp(2). The caller needs no_new_privs or CAP_SYS_ADMIN, or the
    kernel answers EACCES. Falls back to prctl(PR_SET_SECCOMP) (prctl(2)) on a
    kernel without seccomp(2).
    """
    if len(program) % 8:
        raise ValueError("a BPF program is a whole number of 8-byte instructions")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    args = (f"<{len(program) // 8} instructions>", flags)
    try:
        _syscall("seccomp", _SYS_SECCOMP, ("SECCOMP_SET_MODE_FILTER", *args),
                 ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags), ctypes.byref(fprog))
    except SyscallError as error:
        if error.errno != errno.ENOSYS or flags:
            raise
        result = _libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                             ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0))
        _check("prctl", ("PR_SET_SECCOMP", *args), result)


def ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> int:
    """Trace another process (attach, detach, ...). See ptrace(2)."""
    result = _libc.ptrace(ctypes.c_long(request), ctypes.c_int(pid),
                          ctypes.c_void_p(addr), ctypes.c_void_p(data))
    return _check("ptrace", (request, pid), result)


def keyctl(operation: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Operate on the kernel's key management facility. See keyctl(2)."""
    args = (operation, arg2, arg3, arg4, arg5)
    return _syscall("keyctl", _SYS_KEYCTL, args, *(ctypes.c_long(a) for a in args))


def init_module(image: bytes, params: str = "") -> None:
    """Load a kernel module from memory. See init_module(2)."""
    _syscall("init_module", _SYS_INIT_MODULE, (f"<{len(image)} bytes>", params),
             ctypes.c_char_p(image), ctypes.c_ulong(len(image)), ctypes.c_char_p(params.encode()))


class _BpfProgLoad(ctypes.Structure):
    """The BPF_PROG_LOAD part of union bpf_attr (the fields up to expected_attach_type)."""

    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _BpfProgAttach(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


class _BpfProgQuery(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
                ("_pad", ctypes.c_uint32)]


class _BpfGetId(ctypes.Structure):
    _fields_ = [("prog_id", ctypes.c_uint32), ("next_id", ctypes.c_uint32),
                ("open_flags", ctypes.c_uint32)]


def _bpf(command: str, number: int, attr: ctypes.Structure, args: tuple) -> int:
    return _syscall("bpf", _SYS_BPF, (command, *args), ctypes.c_int(number), ctypes.byref(attr),
                    ctypes.c_uint(ctypes.sizeof(attr)))


class BpfVerifierError(SyscallError):
    """BPF_PROG_LOAD was refused: the message ends with the verifier's own log."""

    def __init__(self, error: SyscallError, log: str) -> None:
        message = f"{error.message}; the verifier said: {log.strip() or '(nothing)'}"
        MinidockSystemError.__init__(self, message)
        self.call, self.errno, self.log = "bpf", error.errno, log


def bpf_prog_load(prog_type: int, instructions: bytes, license: str, name: str = "",
                  log_size: int = 65536) -> int:
    """Load an eBPF program (struct bpf_insn[]); return its fd. See bpf(2) BPF_PROG_LOAD.

    The verifier writes why it refuses a program into a log buffer; the error
    carries that text. Needs CAP_BPF or CAP_SYS_ADMIN.
    """
    if len(instructions) % 8:
        raise ValueError("an eBPF program is a whole number of 8-byte instructions")
    code = ctypes.create_string_buffer(instructions, len(instructions))
    license_text = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(log_size)
    attr = _BpfProgLoad(prog_type=prog_type, insn_cnt=len(instructions) // 8,
                        insns=ctypes.addressof(code), license=ctypes.addressof(license_text),
                        log_level=1, log_size=log_size, log_buf=ctypes.addressof(log),
                        prog_name=name.encode()[:15])
    try:
        return _bpf("BPF_PROG_LOAD", BPF_PROG_LOAD, attr, (prog_type, f"<{attr.insn_cnt} instructions>"))
    except SyscallError as error:
        if error.errno == errno.ENOSPC:   # the log itself did not fit: the refusal is still EACCES/EINVAL
            raise
        raise BpfVerifierError(error, log.value.decode(errors="replace")) from None


def bpf_prog_attach(target_fd: int, program_fd: int, attach_type: int, flags: int = 0) -> None:
    """Attach a loaded program to ``target_fd`` (a cgroup directory). See bpf(2) BPF_PROG_ATTACH."""
    attr = _BpfProgAttach(target_fd=target_fd, attach_bpf_fd=program_fd, attach_type=attach_type,
                          attach_flags=flags)
    _bpf("BPF_PROG_ATTACH", BPF_PROG_ATTACH, attr, (target_fd, program_fd, attach_type, flags))


def bpf_prog_query(target_fd: int, attach_type: int, most: int = 64) -> list[int]:
    """The ids of the programs attached to ``target_fd`` itself for ``attach_type``."""
    ids = (ctypes.c_uint32 * most)()
    attr = _BpfProgQuery(target_fd=target_fd, attach_type=attach_type,
                         prog_ids=ctypes.addressof(ids), prog_cnt=most)
    _bpf("BPF_PROG_QUERY", BPF_PROG_QUERY, attr, (target_fd, attach_type))
    return list(ids[:attr.prog_cnt])


def bpf_prog_get_fd_by_id(program_id: int) -> int:
    """An fd for a loaded program, by id; ENOENT once the kernel has freed it."""
    attr = _BpfGetId(prog_id=program_id)
    return _bpf("BPF_PROG_GET_FD_BY_ID", BPF_PROG_GET_FD_BY_ID, attr, (program_id,))
