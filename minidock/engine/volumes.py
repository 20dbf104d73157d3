"""The volume service: named and anonymous volumes, their records, who uses them.

Implements: spec/volumes.md VOL-001 .. VOL-003, VOL-017, VOL-018, VOL-020, VOL-025
Explained:  chapters/06-volumes.md#the-volume-service
Modelled on: moby's volume/service (VolumesService, the store's refs) and
             daemon/volumes.go, daemon/volumes_unix.go (registerMountPoints, setupMounts)

    <data-root>/volumes/metadata.json     name -> driver, labels, options, created, anonymous
    <data-root>/volumes/<name>/_data      the local driver's data (minidock.volumes.local)
    <data-root>/volume-drivers/persist/   the persist driver's registry (minidock.volumes.persist)

    VolumeService(data_root)               the volume routes' backend (api/volumes.py)
      .create(name, driver, options, labels) / .inspect(name) / .list(filters)
      .remove(name, force) / .prune(filters) / .disk_usage()
      .reconcile(container_ids)             at start-up: what a crash inside a create left
      .mounts                               a container's side of it (engine/volume_mounts.py)

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

from minidock.engine.volume_mounts import ContainerVolumes
from minidock.errors import Conflict, InvalidArgument, MinidockError, NotFound
from minidock.volumes import LocalDriver, PersistDriver, VolumeDriver, anonymous_name, check_name

log = logging.getLogger("minidockd.volumes")
METADATA = "metadata.json"
LIST_FILTERS = ("dangling", "name", "label", "driver")
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
        self.mounts = ContainerVolumes(self)  # the container service's hooks: create, start, exit, rm, cp

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

    def _discard(self, name: str) -> None:
        try:
            self.remove(name)
        except MinidockError as error:
            log.warning("could not remove the volume %s: %s", name, error.message)

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
