"""The `persist` volume driver: a volume is a host directory that outlives `volume rm`.

Implements: spec/volumes.md VOL-004
Explained:  chapters/06-volumes.md#a-second-driver
Modelled on: the local-persist volume plugin (github.com/MatchbookLab/local-persist)

    PersistDriver(root)
      .create("logs", {"mountpoint": "/srv/logs"})   the directory is made if missing
      .create("cache", {})                          a directory under root: <root>/data/cache
      .remove("logs")                               forgets the volume; its files stay
    <root>/volumes.json     name -> {"mountpoint": path}: what survives a daemon restart

Rules: the registry is written whole (temporary file, rename) on every change; a
volume mounted by any ref is not removed; nothing here mounts anything: the
directory itself is what the runtime binds into the container. Lab 06 cuts out
the bodies of the methods below: write them, and the driver suite grades them.
"""

from __future__ import annotations

import json
import os
import threading

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.volumes.names import check_name


class PersistDriver:
    """Volumes at directories of the user's choice (satisfies minidock.volumes.VolumeDriver)."""

    name = "persist"

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "data"), mode=0o700, exist_ok=True)
        self._registry = os.path.join(root, "volumes.json")
        self._refs: dict[str, set[str]] = {}   # name -> the refs that hold it mounted
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, str]]:
        """The registry: {name: {"mountpoint": path}} ({} before the first create)."""
        try:
            with open(self._registry) as file:
                return json.load(file)
        except FileNotFoundError:
            return {}

    def _save(self, volumes: dict[str, dict[str, str]]) -> None:
        """Replace the registry whole: a crash leaves the old one or the new one."""
        temporary = self._registry + ".tmp"
        with open(temporary, "w") as file:
            json.dump(volumes, file, indent=1)
        os.rename(temporary, self._registry)

    def create(self, name: str, options: dict[str, str]) -> None:
        """Record the volume and make its directory; an existing volume is left as it is."""
        # lab 06: begin: check the name and the options (only "mountpoint", an absolute path), make the directory, record it
        check_name(name)
        unknown = sorted(set(options) - {"mountpoint"})
        if unknown:
            raise InvalidArgument(f'invalid option: "{unknown[0]}"')
        mountpoint = options.get("mountpoint") or os.path.join(self.root, "data", name)
        if not os.path.isabs(mountpoint):
            raise InvalidArgument(f"mountpoint must be an absolute path: {mountpoint}")
        with self._lock:
            volumes = self._load()
            if name in volumes:
                return
            os.makedirs(mountpoint, mode=0o755, exist_ok=True)
            volumes[name] = {"mountpoint": os.path.normpath(mountpoint)}
            self._save(volumes)
        # lab 06: end

    def remove(self, name: str) -> None:
        """Forget the volume (its files stay where they are); refused while it is mounted."""
        # lab 06: begin: NotFound for an unknown name, Conflict while a ref holds it, else drop it from the registry
        with self._lock:
            volumes = self._load()
            if name not in volumes:
                raise NotFound(f"get {name}: no such volume")
            if self._refs.get(name):
                raise Conflict(f"remove {name}: volume is in use")
            del volumes[name]
            self._save(volumes)
        # lab 06: end

    def path(self, name: str) -> str:
        """The volume's directory."""
        # lab 06: begin: the recorded mountpoint, NotFound for an unknown name
        volume = self._load().get(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume["mountpoint"]
        # lab 06: end

    def mount(self, name: str, ref: str) -> str:
        """``ref`` holds the volume: return its directory."""
        # lab 06: begin: find the path (NotFound if unknown), remember ref among the volume's refs, return the path
        path = self.path(name)
        with self._lock:
            self._refs.setdefault(name, set()).add(ref)
        return path
        # lab 06: end

    def unmount(self, name: str, ref: str) -> None:
        """``ref`` is done with the volume."""
        # lab 06: begin: forget ref (no error if it held nothing)
        with self._lock:
            refs = self._refs.get(name, set())
            refs.discard(ref)
            if not refs:
                self._refs.pop(name, None)
        # lab 06: end

    def list(self) -> list[str]:
        """The names of the volumes, sorted."""
        # lab 06: begin: the registry's names, sorted
        return sorted(self._load())
        # lab 06: end
