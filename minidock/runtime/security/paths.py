"""Masked and read-only paths: the parts of /proc and /sys a container must not use.

Implements: spec/security.md RT-SEC-034 (and so RT-SEC-061, RT-SEC-063)
Explained:  chapters/03-runtime.md#masked-paths
Modelled on: the OCI runtime-spec's linux.maskedPaths / linux.readonlyPaths, moby's
             oci/defaults.go (the lists), runc's maskPath and readonlyPath

    DOCKER_MASKED / DOCKER_READONLY     the lists `docker run` writes
    parse_paths(value, field)           check an OCI list of absolute paths (pure)
    protect(masked, readonly)           the thin shell, inside the new root

/proc and /sys are the kernel's, not the container's: /proc/sysrq-trigger can
reboot the host, /proc/kcore is its memory. A masked file gets /dev/null mounted
over it, a masked directory an empty read-only tmpfs; a read-only path is
bind-mounted onto itself and remounted read-only.

Rules: runs after pivot_root (paths are the container's) and before the
capabilities and the filter take mount(2) away; a path that does not exist is
skipped, as runc does.
"""

from __future__ import annotations

import os

from minidock.errors import InvalidArgument
from minidock.kernel import syscalls as sc

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

DOCKER_MASKED: tuple[str, ...] = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
DOCKER_READONLY: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)


def parse_paths(value: object, field: str) -> tuple[str, ...]:
    """Check a list of absolute paths; the error names the field."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) and p.startswith("/") for p in value):
        raise InvalidArgument(f"config.json: field {field!r} must be a list of absolute paths")
    return tuple(value)


def protect(masked: Iterable[str], readonly: Iterable[str]) -> None:
    """Mask and make read-only the given paths of the current root."""
    for path in masked:
        if os.path.isdir(path):
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
        elif os.path.lexists(path):
            sc.mount("/dev/null", path, None, sc.MS_BIND)
    for path in readonly:
        if not os.path.lexists(path):
            continue
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        # mount(2): MS_RDONLY is ignored with a first MS_BIND; it takes a remount
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC)
