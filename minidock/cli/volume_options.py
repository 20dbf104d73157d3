"""`run` and `create`'s volume flags -> Config.Volumes and HostConfig, as the docker CLI sends them.

Implements: spec/volumes.md VOL-019
Explained:  chapters/06-volumes.md#the-cli
Modelled on: docker/cli's cli/command/container/opts.go (volumes, tmpfs) and cli/opts/mount.go

    -v /dst                      Config.Volumes {"/dst": {}}  (an anonymous volume)
    -v name:/dst[:mode]          HostConfig.Binds             (./dir is made absolute first)
    -v /host:/dst[:mode]         HostConfig.Binds
    --mount type=...,src=,dst=   HostConfig.Mounts            (the CSV parsed here, as docker does)
    --tmpfs /dst[:opts]          HostConfig.Tmpfs {"/dst": "opts"}
    --volumes-from NAME[:ro|rw]  HostConfig.VolumesFrom

    apply(args, config, host)    fills the body's fields from the parsed flags
    parse_mount("type=bind,src=/a,dst=/b,ro") -> the Mount object

Rules: pure; what the docker CLI refuses is refused here with its words (FlagError,
exit 125); everything else goes to the daemon, which has the last word.
"""

from __future__ import annotations

import argparse
import os

from minidock.cli.run_options import FlagError, ram_in_bytes

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_BARE = ("readonly", "ro", "volume-nocopy", "bind-nonrecursive")  # keys that may stand alone


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The volume flags of `run` and `create`."""
    add = parser.add_argument
    add("-v", "--volume", action="append", default=[], help="bind mount a volume")
    add("--mount", action="append", default=[], help="attach a filesystem mount to the container")
    add("--tmpfs", action="append", default=[], help="mount a tmpfs directory")
    add("--volumes-from", action="append", default=[], help="mount volumes from the specified container(s)")
    add("--volume-driver", help="optional volume driver for the container")


def _bool(key: str, value: str, spec: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(spec, f"invalid value for {key}: {value}")


def _bad(spec: str, message: str) -> FlagError:
    return FlagError(f'invalid argument "{spec}" for "--mount" flag: {message}')


def parse_mount(spec: str) -> dict:
    """One --mount value (CSV of key=value) -> the API's Mount object (docker's opts.MountOpt)."""
    mount: dict = {"Type": "volume"}
    bind: dict = {}
    volume: dict = {}
    tmpfs: dict = {}
    for field in spec.split(","):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep:
            if key not in _BARE:
                raise _bad(spec, f"invalid field '{field}' must be a key=value pair")
            value = "true"
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(key, value, spec)
        elif key == "consistency":
            mount["Consistency"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool(key, value, spec)
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool(key, value, spec)
        elif key == "volume-label":
            name, _, label = value.partition("=")
            volume.setdefault("Labels", {})[name] = label
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            name, _, option = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[name] = option
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = ram_in_bytes(value)
            except ValueError:
                raise _bad(spec, f"invalid value for {key}: {value}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise _bad(spec, f"invalid value for {key}: {value}") from None
        else:
            raise _bad(spec, f"unexpected key '{key}' in '{field}'")
    if not mount.get("Target"):
        raise _bad(spec, "target is required")
    for name, options in (("bind", bind), ("volume", volume), ("tmpfs", tmpfs)):
        if options and mount["Type"] != name:
            raise _bad(spec, f"cannot mix '{name}-*' options with mount type '{mount['Type']}'")
    if bind:
        mount["BindOptions"] = bind
    if volume:
        mount["VolumeOptions"] = volume
    if tmpfs:
        mount["TmpfsOptions"] = tmpfs
    return mount


def apply(args: argparse.Namespace, config: dict, host: dict) -> None:
    """Put -v, --mount, --tmpfs and --volumes-from into the create body."""
    volumes, binds = {}, []
    for spec in args.volume:
        if not spec:
            raise FlagError("invalid empty volume spec")
        if ":" not in spec:
            volumes[spec] = {}  # [VOL-010] -v /dst: an anonymous volume, in Config.Volumes
            continue
        source, _, rest = spec.partition(":")
        if source == "." or source.startswith("./"):
            source = os.path.abspath(source)  # docker's CLI makes ./dir absolute; the daemon would not
        binds.append(f"{source}:{rest}")
    if volumes:
        config["Volumes"] = volumes
    if binds:
        host["Binds"] = binds
    if args.mount:
        host["Mounts"] = [parse_mount(spec) for spec in args.mount]
    if args.tmpfs:
        host["Tmpfs"] = {path: options for path, _, options in (t.partition(":") for t in args.tmpfs)}
    if args.volumes_from:
        host["VolumesFrom"] = list(args.volumes_from)
    if args.volume_driver:
        host["VolumeDriver"] = args.volume_driver
