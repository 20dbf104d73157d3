"""One container as the engine keeps it: its config, its state, and how both are saved.

Implements: spec/engine.md ENGINE-CTR-001, ENGINE-CTR-020 .. ENGINE-CTR-022
Explained:  chapters/05-engine.md#containers
Modelled on: moby's container.Container and container.State (config.v2.json)

    <data-root>/containers/<id>/config.v2.json    this record, replaced whole on each save
    <data-root>/containers/<id>/<id>-json.log     what the container printed (json-file)
    <data-root>/containers/<id>/hostname, hosts   bind-mounted into the container

    Container.new(...), Container.load(path), container.save()
    container.inspect() -> dict       the Engine API's ContainerInspectResponse
    container.summary() -> dict       one row of GET /containers/json
    check_name(name)                  Docker's rule for names

Rules: the status moves through Docker's states (created, running, paused,
restarting, exited, removing, dead); every move is saved before it is answered.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import tempfile
from typing import Any

from minidock.errors import InvalidArgument

ZERO_TIME = "0001-01-01T00:00:00Z"
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def now() -> str:
    """An RFC 3339 time with nanoseconds' places, as Docker writes them."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def parse_time(text: str) -> float:
    """Seconds since the epoch of a time written by now() (0 for Docker's zero time)."""
    if not text or text.startswith("0001-"):
        return 0.0
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", text).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).timestamp()


def check_name(name: str) -> str:
    """Docker's container name rule; return the name without its leading '/'."""
    if not _NAME.match(name):
        # [ENGINE-CTR-020] Docker's words
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


@dataclasses.dataclass
class State:
    """What Docker shows as State in inspect."""

    status: str = "created"
    pid: int = 0
    monitor_pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    health: dict = dataclasses.field(default_factory=dict)   # {"Status", "FailingStreak", "Log"}

    def to_api(self) -> dict[str, Any]:
        health = {"Health": self.health} if self.health else {}
        return {**health,
            "Status": self.status,
            "Running": self.status in ("running", "paused"),
            "Paused": self.status == "paused",
            "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed,
            "Dead": self.status == "dead",
            "Pid": self.pid if self.status in ("running", "paused") else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }


@dataclasses.dataclass
class Container:
    """A container's record: what was asked (config, host config) and what is (state)."""

    id: str
    name: str
    created: str
    image_id: str
    image_name: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    path: str
    args: list[str]
    root: str                                   # <data-root>/containers/<id>
    state: State = dataclasses.field(default_factory=State)
    restart_count: int = 0
    driver: str = "overlay2"
    manually_stopped: bool = False    # stop or kill by a user: no restart policy brings it back
    was_running: bool = False         # running when the daemon stopped (on-failure starts it again)
    network_settings: dict = dataclasses.field(default_factory=dict)  # engine.networks keeps it
    mounts: list = dataclasses.field(default_factory=list)  # minidock.volumes.MountPoint records

    # -- files ----------------------------------------------------------------------------

    @property
    def record_path(self) -> str:
        return os.path.join(self.root, "config.v2.json")

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, f"{self.id}-json.log")

    def save(self) -> None:
        """Write the record whole (temporary file, fsync, rename): a crash keeps the old one."""
        document = dataclasses.asdict(self)
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".config-")
        with os.fdopen(fd, "w") as file:
            json.dump(document, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, self.record_path)

    @classmethod
    def load(cls, path: str) -> "Container":
        with open(path) as file:
            document = json.load(file)
        document["state"] = State(**document["state"])
        return cls(**document)

    # -- the API's shapes ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.state.status in ("running", "paused")

    def status_line(self) -> str:
        """The STATUS column of `docker ps`: "Up 3 seconds", "Exited (0) 2 minutes ago"."""
        from minidock.engine.timefmt import human_duration

        if self.state.status in ("running", "paused"):
            up = human_duration(_since(self.state.started_at))
            health = self.state.health.get("Status")
            suffix = {"starting": " (health: starting)", "healthy": " (healthy)",
                      "unhealthy": " (unhealthy)"}.get(health, "")
            return f"Up {up}" + (" (Paused)" if self.state.status == "paused" else suffix)
        if self.state.status == "restarting":
            return f"Restarting ({self.state.exit_code}) {human_duration(_since(self.state.finished_at))} ago"
        if self.state.status == "exited":
            return f"Exited ({self.state.exit_code}) {human_duration(_since(self.state.finished_at))} ago"
        if self.state.status == "removing":
            return "Removal In Progress"
        if self.state.status == "dead":
            return "Dead"
        return "Created"

    def mounts_view(self) -> list[dict[str, Any]]:
        """[VOL-016] the Mounts of inspect and ps: Docker's MountPoint for each volume, bind, tmpfs."""
        from minidock.volumes import api_view

        return [api_view(record) for record in self.mounts]

    def summary(self) -> dict[str, Any]:
        """One row of GET /containers/json (ContainerSummary)."""
        from minidock.engine.networks import settings_view
        from minidock.networking.ports import summary_ports

        # Docker's list view: an argument with a space in it is wrapped in single quotes, unescaped
        command = " ".join([self.path, *(f"'{arg}'" if " " in arg else arg for arg in self.args)])
        return {
            "Id": self.id,
            "Names": [f"/{self.name}"],
            "Image": self.image_name,
            "ImageID": self.image_id,
            "Command": command,
            "Created": int(parse_time(self.created)),
            "Ports": summary_ports(self.network_settings.get("Ports") or [], self.config.get("ExposedPorts")),
            "Labels": self.config.get("Labels") or {},
            "State": self.state.status,
            "Status": self.status_line(),
            "HostConfig": {"NetworkMode": self.host_config.get("NetworkMode") or "default"},
            "NetworkSettings": {"Networks": settings_view(self.network_settings, None)["Networks"]},
            "Mounts": self.mounts_view(),
        }

    def inspect(self) -> dict[str, Any]:
        """GET /containers/{id}/json (ContainerInspectResponse)."""
        from minidock.engine.networks import settings_view

        config = {"Hostname": self.id[:12], "Domainname": "", "User": "", "AttachStdin": False,
                  "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
                  "StdinOnce": False, "Env": None, "Cmd": None, "Image": self.image_name,
                  "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None,
                  "Labels": {}, **self.config}
        return {
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "State": self.state.to_api(),
            "Image": self.image_id,
            "ResolvConfPath": os.path.join(self.root, "resolv.conf") if self.network_settings else "",
            "HostnamePath": os.path.join(self.root, "hostname"),
            "HostsPath": os.path.join(self.root, "hosts"),
            "LogPath": self.log_path,
            "Name": f"/{self.name}",
            "RestartCount": self.restart_count,
            "Driver": self.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": {"NetworkMode": "default", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                           "AutoRemove": False, "LogConfig": {"Type": "json-file", "Config": {}},
                           **self.host_config},
            "GraphDriver": {"Name": self.driver, "Data": {}},
            "Mounts": self.mounts_view(),
            "Config": config,
            "NetworkSettings": settings_view(self.network_settings, self.config.get("ExposedPorts")),
        }


def _since(stamp: str) -> float:
    import time

    return max(0.0, time.time() - parse_time(stamp))
