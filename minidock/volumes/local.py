"""The `local` volume driver: a directory under the data root, or a file system mounted there.

Implements: spec/volumes.md VOL-004, VOL-006, VOL-007
Explained:  chapters/06-volumes.md#the-local-driver
Modelled on: moby's volume/local (local.go, local_unix.go)

    <data-root>/volumes/<name>/_data       the data, bind-mounted into containers
    <data-root>/volumes/<name>/opts.json   the driver options, when there are any

    LocalDriver(root).create(name, {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"})
        type, o, device   mount(8)'s -t, -o and device: mounted on _data while a container
                          uses the volume, unmounted after the last one (a tmpfs volume's
                          data lives only that long, as in Docker)
        type=none o=bind device=/srv/x   the host directory /srv/x, bound onto _data

Rules: a plain volume is never mounted on the host (the runtime binds _data
straight into the container); a volume with options is mounted once however many
containers use it (one ref each). Nothing is removed through a mount: remove()
unmounts first and refuses if it cannot, so a bound host directory keeps its files.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.errors import SystemError as SystemFailure
from minidock.kernel import syscalls as sc
from minidock.volumes.names import check_name

VALID_OPTIONS = ("type", "o", "device", "size")
# mount(8) -o words that are flags to mount(2); the rest goes to the file system as data
_FLAGS = {"ro": sc.MS_RDONLY, "nosuid": sc.MS_NOSUID, "nodev": sc.MS_NODEV, "noexec": sc.MS_NOEXEC,
          "bind": sc.MS_BIND, "rbind": sc.MS_BIND | sc.MS_REC}


def mount_points(path: str, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """The mount points at or below ``path``, deepest first (mountinfo(5), octal escapes undone).

    Not os.path.ismount: a bind mount from the same file system has the same st_dev
    as its parent, and ismount calls it no mount at all.
    """
    prefix = os.path.realpath(path)
    with open(mountinfo) as file:
        points = [line.split()[4].encode().decode("unicode_escape") for line in file]
    found = {p for p in points if p == prefix or p.startswith(prefix + "/")}
    return sorted(found, key=len, reverse=True)


def check_options(options: dict[str, str]) -> None:
    """Docker's rules for the local driver's options (its words)."""
    for key in options:
        if key not in VALID_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}"')
    if options.get("size"):
        raise InvalidArgument("quota size requested but no quota support")
    if options:
        for key in ("type", "device"):
            if key not in options:
                raise InvalidArgument(f'missing required option: "{key}"')


def split_o(text: str) -> tuple[int, str]:
    """`o=bind,ro,size=1m` -> (mount(2) flags, the file system's data string)."""
    flags, data = 0, []
    for word in filter(None, text.split(",")):
        if word in _FLAGS:
            flags |= _FLAGS[word]
        elif word not in ("rw", "defaults"):
            data.append(word)
    return flags, ",".join(data)


class LocalDriver:
    """Volumes as directories under ``root`` (satisfies minidock.volumes.VolumeDriver)."""

    name = "local"

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, mode=0o701, exist_ok=True)
        self._refs: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        for entry in os.listdir(root):
            if entry.startswith(".removing-"):  # a remove that a crash cut short
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)

    # -- where things are -----------------------------------------------------------------

    def _dir(self, name: str) -> str:
        check_name(name)  # a name is a path component: never '..' or 'a/b'
        path = os.path.join(self.root, name)
        if not os.path.isdir(os.path.join(path, "_data")):
            raise NotFound(f"get {name}: no such volume")
        return path

    def path(self, name: str) -> str:
        return os.path.join(self._dir(name), "_data")

    def options(self, name: str) -> dict[str, str]:
        """The options the volume was created with ({} for a plain directory)."""
        try:
            with open(os.path.join(self._dir(name), "opts.json")) as file:
                return json.load(file)
        except FileNotFoundError:
            return {}

    def list(self) -> list[str]:
        return sorted(entry for entry in os.listdir(self.root)
                      if not entry.startswith(".") and os.path.isdir(os.path.join(self.root, entry, "_data")))

    # -- create and remove ----------------------------------------------------------------

    def create(self, name: str, options: dict[str, str]) -> None:
        """Make <root>/<name>/_data (and opts.json); an existing volume is left as it is."""
        check_name(name)
        check_options(options)
        path = os.path.join(self.root, name)
        if os.path.isdir(os.path.join(path, "_data")):
            return
        os.makedirs(path, mode=0o755, exist_ok=True)
        if options:
            temporary = os.path.join(path, ".opts.json")
            with open(temporary, "w") as file:
                json.dump(options, file)
            os.rename(temporary, os.path.join(path, "opts.json"))
        os.mkdir(os.path.join(path, "_data"), 0o755)  # last: its presence says "created"

    def remove(self, name: str) -> None:
        """Delete the volume and its data; refused while a container has it mounted."""
        path = self._dir(name)
        with self._lock:
            if self._refs.get(name):
                # [VOL-003] moby's errVolumeInUse, as the driver says it
                raise Conflict(f"remove {name}: volume is in use")
            for point in mount_points(path):  # never rmtree through a mount: a bound directory's files
                sc.umount2(point, sc.MNT_DETACH)
            if mount_points(path):
                raise Conflict(f"remove {name}: {path} is still mounted")
            # _data first and away: a crash half-way leaves no volume, not half a one
            trash = os.path.join(self.root, f".removing-{name}")
            os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    # -- mount and unmount ----------------------------------------------------------------

    def mount(self, name: str, ref: str) -> str:
        """The host path of the volume's data for ``ref``; mounts its file system on the first ref."""
        data = self.path(name)
        options = self.options(name)
        with self._lock:
            refs = self._refs.setdefault(name, set())
            if options and not refs and not mount_points(data):
                self._mount(data, options)
            refs.add(ref)
        return data

    def _mount(self, data: str, options: dict[str, str]) -> None:
        flags, extra = split_o(options.get("o", ""))
        fstype = options.get("type")
        device = options["device"]
        if fstype in ("none", "bind") or flags & sc.MS_BIND:
            fstype, flags = None, flags | sc.MS_BIND
        try:
            sc.mount(device, data, fstype, flags & ~sc.MS_RDONLY if flags & sc.MS_BIND else flags,
                     extra or None)
            if flags & sc.MS_BIND and flags & sc.MS_RDONLY:
                # mount(2): MS_BIND ignores MS_RDONLY; a remount applies it
                sc.mount(None, data, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
            # the data root may sit on a shared mount: keep this one from spreading
            sc.mount(None, data, None, sc.MS_PRIVATE)
        except sc.SyscallError as error:
            # [VOL-007] Docker's words
            raise SystemFailure(f"failed to mount local volume: mount {device}:{data}: "
                              f"{os.strerror(error.errno).lower()}") from None

    def unmount(self, name: str, ref: str) -> None:
        """``ref`` is done with the volume; the last ref unmounts its file system."""
        try:
            data = self.path(name)
        except NotFound:
            return
        with self._lock:
            refs = self._refs.get(name, set())
            refs.discard(ref)
            if not refs:
                self._refs.pop(name, None)
                for point in mount_points(data):
                    sc.umount2(point, sc.MNT_DETACH)

    def mounted(self, name: str) -> bool:
        """Is the volume's file system mounted on the host now?"""
        return bool(mount_points(os.path.join(self.root, name, "_data")))
