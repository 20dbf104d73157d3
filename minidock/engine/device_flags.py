"""A device as a client writes it: `run --device` and compose's `devices`, `--device-cgroup-rule`
and compose's `device_cgroup_rules`, turned into HostConfig's fields.

Implements: spec/engine.md ENGINE-DEV-001, ENGINE-DEV-002; spec/compose.md COMPOSE-017
Explained:  chapters/02-cgroups.md#devices, chapters/10-compose.md
Modelled on: docker/cli's opts/parse.go (parseDevice, ValidateDeviceCgroupRule), which
             docker compose uses for its `devices` too

    device_mapping("/dev/zero:/dev/z:r")     HOST[:CONTAINER][:PERMS] -> {PathOnHost, PathInContainer, ...}
    device(source, target, access)           the same from its parts (compose's long syntax)
    device_cgroup_rule("c 1:3 rwm")          a devices.allow line, checked as the docker CLI checks it

Rules: pure, stdlib only (the CLI imports it on every `run`); a bad value raises ValueError
with the docker CLI's words, which the CLI wraps as a flag's error and compose as a key's.
The engine checks the paths again and reads the host's nodes (minidock/engine/devices.py).
Both the CLI and compose may import this module: it sits in the engine's layer, outside the
daemon, the API and what they drive.
"""

from __future__ import annotations


def device_mapping(text: str) -> dict[str, str]:
    """--device /dev/X[:/dev/Y][:rwm] as HostConfig.Devices takes it (the docker CLI's parseDevice)."""
    parts = text.split(":")
    if not text or len(parts) > 3:
        raise ValueError(f"invalid device specification: {text}")
    source, target, access = parts[0], "", "rwm"
    if len(parts) == 3:
        target, access = parts[1], parts[2]
    elif len(parts) == 2:
        is_mode = bool(parts[1]) and all(letter in "rwm" for letter in parts[1])
        target, access = ("", parts[1]) if is_mode else (parts[1], "rwm")
    return device(source, target, access)


def device(source: str, target: str = "", access: str = "rwm") -> dict[str, str]:
    """One device mapping from its parts; the container's path is the host's unless given."""
    if not access or any(letter not in "rwm" for letter in access):
        raise ValueError(f"bad mode specified: {access}")
    for path in (source, target or source):
        if not path.startswith("/"):
            raise ValueError(f"{path} is not an absolute path")
    return {"PathOnHost": source, "PathInContainer": target or source, "CgroupPermissions": access}


def device_cgroup_rule(text: str) -> str:
    """--device-cgroup-rule 'c 1:3 rwm': the kernel's devices.allow line, checked as docker does."""
    kind, _, rest = text.partition(" ")
    numbers, _, access = rest.partition(" ")
    major, colon, minor = numbers.partition(":")
    if not (kind in ("a", "b", "c") and colon and access and len(access) <= 3
            and all(n == "*" or n.isdigit() for n in (major, minor))
            and all(letter in "rwm" for letter in access)):
        raise ValueError(f"invalid device cgroup format '{text}'")
    return text
