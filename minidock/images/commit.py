"""New images from changes: a diff as a gzip layer blob, and the config of the image it makes.

Implements: spec/images.md IMG-ENG-013 .. IMG-ENG-014
Explained:  chapters/04-images.md#commit-and-import
Modelled on: moby's image.NewChildImage (daemon/commit.go) and its BuildFromConfig
             for `--change` (the Dockerfile instructions a commit or import may carry)

    write_layer(content, produce, scratch) -> (Descriptor, diff_id)
        produce(out) writes an uncompressed layer tar; it is hashed (the diff_id) and
        gzipped on its way into the content store (the digest)
    apply_changes(runtime_config, ["CMD [\"sh\"]", "ENV A=1", ...]) -> runtime config
    child_config(parent, runtime, diff_id, ...) -> image config (parent's history and
        diff_ids, one more of each)

Rules: a layer is gzip, written with mtime 0 in its header, so the same changes
give the same blob. A change is one Dockerfile instruction of the kinds Docker
allows in a commit; anything else is refused by name before anything is stored.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shlex
import tempfile
import time
from typing import Any, BinaryIO, Callable

from isal import igzip  # zlib's gzip format through ISA-L: level 1 compresses ~10x faster

from minidock.errors import InvalidArgument
from minidock.images import oci
from minidock.images.content import ContentStore

# Docker's validCommitCommands (builder/dockerfile/builder.go)
CHANGE_COMMANDS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME",
                   "WORKDIR", "HEALTHCHECK", "STOPSIGNAL")


class _Hashing:
    """A write-only file that hashes what passes through it on its way to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()

    def tell(self) -> int:
        """How much has passed (tarfile asks when it starts writing)."""
        return self.size

    @property
    def digest(self) -> str:
        return f"sha256:{self.hasher.hexdigest()}"


def write_layer(content: ContentStore, produce: Callable[[BinaryIO], None],
                scratch: str) -> tuple[oci.Descriptor, str]:
    """Store the layer tar ``produce`` writes, gzipped; return its descriptor and its diff_id.

    The gzip is written where the content store ingests and moved into it once both
    digests are known (``scratch`` is kept for callers; the ingest folder is the store's).
    """
    fd, path = tempfile.mkstemp(dir=content.ingest, prefix="layer-")
    try:
        with os.fdopen(fd, "w+b") as spool:
            compressed = _Hashing(spool)
            # ISA-L's level 1 of 0-3: zlib's default (9) costs seconds on a big layer and saves
            # little; the image's ID depends on the uncompressed tar (diff_id), never on the gzip
            with igzip.GzipFile(filename="", fileobj=compressed, mode="wb", mtime=0, compresslevel=1) as zipped:
                plain = _Hashing(zipped)  # the uncompressed tar: its digest is the diff_id
                produce(plain)
            spool.flush()
        content.adopt(path, compressed.digest, compressed.size)
        return oci.Descriptor(oci.OCI_LAYER_GZIP, compressed.digest, compressed.size), plain.digest
    finally:
        if os.path.exists(path):
            os.unlink(path)


def now() -> str:
    """The current time as the image spec writes it (RFC 3339, UTC, nanoseconds)."""
    seconds = time.time_ns()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds // 10**9))
    return f"{stamp}.{seconds % 10**9:09d}Z"


# -- --change ---------------------------------------------------------------------------------

def _command(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT: the JSON (exec) form as it is, the shell form under /bin/sh -c."""
    if arguments.startswith("["):
        try:
            value = json.loads(arguments)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
    return ["/bin/sh", "-c", arguments]


def _pairs(arguments: str, instruction: str) -> list[tuple[str, str]]:
    """ENV/LABEL: `key=value ...` (quoted as a shell would) or the old `key value` form."""
    words = shlex.split(arguments)
    if words and "=" not in words[0]:
        key, _, value = arguments.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise InvalidArgument(f"{instruction.lower()} needs key=value pairs, not {word!r}")
        pairs.append((key, value))
    return pairs


def _list_or_words(arguments: str) -> list[str]:
    if arguments.startswith("["):
        try:
            return [str(item) for item in json.loads(arguments)]
        except ValueError:
            pass
    return arguments.split()


def apply_changes(runtime: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Return a copy of the runtime ``config`` with each Dockerfile instruction applied."""
    config = copy.deepcopy(runtime)
    for change in changes:
        instruction, _, arguments = change.strip().partition(" ")
        arguments = arguments.strip()
        name = instruction.upper()
        if name not in CHANGE_COMMANDS:
            # [IMG-ENG-014] Docker's words (they keep the instruction in lower case)
            raise InvalidArgument(f"{instruction.lower()} is not a valid change command")
        if name in ("CMD", "ENTRYPOINT"):
            config["Cmd" if name == "CMD" else "Entrypoint"] = _command(arguments)
        elif name == "ENV":
            env = [line for line in config.get("Env") or []]
            for key, value in _pairs(arguments, name):
                env = [line for line in env if line.split("=", 1)[0] != key] + [f"{key}={value}"]
            config["Env"] = env
        elif name == "LABEL":
            config["Labels"] = {**(config.get("Labels") or {}), **dict(_pairs(arguments, name))}
        elif name == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            for port in arguments.split():
                ports[port if "/" in port else f"{port}/tcp"] = {}
            config["ExposedPorts"] = ports
        elif name == "VOLUME":
            config["Volumes"] = {**(config.get("Volumes") or {}),
                                 **{path: {} for path in _list_or_words(arguments)}}
        elif name == "WORKDIR":
            config["WorkingDir"] = os.path.join(config.get("WorkingDir") or "/", arguments)
        elif name == "USER":
            config["User"] = arguments
        elif name == "STOPSIGNAL":
            config["StopSignal"] = arguments
        elif name == "ONBUILD":
            config["OnBuild"] = [*(config.get("OnBuild") or []), arguments]
        elif name == "HEALTHCHECK":
            raise InvalidArgument("HEALTHCHECK in a --change is not supported by minidock; "
                                  "use a Dockerfile (minidock build)")
    return config


# -- the new image's config ----------------------------------------------------------------------

def child_config(parent: dict[str, Any] | None, runtime: dict[str, Any], diff_id: str | None, *,
                 created: str, created_by: str = "", comment: str = "", author: str = "",
                 architecture: str = "", os_name: str = "linux") -> dict[str, Any]:
    """The config of an image one layer above ``parent`` (None: the first layer, `import`).

    ``diff_id`` None: no new layer, only a new config (a build's ENV, CMD, ...): the
    history entry says ``empty_layer`` as Docker's builder writes it.
    """
    config: dict[str, Any] = copy.deepcopy(parent) if parent else {
        "architecture": architecture, "os": os_name, "rootfs": {"type": "layers", "diff_ids": []},
    }
    for stale in ("container", "container_config", "id", "parent"):  # describe the parent only
        config.pop(stale, None)
    history = list(config.get("history") or [])
    entry = {"created": created, "created_by": created_by}
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    # [IMG-ENG-013] one more layer: one more diff_id and one more history entry
    if diff_id is None:
        entry["empty_layer"] = True
    else:
        config["rootfs"] = {"type": "layers", "diff_ids": [*config["rootfs"]["diff_ids"], diff_id]}
    config["history"] = [*history, entry]
    config["config"] = runtime
    config["created"] = created
    if author:
        config["author"] = author
    else:
        config.pop("author", None)
    if comment:
        config["comment"] = comment
    else:
        config.pop("comment", None)
    return config
