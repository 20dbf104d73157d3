"""Cgroups: what a process may use. Limits, in cgroup v1 or v2.

Implements: spec/cgroups.md
Explained:  chapters/02-cgroups.md
Modelled on: runc's libcontainer/cgroups (fs and fs2 managers)

    detect     Hierarchy, detect(mountinfo_text): v1, v2 or hybrid (pure)
    resources  Resources.from_oci(linux.resources): checked limits (pure)
    plan       plan_v1 / plan_v2: Resources -> the files to write (pure)
    devices    DeviceRule, DeviceState.of(rules): the devices controller's rules (pure)
    ebpf       device_program(state): the same rules as a cgroup-v2 eBPF program (pure)
    stats      Stats, stats_v1 / stats_v2, oom_kills: reading counters (pure)
    files      the cgroupfs read/write helpers both drivers share
    group      Group: the interface of a group (a Protocol; for type checking and the book)
    v1, v2     V1Group, V2Group: create, apply, add, freeze/thaw, stats,
               oom_killed, procs, remove
    driver     open_driver() -> Driver; Driver.create(name, resources) -> a group,
               Driver.open(name) -> an existing group, Driver.check(resources)
"""

from minidock.cgroups.detect import Hierarchy, detect
from minidock.cgroups.devices import DeviceRule, DeviceState
from minidock.cgroups.driver import Driver, open_driver
from minidock.cgroups.plan import plan_v1, plan_v2
from minidock.cgroups.resources import UNLIMITED, Resources
from minidock.cgroups.stats import Stats

# V1Group and V2Group are not imported here: a host uses one of the two, and the driver
# imports only that one (Driver.open). Import them from minidock.cgroups.v1 and .v2.

__all__ = ["UNLIMITED", "DeviceRule", "DeviceState", "Driver", "Hierarchy", "Resources",
           "Stats", "detect", "open_driver", "plan_v1", "plan_v2"]
