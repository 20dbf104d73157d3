"""The kinds of Linux namespace, their clone flags and their /proc names.

Implements: spec/namespaces.md NS-001 .. NS-003
Explained:  chapters/01-namespaces.md#kinds

    Namespace.UTS.flag   -> CLONE_NEWUTS        (for unshare(2) / clone(2))
    Namespace.UTS.proc   -> "uts"               (/proc/PID/ns/uts, for setns(2))
    flags_for(kinds)     -> one int, the OR of their flags
    parse(name)          -> Namespace.X, from the OCI config's "type" field
    Namespace.ALL        every kind, each a Kind(oci_type, proc, flag)

Rules: pure; nothing here touches the kernel.
"""

from __future__ import annotations

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls
from minidock.records import record

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Iterable


@record
class Kind:
    """One kind of namespace, by its three names."""

    oci_type: str   # what the OCI runtime spec calls it in linux.namespaces[].type
    proc: str       # its file under /proc/PID/ns/ (for setns(2))
    flag: int       # its CLONE_NEW* flag for clone(2), unshare(2) and setns(2)


class Namespace:
    """The kinds of namespace: Namespace.UTS.flag, Namespace.UTS.proc, Namespace.ALL.

    Constants in a class rather than an enum.Enum: the enum module costs a
    container's start 3 ms (chapters/03-runtime.md#start-up-time).
    """

    MOUNT = Kind("mount", "mnt", syscalls.CLONE_NEWNS)
    UTS = Kind("uts", "uts", syscalls.CLONE_NEWUTS)
    IPC = Kind("ipc", "ipc", syscalls.CLONE_NEWIPC)
    PID = Kind("pid", "pid", syscalls.CLONE_NEWPID)
    NETWORK = Kind("network", "net", syscalls.CLONE_NEWNET)
    USER = Kind("user", "user", syscalls.CLONE_NEWUSER)
    CGROUP = Kind("cgroup", "cgroup", syscalls.CLONE_NEWCGROUP)
    TIME = Kind("time", "time", syscalls.CLONE_NEWTIME)
    ALL = (MOUNT, UTS, IPC, PID, NETWORK, USER, CGROUP, TIME)


def flags_for(kinds: Iterable[Kind]) -> int:
    """Return the OR of the clone flags of ``kinds`` (0 for none)."""
    # lab 01: begin: combine the CLONE_NEW* flags of these kinds into one int
    flags = 0
    for kind in kinds:
        flags |= kind.flag
    return flags
    # lab 01: end


def parse(name: str) -> Kind:
    """Return the kind of namespace an OCI config calls ``name``.

    Raises InvalidArgument for a name the runtime spec does not define.
    """
    for kind in Namespace.ALL:
        if kind.oci_type == name:
            return kind
    # [NS-003] an unknown namespace type is a clear error, not ignored
    known = ", ".join(k.oci_type for k in Namespace.ALL)
    raise InvalidArgument(f"unknown namespace type {name!r} (known: {known})")


def identity(pid: int | str, kind: Kind) -> str:
    """Return the namespace ``pid`` is in, as the kernel names it (e.g. ``uts:[4026531838]``).

    Two processes share a namespace exactly when these strings are equal.
    """
    import os

    return os.readlink(f"/proc/{pid}/ns/{kind.proc}")
