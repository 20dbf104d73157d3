"""Mounting a snapshot: a snapshotter's mounts turned into mount(2) calls, and undone.

Implements: spec/images.md IMG-SNAP-010 .. IMG-SNAP-011 (the mounts they return, made real)
Explained:  chapters/04-images.md#snapshots
Modelled on: containerd's mount.All and mount.UnmountAll

    mount_calls(mount, target) -> list[MountCall]   pure: the mount(2) calls for one Mount
    mount_all(mounts, target)                       the thin shell: make them, in order
    unmount(target)                                 undo every mount stacked on target

Options split as mount(8) splits them: `ro`, `rw`, `bind`, `rbind` are flags, the rest
(`lowerdir=...`, `upperdir=...`, `index=off`) is the file system's data string.
A read-only bind takes two calls: mount(2) ignores MS_RDONLY on the first MS_BIND,
so the bind is remounted read-only.
"""

from __future__ import annotations

import dataclasses
import errno

from minidock.images.snapshots.snapshotter import Mount
from minidock.kernel import syscalls


@dataclasses.dataclass(frozen=True)
class MountCall:
    """The arguments of one mount(2) call."""

    source: str | None
    target: str
    fstype: str | None
    flags: int
    data: str | None


_FLAGS = {"ro": syscalls.MS_RDONLY, "rw": 0, "bind": syscalls.MS_BIND,
          "rbind": syscalls.MS_BIND | syscalls.MS_REC}


def mount_calls(mount: Mount, target: str) -> list[MountCall]:
    """The mount(2) calls that make ``mount`` at ``target``."""
    flags, data = 0, []
    for option in mount.options:
        if option in _FLAGS:
            flags |= _FLAGS[option]
        else:
            data.append(option)
    if mount.type == "bind" or flags & syscalls.MS_BIND:
        calls = [MountCall(mount.source, target, None, flags & ~syscalls.MS_RDONLY | syscalls.MS_BIND, None)]
        if flags & syscalls.MS_RDONLY:
            # mount(2): "MS_RDONLY ... is ignored" with MS_BIND, until a remount applies it
            calls.append(MountCall(None, target, None,
                                   syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY, None))
        return calls
    return [MountCall(mount.source, target, mount.type, flags, ",".join(data) or None)]


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount each of ``mounts`` on ``target``, in order; on a failure, undo the ones made."""
    try:
        for mount in mounts:
            for call in mount_calls(mount, target):
                syscalls.mount(call.source, call.target, call.fstype, call.flags, call.data)
    except BaseException:
        unmount(target)
        raise


def unmount(target: str) -> None:
    """Unmount everything mounted on ``target`` (the top first); nothing mounted is fine."""
    while True:
        try:
            syscalls.umount2(target, 0)
        except syscalls.SyscallError as error:
            if error.errno == errno.EINVAL:  # umount(2): target is not a mount point (any more)
                return
            raise
