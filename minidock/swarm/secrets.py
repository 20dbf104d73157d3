"""Secrets and configs: named data kept in the cluster store, given to a service's tasks as files on a tmpfs.

Implements: spec/swarm.md SWARM-028, SWARM-040, SWARM-041
Explained:  chapters/11-swarm.md#secrets-and-configs
Modelled on: swarmkit's secrets and configs (controlapi/secret.go, config.go: one shape, two
             limits), and dockerd's container/secrets: the files on a tmpfs of the task's own

    Kind: SECRET, CONFIG         what differs between the two (the limit, whether the API shows the data)
    DataObjects(store, kind)     create(spec) / list(filters) / find(ref) / update(ref, version, spec)
                                 remove(ref, services) / check_references(service spec)
    plan_files(container_spec, data) -> [TaskFile]                       (pure)
    with_files(config, image_config, files) -> the create body of such a task   (pure)
    deliver(engine, container_id, files)   each file written into the running container

How a file gets there without touching the worker's disk: the task's container has a tmpfs
at /run/secrets (secrets) and one at /run/configs (configs), and its command is wrapped by a
shell that waits for a marker file on the first of them before it execs the real command.
The agent starts the container, then writes each file through an exec (`cat > PATH`, the
data on the exec's stdin, never on a command line), then the marker. A config's target can
be any path (`/NAME` by default): its data goes on /run/configs, and the target is a
symbolic link to it. The data lives in etcd, in the agent's memory for a moment, and in the
container's tmpfs: nowhere else. The wrapper needs `sh` in the image (busybox has it).
"""

from __future__ import annotations

import base64
import posixpath
import re
import time
from dataclasses import dataclass

from minidock.errors import Conflict, InvalidArgument, NotFound, NotImplemented
from minidock.swarm import objects
from minidock.swarm.store import Store

SECRETS_DIR = "/run/secrets"
CONFIGS_DIR = "/run/configs"  # ours: where a config's data lives; its target links here
MARKER = ".minidock-ready"
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?$")


@dataclass(frozen=True)
class Kind:
    """What makes a secret differ from a config: swarmkit has the same code twice, we have it once."""

    word: str            # "secret" | "config": the store's prefix, the API's path, the errors' words
    limit: int           # the most bytes of data
    too_big: str         # swarmkit's words for data that is empty or over the limit
    shows_data: bool     # a config's data is not secret: inspect shows it
    directory: str       # the tmpfs in the task where the data is written

    @property
    def field(self) -> str:
        """The ContainerSpec field of its references: Secrets | Configs."""
        return self.word.capitalize() + "s"

    @property
    def id_field(self) -> str:
        return self.word.capitalize() + "ID"

    @property
    def name_field(self) -> str:
        return self.word.capitalize() + "Name"


SECRET = Kind("secret", 500 * 1024, "secret data must be larger than 0 and less than 500KB", False, SECRETS_DIR)
# [SWARM-040] Docker's limit for a config: MaxConfigSize, 1000 KiB
CONFIG = Kind("config", 1000 * 1024, f"config data must be larger than 0 and less than {1000 * 1024} bytes", True,
              CONFIGS_DIR)
KINDS = (SECRET, CONFIG)


@dataclass(frozen=True)
class TaskFile:
    """One file a task gets: where its data goes (on a tmpfs), its owner and mode, and a link to it."""

    path: str            # on the task's tmpfs
    data: bytes
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444
    link: str = ""       # a config's target, if it is not ``path`` itself


def _labels_match(labels: dict, wanted: list[str]) -> bool:
    """?filters={"label":["k", "k=v"]}: every one must hold."""
    for text in wanted:
        key, has_value, value = text.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


class DataObjects:
    """The secrets/ (or configs/) records of the store."""

    def __init__(self, store: Store, kind: Kind = SECRET) -> None:
        self.store, self.kind = store, kind

    def view(self, record: dict) -> dict:
        """The record as the API shows it: a config with its data, a secret without."""
        shown = objects.view(record)
        if self.kind.shows_data:
            shown["Spec"] = {**shown["Spec"], "Data": record["_data"]}
        return shown

    async def _all(self) -> list[dict]:
        return [{**e.value, "Version": {"Index": e.revision}} for e in await self.store.prefix(f"{self.kind.word}s/")]

    async def find(self, ref: str) -> dict:
        """By ID, by name, or by a unique ID prefix (the stored record, data included)."""
        everything = await self._all()
        found = [s for s in everything if ref in (s["ID"], s["Spec"]["Name"])]
        if not found:
            found = [s for s in everything if s["ID"].startswith(ref)] if ref else []
        if len(found) != 1:
            raise NotFound(f"{self.kind.word} {ref} not found")
        return found[0]

    async def create(self, spec: dict) -> dict:
        word = self.kind.word
        name = spec.get("Name") or ""
        if not _NAME.match(name) or len(name) > 64:
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] "
                                  f"characters allowed, and the start and end character must be [a-zA-Z0-9]")
        if (spec.get("Templating") or {}).get("Name") or (spec.get("Driver") or {}).get("Name"):
            raise NotImplemented(f"{word} drivers and templating are not implemented")
        data = spec.get("Data") or ""
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise InvalidArgument(f"invalid {word} data: expected base64") from None
        if not raw or len(raw) >= self.kind.limit:
            # [SWARM-040] empty or too big: swarmkit's words
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {self.kind.too_big}")
        if any(s["Spec"]["Name"] == name for s in await self._all()):
            raise Conflict(f"rpc error: code = AlreadyExists desc = {word} {name} already exists")
        stamp = objects.timestamp()
        new_id = objects.new_id()
        record = {"ID": new_id, "CreatedAt": stamp, "UpdatedAt": stamp,
                  "Spec": {"Name": name, "Labels": spec.get("Labels") or {}}, "_data": data}
        if not await self.store.create(f"{word}s/{new_id}", record):
            raise Conflict(f"rpc error: code = AlreadyExists desc = {word} {name} already exists")
        return {"ID": new_id}

    async def list(self, filters: dict[str, list[str]]) -> list[dict]:
        """dockerd's filters: names (exact), name (a prefix), id (a prefix), any of them; label, all of them."""
        shown = []
        for record in sorted(await self._all(), key=lambda s: s["CreatedAt"]):
            name = record["Spec"]["Name"]
            chosen = [name in filters.get("names", []), any(name.startswith(n) for n in filters.get("name", [])),
                      any(record["ID"].startswith(i) for i in filters.get("id", []))]
            if any(key in filters for key in ("names", "name", "id")) and not any(chosen):
                continue
            if not _labels_match(record["Spec"].get("Labels") or {}, filters.get("label", [])):
                continue
            shown.append(self.view(record))  # [SWARM-028] a secret's data never leaves through the API
        return shown

    async def update(self, ref: str, version: str | None, spec: dict) -> None:
        """Change the labels, and only the labels (swarmkit's rule)."""
        record = await self.find(ref)
        if version is None or not version.isdigit():
            raise InvalidArgument(f"invalid {self.kind.word} version {version!r}")
        if spec.get("Name", record["Spec"]["Name"]) != record["Spec"]["Name"] or \
                spec.get("Data", record["_data"]) not in (record["_data"], None):
            # [SWARM-040] a config's name and data never change: make a new one
            raise InvalidArgument("rpc error: code = InvalidArgument desc = only updates to Labels are allowed")
        changed = {**objects.view(record), "_data": record["_data"], "UpdatedAt": objects.timestamp(),
                   "Spec": {**record["Spec"], "Labels": spec.get("Labels") or {}}}
        changed.pop("Version")
        if not await self.store.swap(f"{self.kind.word}s/{record['ID']}", changed, int(version)):
            raise Conflict("rpc error: code = Unknown desc = update out of sequence")

    async def remove(self, ref: str, services: list[dict]) -> None:
        record = await self.find(ref)
        kind = self.kind
        users = [s["Spec"]["Name"] for s in services
                 if any(r.get(kind.id_field) == record["ID"]
                        for r in s["Spec"]["TaskTemplate"]["ContainerSpec"].get(kind.field) or [])]
        if users:
            # [SWARM-028] [SWARM-040] swarmkit's words for an object a service still uses
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {kind.word} '{record['Spec']['Name']}' "
                                  f"is in use by the following service{'s' if len(users) > 1 else ''}: "
                                  f"{', '.join(users)}")
        await self.store.delete(f"{kind.word}s/{record['ID']}")

    async def check_references(self, spec: dict) -> None:
        """A service's secrets (or configs) must exist; each reference gets the object's ID and a file."""
        kind = self.kind
        container = spec["TaskTemplate"]["ContainerSpec"]
        targets: dict[str, str] = {}
        for reference in container.get(kind.field) or []:
            found = await self.find(reference.get(kind.id_field) or reference.get(kind.name_field) or "")
            name = found["Spec"]["Name"]
            reference[kind.id_field], reference[kind.name_field] = found["ID"], name
            file = {"Name": name, "UID": "0", "GID": "0", "Mode": 0o444, **(reference.get("File") or {})}
            if kind is SECRET and ("/" in file["Name"] or file["Name"] in ("", ".", "..")):
                raise InvalidArgument(f"invalid secret target {file['Name']!r}: a file name under {SECRETS_DIR}")
            if kind is CONFIG and posixpath.normpath(posixpath.join("/", file["Name"])) == "/":
                raise InvalidArgument(f"invalid config target {file['Name']!r}: a file path")
            if file["Name"] in targets:
                raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {kind.word} references "
                                      f"'{targets[file['Name']]}' and '{name}' have a conflicting target: "
                                      f"'{file['Name']}'")
            targets[file["Name"]] = name
            reference["File"] = file


async def check_all_references(store: Store, spec: dict) -> None:
    """Every secret and config a ServiceSpec names exists; its references are completed."""
    for kind in KINDS:
        await DataObjects(store, kind).check_references(spec)


def plan_files(container_spec: dict, data: dict[str, bytes]) -> list[TaskFile]:
    """The files of a task's secrets and configs (``data``: each object's bytes by ID)."""
    files = []
    for kind in KINDS:
        for index, reference in enumerate(container_spec.get(kind.field) or []):
            file = reference["File"]
            common = dict(data=data[reference[kind.id_field]], uid=str(file.get("UID", "0")),
                          gid=str(file.get("GID", "0")), mode=int(file.get("Mode", 0o444)))
            if kind is SECRET:
                files.append(TaskFile(f"{SECRETS_DIR}/{file['Name']}", **common))
            else:
                # [SWARM-041] a config's target is a path, relative to / when it is not absolute (dockerd's rule)
                target = posixpath.normpath(posixpath.join("/", file["Name"]))
                files.append(TaskFile(f"{CONFIGS_DIR}/{index}-{reference[kind.name_field]}", link=target, **common))
    return files


def wrapper(marker: str) -> list[str]:
    """The entrypoint that waits for the agent's marker, removes it, then becomes the task's own command."""
    return ["/bin/sh", "-c", f'while [ ! -e {marker} ]; do sleep 0.05; done; rm -f {marker}; exec "$@"', "sh"]


def directories(files: list[TaskFile]) -> list[str]:
    """The tmpfs directories ``files`` need, secrets' first (the marker goes on the first)."""
    return [kind.directory for kind in KINDS if any(f.path.startswith(kind.directory + "/") for f in files)]


def with_files(config: dict, image_config: dict, files: list[TaskFile]) -> dict:
    """The create body of a task with secrets or configs: a tmpfs for each kind and the waiting wrapper."""
    own_entrypoint = "Entrypoint" in config  # Docker: a new entrypoint drops the image's Cmd
    entrypoint = config.pop("Entrypoint", None) or image_config.get("Entrypoint") or []
    command = config.pop("Cmd", None) or ([] if own_entrypoint else image_config.get("Cmd") or [])
    host = dict(config.get("HostConfig") or {})
    places = directories(files)
    host["Tmpfs"] = {**(host.get("Tmpfs") or {}), **{place: "mode=0755,size=1m" for place in places}}
    return {**config, "Entrypoint": wrapper(f"{places[0]}/{MARKER}"), "Cmd": [*entrypoint, *command],
            "HostConfig": host}


# $0 path, $1 uid, $2 gid, $3 mode, $4 link (or ""): the data comes on stdin. Written aside, then
# renamed: the file appears whole, with its owner and mode (the wrapper removes the marker the
# moment it sees it)
_WRITE = ('cat > "$0.new" && chown "$1:$2" "$0.new" && chmod "$3" "$0.new" && mv -f "$0.new" "$0" && '
          'if [ -n "$4" ]; then mkdir -p "$(dirname "$4")" && ln -sfn "$0" "$4"; fi')


def deliver(engine, container_id: str, files: list[TaskFile]) -> None:
    """Write each file into the running container's tmpfs, then the marker (blocking)."""
    marker = TaskFile(f"{directories(files)[0]}/{MARKER}", b"")
    for file in [*files, marker]:
        created = engine.json("POST", f"/containers/{container_id}/exec",
                              {"Cmd": ["/bin/sh", "-c", _WRITE, file.path, file.uid, file.gid,
                                       f"{file.mode:o}", file.link],
                               "User": "0", "AttachStdin": True, "AttachStdout": True, "AttachStderr": True})
        stream = engine.upgrade("POST", f"/exec/{created['Id']}/start", {"Detach": False, "Tty": False})
        try:
            stream.send(file.data)
            stream.close_write()
            deadline = time.monotonic() + 10
            while stream.read1(65536) and time.monotonic() < deadline:
                pass
        finally:
            stream.close()
        done = engine.json("GET", f"/exec/{created['Id']}/json")
        if done.get("ExitCode"):
            raise InvalidArgument(f"could not write {file.path} in the task's container "
                                  f"(exit code {done['ExitCode']}): is uid {file.uid} or gid {file.gid} a number?")
