"""A container's mounts, decided: Binds, Mounts, Tmpfs, VolumesFrom and the image's VOLUMEs.

Implements: spec/volumes.md VOL-008 .. VOL-010, VOL-012 .. VOL-016
Explained:  chapters/06-volumes.md#from-flags-to-mount-points
Modelled on: moby's volume/mounts/linux_parser.go (ParseMountRaw, ParseMountSpec,
             validateMountConfig) and daemon/volumes.go (registerMountPoints)

    parse_bind("data:/srv:ro") -> MountPoint        one HostConfig.Binds entry
    parse_mount({"Type": "bind", ...}) -> MountPoint  one HostConfig.Mounts entry
    plan(config, host, volumes_from) -> [MountPoint]  every mount of a new container, checked
    tmpfs_entries(host) -> [OCI mount]               HostConfig.Tmpfs
    oci_entry(point) -> OCI mount                    one config.json `mounts` entry
    api_view(record) -> dict                         what inspect and ps show (MountPoint)

Rules: pure (no file is touched: creating volumes and host directories is the
engine's part); every refusal is InvalidArgument in dockerd's words; later sources
win by destination in moby's order (volumes-from, then Binds and Mounts, then the
anonymous volumes of Config.Volumes for destinations still free).
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Any

from minidock.errors import InvalidArgument

RW_MODES = ("rw", "ro")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
COPY_MODES = ("nocopy",)
LABEL_MODES = ("z", "Z")
CONSISTENCY_MODES = ("consistent", "cached", "delegated")
TMPFS_DEFAULTS = ("nosuid", "nodev", "noexec")


@dataclasses.dataclass(frozen=True)
class MountPoint:
    """One mount of a container, as the container's record keeps it."""

    type: str                        # "volume", "bind" or "tmpfs"
    destination: str                 # absolute and clean, in the container
    source: str = ""                 # bind: the host path; volume: its data (set by the engine)
    name: str = ""                   # volume: its name ("" until an anonymous one is named)
    driver: str = ""                 # volume: its driver
    mode: str = ""                   # what inspect shows as Mode
    rw: bool = True
    propagation: str = ""            # bind: rprivate unless told
    copy_data: bool = False          # volume: copy the image's files in if it is empty
    anonymous: bool = False          # volume: removed with its container (rm -v, run --rm)
    create_source: bool = False      # bind from -v: a missing host directory is made
    driver_options: dict = dataclasses.field(default_factory=dict)
    labels: dict = dataclasses.field(default_factory=dict)
    tmpfs_options: tuple = ()        # tmpfs: mount options beyond the defaults

    def to_record(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "tmpfs_options": list(self.tmpfs_options)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "MountPoint":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["tmpfs_options"] = tuple(values.get("tmpfs_options") or ())
        return cls(**values)


# -- checks, in dockerd's words -----------------------------------------------------------


class _MountConfigError(InvalidArgument):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f'invalid mount config for type "{kind}": {message}')


def _absolute(kind: str, path: str) -> str:
    if not path.startswith("/"):
        raise _MountConfigError(kind, f"invalid mount path: '{path}' mount path must be absolute")
    return posixpath.normpath(path).replace("//", "/")


def _target(kind: str, target: Any) -> str:
    if not isinstance(target, str) or not target:
        raise _MountConfigError(kind, "field Target must not be empty")
    target = _absolute(kind, target)
    if target == "/":
        raise _MountConfigError(kind, "invalid specification: destination can't be '/'")
    return target


def valid_mode(mode: str) -> bool:
    """moby's ValidMountMode: comma-separated, at most one word of each kind."""
    if not mode:
        return True
    counts = {"rw": 0, "propagation": 0, "copy": 0, "label": 0, "consistency": 0}
    for word in mode.split(","):
        for kind, words in (("rw", RW_MODES), ("propagation", PROPAGATIONS), ("copy", COPY_MODES),
                            ("label", LABEL_MODES), ("consistency", CONSISTENCY_MODES)):
            if word in words:
                counts[kind] += 1
                break
        else:
            return False
    return all(count <= 1 for count in counts.values())


# -- one entry each -----------------------------------------------------------------------


def parse_bind(spec: str, driver: str = "local") -> MountPoint:
    """One HostConfig.Binds entry: `name:/dst[:mode]`, `/host:/dst[:mode]` or `/dst`.

    ``driver``: the driver of a volume it names (HostConfig.VolumeDriver, `--volume-driver`).
    """
    if not isinstance(spec, str):
        raise InvalidArgument("json: cannot unmarshal into Go struct field HostConfig.Binds of type string")
    parts = spec.split(":")
    invalid = InvalidArgument(f"invalid volume specification: '{spec}'")
    if not parts[0] or len(parts) > 3:
        raise invalid
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if valid_mode(parts[1]) and not parts[1].startswith("/"):
            raise invalid  # `/dst:ro`: an anonymous volume takes no mode
        source, target = parts
    else:
        source, target, mode = parts
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    words = mode.split(",") if mode else []
    kind = "bind" if source.startswith("/") else "volume"
    try:
        target = _target(kind, target)
    except InvalidArgument as error:
        raise InvalidArgument(f"{invalid.message}: {error.message}") from None
    read_only = "ro" in words
    if kind == "bind":
        propagation = next((w for w in words if w in PROPAGATIONS), "rprivate")
        # [VOL-013] -v /host:/dst makes a missing /host (Docker's legacy rule; --mount refuses)
        return MountPoint("bind", target, source=posixpath.normpath(source), mode=mode, rw=not read_only,
                          propagation=propagation, create_source=True)
    return MountPoint("volume", target, name=source, driver=driver, mode=mode or ("z" if source else ""),
                      rw=not read_only, copy_data="nocopy" not in words, anonymous=not source)


def _fields(entry: dict, key: str) -> dict:
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"json: cannot unmarshal into Go struct field Mount.{key} of type object")
    return value


def parse_mount(entry: Any) -> MountPoint:
    """One HostConfig.Mounts entry (the API's Mount object, --mount's)."""
    if not isinstance(entry, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field HostConfig.Mounts of type mount.Mount")
    kind = entry.get("Type") or ""
    source = entry.get("Source") or ""
    read_only = entry.get("ReadOnly") or False
    if not isinstance(source, str) or not isinstance(read_only, bool):
        raise InvalidArgument("json: cannot unmarshal into Go struct field Mount.Source of type string"
                              if not isinstance(source, str) else
                              "json: cannot unmarshal into Go struct field Mount.ReadOnly of type bool")
    bind, volume, tmpfs = (_fields(entry, k) for k in ("BindOptions", "VolumeOptions", "TmpfsOptions"))
    if kind not in ("bind", "volume", "tmpfs"):
        raise _MountConfigError(kind, "mount type unknown")
    target = _target(kind, entry.get("Target"))
    for key, given in (("BindOptions", bind), ("VolumeOptions", volume), ("TmpfsOptions", tmpfs)):
        if given and key.lower() != f"{kind}options":
            raise _MountConfigError(kind, f"field {key} must not be specified")
    if kind == "bind":
        if not source:
            raise _MountConfigError(kind, "field Source must not be empty")
        propagation = bind.get("Propagation") or "rprivate"
        if propagation not in PROPAGATIONS:
            raise _MountConfigError(kind, f"invalid propagation mode: {propagation}")
        # [VOL-013] the bind source must exist: the engine checks (this is pure)
        return MountPoint("bind", target, source=_absolute(kind, source), rw=not read_only,
                          propagation=propagation)
    if kind == "volume":
        if not source and read_only:
            raise _MountConfigError(kind, "must not set ReadOnly mode when using anonymous volumes")
        driver = _fields(volume, "DriverConfig")
        labels, options = volume.get("Labels") or {}, driver.get("Options") or {}
        if not isinstance(labels, dict) or not isinstance(options, dict):
            raise InvalidArgument("json: cannot unmarshal into Go struct field VolumeOptions.Labels "
                                  "of type map[string]string")
        return MountPoint("volume", target, name=source, driver=driver.get("Name") or "local",
                          mode="z" if source else "", rw=not read_only, copy_data=not volume.get("NoCopy"),
                          anonymous=not source, driver_options=dict(options), labels=dict(labels))
    if source:
        raise _MountConfigError(kind, "field Source must not be specified")
    options = []
    size, mode = tmpfs.get("SizeBytes"), tmpfs.get("Mode")
    if size is not None:
        if not isinstance(size, int) or size < 0:
            raise _MountConfigError(kind, f"invalid tmpfs size: {size}")
        if size:
            options.append(f"size={size}")
    if mode:
        if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise _MountConfigError(kind, f"invalid tmpfs mode: {mode}")
        options.append(f"mode={mode:o}")
    return MountPoint("tmpfs", target, rw=not read_only, tmpfs_options=tuple(options))


def parse_volumes_from(entry: str) -> tuple[str, str]:
    """`web` or `web:ro` -> ("web", "ro"); the mode is "" when not given."""
    if not isinstance(entry, str) or not entry:
        raise InvalidArgument(f"invalid volumes-from specification: {entry!r}")
    name, _, mode = entry.partition(":")
    if mode and mode not in RW_MODES:
        raise InvalidArgument(f"invalid mode: {mode}")
    return name, mode


# -- the whole plan -----------------------------------------------------------------------


def list_of(host: dict, key: str, kind: type = list) -> list:
    value = host.get(key)
    if value is None:
        return []
    if not isinstance(value, kind):
        raise InvalidArgument(f"json: cannot unmarshal into Go struct field HostConfig.{key}")
    return list(value) if kind is list else value


def plan(config: dict, host: dict, volumes_from: list[tuple[list[MountPoint], str]] = ()) -> list[MountPoint]:
    """Every mount of a new container, sorted by destination (parents before children).

    ``volumes_from``: for each --volumes-from, the other container's mounts and the mode
    asked ("", "ro" or "rw"). Config.Volumes already holds the image's VOLUMEs.
    """
    chosen: dict[str, MountPoint] = {}
    driver = host.get("VolumeDriver") or "local"  # [VOL-026] for Binds and Config.Volumes, not Mounts
    if not isinstance(driver, str):
        raise InvalidArgument("json: cannot unmarshal into Go struct field HostConfig.VolumeDriver of type string")
    # [VOL-015] another container's mounts first, read-only if asked
    for points, mode in volumes_from:
        for point in points:
            if mode:
                point = dataclasses.replace(point, rw=mode == "rw",
                                            mode=mode if point.type == "bind" else point.mode)
            chosen[point.destination] = dataclasses.replace(point, copy_data=False)
    ours: set[str] = set()
    for point in [*(parse_bind(spec, driver) for spec in list_of(host, "Binds", list)),
                  *map(parse_mount, list_of(host, "Mounts", list))]:
        if point.destination in ours:
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        ours.add(point.destination)
        chosen[point.destination] = point
    volumes = config.get("Volumes") or {}
    if not isinstance(volumes, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field Config.Volumes of type map")
    for destination in volumes:
        # [VOL-010] the image's VOLUME (and -v /dst): an anonymous volume, unless something is there
        target = _target("volume", destination)
        if target not in chosen:
            chosen[target] = MountPoint("volume", target, driver=driver, copy_data=True, anonymous=True)
    tmpfs = list_of(host, "Tmpfs", dict)
    for destination in tmpfs:
        target = _target("tmpfs", destination)
        if target in ours:
            raise InvalidArgument(f"Duplicate mount point: {target}")
        chosen.pop(target, None)
    return sorted(chosen.values(), key=lambda p: (p.destination.count("/"), p.destination))


def tmpfs_entries(host: dict) -> list[dict]:
    """HostConfig.Tmpfs ({"/run": "size=64m"}) as OCI mounts; Docker lists them in no Mounts."""
    entries = []
    for destination, options in sorted((host.get("Tmpfs") or {}).items()):
        words = [w for w in str(options or "").split(",") if w]
        # [VOL-014] Docker's defaults (nosuid, nodev, noexec), the given words after them
        entries.append({"destination": posixpath.normpath(destination), "type": "tmpfs", "source": "tmpfs",
                        "options": [*TMPFS_DEFAULTS, *words]})
    return entries


def oci_entry(point: MountPoint) -> dict:
    """The config.json `mounts` entry for one mount point (``source`` resolved)."""
    if point.type == "tmpfs":
        return {"destination": point.destination, "type": "tmpfs", "source": "tmpfs",
                "options": [*TMPFS_DEFAULTS, *point.tmpfs_options, *([] if point.rw else ["ro"])]}
    options = ["rbind", point.propagation or "rprivate", *([] if point.rw else ["ro"])]
    return {"destination": point.destination, "type": "bind", "source": point.source, "options": options}


def api_view(record: dict) -> dict:
    """A saved mount as inspect's and ps's Mounts show it (Docker's MountPoint)."""
    point = MountPoint.from_record(record)
    view: dict[str, Any] = {"Type": point.type}
    if point.type == "volume":
        view["Name"] = point.name
    view["Source"] = point.source
    view["Destination"] = point.destination
    if point.type == "volume":
        view["Driver"] = point.driver
    view.update({"Mode": point.mode, "RW": point.rw, "Propagation": point.propagation})
    return view


def ordered(entries: list[dict]) -> list[dict]:
    """OCI mounts with parents before children (/etc before /etc/hosts), else as given."""
    return sorted(entries, key=lambda e: posixpath.normpath(e["destination"]).count("/"))
