"""Which cgroup hierarchy does this host have? v1, v2, or a hybrid of both.

Implements: spec/cgroups.md CG-001
Explained:  chapters/02-cgroups.md#v1-and-v2

    detect(mountinfo_text) -> Hierarchy(version, v1_mounts, v2_mount)

Rules: pure; the caller reads /proc/self/mountinfo. A host whose controllers
are on v1 (even with cgroup2 mounted beside them, as on a "hybrid" host) is
driven as v1, because on such hosts the cgroup2 mount has no controllers.
"""

from __future__ import annotations

from minidock.errors import Unavailable
from minidock.records import record


@record
class Hierarchy:
    """Where the host's cgroup filesystems are mounted."""

    version: int                      # 1 or 2: the driver to use
    v1_mounts: dict[str, str]         # controller name -> mount point (v1 only)
    v2_mount: str | None              # the cgroup2 mount point, if any


def detect(mountinfo_text: str) -> Hierarchy:
    """Parse mountinfo(5) text and decide which cgroup driver fits this host."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in mountinfo_text.splitlines():
        # mountinfo(5): fields ... mount-point ... " - " fstype source super-options
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mount_point, fstype, options = fields[4], tail[0], tail[2]
        if fstype == "cgroup2" and v2 is None:
            v2 = mount_point
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in _V1_CONTROLLERS:
                    v1.setdefault(option, mount_point)
    if "memory" in v1:
        return Hierarchy(1, v1, v2)
    if v2 is not None:
        return Hierarchy(2, {}, v2)
    # [CG-001] no usable hierarchy is a clear error
    raise Unavailable("no cgroup filesystem is mounted (looked for cgroup2 and cgroup v1 with memory)")


_V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices"}
