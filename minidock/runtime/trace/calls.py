"""The syscalls a container's start is made of, as data: phase, arguments, flags, chapter.

Implements: spec/trace.md TRACE-010 .. TRACE-014
Explained:  chapters/05-engine.md#tracing-a-start
Modelled on: strace's per-syscall argument printers (its xlat/ tables), kept to the calls
             this book explains

    PHASES                     namespaces, cgroups, rootfs, security, exec (in start order)
    CALLS[name] -> Call        phase, argument kinds, the chapter section explaining it
    CLONE_FLAGS, MOUNT_FLAGS, UMOUNT_FLAGS, PRCTL_OPTIONS, SECCOMP_OPERATIONS   value tables
    flag_names(value, table) -> ["CLONE_NEWNS", ...]     pure; leftover bits as hex
    CGROUP_ROOT                the file-system root whose openat/write/mkdir/rmdir count

An argument kind tells the tracer what to read from the tracee's memory at syscall entry
(a C string, an argv array, a struct) and the decoder how to print it:

    "int" "hex"  the register as it is        "path" "str"   a C string (NULL allowed)
    "argv"       a NULL-ended char* array     "buf"          write(2)'s bytes (count: next arg)
    "clone_args" clone3's struct (flags)      "cap_data"     capset(2)'s two data structs
    "fprog"      seccomp's struct sock_fprog  "flags:TABLE"  a bit mask named by a table
    "choice:TABLE"  one value of a table      "fd"           a descriptor number

Rules: only calls in CALLS become steps; openat/write/close/mkdir/rmdir count only under
CGROUP_ROOT (a cgroup file write is a step, its open is not); read-only prctl questions
(PR_CAPBSET_READ, PR_GET_*) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("namespaces", "cgroups", "rootfs", "security", "exec")

CGROUP_ROOT = "/sys/fs/cgroup"

# The chapter sections a step links to (each heading exists: the book build checks anchors).
NAMESPACES = "chapters/01-namespaces.md"
CGROUPS = "chapters/02-cgroups.md"
RUNTIME = "chapters/03-runtime.md"

# <linux/sched.h>: clone(2), clone3(2), unshare(2) and setns(2) flags.
CLONE_FLAGS = {
    "CLONE_VM": 0x00000100, "CLONE_FS": 0x00000200, "CLONE_FILES": 0x00000400,
    "CLONE_SIGHAND": 0x00000800, "CLONE_PIDFD": 0x00001000, "CLONE_PTRACE": 0x00002000,
    "CLONE_VFORK": 0x00004000, "CLONE_PARENT": 0x00008000, "CLONE_THREAD": 0x00010000,
    "CLONE_NEWNS": 0x00020000, "CLONE_SYSVSEM": 0x00040000, "CLONE_SETTLS": 0x00080000,
    "CLONE_PARENT_SETTID": 0x00100000, "CLONE_CHILD_CLEARTID": 0x00200000,
    "CLONE_UNTRACED": 0x00800000, "CLONE_CHILD_SETTID": 0x01000000,
    "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000,
    "CLONE_IO": 0x80000000, "CLONE_NEWTIME": 0x00000080,
}
CLONE_NAMESPACES = frozenset(name for name in CLONE_FLAGS if name.startswith("CLONE_NEW"))
# the low byte of clone(2)'s flags is the signal sent to the parent at the child's exit
CLONE_SIGNAL_MASK = 0xFF

# <linux/mount.h>: mount(2) flags; umount2(2) flags.
MOUNT_FLAGS = {
    "MS_RDONLY": 0x1, "MS_NOSUID": 0x2, "MS_NODEV": 0x4, "MS_NOEXEC": 0x8,
    "MS_SYNCHRONOUS": 0x10, "MS_REMOUNT": 0x20, "MS_MANDLOCK": 0x40, "MS_DIRSYNC": 0x80,
    "MS_NOSYMFOLLOW": 0x100, "MS_NOATIME": 0x400, "MS_NODIRATIME": 0x800, "MS_BIND": 0x1000,
    "MS_MOVE": 0x2000, "MS_REC": 0x4000, "MS_SILENT": 0x8000, "MS_POSIXACL": 0x10000,
    "MS_UNBINDABLE": 0x20000, "MS_PRIVATE": 0x40000, "MS_SLAVE": 0x80000,
    "MS_SHARED": 0x100000, "MS_RELATIME": 0x200000, "MS_STRICTATIME": 0x1000000,
    "MS_LAZYTIME": 0x2000000,
}
PROPAGATION_FLAGS = frozenset({"MS_PRIVATE", "MS_SLAVE", "MS_SHARED", "MS_UNBINDABLE"})
UMOUNT_FLAGS = {"MNT_FORCE": 0x1, "MNT_DETACH": 0x2, "MNT_EXPIRE": 0x4, "UMOUNT_NOFOLLOW": 0x8}

# <linux/prctl.h>: the options a start uses. The read-only questions are not steps.
PRCTL_OPTIONS = {
    "PR_SET_PDEATHSIG": 1, "PR_GET_DUMPABLE": 3, "PR_SET_DUMPABLE": 4,
    "PR_GET_KEEPCAPS": 7, "PR_SET_KEEPCAPS": 8, "PR_SET_NAME": 15, "PR_GET_SECCOMP": 21,
    "PR_SET_SECCOMP": 22, "PR_CAPBSET_READ": 23, "PR_CAPBSET_DROP": 24,
    "PR_SET_CHILD_SUBREAPER": 36, "PR_GET_CHILD_SUBREAPER": 37, "PR_SET_NO_NEW_PRIVS": 38,
    "PR_GET_NO_NEW_PRIVS": 39, "PR_CAP_AMBIENT": 47,
}
PRCTL_QUESTIONS = frozenset({"PR_GET_DUMPABLE", "PR_GET_KEEPCAPS", "PR_GET_SECCOMP", "PR_CAPBSET_READ",
                             "PR_GET_CHILD_SUBREAPER", "PR_GET_NO_NEW_PRIVS"})
# prctl options whose second argument is a capability number
PRCTL_CAPABILITY_ARGUMENT = frozenset({"PR_CAPBSET_DROP"})

# <linux/seccomp.h>
SECCOMP_OPERATIONS = {"SECCOMP_SET_MODE_STRICT": 0, "SECCOMP_SET_MODE_FILTER": 1,
                      "SECCOMP_GET_ACTION_AVAIL": 2, "SECCOMP_GET_NOTIF_SIZES": 3}

TABLES = {"clone": CLONE_FLAGS, "mount": MOUNT_FLAGS, "umount": UMOUNT_FLAGS,
          "prctl": PRCTL_OPTIONS, "seccomp": SECCOMP_OPERATIONS}


@dataclass(frozen=True)
class Call:
    """What a syscall means for a container's start, and how to read its arguments."""

    phase: str
    args: tuple[str, ...]
    anchor: str  # the chapter section that explains it (chapters/0N-x.md#section)


CALLS: dict[str, Call] = {
    # namespaces: new processes and new views
    "clone": Call("namespaces", ("flags:clone",), f"{NAMESPACES}#the-pid-namespace-is-different"),
    "clone3": Call("namespaces", ("clone_args", "int"), f"{NAMESPACES}#the-pid-namespace-is-different"),
    "fork": Call("namespaces", (), f"{NAMESPACES}#the-pid-namespace-is-different"),
    "vfork": Call("namespaces", (), f"{NAMESPACES}#the-pid-namespace-is-different"),
    "unshare": Call("namespaces", ("flags:clone",), f"{NAMESPACES}#clone-and-unshare"),
    "setns": Call("namespaces", ("fd", "flags:clone"), f"{NAMESPACES}#joining-and-sharing"),
    "sethostname": Call("namespaces", ("str", "int"), f"{NAMESPACES}#clone-and-unshare"),
    # cgroups: directories and files under CGROUP_ROOT
    "mkdir": Call("cgroups", ("path", "int"), f"{CGROUPS}#everything-is-a-file"),
    "mkdirat": Call("cgroups", ("fd", "path", "int"), f"{CGROUPS}#everything-is-a-file"),
    "rmdir": Call("cgroups", ("path",), f"{CGROUPS}#everything-is-a-file"),
    "openat": Call("cgroups", ("fd", "path", "hex", "int"), f"{CGROUPS}#everything-is-a-file"),
    "open": Call("cgroups", ("path", "hex", "int"), f"{CGROUPS}#everything-is-a-file"),
    "write": Call("cgroups", ("fd", "buf", "int"), f"{CGROUPS}#resources"),
    "close": Call("cgroups", ("fd",), f"{CGROUPS}#everything-is-a-file"),
    # rootfs: the mounts, the device nodes, pivot_root
    "mount": Call("rootfs", ("str", "path", "str", "flags:mount", "str"), f"{RUNTIME}#mounts"),
    "umount2": Call("rootfs", ("path", "flags:umount"), f"{RUNTIME}#private-first-then-pivot_root"),
    "pivot_root": Call("rootfs", ("path", "path"), f"{RUNTIME}#private-first-then-pivot_root"),
    "chroot": Call("rootfs", ("path",), f"{RUNTIME}#private-first-then-pivot_root"),
    "mknod": Call("rootfs", ("path", "hex", "hex"), f"{RUNTIME}#the-root-filesystem"),
    "mknodat": Call("rootfs", ("fd", "path", "hex", "hex"), f"{RUNTIME}#the-root-filesystem"),
    # security: who the process is and what it may do
    "prctl": Call("security", ("choice:prctl", "int", "int"), f"{RUNTIME}#the-order-of-things"),
    "capset": Call("security", ("hex", "cap_data"), f"{RUNTIME}#capabilities"),
    "seccomp": Call("security", ("choice:seccomp", "int", "fprog"), f"{RUNTIME}#seccomp"),
    "setgroups": Call("security", ("int", "hex"), f"{RUNTIME}#the-order-of-things"),
    "setgid": Call("security", ("int",), f"{RUNTIME}#the-order-of-things"),
    "setuid": Call("security", ("int",), f"{RUNTIME}#the-order-of-things"),
    "setresgid": Call("security", ("int", "int", "int"), f"{RUNTIME}#the-order-of-things"),
    "setresuid": Call("security", ("int", "int", "int"), f"{RUNTIME}#the-order-of-things"),
    # exec: the program, at last
    "execve": Call("exec", ("path", "argv", "hex"), f"{RUNTIME}#starting-a-container"),
    "execveat": Call("exec", ("fd", "path", "argv", "hex", "hex"), f"{RUNTIME}#starting-a-container"),
}

# A few steps are better explained by another section than their call's.
ANCHOR_PROPAGATION = f"{RUNTIME}#private-first-then-pivot_root"
ANCHOR_SUBREAPER = f"{RUNTIME}#the-monitor"
ANCHOR_BOUNDING = f"{RUNTIME}#capabilities"
ANCHOR_CGROUP_JOIN = f"{CGROUPS}#the-cgroup-namespace"


def flag_names(value: int, table: dict[str, int]) -> list[str]:
    """The names of the bits set in ``value``, in the table's order; what is left, as hex."""
    names, left = [], value
    for name, bit in table.items():
        if bit and value & bit == bit:
            names.append(name)
            left &= ~bit
    if left:
        names.append(hex(left))
    return names


def choice_name(value: int, table: dict[str, int]) -> str:
    """The name of one value of a table, or the number."""
    for name, number in table.items():
        if number == value:
            return name
    return str(value)
