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
    sethostname(name)                sethostname(2)
    prctl(option, arg2, ...)         prctl(2)

Rules: nothing here decides anything; callers pass the flags. Importing this
module loads libc and does nothing else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform

from minidock.errors import SystemError as MinidockSystemError

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

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
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_STRICTATIME = 0x1000000

# umount2(2) flags.
MNT_DETACH = 0x2

# prctl(2) options used by the runtime.
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

# pivot_root has no glibc wrapper; its syscall number depends on the architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "armv7l": 218, "riscv64": 41}


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
    _check("unshare", (hex(flags),), _libc.unshare(ctypes.c_int(flags)))


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that ``fd`` (an open /proc/PID/ns/* file) refers to. See setns(2)."""
    _check("setns", (fd, hex(nstype)), _libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)))


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
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise SyscallError("pivot_root", (new_root, put_old), errno.ENOSYS)
    result = _libc.syscall(ctypes.c_long(number), _bytes(new_root), _bytes(put_old))
    _check("pivot_root", (new_root, put_old), result)


def sethostname(name: str) -> None:
    """Set the hostname of the calling process's UTS namespace. See sethostname(2)."""
    raw = name.encode()
    _check("sethostname", (name,), _libc.sethostname(raw, ctypes.c_size_t(len(raw))))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Operate on the calling process (no_new_privs, death signal, name). See prctl(2)."""
    args = (option, arg2, arg3, arg4, arg5)
    result = _libc.prctl(*(ctypes.c_ulong(a) for a in args))
    return _check("prctl", args, result)
