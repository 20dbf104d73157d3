"""Volumes: data that outlives containers.

Implements: spec/volumes.md VOL-004 .. VOL-016
Explained:  chapters/06-volumes.md
Modelled on: moby's volume package (the driver interface, volume/local, volume/mounts)

    VolumeDriver          the interface every driver satisfies (driver.py)
    LocalDriver           volumes under <data-root>/volumes, plain or mounted (local.py)
    PersistDriver         volumes at directories that outlive `volume rm` (persist.py, lab 06)
    check_name, anonymous_name     Docker's names (names.py)
    MountPoint, plan, ...          a container's mounts, decided (mounts.py)
    copy_up(source, volume)        an image's files into a new empty volume (copyup.py)
    DriverSuite                    the reusable tests every driver passes (testsuite.py)

The engine's side (records, who uses what, the API) is minidock/engine/volumes.py.
"""

from minidock.volumes.copyup import copy_up
from minidock.volumes.driver import VolumeDriver
from minidock.volumes.local import LocalDriver
from minidock.volumes.mounts import MountPoint, api_view, oci_entry, plan
from minidock.volumes.names import anonymous_name, check_name
from minidock.volumes.persist import PersistDriver

__all__ = ["VolumeDriver", "LocalDriver", "PersistDriver", "MountPoint", "api_view", "oci_entry", "plan", "anonymous_name",
           "check_name", "copy_up"]
