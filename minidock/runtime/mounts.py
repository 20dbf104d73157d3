"""The config's mounts: OCI `mounts[]` into mount(2) calls, and paths that stay inside the root.

Implements: spec/runtime.md RT-MNT-001 .. RT-MNT-004, RT-MNT-006 .. RT-MNT-008
Explained:  chapters/03-runtime.md#mounts
Modelled on: runc's libcontainer/specconv (options → flags) and the securejoin idea

    parse(entries, bundle) -> list[Mount]     pure: check each entry, split its options
    recursive_attributes(options)             runc's rro, rnosuid, ... -> mount_setattr(2)'s set, clear
    secure_join(root, path) -> str            resolve `path` under `root`, symlinks included,
                                              never leaving `root`

Options split three ways, as mount(8) does: flags (ro, nosuid, bind, ...),
propagation (rprivate, shared, ...) and the rest, passed to the filesystem
as its data string (mode=755, size=65536k, newinstance, ...). runc's recursive
options (rro, rnosuid, ...) are a fourth kind: attributes for mount_setattr(2).
"""

from __future__ import annotations

import os

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc
from minidock.records import record

# [RT-MNT-007] option -> (flags to set, flags to clear): mount(8)'s words, runc's table
FLAGS: dict[str, tuple[int, int]] = {
    "ro": (sc.MS_RDONLY, 0), "rw": (0, sc.MS_RDONLY),
    "nosuid": (sc.MS_NOSUID, 0), "suid": (0, sc.MS_NOSUID),
    "nodev": (sc.MS_NODEV, 0), "dev": (0, sc.MS_NODEV),
    "noexec": (sc.MS_NOEXEC, 0), "exec": (0, sc.MS_NOEXEC),
    "sync": (sc.MS_SYNCHRONOUS, 0), "async": (0, sc.MS_SYNCHRONOUS),
    "dirsync": (sc.MS_DIRSYNC, 0),
    "mand": (sc.MS_MANDLOCK, 0), "nomand": (0, sc.MS_MANDLOCK),
    "bind": (sc.MS_BIND, 0), "rbind": (sc.MS_BIND | sc.MS_REC, 0),
    "remount": (sc.MS_REMOUNT, 0),
    "noatime": (sc.MS_NOATIME, 0), "atime": (0, sc.MS_NOATIME),
    "nodiratime": (sc.MS_NODIRATIME, 0), "diratime": (0, sc.MS_NODIRATIME),
    "relatime": (sc.MS_RELATIME, 0), "norelatime": (0, sc.MS_RELATIME),
    "strictatime": (sc.MS_STRICTATIME, 0), "nostrictatime": (0, sc.MS_STRICTATIME),
    "lazytime": (sc.MS_LAZYTIME, 0), "nolazytime": (0, sc.MS_LAZYTIME),
    "iversion": (sc.MS_I_VERSION, 0), "noiversion": (0, sc.MS_I_VERSION),
    "nosymfollow": (sc.MS_NOSYMFOLLOW, 0), "symfollow": (0, sc.MS_NOSYMFOLLOW),
    "acl": (sc.MS_POSIXACL, 0), "noacl": (0, sc.MS_POSIXACL),
    "silent": (sc.MS_SILENT, 0), "loud": (0, sc.MS_SILENT),
    "defaults": (0, 0),
}
# [RT-MNT-008] runc's recursive options: option -> (attributes to set, to clear) for
# mount_setattr(2) with AT_RECURSIVE, which reaches the mounts below the target too (a
# remount with MS_RDONLY changes only the one mount). Any atime option clears the whole
# atime field; the negative ones leave the kernel's default, relatime.
_ATIME = sc.MOUNT_ATTR__ATIME
RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (sc.MOUNT_ATTR_RDONLY, 0), "rrw": (0, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (sc.MOUNT_ATTR_NODEV, 0), "rdev": (0, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, sc.MOUNT_ATTR_NOSYMFOLLOW),
    "rnoatime": (sc.MOUNT_ATTR_NOATIME, _ATIME), "rstrictatime": (sc.MOUNT_ATTR_STRICTATIME, _ATIME),
    "rrelatime": (sc.MOUNT_ATTR_RELATIME, _ATIME), "ratime": (sc.MOUNT_ATTR_RELATIME, _ATIME),
    "rnorelatime": (sc.MOUNT_ATTR_RELATIME, _ATIME), "rnostrictatime": (sc.MOUNT_ATTR_RELATIME, _ATIME),
}
PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


@record
class Mount:
    """One mount, target relative to the new root (no leading '/')."""

    source: str
    target: str
    fstype: str
    flags: int = 0
    data: str | None = None
    propagation: int = 0
    copy_up: bool = False      # runc's "tmpcopyup": the tmpfs starts with what it covers (RT-MNT-006)
    attr_set: int = 0          # runc's recursive options, for mount_setattr(2) (RT-MNT-008)
    attr_clr: int = 0

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def split_options(options: list[str]) -> tuple[int, int, str | None]:
    """Return (flags, propagation, data) for a list of mount options (recursive ones apart)."""
    flags, propagation, data = 0, 0, []
    for option in options:
        if option in RECURSIVE:
            continue  # recursive_attributes() reads them
        if option in FLAGS:
            set_flags, clear_flags = FLAGS[option]
            flags = (flags | set_flags) & ~clear_flags
        elif option in PROPAGATION:
            propagation = PROPAGATION[option]
        else:
            data.append(option)
    return flags, propagation, ",".join(data) or None


def recursive_attributes(options: list[str]) -> tuple[int, int]:
    """Return (attr_set, attr_clr) for mount_setattr(2) from runc's recursive options."""
    attr_set, attr_clr = 0, 0
    for option in options:
        if option in RECURSIVE:
            set_attrs, clear_attrs = RECURSIVE[option]
            attr_set = (attr_set & ~clear_attrs) | set_attrs  # the last word wins, as for flags
            attr_clr = (attr_clr & ~set_attrs) | clear_attrs
    return attr_set, attr_clr


def parse(entries: object, bundle: str) -> list[Mount]:
    """Check the config's `mounts` and turn them into Mounts, in order."""
    if not isinstance(entries, list):
        raise InvalidArgument("config.json: 'mounts' must be a list")
    mounts = []
    for index, entry in enumerate(entries):
        where = f"mounts[{index}]"
        if not isinstance(entry, dict):
            raise InvalidArgument(f"config.json: {where} must be an object")
        destination = entry.get("destination")
        # [RT-MNT-001] every destination is an absolute path in the container
        if not isinstance(destination, str) or not destination.startswith("/"):
            raise InvalidArgument(f"config.json: {where}.destination must be an absolute path, got {destination!r}")
        options = entry.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise InvalidArgument(f"config.json: {where}.options must be a list of strings")
        try:
            flags, propagation, data = split_options(options)
        except InvalidArgument as error:
            raise InvalidArgument(f"config.json: {where}: {error.message}") from None
        fstype = entry.get("type") or ("bind" if flags & sc.MS_BIND else "")
        source = entry.get("source", fstype)
        if not isinstance(fstype, str) or not isinstance(source, str):
            raise InvalidArgument(f"config.json: {where}.type and .source must be strings")
        if fstype == "bind":
            flags |= sc.MS_BIND
        if flags & sc.MS_BIND:
            # bind sources are absolute or relative to the bundle
            source = os.path.normpath(os.path.join(bundle, source))
            if not os.path.exists(source):
                # [RT-MNT-003] a missing bind source is named before anything is mounted
                raise InvalidArgument(f"config.json: {where}.source {source} does not exist")
        # [RT-MNT-006] runc's extension, which podman asks for with --read-only: not for the kernel
        copy_up = "tmpcopyup" in options
        if copy_up:
            if fstype != "tmpfs":
                raise InvalidArgument(f"config.json: {where}: 'tmpcopyup' is for tmpfs mounts, not {fstype or 'this one'}")
            data = ",".join(part for part in (data or "").split(",") if part and part != "tmpcopyup") or None
        mounts.append(Mount(source, os.path.normpath(destination).lstrip("/"), fstype, flags, data, propagation,
                            copy_up, *recursive_attributes(options)))
    return mounts


def secure_join(root: str, path: str, max_links: int = 40) -> str:
    """Resolve ``path`` as if ``root`` were '/', following symlinks without leaving root.

    A symlink `/etc/evil -> /` or `-> ../../..` inside the rootfs resolves to
    the rootfs itself, never to the host's '/'.
    """
    # lab 03: begin: resolve path component by component under root, following symlinks (absolute ones from root, '..' never above it)
    # [RT-MNT-002] a mount destination that goes through a symlink stays in the rootfs
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            links += 1
            if links > max_links:
                raise InvalidArgument(f"too many symlinks resolving {path!r} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)
    # lab 03: end
