"""Secrets: kept in the cluster store, given to a service's tasks as files on a tmpfs.

Implements: spec/swarm.md SWARM-028
Explained:  chapters/11-swarm.md#secrets
Modelled on: swarmkit's secrets (the dispatcher sends them to the agent, which mounts them
             on a tmpfs of its own: dockerd's container/secrets)

    Secrets(store): create(spec) / list(filters) / inspect(ref) / remove(ref) / data(id)
    with_secrets(config, image_config) -> the create body of a task that has secrets   (pure)
    deliver(engine, container_id, files)   each file written into the running container

How a file gets there without touching the worker's disk: the task's container has a tmpfs
at /run/secrets (HostConfig.Tmpfs), and its command is wrapped by a shell that waits for a
marker file there before it execs the real command. The agent starts the container, then
writes each secret through an exec (`cat > /run/secrets/NAME`, the data on the exec's
stdin, never on a command line), then the marker. The data lives in etcd, in the agent's
memory for a moment, and in the container's tmpfs: nowhere else. The wrapper needs `sh` in
the image (busybox has it).
"""

from __future__ import annotations

import base64
import re
import time

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.swarm import objects
from minidock.swarm.store import Store

SECRETS_DIR = "/run/secrets"
READY = f"{SECRETS_DIR}/.minidock-ready"
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?$")
# waits for the agent's marker, removes it, then becomes the task's own command
WRAPPER = ["/bin/sh", "-c", f'while [ ! -e {READY} ]; do sleep 0.05; done; rm -f {READY}; exec "$@"', "sh"]


class Secrets:
    """The secrets/ records of the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _all(self) -> list[dict]:
        return [{**e.value, "Version": {"Index": e.revision}} for e in await self.store.prefix("secrets/")]

    async def find(self, ref: str) -> dict:
        found = [s for s in await self._all() if ref in (s["ID"], s["Spec"]["Name"])]
        if not found:
            found = [s for s in await self._all() if s["ID"].startswith(ref)] if ref else []
        if len(found) != 1:
            raise NotFound(f"secret {ref} not found")
        return found[0]

    async def create(self, spec: dict) -> dict:
        name = spec.get("Name") or ""
        if not _NAME.match(name) or len(name) > 64:
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] "
                                  f"characters allowed, and the start and end character must be [a-zA-Z0-9]")
        data = spec.get("Data") or ""
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise InvalidArgument("invalid secret data: expected base64") from None
        if not raw or len(raw) > 500 * 1024:
            raise InvalidArgument("rpc error: code = InvalidArgument desc = secret data must be larger than 0 "
                                  "and less than 500KB")
        if any(s["Spec"]["Name"] == name for s in await self._all()):
            raise Conflict(f"rpc error: code = AlreadyExists desc = secret {name} already exists")
        stamp = objects.timestamp()
        secret_id = objects.new_id()
        record = {"ID": secret_id, "CreatedAt": stamp, "UpdatedAt": stamp,
                  "Spec": {"Name": name, "Labels": spec.get("Labels") or {}}, "_data": data}
        await self.store.put(f"secrets/{secret_id}", record)
        return {"ID": secret_id}

    async def list(self, filters: dict[str, list[str]]) -> list[dict]:
        shown = []
        for secret in sorted(await self._all(), key=lambda s: s["CreatedAt"]):
            if "name" in filters and secret["Spec"]["Name"] not in filters["name"]:
                continue
            if "id" in filters and not any(secret["ID"].startswith(i) for i in filters["id"]):
                continue
            shown.append(objects.view(secret))  # [SWARM-028] the data never leaves through the API
        return shown

    async def remove(self, ref: str, services: list[dict]) -> None:
        secret = await self.find(ref)
        users = [s["Spec"]["Name"] for s in services
                 if any(r.get("SecretID") == secret["ID"]
                        for r in s["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or [])]
        if users:
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = secret '{secret['Spec']['Name']}' is in "
                                  f"use by the following service: {', '.join(users)}")
        await self.store.delete(f"secrets/{secret['ID']}")

    async def check_references(self, spec: dict) -> None:
        """A service's secrets must exist; each reference gets the secret's ID and a file."""
        container = spec["TaskTemplate"]["ContainerSpec"]
        for reference in container.get("Secrets") or []:
            secret = await self.find(reference.get("SecretID") or reference.get("SecretName") or "")
            reference["SecretID"], reference["SecretName"] = secret["ID"], secret["Spec"]["Name"]
            file = {"Name": secret["Spec"]["Name"], "UID": "0", "GID": "0", "Mode": 0o444,
                    **(reference.get("File") or {})}
            if "/" in file["Name"] or file["Name"] in ("", ".", ".."):
                raise InvalidArgument(f"invalid secret target {file['Name']!r}: a file name under {SECRETS_DIR}")
            reference["File"] = file


def with_secrets(config: dict, image_config: dict) -> dict:
    """The create body of a task with secrets: a tmpfs at /run/secrets and the waiting wrapper."""
    own_entrypoint = "Entrypoint" in config  # Docker: a new entrypoint drops the image's Cmd
    entrypoint = config.pop("Entrypoint", None) or image_config.get("Entrypoint") or []
    command = config.pop("Cmd", None) or ([] if own_entrypoint else image_config.get("Cmd") or [])
    host = dict(config.get("HostConfig") or {})
    host["Tmpfs"] = {**(host.get("Tmpfs") or {}), SECRETS_DIR: "mode=0755,size=1m"}
    return {**config, "Entrypoint": WRAPPER, "Cmd": [*entrypoint, *command], "HostConfig": host}


def deliver(engine, container_id: str, files: list[tuple[str, bytes]]) -> None:
    """Write each (name, data) into the running container's /run/secrets, then the marker (blocking)."""
    for name, data in [*files, (READY.rsplit("/", 1)[1], b"")]:
        path = f"{SECRETS_DIR}/{name}"
        created = engine.json("POST", f"/containers/{container_id}/exec",
                              {"Cmd": ["/bin/sh", "-c", 'cat > "$0" && chmod 0444 "$0"', path],
                               "AttachStdin": True, "AttachStdout": True, "AttachStderr": True})
        stream = engine.upgrade("POST", f"/exec/{created['Id']}/start", {"Detach": False, "Tty": False})
        try:
            stream.send(data)
            stream.close_write()
            deadline = time.monotonic() + 10
            while stream.read1(65536) and time.monotonic() < deadline:
                pass
        finally:
            stream.close()
