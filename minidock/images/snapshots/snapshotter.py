"""Snapshotters, the common part: the records, the rules, and the bookkeeping both drivers share.

Implements: spec/images.md IMG-SNAP-001 .. IMG-SNAP-009, IMG-SNAP-012
Explained:  chapters/04-images.md#snapshots
Modelled on: containerd's snapshots.Snapshotter interface and its storage package (metastore)

A snapshot is a directory tree with a key. Three kinds:

    prepare(key, parent) ──▶ ACTIVE ──commit(name, key)──▶ COMMITTED ──▶ a parent of others
    view(key, parent)    ──▶ VIEW   (read-only; never committed)

    prepare / view / mounts  -> list[Mount]   what to mount; the snapshotter never mounts
    commit(name, key)        the active snapshot `key` becomes the committed `name`
    remove(key)              refused while a snapshot has children
    stat(key) -> Info, walk() -> list[Info]
    diff(key, out)           the active snapshot's changes against its parent, as a layer tar

On disk, under the root:

    metadata.json            {"next_id": N, "snapshots": {key: {"id", "kind", "parent"}}}
    snapshots/<id>/fs        the snapshot's tree (overlay: its upper directory)
    snapshots/<id>/work      overlay's work directory (overlay only)
    lock                     flock(2)ed while metadata.json is read, changed and replaced

Directories are named by id, not key, so commit() renames nothing on disk: it rewrites
one record. Rules are the table ALLOWED; every refusal names the rule it enforces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from minidock.errors import Conflict, InvalidArgument, NotFound


class Kind(enum.Enum):
    """What a snapshot is now."""

    ACTIVE = "active"        # writable, from prepare()
    VIEW = "view"            # read-only, from view()
    COMMITTED = "committed"  # frozen, from commit(); the only kind that can be a parent


@dataclasses.dataclass(frozen=True)
class Mount:
    """One mount(2) to make, as containerd's mount.Mount: a type, a source and options."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    def as_oci(self, destination: str = "/") -> dict:
        """The same mount as an OCI config.json `mounts[]` entry."""
        return {"destination": destination, "type": self.type, "source": self.source,
                "options": list(self.options)}


@dataclasses.dataclass(frozen=True)
class Info:
    """What stat() and walk() say of a snapshot."""

    key: str
    kind: Kind
    parent: str | None


# operation -> (the kinds it accepts, the rule that says so)
ALLOWED: dict[str, tuple[frozenset[Kind], str]] = {
    "parent": (frozenset({Kind.COMMITTED}), "IMG-SNAP-005"),
    "commit": (frozenset({Kind.ACTIVE}), "IMG-SNAP-003"),
    "mounts": (frozenset({Kind.ACTIVE, Kind.VIEW}), "IMG-SNAP-001"),
    "diff": (frozenset({Kind.ACTIVE}), "IMG-SNAP-012"),
}


def require(operation: str, info: Info) -> None:
    """Raise InvalidArgument, naming the rule, if ``operation`` does not accept ``info``'s kind."""
    kinds, rule = ALLOWED[operation]
    if info.kind not in kinds:
        wanted = " or ".join(sorted(kind.value for kind in kinds))
        raise InvalidArgument(f"snapshot {info.key!r} is {info.kind.value}; {operation} needs "
                              f"a {wanted} snapshot [{rule}]")


class Snapshotter(Protocol):
    """What a snapshot driver offers (the engine and the test suite rely on exactly this)."""

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]: ...
    def view(self, key: str, parent: str | None = None) -> list[Mount]: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def commit(self, name: str, key: str) -> None: ...
    def remove(self, key: str) -> None: ...
    def stat(self, key: str) -> Info: ...
    def walk(self) -> list[Info]: ...
    def diff(self, key: str, out: BinaryIO, *, mtime: int | None = None) -> None: ...


class Metadata:
    """metadata.json under a lock: each transaction reads, changes and atomically replaces it."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.path = os.path.join(root, "metadata.json")
        os.makedirs(os.path.join(root, "snapshots"), mode=0o700, exist_ok=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict]:
        """Yield the state; write it back (temp file + rename) if the block did not raise."""
        with open(os.path.join(self.root, "lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            state = self._read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                self._write(state)

    def read(self) -> dict:
        """The state as it is now (for stat and walk)."""
        with open(os.path.join(self.root, "lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            return self._read()

    def _read(self) -> dict:
        try:
            with open(self.path) as file:
                return json.load(file)
        except FileNotFoundError:
            return {"next_id": 1, "snapshots": {}}

    def _write(self, state: dict) -> None:
        # [IMG-SNAP-009] a crash leaves the old file or the new one, never half of one
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".metadata-")
        with os.fdopen(fd, "w") as file:
            json.dump(state, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)


def _info(key: str, record: dict) -> Info:
    return Info(key=key, kind=Kind(record["kind"]), parent=record["parent"])


def _lookup(state: dict, key: str) -> dict:
    try:
        return state["snapshots"][key]
    except KeyError:
        # [IMG-SNAP-008] an unknown key
        raise NotFound(f"snapshot {key!r} does not exist") from None


class LocalSnapshotter:
    """The bookkeeping of both drivers; they fill in how a tree is made, mounted and diffed.

    Subclasses define:
        _populate(directory, parent_ids)    fill snapshots/<id>/ of a new ACTIVE snapshot
        _mounts(kind, directory, parent_ids) -> list[Mount]
        _diff(directory, parent_ids, out, mtime)
    parent_ids lists the parent chain's ids, the nearest parent first.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.metadata = Metadata(self.root)

    # -- paths --------------------------------------------------------------------------------

    def directory(self, snapshot_id: str) -> str:
        """snapshots/<id>: where a snapshot's fs (and overlay's work) directory lives."""
        return os.path.join(self.root, "snapshots", snapshot_id)

    def fs(self, snapshot_id: str) -> str:
        return os.path.join(self.directory(snapshot_id), "fs")

    def _chain(self, state: dict, parent: str | None) -> list[str]:
        """The ids of ``parent`` and its ancestors, the nearest first."""
        ids = []
        while parent is not None:
            record = state["snapshots"][parent]
            ids.append(record["id"])
            parent = record["parent"]
        return ids

    # -- the interface ------------------------------------------------------------------------

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]:
        """Create the active (writable) snapshot ``key`` on top of ``parent``; return its mounts."""
        return self._create(Kind.ACTIVE, key, parent)

    def view(self, key: str, parent: str | None = None) -> list[Mount]:
        """Create the read-only snapshot ``key`` of ``parent``; return its mounts."""
        return self._create(Kind.VIEW, key, parent)

    def _create(self, kind: Kind, key: str, parent: str | None) -> list[Mount]:
        if not key:
            raise InvalidArgument("a snapshot needs a non-empty key")
        with self.metadata.transaction() as state:
            if key in state["snapshots"]:
                # [IMG-SNAP-006] one key, one snapshot
                raise Conflict(f"snapshot {key!r} already exists")
            if parent is not None:
                try:
                    parent_record = _lookup(state, parent)
                except NotFound:
                    # [IMG-SNAP-005] the parent must exist ...
                    raise NotFound(f"parent snapshot {parent!r} does not exist") from None
                # [IMG-SNAP-005] ... and be committed: an active tree may still change
                require("parent", _info(parent, parent_record))
            snapshot_id = str(state["next_id"])
            parent_ids = self._chain(state, parent)
            # build the directory under a temporary name: a failed copy leaves no snapshot
            building = tempfile.mkdtemp(dir=os.path.join(self.root, "snapshots"), prefix=".new-")
            try:
                self._populate(kind, building, parent_ids)
                os.rename(building, self.directory(snapshot_id))
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
            state["next_id"] += 1
            state["snapshots"][key] = {"id": snapshot_id, "kind": kind.value, "parent": parent}
        # [IMG-SNAP-001] mounts for the caller to make: nothing is mounted here
        return self._mounts(kind, self.directory(snapshot_id), parent_ids)

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an active snapshot or a view (again: the engine asks after a restart)."""
        state = self.metadata.read()
        record = _lookup(state, key)
        require("mounts", _info(key, record))
        return self._mounts(Kind(record["kind"]), self.directory(record["id"]),
                            self._chain(state, record["parent"]))

    def commit(self, name: str, key: str) -> None:
        """Freeze the active snapshot ``key`` as the committed snapshot ``name``."""
        with self.metadata.transaction() as state:
            record = _lookup(state, key)
            require("commit", _info(key, record))
            if name in state["snapshots"]:
                # [IMG-SNAP-006]
                raise Conflict(f"snapshot {name!r} already exists")
            # [IMG-SNAP-003] same id, same directories: only the record changes
            del state["snapshots"][key]
            state["snapshots"][name] = {**record, "kind": Kind.COMMITTED.value}

    def remove(self, key: str) -> None:
        """Delete the snapshot ``key`` and its directories; refused while it has children."""
        with self.metadata.transaction() as state:
            record = _lookup(state, key)
            children = sorted(child for child, other in state["snapshots"].items()
                              if other["parent"] == key)
            if children:
                # [IMG-SNAP-007] the children's trees are made of this one
                raise Conflict(f"snapshot {key!r} has children ({', '.join(children)}): "
                               "remove them first")
            del state["snapshots"][key]
        # after the record is gone: a crash here leaves an orphan directory, never a
        # record whose directory is missing
        shutil.rmtree(self.directory(record["id"]), ignore_errors=True)

    def stat(self, key: str) -> Info:
        """What the snapshot ``key`` is: its kind and parent."""
        return _info(key, _lookup(self.metadata.read(), key))

    def walk(self) -> list[Info]:
        """Every snapshot, sorted by key."""
        snapshots = self.metadata.read()["snapshots"]
        return [_info(key, snapshots[key]) for key in sorted(snapshots)]

    def diff(self, key: str, out: BinaryIO, *, mtime: int | None = None) -> None:
        """Write the changes of the active snapshot ``key`` against its parent, as a layer tar.

        containerd keeps this in a separate Differ that compares mounts; a snapshotter
        that knows its own layout can do it from the directories, with nothing mounted.
        """
        state = self.metadata.read()
        record = _lookup(state, key)
        require("diff", _info(key, record))
        self._diff(self.directory(record["id"]), self._chain(state, record["parent"]), out, mtime)

    # -- what a driver defines ----------------------------------------------------------------

    def _populate(self, kind: Kind, directory: str, parent_ids: list[str]) -> None:
        raise NotImplementedError

    def _mounts(self, kind: Kind, directory: str, parent_ids: list[str]) -> list[Mount]:
        raise NotImplementedError

    def _diff(self, directory: str, parent_ids: list[str], out: BinaryIO, mtime: int | None) -> None:
        raise NotImplementedError
