"""A container's files: stat, archive (cp out), extract (cp in), export, changes, commit.

Implements: spec/engine.md ENGINE-FS-001 .. ENGINE-FS-012
Explained:  chapters/05-engine.md#a-containers-files
Modelled on: moby's daemon/archive.go (ResolvePath, StatPath, ArchivePath, ExtractToDir),
             daemon/export.go, daemon/changes.go with pkg/archive's changes.go, daemon/commit.go

    FilesystemService(containers, images, scratch)
      .stat(name, path) -> PathStat                 HEAD /containers/{id}/archive
      .archive(name, path) -> (PathStat, tar file)  GET  /containers/{id}/archive
      .extract(name, path, stream, no_overwrite)    PUT  /containers/{id}/archive
      .export(name) -> tar file                     GET  /containers/{id}/export
      .changes(name) -> [Change]                    GET  /containers/{id}/changes
      .commit(name, options, config) -> image ID    POST /commit

Where the files are:

    running (or paused)   its root is mounted at <bundle>/rootfs: read and write it there
    created or exited     mount its snapshot at the same place for the time of the call

Both under the container's lock, which start and the exit's unmount take too: a
container cannot start on a root we have mounted, nor unmount one we are reading.

Rules: every path is resolved *inside* the container's root (symlinks followed
within it, `..` stopping at its top), as if the container were looking. A tar put
into a container is checked whole before anything is written (layers.apply):
absolute names, `..`, links that leave it, and writing through a symlink are refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import posixpath
import stat
import tarfile
import tempfile
import time
from typing import Any, AsyncIterator, BinaryIO, Iterable, Protocol

from minidock.engine import bundle
from minidock.engine.container import Container
from minidock.errors import Forbidden, InvalidArgument, NotFound
from minidock.images import commit as commits
from minidock.images import layers, reference
from minidock.images.snapshots import mount as mounting
from minidock.runtime.mounts import secure_join

# What the engine itself puts in a root (mount points of its own): never a change the
# container made. Docker keeps them in a layer of their own, "<id>-init" (daemon/initlayer).
ENGINE_PATHS = frozenset({"/dev", "/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys",
                          "/.dockerenv", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/etc/mtab"})

# The fields of a container's Config that an image's config holds (the image spec's "config")
IMAGE_CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
                     "Labels", "StopSignal", "OnBuild", "Healthcheck", "Shell", "ArgsEscaped")

MODIFIED, ADDED, DELETED = 0, 1, 2  # Docker's ChangeType numbers


class ContainerBackend(Protocol):
    """What this service needs from the container service (minidock.engine.containers)."""

    def get(self, name_or_id: str) -> Container: ...
    def bundle_dir(self, container: Container) -> str: ...
    def lock(self, container_id: str) -> asyncio.Lock: ...
    async def pause(self, name_or_id: str) -> None: ...
    async def unpause(self, name_or_id: str) -> None: ...
    def publish(self, container: Container, action: str, **extra: str) -> None: ...


# -- paths and their stat, Docker's way ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PathStat:
    """types.ContainerPathStat: what `X-Docker-Container-Path-Stat` carries."""

    name: str
    size: int
    mode: int         # a Go os.FileMode: the permission bits and Go's own type bits
    mtime: str        # RFC 3339 with nanoseconds, as Go's time.Time marshals
    link_target: str  # for a symlink, where it leads in the container, resolved

    def header(self) -> str:
        """The header's value: the JSON, base64 (standard alphabet, padded)."""
        document = {"name": self.name, "size": self.size, "mode": self.mode, "mtime": self.mtime,
                    "linkTarget": self.link_target}
        return base64.b64encode(json.dumps(document).encode()).decode()

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & GO_MODE_DIR)


# Go's os.FileMode type bits (io/fs): the docker CLI reads the mode with Go's eyes
GO_MODE_DIR, GO_MODE_SYMLINK, GO_MODE_DEVICE = 1 << 31, 1 << 27, 1 << 26
GO_MODE_PIPE, GO_MODE_SOCKET, GO_MODE_SETUID, GO_MODE_SETGID = 1 << 25, 1 << 24, 1 << 23, 1 << 22
GO_MODE_CHARDEVICE, GO_MODE_STICKY = 1 << 21, 1 << 20


def go_file_mode(st_mode: int) -> int:
    """A stat(2) st_mode as Go's os.FileMode (what Docker puts in the stat header)."""
    mode = st_mode & 0o777
    kinds = ((stat.S_ISDIR, GO_MODE_DIR), (stat.S_ISLNK, GO_MODE_SYMLINK), (stat.S_ISFIFO, GO_MODE_PIPE),
             (stat.S_ISSOCK, GO_MODE_SOCKET), (stat.S_ISBLK, GO_MODE_DEVICE),
             (stat.S_ISCHR, GO_MODE_DEVICE | GO_MODE_CHARDEVICE))
    for test, bits in kinds:
        if test(st_mode):
            mode |= bits
    for flag, bits in ((stat.S_ISUID, GO_MODE_SETUID), (stat.S_ISGID, GO_MODE_SETGID),
                       (stat.S_ISVTX, GO_MODE_STICKY)):
        if st_mode & flag:
            mode |= bits
    return mode


def go_time(nanoseconds: int) -> str:
    """Unix nanoseconds as Go's RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def absolute(path: str) -> str:
    """The path as an absolute path in the container, a trailing '/' or '/.' kept (it means something)."""
    if not path:
        raise InvalidArgument("path is required")  # moby's archiveFormValues
    if "\0" in path:
        raise InvalidArgument(f"invalid path {path!r}: it holds a NUL byte")
    clean = in_root(path)
    if path.endswith("/.") or path == ".":
        return clean.rstrip("/") + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def in_root(name: str) -> str:
    """A tar entry's name or a user's path as a clean absolute path ("./etc/" -> "/etc")."""
    return posixpath.normpath("/" + name.lstrip("/"))


def resolve(root: str, path: str) -> tuple[str, str]:
    """Docker's ResolvePath: (the path on the host, the absolute path in the container).

    The directory part is resolved with every symlink followed, inside ``root``; the
    last element is not followed (`cp` copies a symlink as a symlink).
    """
    in_container = absolute(path)
    directory, base = posixpath.split(in_container)
    return os.path.join(secure_join(root, directory), base), in_container


def stat_path(root: str, host_path: str, in_container: str, asked: str, container_name: str) -> PathStat:
    """Docker's StatPath: lstat the resolved path; a symlink also says where it leads."""
    try:
        info = os.lstat(host_path)
    except (FileNotFoundError, NotADirectoryError):
        # [ENGINE-FS-003] Docker's words (containerFileNotFound)
        raise NotFound(f"Could not find the file {asked} in container {container_name}") from None
    link_target = ""
    if stat.S_ISLNK(info.st_mode):
        link_target = in_root(os.path.relpath(secure_join(root, in_container), root))
    name = posixpath.basename(in_container.rstrip("/")) or "/"
    if in_container.endswith("/."):
        name = "."
    return PathStat(name, info.st_size, go_file_mode(info.st_mode), go_time(info.st_mtime_ns), link_target)


def write_tar(host_path: str, name: str, out: BinaryIO) -> None:
    """A tar of ``host_path`` (a directory with everything in it) whose entries start with ``name``.

    Symlinks are stored as symlinks, a second path of one inode as a hard link; owners
    by number only (the host's user names mean nothing in the container).
    """
    def numeric(entry: tarfile.TarInfo) -> tarfile.TarInfo:
        entry.uname = entry.gname = ""
        return entry

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(host_path, arcname=name, recursive=True, filter=numeric)


def write_root_tar(root: str, out: BinaryIO) -> None:
    """`docker export`: every entry of the root, named relative to it, the root itself left out."""
    def numeric(entry: tarfile.TarInfo) -> tarfile.TarInfo:
        entry.uname = entry.gname = ""
        return entry

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(root), key=os.fsencode):
            tar.add(os.path.join(root, name), arcname=name, recursive=True, filter=numeric)


def check_upload(stream: BinaryIO, dest: str, no_overwrite_dir_non_dir: bool) -> BinaryIO:
    """Read a tar to be put into ``dest``; refuse what layers.apply would read as a whiteout,
    and (if asked) a directory replacing a file or a file replacing a directory.

    Returns the tar, seekable and uncompressed, for layers.apply (which checks the rest).
    """
    plain = layers.open_layer(stream)
    try:
        with tarfile.open(fileobj=plain, mode="r:") as tar:
            members = layers.read_members(tar)
    except tarfile.TarError as error:
        raise InvalidArgument(f"the archive is not a valid tar ({error}): nothing was written") from None
    symlinks: dict[str, bool] = {}  # path -> is a symlink, once the entries before are written
    for member in members:
        base = posixpath.basename(member.name.rstrip("/"))
        if base.startswith(layers.WHITEOUT_PREFIX):
            # a `cp` is not a layer: a `.wh.` name would delete a file, not be one
            raise InvalidArgument(f"refusing to copy {member.name!r}: names beginning with "
                                  f"{layers.WHITEOUT_PREFIX!r} mean deletions in minidock's layers")
        if member.name.startswith("/") or ".." in member.name.split("/"):
            continue  # the escapes are layers.apply's to refuse, with its words, before any write
        path = posixpath.normpath(member.name)
        # [ENGINE-FS-006] layers.apply finds a symlink an earlier entry made only when it gets
        # there, after writing the entries before: look for it now, so that nothing is written
        for parent in _parents(path) + (_parents(posixpath.normpath(member.linkname)) if member.islnk() else []):
            through = symlinks.get(parent)
            if through is None:
                through = os.path.islink(os.path.join(dest, parent))
            if through:
                raise InvalidArgument(f"refusing {member.name!r}: it would be written through the "
                                      f"symlink {parent!r}: nothing was written")
        symlinks[path] = member.issym()
        if not no_overwrite_dir_non_dir:
            continue
        target = os.path.join(dest, path)
        if os.path.lexists(target):
            is_dir = os.path.isdir(target) and not os.path.islink(target)
            if is_dir and not member.isdir():
                raise InvalidArgument(f"cannot overwrite directory {target.removeprefix(dest) or '/'!r} "
                                      f"with non-directory {member.name!r}")
            if member.isdir() and not is_dir:
                raise InvalidArgument(f"cannot overwrite non-directory {target.removeprefix(dest)!r} "
                                      f"with directory {member.name!r}")
    plain.seek(0)
    return plain


def _parents(path: str) -> list[str]:
    """"a/b/c" -> ["a", "a/b"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


# -- changes: the container's layer diff, read against the image's layers ----------------------

@dataclasses.dataclass(frozen=True)
class Below:
    """What the image has at a path (from its layer tars): enough to tell a change."""

    is_dir: bool
    mode: int
    uid: int
    gid: int
    mtime: int  # seconds


def image_index(layer_tars: Iterable[BinaryIO]) -> dict[str, Below]:
    """Every path of an image (as "/etc/passwd") from its layer tars, bottom first, whiteouts applied."""
    index: dict[str, Below] = {}
    for fileobj in layer_tars:
        plain = layers.open_layer(fileobj)
        try:
            with tarfile.open(fileobj=plain, mode="r:") as tar:
                members = layers.read_members(tar)
        finally:
            if plain is not fileobj:
                plain.close()
        added: dict[str, Below] = {}
        for member in members:
            path = in_root(member.name)
            directory, base = posixpath.split(path)
            if base == layers.OPAQUE_WHITEOUT:
                _forget_under(index, directory, keep_self=True)
            elif base.startswith(layers.WHITEOUT_META_PREFIX):
                continue
            elif base.startswith(layers.WHITEOUT_PREFIX):
                _forget_under(index, posixpath.join(directory, base[len(layers.WHITEOUT_PREFIX):]))
            elif path != "/":
                added[path] = Below(member.isdir(), member.mode & 0o7777, member.uid, member.gid, int(member.mtime))
        index.update(added)  # a whiteout hides the layers below only, never its own layer
    return index


def _forget_under(index: dict[str, Below], path: str, keep_self: bool = False) -> None:
    for key in [key for key in index if key == path or key.startswith(path.rstrip("/") + "/")]:
        if not (keep_self and key == path):
            del index[key]


@dataclasses.dataclass(frozen=True)
class Change:
    path: str
    kind: int  # MODIFIED, ADDED or DELETED

    def to_json(self) -> dict:
        return {"Path": self.path, "Kind": self.kind}


def changes(diff_tar: BinaryIO, below: dict[str, Below]) -> list[Change]:
    """The container's changes from its layer diff, as Docker's changes() (pkg/archive) tells them.

    A `.wh.NAME` is NAME deleted; a path the image has is modified, any other added.
    A directory the image has with the same mode, owner and mtime is not a change in
    itself; the directory an added or deleted path is in is always modified.
    """
    with tarfile.open(fileobj=diff_tar, mode="r|") as tar:
        entries = [(in_root(member.name), member) for member in tar]
    # the directories the engine made a mount point in: their mtime says nothing
    engine_touched = {posixpath.dirname(p) for p, m in entries if p in ENGINE_PATHS and p not in below}
    found: list[Change] = []
    changed_dirs: set[str] = set()

    def note_parent(path: str) -> None:
        parent = posixpath.dirname(path)
        if parent != "/" and parent not in changed_dirs:
            found.append(Change(parent, MODIFIED))
            changed_dirs.add(parent)

    for path, member in entries:
        directory, base = posixpath.split(path)
        if base == layers.OPAQUE_WHITEOUT or base.startswith(layers.WHITEOUT_META_PREFIX):
            continue
        if base.startswith(layers.WHITEOUT_PREFIX):
            deleted = posixpath.join(directory, base[len(layers.WHITEOUT_PREFIX):])
            note_parent(deleted)
            found.append(Change(deleted, DELETED))
            continue
        if path in ENGINE_PATHS and path not in below:
            continue  # [ENGINE-FS-010] the engine's mount points are not the container's changes
        old = below.get(path)
        if old is None:
            note_parent(path)
            found.append(Change(path, ADDED))
        else:
            if old.is_dir and member.isdir():
                same = (old.mode, old.uid, old.gid) == (member.mode & 0o7777, member.uid, member.gid)
                if same and (path in engine_touched or old.mtime == int(member.mtime)):
                    continue
            found.append(Change(path, MODIFIED))
        if member.isdir():
            changed_dirs.add(path)
    return found


# -- commit -------------------------------------------------------------------------------------

def commit_config(container_config: dict, image_config: dict, body: dict | None,
                  change_lines: list[str]) -> dict:
    """The new image's config: the container's (image defaults filled in), the body's fields
    over it, then the `--change` instructions (daemon/commit.go's merge and BuildFromConfig)."""
    merged = bundle.merged_config(container_config, image_config)
    config = {key: merged[key] for key in IMAGE_CONFIG_KEYS if merged.get(key) not in (None, "", [], {})}
    for key, value in (body or {}).items():
        if key in IMAGE_CONFIG_KEYS and value not in (None, "", [], {}):
            config[key] = value
    return commits.apply_changes(config, change_lines)


def repo_tag(repo: str, tag: str) -> str:
    """`?repo=&tag=` as one reference ("" for none); a bad one is a 400 before anything is stored."""
    if not repo:
        if tag:
            raise InvalidArgument("tag requires a repository (repo=) to go with it")
        return ""
    name = f"{repo}:{tag}" if tag else repo
    parsed = reference.parse(name)  # [ENGINE-FS-012] InvalidArgument: invalid reference format
    if parsed.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    return str(parsed)


# -- the service --------------------------------------------------------------------------------

class FilesystemService:
    """The files of the containers of one daemon."""

    def __init__(self, containers: ContainerBackend, images: Any, scratch: str) -> None:
        self.containers = containers
        self.images = images
        self.scratch = scratch  # spooled archives go here (the data root: /tmp may be small)
        self._indexes: dict[str, dict[str, Below]] = {}  # image ID -> its paths (images never change)

    @contextlib.asynccontextmanager
    async def root_of(self, container: Container, volumes: bool = False) -> AsyncIterator[str]:
        """The container's root file system, mounted for the time of the block (under its lock).

        ``volumes``: its volumes and bind mounts shown in it too (cp goes into them, as in
        Docker; export, diff and commit never see them).
        """
        async with self.containers.lock(container.id):
            rootfs = os.path.join(self.containers.bundle_dir(container), "rootfs")
            mounted = not container.running
            if mounted:
                os.makedirs(rootfs, exist_ok=True)
                mounts = await asyncio.to_thread(self.images.container_mounts, container.id)
                await asyncio.to_thread(mounting.mount_all, mounts, rootfs)
            service = getattr(getattr(self.containers, "volumes", None), "mounts", None) if volumes else None
            exposed: list = []
            try:
                if service:
                    exposed = await asyncio.to_thread(service.expose, container, rootfs)
                yield rootfs
            finally:
                if service:
                    await asyncio.to_thread(service.conceal, container, exposed)  # [VOL-028]
                if mounted:
                    await asyncio.to_thread(mounting.unmount, rootfs)

    def _spool(self) -> BinaryIO:
        return tempfile.TemporaryFile(dir=self.scratch, prefix=".archive-")

    async def stat(self, name: str, path: str) -> PathStat:
        container = self.containers.get(name)
        async with self.root_of(container, volumes=True) as root:
            host_path, in_container = resolve(root, path)
            return stat_path(root, host_path, in_container, path, name)

    async def archive(self, name: str, path: str) -> tuple[PathStat, BinaryIO]:
        """The stat of ``path`` and a tar of it (spooled: the root is let go before it is sent)."""
        container = self.containers.get(name)
        out = self._spool()
        try:
            async with self.root_of(container, volumes=True) as root:
                host_path, in_container = resolve(root, path)
                found = stat_path(root, host_path, in_container, path, name)
                # [ENGINE-FS-002] entries named after the path asked for, not what it resolved to
                await asyncio.to_thread(write_tar, host_path, found.name if found.name != "/" else ".", out)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return found, out

    async def extract(self, name: str, path: str, stream: BinaryIO, no_overwrite_dir_non_dir: bool) -> None:
        """Put the tar ``stream`` into the directory ``path`` (its last symlink followed too)."""
        container = self.containers.get(name)
        if container.host_config.get("ReadonlyRootfs"):
            raise Forbidden("container rootfs is marked read-only")  # Docker's words
        async with self.root_of(container, volumes=True) as root:
            dest = secure_join(root, absolute(path))
            if not os.path.lexists(dest):
                raise NotFound(f"Could not find the file {path} in container {name}")
            if not os.path.isdir(dest):
                raise InvalidArgument("extraction point is not a directory")  # Docker's words
            plain = await asyncio.to_thread(check_upload, stream, dest, no_overwrite_dir_non_dir)
            try:
                # [ENGINE-FS-006] checked whole, then written: an escaping entry writes nothing
                await asyncio.to_thread(layers.apply, plain, dest)
            finally:
                plain.close()

    async def export(self, name: str) -> BinaryIO:
        container = self.containers.get(name)
        out = self._spool()
        try:
            async with self.root_of(container) as root:
                await asyncio.to_thread(write_root_tar, root, out)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    async def changes(self, name: str) -> list[Change]:
        container = self.containers.get(name)
        below = await asyncio.to_thread(self._image_index, container.image_id)
        with self._spool() as diff:
            async with self.containers.lock(container.id):  # not removed meanwhile
                await asyncio.to_thread(self.images.diff_container, container.id, diff)
            diff.seek(0)
            return await asyncio.to_thread(changes, diff, below)

    def _image_index(self, image_id: str) -> dict[str, Below]:
        if image_id not in self._indexes:
            record = self.images.lookup(image_id)
            with contextlib.ExitStack() as stack:
                blobs = [stack.enter_context(self.images.content.open(layer.digest))
                         for layer in record.image.manifest.layers]
                self._indexes[image_id] = image_index(blobs)
        return self._indexes[image_id]

    async def commit(self, name: str, repo: str = "", tag: str = "", comment: str = "", author: str = "",
                     change_lines: list[str] | None = None, config: dict | None = None,
                     pause: bool = True) -> str:
        """`docker commit`: the container's changes as a new image; its ID."""
        container = self.containers.get(name)
        target = repo_tag(repo, tag)
        parent = await asyncio.to_thread(self.images.lookup, container.image_id)
        image_config = parent.config.get("config") or {}
        runtime = commit_config(container.config, image_config, config, list(change_lines or []))
        created_by = " ".join(bundle.command(container.config, image_config))
        # [ENGINE-FS-011] a running container is frozen while its layer is read (unless pause=0)
        paused_here = pause and container.state.status == "running"
        if paused_here:
            await self.containers.pause(container.id)
        try:
            async with self.containers.lock(container.id):  # not removed meanwhile
                image_id = await asyncio.to_thread(self.images.commit, container.id, parent, {
                    "config": runtime, "comment": comment, "author": author, "repo_tag": target,
                    "created_by": created_by})
        finally:
            if paused_here:
                await self.containers.unpause(container.id)
        # [ENGINE-EVT-005] dockerd's container commit event
        self.containers.publish(container, "commit", comment=comment, imageID=image_id,
                                imageRef=reference.familiar(target) if target else "")
        return image_id
