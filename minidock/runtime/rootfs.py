"""The container's root filesystem: private propagation, the mounts, /dev, pivot_root.

Implements: spec/runtime.md RT-FS-001 .. RT-FS-004, RT-MNT-002, RT-MNT-004 .. RT-MNT-006, RT-MNT-008
Explained:  chapters/03-runtime.md#the-root-filesystem
Modelled on: runc's libcontainer/rootfs_linux.go (prepareRoot, mountToRootfs, pivotRoot)

    default_mounts() -> list[Mount]               what a config without `mounts` gets (pure)
    expand_cgroup(mount, hierarchy) -> list[Mount]  one `cgroup` entry into what this host needs
    enter(rootfs, hierarchy, mounts)         the thin shell, in the container's init
    copy_tree(fd, target)                    a tmpfs's "tmpcopyup": what it covers, copied in

Rules: called only inside a new mount namespace; everything mounted here
vanishes with that namespace, so nothing leaks onto the host. Every target is
resolved with mounts.secure_join, so a symlink in the image cannot aim a mount
at the host.
"""

from __future__ import annotations

import os
import stat

from minidock.cgroups import Hierarchy
from minidock.kernel import syscalls as sc
from minidock.runtime import devices as oci_devices
from minidock.runtime.mounts import Mount, secure_join, split_options

# The device nodes every container gets (runc's default devices): name, major, minor.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
           ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))

# The mounts `minidock-runtime spec` writes and Docker gives every container.
DEFAULT_MOUNTS: list[dict] = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
]


def default_mounts() -> list[Mount]:
    """The DEFAULT_MOUNTS as Mounts (no bind sources, so no bundle is needed)."""
    mounts = []
    for entry in DEFAULT_MOUNTS:
        flags, propagation, data = split_options(entry["options"])
        mounts.append(Mount(entry["source"], entry["destination"].lstrip("/"), entry["type"],
                            flags, data, propagation))
    return mounts


def expand_cgroup(mount: Mount, hierarchy: Hierarchy) -> list[Mount]:
    """Turn one `cgroup` mount into the mounts that show the container its own groups.

    Inside a cgroup namespace, a fresh cgroup mount shows the container's own
    group as its root: the container reads its own limits at the usual paths.
    """
    if hierarchy.version == 2:
        return [Mount("cgroup", mount.target, "cgroup2", mount.flags)]
    # v1: a tmpfs with one mount per host hierarchy, each with the host's own
    # controller set (here cpu and cpuacct are separate; elsewhere co-mounted:
    # mount(2) refuses a set that differs from an existing hierarchy's)
    read_only = mount.flags & sc.MS_RDONLY
    planned = [Mount("tmpfs", mount.target, "tmpfs", mount.flags & ~sc.MS_RDONLY, "mode=755")]
    by_mount_point: dict[str, list[str]] = {}
    for controller, mount_point in sorted(hierarchy.v1_mounts.items()):
        by_mount_point.setdefault(mount_point, []).append(controller)
    for mount_point, controllers in sorted(by_mount_point.items()):
        planned.append(Mount("cgroup", f"{mount.target}/{os.path.basename(mount_point)}", "cgroup",
                             mount.flags, ",".join(controllers)))
    if read_only:  # the tmpfs holding the mount points last, once they exist
        planned.append(Mount("", mount.target, "", sc.MS_REMOUNT | mount.flags, "mode=755"))
    return planned


def _mount_one(rootfs: str, mount: Mount) -> str:
    """Mount one entry under rootfs; return the resolved target."""
    target = secure_join(rootfs, mount.target)
    if mount.flags & sc.MS_REMOUNT:
        sc.mount(None, target, None, mount.flags, mount.data)
        return target
    if mount.is_bind:
        # the target must be of the source's kind: a file for a file, a dir for a dir
        if os.path.isdir(mount.source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        sc.mount(mount.source, target, None, sc.MS_BIND | (mount.flags & sc.MS_REC))
        # mount(2): MS_BIND ignores the other flags; they take effect on a remount
        extra = mount.flags & ~(sc.MS_BIND | sc.MS_REC)
        if extra:
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | extra)
    else:
        os.makedirs(target, exist_ok=True)
        # what the mount will cover stays reachable through a descriptor opened before it
        below = os.open(target, os.O_RDONLY | os.O_DIRECTORY) if mount.copy_up else -1
        try:
            sc.mount(mount.source, target, mount.fstype, mount.flags, mount.data)
            if below >= 0:
                copy_tree(below, target)  # [RT-MNT-006] tmpcopyup
        finally:
            if below >= 0:
                os.close(below)
    if mount.attr_set or mount.attr_clr:
        # [RT-MNT-008] the mounts an rbind brought along too, which a remount leaves alone
        sc.mount_setattr(target, mount.attr_set, mount.attr_clr)
    if mount.propagation:
        sc.mount(None, target, None, mount.propagation)
    return target


def copy_tree(source_fd: int, target: str) -> None:
    """Copy the directory open as ``source_fd`` into ``target``: files, links, nodes, owners, modes.

    runc's "tmpcopyup": a tmpfs mounted on /tmp of a read-only root starts with what
    the image has there. The image's directory is covered by then; its descriptor,
    opened before the mount, still reads it. Nothing is followed: a symlink is copied
    as a symlink, so none can lead the copy out of the image.
    """
    for entry in os.scandir(source_fd):
        info = entry.stat(follow_symlinks=False)
        path = os.path.join(target, entry.name)
        if stat.S_ISDIR(info.st_mode):
            os.mkdir(path)
            inner = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=source_fd)
            try:
                copy_tree(inner, path)
            finally:
                os.close(inner)
        elif stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(entry.name, dir_fd=source_fd), path)
        elif stat.S_ISREG(info.st_mode):
            reader = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=source_fd)
            writer = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                while chunk := os.read(reader, 1 << 20):
                    os.write(writer, chunk)
            finally:
                os.close(reader)
                os.close(writer)
        else:  # a device node, a FIFO or a socket: made again, not read
            os.mknod(path, info.st_mode, info.st_rdev)
        os.chown(path, info.st_uid, info.st_gid, follow_symlinks=False)
        if not stat.S_ISLNK(info.st_mode):
            os.chmod(path, stat.S_IMODE(info.st_mode))


def enter(rootfs: str, hierarchy: Hierarchy, mounts: list[Mount] | None = None,
          readonly: bool = False, user_namespace: bool = False, propagation: int = 0,
          devices: tuple[oci_devices.DeviceNode, ...] = ()) -> None:
    """Make ``rootfs`` this mount namespace's root, with the config's mounts and devices on it.

    ``propagation``: linux.rootfsPropagation's flags instead of rprivate (rslave lets a
    bind mount with slave propagation see what the host mounts later, as runc does).

    In a user namespace two things root may not do: mknod(2) (devices are
    bind-mounted from the host instead) and mount cgroup v1 (left out).
    """
    # lab 03: begin: make every mount of this namespace private, then make rootfs a mount point of its own
    # mount_namespaces(7): a new mount namespace starts as a copy whose mounts are
    # still shared with the host; make them private first, or our mounts leak out.
    sc.mount(None, "/", None, propagation or sc.MS_REC | sc.MS_PRIVATE)  # [RT-MNT-005]
    # pivot_root(2): new_root must be a mount point, so bind-mount rootfs onto itself
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    # lab 03: end
    for mount in default_mounts() if mounts is None else mounts:
        if mount.fstype == "cgroup" and user_namespace and hierarchy.version == 1:
            continue  # [NS-USER-003] v1 cgroup mounts need the initial user namespace
        for step in expand_cgroup(mount, hierarchy) if mount.fstype == "cgroup" else [mount]:
            _mount_one(rootfs, step)
            if step.target == "dev" and step.fstype == "tmpfs":
                _make_devices(os.path.join(rootfs, "dev"), bind=user_namespace)
    # linux.devices after the mounts, as runc: a node lands in the container's /dev tmpfs
    oci_devices.make(rootfs, devices, user_namespace)
    # lab 03: begin: pivot_root into rootfs (the old root stacked on top of it at "."), then detach the old root
    # pivot_root(".", "."): the old root is stacked on top of the new one at the same
    # place, so no put_old directory is needed in the image (which a mapped root
    # in a user namespace could not even create); detaching "." then removes the
    # old root, and the container cannot walk back to the host's files
    os.chdir(rootfs)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
    # lab 03: end
    if readonly:
        # [RT-FS-005] root.readonly: the root, not the mounts on it, becomes read-only
        sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)


def _make_devices(dev: str, bind: bool = False) -> None:
    """Create the standard device nodes and links in a fresh /dev tmpfs.

    ``bind``: in a user namespace mknod(2) is refused, so bind-mount the host's
    nodes (still visible before pivot_root) onto empty files instead.
    """
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        if bind:
            open(path, "w").close()
            sc.mount(f"/dev/{name}", path, None, sc.MS_BIND)
            continue
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(path, 0o666)  # mknod honours the umask
    links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")]
    if os.path.exists("/proc/kcore"):
        # [RT-CROSS-001] runc's /dev/core, made only where the kernel has /proc/kcore
        # (CONFIG_PROC_KCORE: Debian's kernel, not these CI machines'); masked paths hide its target
        links.append(("core", "/proc/kcore"))
    for link, target in links:
        os.symlink(target, os.path.join(dev, link))
