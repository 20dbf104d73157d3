"""The system backend: what `docker version` and `docker info` show.

Implements: spec/engine.md ENGINE-API-002 .. ENGINE-API-003
Explained:  chapters/05-engine.md#version-and-info

    System(config).version() -> dict   the /version body
    System(config).info()    -> dict   the /info body

Rules: facts are read from the host when asked, never cached: the CLI's
`docker info` must show today's kernel and memory.
"""

from __future__ import annotations

import os
import platform
import socket

import minidock
from minidock.cgroups import open_driver
from minidock.engine.config import DaemonConfig

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class System:
    """Answers for the system routes; satisfies api.system.SystemBackend."""

    def __init__(self, config: DaemonConfig, images=None, containers=None) -> None:
        self.config = config
        self.images = images
        self.containers = containers

    def version(self) -> dict:
        """The body of GET /version, in the Engine API's field names."""
        engine = {
            "Version": minidock.__version__,
            "ApiVersion": minidock.API_VERSION,
            "MinAPIVersion": minidock.MIN_API_VERSION,
            "GitCommit": "minidock",
            "GoVersion": "python" + platform.python_version(),
            "Os": "linux",
            "Arch": _GOARCH.get(platform.machine(), platform.machine()),
            "KernelVersion": platform.release(),
            "BuildTime": "",
        }
        return {
            **engine,
            "Platform": {"Name": "minidock"},
            "Components": [{"Name": "Engine", "Version": engine["Version"],
                            "Details": {k: v for k, v in engine.items() if k != "Version"}}],
        }

    def info(self) -> dict:
        """The body of GET /info."""
        cgroup_version = str(open_driver().version)
        states = [c.state.status for c in self.containers.containers.values()] if self.containers else []
        return {
            "ID": self._daemon_id(),
            "Name": socket.gethostname(),
            "ServerVersion": minidock.__version__,
            "Containers": len(states),
            "ContainersRunning": states.count("running"),
            "ContainersPaused": states.count("paused"),
            "ContainersStopped": len(states) - states.count("running") - states.count("paused"),
            "Images": len(self.images.records()) if self.images else 0,
            "Driver": self.images.driver if self.images else "overlay2",
            "DockerRootDir": self.config.data_root,
            "ExecRoot": self.config.exec_root,
            "OperatingSystem": _os_release().get("PRETTY_NAME", "Linux"),
            "OSType": "linux",
            "OSVersion": _os_release().get("VERSION_ID", ""),
            "KernelVersion": platform.release(),
            "Architecture": platform.machine(),
            "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "LiveRestoreEnabled": self.config.live_restore,
            "Debug": self.config.debug,
            "DefaultRuntime": "minidock-runtime",
            "Runtimes": {"minidock-runtime": {"path": "minidock-runtime"}},
            "SecurityOptions": ["name=seccomp,profile=default"],
            "RegistryConfig": {"InsecureRegistryCIDRs": [], "IndexConfigs": {},
                               "Mirrors": []},
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "",
                      "ControlAvailable": False, "RemoteManagers": None, "Error": ""},
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                        "Authorization": None, "Log": ["json-file"]},
            "Labels": [],
            "Warnings": [],
        }

    def disk_usage(self) -> dict:
        """GET /system/df: images (with sizes and how many containers use them) and containers."""
        users: dict[str, int] = {}
        containers = list(self.containers.containers.values()) if self.containers else []
        for container in containers:
            users[container.image_id] = users.get(container.image_id, 0) + 1
        images, layers_size = [], 0
        for record in self.images.records() if self.images else []:
            size = self.images.size(record)
            layers_size += size
            images.append({"Id": record.id, "ParentId": "", "RepoTags": [n.split("/")[-1] for n in record.names] or None,
                           "RepoDigests": None, "Created": 0, "Size": size, "SharedSize": -1,
                           "VirtualSize": size, "Labels": {}, "Containers": users.get(record.id, 0)})
        return {
            "LayersSize": layers_size,
            "Images": images,
            "Containers": [{**c.summary(), "SizeRw": 0, "SizeRootFs": 0} for c in containers],
            "Volumes": self.containers.volumes.disk_usage() if self.containers else [],  # [VOL-018]
            "BuildCache": [],
        }

    def _daemon_id(self) -> str:
        """A stable daemon ID, kept in the data root (as dockerd's engine-id)."""
        path = os.path.join(self.config.data_root, "engine-id")
        try:
            with open(path) as file:
                return file.read().strip()
        except FileNotFoundError:
            import uuid

            value = str(uuid.uuid4())
            os.makedirs(self.config.data_root, exist_ok=True)
            with open(path, "w") as file:
                file.write(value)
            return value


def _os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}
