"""A container's volumes: its mounts decided at create, mounted at start, given back at the exit.

Implements: spec/volumes.md VOL-007 .. VOL-016, VOL-021, VOL-026 .. VOL-028
Explained:  chapters/06-volumes.md#the-volume-service
Modelled on: moby's daemon/volumes.go, daemon/volumes_unix.go (registerMountPoints,
             setupMounts) and daemon/archive.go (volumes mounted for `cp`)

    ContainerVolumes(store)                      store: engine.volumes.VolumeService
      .prepare(container, image_config, lookup)   at create: plan, make volumes -> mount records
      .attach(container, rootfs) -> [OCI mounts]  at start: driver mounts, copy-up, host dirs
      .linux_options(container)                   config.json's linux.rootfsPropagation
      .detach(container)                          at the exit: driver unmounts
      .readopt(container)                         a live-restored container holds its volumes again
      .forget(container, anonymous)               at rm: -v removes its anonymous volumes
      .expose(container, rootfs) / .conceal(...)  for cp: volumes bound onto the root on the host

Rules: a mount record is a minidock.volumes.MountPoint, saved in the container's
record; everything here is called from the container service's threads, and every
change of a volume's record goes through the store (and its lock).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable

from minidock.errors import InvalidArgument, MinidockError, NotFound
from minidock.errors import SystemError as SystemFailure
from minidock.volumes import MountPoint, anonymous_name, copy_up
from minidock.volumes import mounts as planning

log = logging.getLogger("minidockd.volumes")
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


class ContainerVolumes:
    """The container service's side of the volume service (its hooks in engine/containers.py)."""

    def __init__(self, store) -> None:
        self.store = store

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
                self.store._discard(name)
            raise
        return records

    def _resolve(self, point: MountPoint, container_id: str, made: list[str]) -> MountPoint:
        """A planned mount with its volume made (or found) and its source known."""
        if point.type == "bind" and not point.create_source and not os.path.exists(point.source):
            # [VOL-013] --mount refuses a missing source (dockerd's words); -v makes it at start
            raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: '
                                  f"{point.source}")
        if point.type != "volume":
            return point
        if point.name and point.name in self.store._records:
            record = self.store._records[point.name]
            self.store.publish("create", point.name, {"driver": record["Driver"]})  # dockerd's get-or-create
            return dataclasses.replace(point, driver=record["Driver"],
                                       source=self.store.drivers[record["Driver"]].path(point.name))
        name = point.name or anonymous_name()
        view = self.store.create(name, point.driver, point.driver_options, point.labels, anonymous=point.anonymous,
                           owner=container_id if point.anonymous else "")
        made.append(name)
        return dataclasses.replace(point, name=name, source=view["Mountpoint"])

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
                    driver = self.store.drivers[self.store._record(point.name)["Driver"]]
                    path = driver.mount(point.name, container.id)
                    held.append(point.name)
                    self.store.publish("mount", point.name, {
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
                self.store._unmount(name, container.id)
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
                    source = self.store.drivers[self.store._record(point.name)["Driver"]].mount(point.name, f"{container.id}:cp")
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
            if name and name in self.store._records:
                self.store.drivers[self.store._records[name]["Driver"]].unmount(name, f"{container.id}:cp")

    def detach(self, container) -> None:
        """At the exit (or a failed start): the container's refs on its volumes go."""
        for record in container.mounts:
            if record["type"] == "volume" and record["name"] in self.store._records:
                self.store._unmount(record["name"], container.id)

    def readopt(self, container) -> None:
        """A container that lived through a daemon restart holds its volumes again."""
        for record in container.mounts:
            if record["type"] == "volume" and record["name"] in self.store._records:
                try:
                    self.store.drivers[self.store._records[record["name"]]["Driver"]].mount(record["name"], container.id)
                except MinidockError as error:
                    log.warning("could not take the volume %s back: %s", record["name"], error.message)

    def forget(self, container, anonymous: bool) -> None:
        """At rm (the container already gone): with -v, its anonymous volumes no one else uses.

        Without -v they stay, on purpose now: no longer owned, reconcile() leaves them be.
        """
        if not anonymous:
            with self.store._lock:
                for record in container.mounts:
                    if self.store._records.get(record.get("name"), {}).get("Owner") == container.id:
                        self.store._records[record["name"]]["Owner"] = ""
                self.store._save()
            return
        for record in container.mounts:
            if record["type"] == "volume" and record.get("anonymous") and record["name"] in self.store._records:
                if not self.store.in_use(record["name"]):
                    self.store._discard(record["name"])
