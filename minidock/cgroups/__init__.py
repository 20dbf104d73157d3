"""Cgroups: what a process may use. Limits, in cgroup v1 or v2.

Implements: spec/cgroups.md
Explained:  chapters/02-cgroups.md
Modelled on: runc's libcontainer/cgroups (fs and fs2 managers)

    detect   Hierarchy, detect(mountinfo_text): v1, v2 or hybrid (pure)
    driver   open_driver() -> Driver; Driver.create(name) -> a group with
             set_memory_limit, set_pids_limit, add(pid), remove()
"""

from minidock.cgroups.detect import Hierarchy, detect
from minidock.cgroups.driver import Driver, open_driver

__all__ = ["Driver", "Hierarchy", "detect", "open_driver"]
