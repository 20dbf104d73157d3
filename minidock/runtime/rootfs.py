"""The container's root filesystem: private propagation, /proc, /dev, /sys, pivot_root.

Implements: spec/runtime.md RT-FS-001 .. RT-FS-004
Explained:  chapters/03-runtime.md#the-root-filesystem
Modelled on: runc's libcontainer/rootfs_linux.go (prepareRoot, mountToRootfs, pivotRoot)

    plan_mounts(rootfs, cgroup_version) -> list[Mount]   pure, unit tested
    enter(rootfs, cgroup_version)                        the thin shell, in the child

Rules: called only inside a new mount namespace; everything mounted here
vanishes with that namespace, so nothing leaks onto the host.
"""

from __future__ import annotations

import dataclasses
import os
import stat

from minidock.kernel import syscalls as sc

PUT_OLD = ".pivot_root"

# The device nodes every container gets (runc's DefaultSimpleDevices): name, major, minor.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
           ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


@dataclasses.dataclass(frozen=True)
class Mount:
    """One mount(2) call, target relative to the new root."""

    source: str
    target: str
    fstype: str
    flags: int = 0
    data: str | None = None


def plan_mounts(cgroup_version: int) -> list[Mount]:
    """Return the mounts a container gets, in order (targets relative to the rootfs)."""
    nosuid_nodev_noexec = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    mounts = [
        Mount("proc", "proc", "proc", nosuid_nodev_noexec),
        Mount("tmpfs", "dev", "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k"),
        Mount("devpts", "dev/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620"),
        Mount("shm", "dev/shm", "tmpfs", nosuid_nodev_noexec, "mode=1777,size=65536k"),
        Mount("sysfs", "sys", "sysfs", nosuid_nodev_noexec | sc.MS_RDONLY),
    ]
    # Inside a cgroup namespace, a fresh cgroup mount shows the container's own
    # group as its root: the container reads its own limits at the usual paths.
    if cgroup_version == 2:
        mounts.append(Mount("cgroup", "sys/fs/cgroup", "cgroup2", nosuid_nodev_noexec))
    else:
        mounts.append(Mount("tmpfs", "sys/fs/cgroup", "tmpfs", nosuid_nodev_noexec, "mode=755"))
        # a v1 controller must be mounted with the same options as on the host
        # (here cpu and cpuacct are separate; elsewhere they are co-mounted), so
        # the container gets the two its limits are read from
        for controller in ("memory", "pids"):
            mounts.append(Mount("cgroup", f"sys/fs/cgroup/{controller}", "cgroup",
                                nosuid_nodev_noexec, controller))
    return mounts


def enter(rootfs: str, cgroup_version: int) -> None:
    """Make ``rootfs`` this mount namespace's root, with the standard filesystems on it."""
    # mount_namespaces(7): a new mount namespace starts as a copy whose mounts are
    # still shared with the host; make them private first, or our mounts leak out.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    # pivot_root(2): new_root must be a mount point, so bind-mount rootfs onto itself
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    for mount in plan_mounts(cgroup_version):
        target = os.path.join(rootfs, mount.target)
        os.makedirs(target, exist_ok=True)
        sc.mount(mount.source, target, mount.fstype, mount.flags, mount.data)
        if mount.target == "dev":
            _make_devices(target)
    put_old = os.path.join(rootfs, PUT_OLD)
    os.makedirs(put_old, exist_ok=True)
    sc.pivot_root(rootfs, put_old)
    os.chdir("/")
    # the old root is still mounted under the new one: detach it lazily, so the
    # container cannot walk back to the host's files
    sc.umount2("/" + PUT_OLD, sc.MNT_DETACH)
    os.rmdir("/" + PUT_OLD)


def _make_devices(dev: str) -> None:
    """Create the standard device nodes and links in a fresh /dev tmpfs."""
    for name, major, minor in DEVICES:
        os.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(os.path.join(dev, name), 0o666)  # mknod honours the umask
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx")):
        os.symlink(target, os.path.join(dev, link))
