"""The volume service: named and anonymous volumes, their records, and a container's mounts.

Implements: spec/volumes.md VOL-001 .. VOL-003, VOL-008 .. VOL-018
Explained:  chapters/06-volumes.md#the-volume-service
Modelled on: moby's volume/service (VolumesService, the store's refs) and
             daemon/volumes.go, daemon/volumes_unix.go (registerMountPoints, setupMounts)

    <data-root>/volumes/metadata.json     name -> driver, labels, options, created, anonymous
    <data-root>/volumes/<name>/_data      the local driver's data (minidock.volumes.local)
    <data-root>/volume-drivers/persist/   the persist driver's registry (minidock.volumes.persist)

    VolumeService(data_root)               the volume routes' backend (api/volumes.py)
      .create(name, driver, options, labels) / .inspect(name) / .list(filters)
      .remove(name, force) / .prune(filters) / .disk_usage()
    and the container service's side of it:
      .prepare(container, image_config, lookup)   at create: plan, make volumes -> mount records
      .attach(container, rootfs) -> [OCI mounts]  at start: driver mounts, copy-up, host dirs
      .detach(container)                          at the exit: driver unmounts
      .forget(container, anonymous)               at rm: -v removes its anonymous volumes

Rules: who uses a volume is never stored twice: ``in_use(name)`` asks the containers
(their records name their volumes), so a daemon that died cannot leave a stale
reference. A volume in use is never removed, not even with force.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import tempfile
import threading
from typing import Any, Callable

from minidock.errors import Conflict, InvalidArgument, MinidockError, NotFound
from minidock.errors import SystemError as SystemFailure
from minidock.volumes import (LocalDriver, MountPoint, PersistDriver, VolumeDriver, anonymous_name, check_name,
                              copy_up)
from minidock.volumes import mounts as planning

log = logging.getLogger("minidockd.volumes")
METADATA = "metadata.json"
LIST_FILTERS = ("dangling", "name", "label", "driver")
SPREADING = ("shared", "rshared", "slave", "rslave")


def check_propagation(source: str, propagation: str, mountinfo: str = "/proc/self/mountinfo") -> None:
    """Docker's rule: a shared bind needs a shared source mount, a slave one a shared or slave one."""
    path = os.path.realpath(source)
    best, tags = "", []
    with open(mountinfo) as file:
        for line in file:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, tags = point, fields[6:fields.index("-")]
    shared = any(t.startswith("shared:") for t in tags)
    slave = any(t.startswith("master:") for t in tags)
    if "shared" in propagation and not shared:
        raise SystemFailure(f"path {source} is mounted on {best} but it is not a shared mount")
    if "slave" in propagation and not (shared or slave):
        raise SystemFailure(f"path {source} is mounted on {best} but it is not a shared or slave mount")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _labels_match(labels: dict[str, str], wanted: list[str], negate: bool = False) -> bool:
    """`label=key` or `label=key=value` (all must hold); `label!=...` (none may)."""
    def holds(entry: str) -> bool:
        key, sep, value = entry.partition("=")
        return key in labels and (not sep or labels[key] == value)
    return not any(map(holds, wanted)) if negate else all(map(holds, wanted))


class VolumeService:
    """The volumes of one daemon (satisfies api.volumes.VolumeBackend)."""

    def __init__(self, data_root: str, drivers: list[VolumeDriver] | None = None) -> None:
        self.root = os.path.join(data_root, "volumes")
        os.makedirs(self.root, mode=0o701, exist_ok=True)
        if drivers is None:  # local (Docker's), and persist (lab 06's)
            drivers = [LocalDriver(self.root), PersistDriver(os.path.join(data_root, "volume-drivers", "persist"))]
        self.drivers: dict[str, VolumeDriver] = {d.name: d for d in drivers}
        self.in_use: Callable[[str], list[str]] = lambda name: []   # set by the container service
        # (action, name, attributes) -> None: set by the daemon, through its loop (we run in threads)
        self.publish: Callable[[str, str, dict[str, str]], None] = lambda action, name, attributes: None
        self._lock = threading.RLock()
        self._records = self._load()

    # -- records --------------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        """metadata.json, reconciled with what the drivers really have (a crash may sit between)."""
        try:
            with open(os.path.join(self.root, METADATA)) as file:
                records = json.load(file)
        except (FileNotFoundError, ValueError):
            records = {}
        found: dict[str, dict[str, Any]] = {}
        for driver in self.drivers.values():
            try:
                names = driver.list()
            except Exception as error:  # noqa: BLE001 - one broken driver (a lab's) must not stop the daemon
                log.error("the volume driver %s cannot list its volumes: %r", driver.name, error)
                continue
            for name in names:
                record = records.get(name)
                if record is None or record.get("Driver") != driver.name:
                    log.warning("adopting the volume %s that no record names", name)
                    record = {"Driver": driver.name, "Labels": {}, "Options": None, "CreatedAt": _now(),
                              "Anonymous": False}
                found[name] = record
        return found

    def _save(self) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".metadata-")
        with os.fdopen(fd, "w") as file:
            json.dump(self._records, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, os.path.join(self.root, METADATA))

    def _driver(self, name: str, driver: str) -> VolumeDriver:
        try:
            return self.drivers[driver]
        except KeyError:
            # [VOL-006] dockerd's words (after its plugin look-up gives up)
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found') from None

    def _record(self, name: str) -> dict[str, Any]:
        record = self._records.get(name)
        if record is None:
            raise NotFound(f"get {name}: no such volume")
        return record

    def view(self, name: str) -> dict[str, Any]:
        """The API's Volume object."""
        record = self._record(name)
        labels, options = record["Labels"] or {}, record["Options"] or {}
        return {"CreatedAt": record["CreatedAt"], "Driver": record["Driver"],
                "Labels": dict(sorted(labels.items())) or None,  # Go writes a map's keys sorted
                "Mountpoint": self.drivers[record["Driver"]].path(name), "Name": name,
                "Options": dict(sorted(options.items())) or None, "Scope": "local"}

    # -- the volume routes ----------------------------------------------------------------

    def create(self, name: str = "", driver: str = "", options: dict | None = None,
               labels: dict | None = None, anonymous: bool = False, owner: str = "") -> dict[str, Any]:
        """POST /volumes/create: make it, or return the one of that name as it is (Docker's way).

        ``owner``: the container whose create made this anonymous volume, until that
        container is saved or removed (reconcile() removes what a crash left owned by nobody).
        """
        name, driver = name or anonymous_name(), driver or "local"
        backend = self._driver(name, driver)
        try:
            check_name(name)
            if name == METADATA:
                raise InvalidArgument(f'"{METADATA}" is the volume records\' own file')
        except InvalidArgument as error:
            raise InvalidArgument(f"create {name}: {error.message}") from None  # [VOL-005]
        with self._lock:
            if name in self._records:
                if self._records[name]["Driver"] != driver:
                    raise Conflict(f"create {name}: volume name must be unique: a volume of driver "
                                   f"{self._records[name]['Driver']} has it")
                self.publish("create", name, {"driver": driver})  # as dockerd: every create says so
                return self.view(name)
            try:
                backend.create(name, dict(options or {}))
            except MinidockError as error:
                raise type(error)(f"create {name}: {error.message}") from None
            self._records[name] = {"Driver": driver, "Labels": dict(labels or {}),
                                   "Options": dict(options or {}) or None, "CreatedAt": _now(),
                                   "Anonymous": anonymous, "Owner": owner}
            self._save()
            self.publish("create", name, {"driver": driver})  # [VOL-025]
            return self.view(name)

    def inspect(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self.view(name)

    def list(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """GET /volumes: every volume matching the filters, by name."""
        filters = filters or {}
        for key, values in filters.items():
            if key not in LIST_FILTERS:
                raise InvalidArgument(f"Invalid filter '{key}'")  # [VOL-001] dockerd's words
            if key == "dangling" and any(v not in ("true", "false", "1", "0") for v in values):
                raise InvalidArgument(f"Invalid filter 'dangling=[{' '.join(values)}]'")
        with self._lock:
            chosen = []
            for name in sorted(self._records):
                record = self._records[name]
                if "dangling" in filters:
                    dangling = filters["dangling"][0] in ("true", "1")
                    if bool(self.in_use(name)) == dangling:
                        continue
                if "name" in filters and not any(v in name for v in filters["name"]):
                    continue
                if "driver" in filters and record["Driver"] not in filters["driver"]:
                    continue
                if "label" in filters and not _labels_match(record["Labels"] or {}, filters["label"]):
                    continue
                chosen.append(self.view(name))
        return {"Volumes": chosen, "Warnings": None}

    def remove(self, name: str, force: bool = False) -> None:
        """DELETE /volumes/{name}: refused while a container uses it (force only forgives a missing one)."""
        with self._lock:
            if name not in self._records and force:
                return
            record = self._record(name)
            users = self.in_use(name)
            if users:
                # [VOL-003] moby's OpErr: op, name, errVolumeInUse, the refs
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            self.drivers[record["Driver"]].remove(name)
            del self._records[name]
            self._save()
            self.publish("destroy", name, {"driver": record["Driver"]})

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """POST /volumes/prune: every volume no container uses (API 1.41: named ones too)."""
        filters = filters or {}
        for key in filters:
            if key not in ("label", "label!"):
                raise InvalidArgument(f"Invalid filter '{key}'")
        deleted, reclaimed = [], 0
        with self._lock:
            for name in sorted(self._records):
                labels = self._records[name]["Labels"] or {}
                if self.in_use(name) or not _labels_match(labels, filters.get("label", [])) \
                        or not _labels_match(labels, filters.get("label!", []), negate=True):
                    continue
                size = self._size(name)
                try:
                    self.remove(name)
                except MinidockError as error:
                    log.warning("prune: %s", error.message)
                    continue
                deleted.append(name)
                reclaimed += size
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _size(self, name: str) -> int:
        """Bytes of the files in the volume (each inode once); -1 if they cannot be read."""
        total, seen = 0, set()
        try:
            for directory, _, files in os.walk(self.drivers[self._records[name]["Driver"]].path(name)):
                for entry in files:
                    info = os.lstat(os.path.join(directory, entry))
                    if (info.st_dev, info.st_ino) not in seen:
                        seen.add((info.st_dev, info.st_ino))
                        total += info.st_size
        except (OSError, MinidockError):
            return -1
        return total

    def disk_usage(self) -> list[dict[str, Any]]:
        """The Volumes of GET /system/df: each with its size and how many containers use it."""
        with self._lock:
            return [{**self.view(name), "UsageData": {"Size": self._size(name), "RefCount": len(self.in_use(name))}}
                    for name in sorted(self._records)]

    # -- a container's mounts -------------------------------------------------------------

    def prepare(self, container, image_config: dict, lookup: Callable[[str], Any]) -> list[dict]:
        """At create: the container's mount records; the volumes they name exist afterwards.

        ``lookup(name)`` finds another container (for VolumesFrom). The image's VOLUMEs
        join Config.Volumes, as inspect shows them in Docker.
        """
        image_volumes = image_config.get("Volumes") or {}
        if image_volumes:
            container.config["Volumes"] = {**image_volumes, **(container.config.get("Volumes") or {})}
        sources = []
        for entry in planning.list_of(container.host_config, "VolumesFrom"):
            name, mode = planning.parse_volumes_from(entry)
            try:
                other = lookup(name)
            except NotFound as error:
                raise InvalidArgument(error.message) from None  # dockerd answers 400 here
            sources.append(([MountPoint.from_record(r) for r in other.mounts], mode))
        points = planning.plan(container.config, container.host_config, sources)
        made: list[str] = []
        try:
            records = [self._resolve(point, container.id, made).to_record() for point in points]
        except BaseException:
            for name in made:
                self._discard(name)
            raise
        return records

    def _resolve(self, point: MountPoint, container_id: str, made: list[str]) -> MountPoint:
        """A planned mount with its volume made (or found) and its source known."""
        import dataclasses

        if point.type == "bind" and not point.create_source and not os.path.exists(point.source):
            # [VOL-013] --mount refuses a missing source (dockerd's words); -v makes it at start
            raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: '
                                  f"{point.source}")
        if point.type != "volume":
            return point
        if point.name and point.name in self._records:
            record = self._records[point.name]
            self.publish("create", point.name, {"driver": record["Driver"]})  # dockerd's get-or-create
            return dataclasses.replace(point, driver=record["Driver"],
                                       source=self.drivers[record["Driver"]].path(point.name))
        name = point.name or anonymous_name()
        view = self.create(name, point.driver, point.driver_options, point.labels, anonymous=point.anonymous,
                           owner=container_id if point.anonymous else "")
        made.append(name)
        return dataclasses.replace(point, name=name, source=view["Mountpoint"])

    def _discard(self, name: str) -> None:
        try:
            self.remove(name)
        except MinidockError as error:
            log.warning("could not remove the volume %s: %s", name, error.message)

    def attach(self, container, rootfs: str) -> list[dict]:
        """At start: mount what the drivers mount, copy the image's files up, -> OCI mounts.

        ``rootfs`` is the container's root, mounted: copy-up reads the image's files there.
        """
        from minidock.runtime.mounts import secure_join

        entries, held = [], []
        try:
            for index, record in enumerate(container.mounts):
                point = MountPoint.from_record(record)
                if point.type == "volume":
                    driver = self.drivers[self._record(point.name)["Driver"]]
                    path = driver.mount(point.name, container.id)
                    held.append(point.name)
                    self.publish("mount", point.name, {
                        "container": container.id, "destination": point.destination, "driver": driver.name,
                        "propagation": point.propagation, "read/write": str(point.rw).lower()})
                    if point.copy_data:
                        # [VOL-011] an empty volume over an image directory starts with its files
                        copy_up(secure_join(rootfs, point.destination), path)
                        container.mounts[index] = {**record, "copy_data": False}
                    point = MountPoint.from_record({**record, "source": path})
                elif point.type == "bind":
                    if point.create_source and not os.path.exists(point.source):
                        os.makedirs(point.source, mode=0o755)  # [VOL-013] -v makes a missing host directory
                    if point.propagation in SPREADING:
                        check_propagation(point.source, point.propagation)
                entries.append(planning.oci_entry(point))
        except BaseException:
            for name in held:
                self._unmount(name, container.id)
            raise
        entries += planning.tmpfs_entries(container.host_config)
        return entries

    def linux_options(self, container) -> dict:
        """config.json's linux.rootfsPropagation: rslave when a bind mount's propagation needs it.

        A bind with slave (or shared) propagation must see what the host mounts under its
        source later; in a private mount tree it cannot, so the tree is made a slave (runc's
        default) and nothing the container mounts ever reaches the host.
        """
        if any(r["type"] == "bind" and r.get("propagation") in SPREADING for r in container.mounts):
            return {"rootfsPropagation": "rslave"}
        return {}

    def expose(self, container, rootfs: str) -> list[tuple[str, str]]:
        """[VOL-028] for `cp`: the container's volumes and bind mounts bound onto its root, on the host.

        -> (mount point, volume name or "") for conceal(). The root is made private first:
        what we bind here must not spread to the container's own mounts.
        """
        from minidock.kernel import syscalls as sc
        from minidock.runtime.mounts import secure_join

        made: list[tuple[str, str]] = []
        try:
            sc.mount(None, rootfs, None, sc.MS_PRIVATE)
            for record in container.mounts:  # parents first: they were saved in that order
                point = MountPoint.from_record(record)
                if point.type == "volume":
                    source = self.drivers[self._record(point.name)["Driver"]].mount(point.name, f"{container.id}:cp")
                elif point.type == "bind" and os.path.exists(point.source):
                    source = point.source
                else:
                    continue  # a tmpfs exists only inside the container (Docker cannot cp there either)
                target = secure_join(rootfs, point.destination)
                if os.path.isdir(source):
                    os.makedirs(target, exist_ok=True)
                elif not os.path.exists(target):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    open(target, "a").close()
                sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
                made.append((target, point.name if point.type == "volume" else ""))
                if not point.rw:  # mount(2): a bind's read-only takes a remount
                    sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
        except BaseException:
            self.conceal(container, made)
            raise
        return made

    def conceal(self, container, made: list[tuple[str, str]]) -> None:
        """Undo expose(): unmount, children first, and give the volumes' refs back."""
        from minidock.kernel import syscalls as sc

        for target, name in reversed(made):
            try:
                sc.umount2(target, sc.MNT_DETACH)
            except sc.SyscallError as error:
                log.warning("could not unmount %s: %s", target, error.message)
            if name and name in self._records:
                self.drivers[self._records[name]["Driver"]].unmount(name, f"{container.id}:cp")

    def reconcile(self, containers: set[str]) -> None:
        """[VOL-020] at start-up: remove the anonymous volumes made for a container that a crash lost.

        A daemon killed inside a container's create has made its volumes but saved no
        container; their owner is in no record, and nobody else knows their names.
        """
        with self._lock:
            lost = [name for name, record in self._records.items()
                    if record.get("Owner") and record["Owner"] not in containers]
        for name in lost:
            log.warning("removing the anonymous volume %s of a container that was never saved", name)
            self._discard(name)

    def _unmount(self, name: str, ref: str) -> None:
        try:
            record = self._record(name)
            self.drivers[record["Driver"]].unmount(name, ref)
            self.publish("unmount", name, {"container": ref, "driver": record["Driver"]})
        except MinidockError as error:
            log.warning("could not unmount the volume %s: %s", name, error.message)

    def detach(self, container) -> None:
        """At the exit (or a failed start): the container's refs on its volumes go."""
        for record in container.mounts:
            if record["type"] == "volume" and record["name"] in self._records:
                self._unmount(record["name"], container.id)

    def readopt(self, container) -> None:
        """A container that lived through a daemon restart holds its volumes again."""
        for record in container.mounts:
            if record["type"] == "volume" and record["name"] in self._records:
                try:
                    self.drivers[self._records[record["name"]]["Driver"]].mount(record["name"], container.id)
                except MinidockError as error:
                    log.warning("could not take the volume %s back: %s", record["name"], error.message)

    def forget(self, container, anonymous: bool) -> None:
        """At rm (the container already gone): with -v, its anonymous volumes no one else uses.

        Without -v they stay, on purpose now: no longer owned, reconcile() leaves them be.
        """
        if not anonymous:
            with self._lock:
                for record in container.mounts:
                    if self._records.get(record.get("name"), {}).get("Owner") == container.id:
                        self._records[record["name"]]["Owner"] = ""
                self._save()
            return
        for record in container.mounts:
            if record["type"] == "volume" and record.get("anonymous") and record["name"] in self._records:
                if not self.in_use(record["name"]):
                    self._discard(record["name"])
