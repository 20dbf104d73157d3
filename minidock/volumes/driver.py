"""The volume driver interface: what the engine asks of every driver, and nothing more.

Implements: spec/volumes.md VOL-004
Explained:  chapters/06-volumes.md#drivers
Modelled on: moby's volume.Driver and the volume plugin protocol (VolumeDriver.Create,
             .Remove, .Mount, .Unmount, .Path, .List)

    driver.create(name, options)   make the volume (options: the driver's own, checked here)
    driver.remove(name)            delete it and its data; refused while it is mounted
    driver.mount(name, ref)        -> host path to bind into a container; counted per ref
    driver.unmount(name, ref)      the ref is done with it; the last one really unmounts
    driver.path(name)              -> where its data is (whether mounted or not)
    driver.list()                  -> the names it has, sorted

Rules: a driver knows volumes by name only (labels, creation times and who uses a
volume are the engine's business); a name it does not have is NotFound, a bad
option is InvalidArgument, removing a mounted volume is Conflict. mount() may be
called again with a ref that already holds it: that is one ref, not two.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class VolumeDriver(Protocol):
    """A volume driver, as the engine (minidock.engine.volumes) uses it."""

    name: str

    def create(self, name: str, options: dict[str, str]) -> None: ...
    def remove(self, name: str) -> None: ...
    def mount(self, name: str, ref: str) -> str: ...
    def unmount(self, name: str, ref: str) -> None: ...
    def path(self, name: str) -> str: ...
    def list(self) -> list[str]: ...
