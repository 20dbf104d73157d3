"""The kinds of Linux namespace, their clone flags and their /proc names.

Implements: spec/namespaces.md NS-001 .. NS-003
Explained:  chapters/01-namespaces.md#kinds

    Namespace.UTS.flag   -> CLONE_NEWUTS        (for unshare(2) / clone(2))
    Namespace.UTS.proc   -> "uts"               (/proc/PID/ns/uts, for setns(2))
    flags_for(kinds)     -> one int, the OR of their flags
    parse(name)          -> Namespace, from the OCI config's "type" field

Rules: pure; nothing here touches the kernel.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls


class Namespace(enum.Enum):
    """One kind of namespace: (OCI type name, /proc/PID/ns name, clone flag)."""

    MOUNT = ("mount", "mnt", syscalls.CLONE_NEWNS)
    UTS = ("uts", "uts", syscalls.CLONE_NEWUTS)
    IPC = ("ipc", "ipc", syscalls.CLONE_NEWIPC)
    PID = ("pid", "pid", syscalls.CLONE_NEWPID)
    NETWORK = ("network", "net", syscalls.CLONE_NEWNET)
    USER = ("user", "user", syscalls.CLONE_NEWUSER)
    CGROUP = ("cgroup", "cgroup", syscalls.CLONE_NEWCGROUP)
    TIME = ("time", "time", syscalls.CLONE_NEWTIME)

    @property
    def oci_type(self) -> str:
        """The name the OCI runtime spec uses in linux.namespaces[].type."""
        return self.value[0]

    @property
    def proc(self) -> str:
        """The file name under /proc/PID/ns/."""
        return self.value[1]

    @property
    def flag(self) -> int:
        """The CLONE_NEW* flag for clone(2), unshare(2) and setns(2)."""
        return self.value[2]


def flags_for(kinds: Iterable[Namespace]) -> int:
    """Return the OR of the clone flags of ``kinds`` (0 for none)."""
    # lab 01: begin: combine the CLONE_NEW* flags of these kinds into one int
    flags = 0
    for kind in kinds:
        flags |= kind.flag
    return flags
    # lab 01: end


def parse(name: str) -> Namespace:
    """Return the Namespace an OCI config calls ``name``.

    Raises InvalidArgument for a name the runtime spec does not define.
    """
    for kind in Namespace:
        if kind.oci_type == name:
            return kind
    # [NS-003] an unknown namespace type is a clear error, not ignored
    known = ", ".join(k.oci_type for k in Namespace)
    raise InvalidArgument(f"unknown namespace type {name!r} (known: {known})")


def identity(pid: int | str, kind: Namespace) -> str:
    """Return the namespace ``pid`` is in, as the kernel names it (e.g. ``uts:[4026531838]``).

    Two processes share a namespace exactly when these strings are equal.
    """
    import os

    return os.readlink(f"/proc/{pid}/ns/{kind.proc}")
