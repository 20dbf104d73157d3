"""Network namespaces the daemon makes for containers: a file under the exec root per container.

Implements: spec/networking.md NET-001, NET-005
Explained:  chapters/07-networking.md#the-sandbox
Modelled on: libnetwork's osl/namespace_linux.go (a bind-mounted netns file per sandbox)

    create(path)           unshare(CLONE_NEWNET) in this thread, bind /proc/thread-self/ns/net on path,
                           loopback up, back to the daemon's namespace
    inside(path)           a context: this thread in that namespace (setns), then back
    remove(path)           unmount and unlink (the namespace goes with its last user)

Rules: only the calling thread changes namespace (unshare and setns act on a
thread), and it always comes back, so the daemon's other threads never notice.
The runtime joins the namespace by path (config.json linux.namespaces[].path).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from minidock.kernel import syscalls

MS_BIND = 0x1000
MNT_DETACH = 0x2


@contextlib.contextmanager
def inside(path: str) -> Iterator[None]:
    """Run the block with this thread in the network namespace at ``path``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(target, syscalls.CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            yield
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNET)
    finally:
        os.close(own)


def create(path: str) -> None:
    """A new network namespace kept alive by a bind mount at ``path``, its loopback up."""
    from pyroute2 import IPRoute

    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.unshare(syscalls.CLONE_NEWNET)  # this thread only
        try:
            # a namespace lives while a process, an open fd or a mount holds it
            syscalls.mount("/proc/thread-self/ns/net", path, None, MS_BIND)
            with IPRoute() as ipr:  # the socket belongs to the namespace it was made in
                ipr.link("set", index=1, state="up")  # lo is always index 1
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNET)
    except BaseException:
        remove(path)
        raise
    finally:
        os.close(own)


def remove(path: str) -> None:
    """Unmount and delete a namespace file; nothing there is not an error."""
    try:
        syscalls.umount2(path, MNT_DETACH)
    except syscalls.SyscallError:  # not mounted (a create that failed early)
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def listed(directory: str) -> list[str]:
    """The namespace files under ``directory`` (their names: container IDs)."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
