"""Builds in the engine: a context tar in, the builder run against the engine's containers and images.

Implements: spec/build.md BUILD-005 .. BUILD-013
Explained:  chapters/08-build.md#in-the-engine
Modelled on: moby's builder/dockerfile backend (daemon/build.go, builder/remotecontext)

    BuildService(containers, images, data_root).build(context_tar, params, emit) -> image ID

    context tar ─▶ checked and unpacked (no ../, no links out) ─▶ .dockerignore applied
    ─▶ Dockerfile parsed ─▶ Builder(self) ─▶ tags (only when every step worked)

    The builder's backend (minidock/build/builder.py Backend) is this class:
    run() a RUN step in a container and commit its diff; add_layer() a COPY's tar;
    add_config() a config-only step; a build cache on disk (build-cache.json).

Rules: the context is unpacked under the data root and removed after the build;
intermediate containers are removed whether the step worked or not.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tarfile
import tempfile
from typing import BinaryIO, Callable

from minidock.build import builder as building
from minidock.build.dockerfile import parse
from minidock.build.ignore import Ignore
from minidock.errors import InvalidArgument, NotFound
from minidock.images import layers, reference


class BuildService:
    """The engine's side of `docker build` (the classic builder)."""

    def __init__(self, containers, images, data_root: str) -> None:
        self.containers = containers
        self.images = images
        self.root = os.path.join(data_root, "build")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.cache_path = os.path.join(self.root, "cache.json")
        self._unpacked: dict[str, str] = {}
        self._directories: dict[str, dict[str, tuple[int, int, int]]] = {}
        self.network_mode = "default"

    # -- one build ------------------------------------------------------------------------------

    async def build(self, context: BinaryIO, params: dict, emit: Callable[[str], None]) -> str:
        """Build; return the image ID. ``params``: dockerfile, tags, buildargs, target, nocache, labels."""
        tags = [str(reference.parse(tag)) for tag in params.get("tags", [])]  # [BUILD-013] bad tags: 400 first
        work = tempfile.mkdtemp(dir=self.root, prefix="ctx-")
        try:
            context_dir = os.path.join(work, "context")
            os.mkdir(context_dir)
            await asyncio.to_thread(_unpack_context, context, context_dir)
            dockerfile_name = params.get("dockerfile") or "Dockerfile"
            text = _read_dockerfile(context_dir, dockerfile_name)
            await asyncio.to_thread(_apply_dockerignore, context_dir, dockerfile_name)
            dockerfile = parse(text)  # [BUILD-002] a syntax error before any step runs
            options = building.Options(build_args=params.get("buildargs") or {}, target=params.get("target"),
                                       no_cache=bool(params.get("nocache")), labels=params.get("labels") or {},
                                       pull=bool(params.get("pull")),
                                       scratch=work)
            self.network_mode = params.get("networkmode") or "default"
            image_id = await building.Builder(self, context_dir, options, emit).build(dockerfile)
        finally:
            await asyncio.to_thread(self._forget_unpacked)
            await asyncio.to_thread(shutil.rmtree, work, True)
        emit(f"Successfully built {image_id.split(':', 1)[1][:12]}\n")
        for tag in tags:
            await asyncio.to_thread(self.images.tag, image_id, tag)
            emit(f"Successfully tagged {reference.familiar(tag)}\n")
        return image_id

    # -- the builder's backend ------------------------------------------------------------------

    def lookup(self, name: str) -> tuple[str, dict] | None:
        try:
            record = self.images.lookup(name)
        except (NotFound, InvalidArgument):
            return None
        return record.id, record.config

    async def run(self, image_id: str | None, runtime: dict, command: list[str], env: list[str],
                  created_by: str, output: Callable[[str], None]) -> str:
        """RUN: a container of ``image_id`` runs ``command``; its diff becomes the new layer."""
        if image_id is None:
            raise building.BuildError("a RUN step needs an image to run in (FROM scratch has no shell)")
        body = {"Image": image_id, "Cmd": command, "Entrypoint": [], "Env": [*(runtime.get("Env") or []), *env],
                "WorkingDir": runtime.get("WorkingDir") or "", "User": runtime.get("User") or "",
                "Labels": {}, "AttachStdout": True, "AttachStderr": True,
                "HostConfig": {"NetworkMode": self.network_mode}}
        container = await self.containers.create(body, None)
        output(f" ---> Running in {container.id[:12]}\n")
        try:
            await self.containers.start(container.id)
            async for record in self.containers.follow(container, 0):  # stdout and stderr, as they come
                output(record.data.decode(errors="replace"))
            await self.containers.wait(container.id, "not-running")
            code = container.state.exit_code
            if code != 0:
                # [BUILD-009] Docker's words; nothing is tagged
                raise building.BuildError(f"The command '{' '.join(command)}' returned a non-zero code: {code}")
            parent = await asyncio.to_thread(self.images.lookup, image_id)
            async with self.containers.lock(container.id):
                new_id = await asyncio.to_thread(self.images.commit, container.id, parent,
                                                 {"config": runtime, "created_by": created_by})
            return new_id
        finally:
            output(f"Removing intermediate container {container.id[:12]}\n")
            await self.containers.remove(container.id, force=True, volumes=True)

    async def pull(self, name: str, emit: Callable[[str], None]) -> None:
        """A base image from its registry; the pull's status lines go to the build's output."""
        def progress(message: dict) -> None:
            status = message.get("status", "")
            if status and status not in ("Downloading", "Extracting", "Waiting", "Verifying Checksum"):
                emit(f"{message['id']}: {status}\n" if message.get("id") else f"{status}\n")

        try:
            await asyncio.to_thread(self.images.pull, name, {}, progress)
        except NotFound as error:
            # [BUILD-006] dockerd's words for a base it cannot find
            raise NotFound(f"pull access denied for {name}, repository does not exist or may require "
                           f"'docker login': {error.message}") from None

    async def add_layer(self, image_id: str | None, runtime: dict, produce, created_by: str) -> str:
        """A layer whose tar ``produce(out)`` writes, straight into the content store."""
        parent = await asyncio.to_thread(self.images.lookup, image_id) if image_id else None
        return await asyncio.to_thread(self.images.build_child, parent, runtime, created_by, produce)

    async def add_config(self, image_id: str | None, runtime: dict, created_by: str) -> str:
        parent = await asyncio.to_thread(self.images.lookup, image_id) if image_id else None
        return await asyncio.to_thread(self.images.build_child, parent, runtime, created_by)

    def directories(self, image_id: str) -> dict[str, tuple[int, int, int]]:
        """The image's directories and their mode and owner (read from its layers once)."""
        if image_id not in self._directories:
            from minidock.engine.filesystem import image_index

            record = self.images.lookup(image_id)
            with _layer_files(self.images, record) as blobs:
                index = image_index(blobs)
            self._directories[image_id] = {path: (below.mode, below.uid, below.gid)
                                           for path, below in index.items() if below.is_dir}
        return self._directories[image_id]

    def read_file(self, image_id: str, path: str) -> bytes | None:
        """A regular file of the image, read from the topmost layer that has it (or hides it)."""
        record = self.images.lookup(image_id)
        name = path.strip("/")
        directory, base = os.path.split(name)
        hiding = os.path.join(directory, layers.WHITEOUT_PREFIX + base)
        for layer in reversed(record.image.manifest.layers):
            with self.images.content.open(layer.digest) as blob:
                plain = layers.open_layer(blob)
                with tarfile.open(fileobj=plain, mode="r:") as tar:
                    for member in tar:
                        member_name = member.name.lstrip("./").lstrip("/")
                        if member_name == hiding:
                            return None
                        if member_name == name and member.isreg():
                            return tar.extractfile(member).read()
        return None

    async def unpacked(self, image_id: str) -> str:
        """The image's tree in a folder of this build (COPY --from)."""
        if image_id not in self._unpacked:
            target = tempfile.mkdtemp(dir=self.root, prefix="stage-")
            record = await asyncio.to_thread(self.images.lookup, image_id)

            def unpack() -> None:
                for layer in record.image.manifest.layers:
                    with self.images.content.open(layer.digest) as blob:
                        layers.apply(blob, target)

            await asyncio.to_thread(unpack)
            self._unpacked[image_id] = target
        return self._unpacked[image_id]

    def _forget_unpacked(self) -> None:
        for path in self._unpacked.values():
            shutil.rmtree(path, ignore_errors=True)
        self._unpacked.clear()

    def cached(self, key: str) -> str | None:
        """[BUILD-010] an image made before for the same step on the same parent, if it still exists."""
        image_id = self._cache().get(key)
        if image_id and self.lookup(image_id) is not None:
            return image_id
        return None

    def remember(self, key: str, image_id: str) -> None:
        cache = self._cache()
        cache[key] = image_id
        temporary = self.cache_path + ".tmp"
        with open(temporary, "w") as file:
            json.dump(cache, file)
        os.replace(temporary, self.cache_path)

    def _cache(self) -> dict[str, str]:
        try:
            with open(self.cache_path) as file:
                return json.load(file)
        except (FileNotFoundError, ValueError):
            return {}


# -- the context ----------------------------------------------------------------------------------

def _unpack_context(stream: BinaryIO, target: str) -> None:
    """The context tar (plain or compressed) into ``target``; entries that escape are refused."""
    from minidock.engine.images import _decompressed

    if not stream.read(1):
        return  # [BUILD-013] no body is an empty context, as dockerd reads it: no Dockerfile in it
    stream.seek(0)
    try:
        layers.apply(_decompressed(stream), target)  # [BUILD-008] ../ and links out are refused here
    except tarfile.TarError as error:
        raise InvalidArgument(f"the build context is not a tar archive: {error}") from None


def _read_dockerfile(context_dir: str, name: str) -> str:
    path = os.path.normpath(os.path.join(context_dir, name))
    if not path.startswith(context_dir + os.sep):
        raise InvalidArgument(f"the Dockerfile ({name}) must be within the build context")
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(context_dir) + os.sep):
        raise InvalidArgument(f"the Dockerfile ({name}) must be within the build context")
    try:
        with open(real, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        # dockerd's words
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"the Dockerfile ({name}) is not UTF-8 text") from None


def _apply_dockerignore(context_dir: str, dockerfile_name: str) -> None:
    """Remove what .dockerignore leaves out (the Dockerfile and .dockerignore stay readable)."""
    path = os.path.join(context_dir, ".dockerignore")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8", errors="replace") as file:
        ignore = Ignore.parse(file.read())
    keep = {os.path.normpath(dockerfile_name), ".dockerignore"}
    for dirpath, dirnames, filenames in os.walk(context_dir, topdown=True):
        for name in list(dirnames) + filenames:
            full = os.path.join(dirpath, name)
            relative = os.path.relpath(full, context_dir)
            if relative in keep or not ignore.excluded(relative):
                continue
            if name in dirnames:
                if ignore.may_hold_exceptions(relative):
                    continue  # an exception may bring something under it back
                dirnames.remove(name)
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)


class _layer_files:
    """The layer blobs of an image, opened for the block, bottom first."""

    def __init__(self, images, record) -> None:
        self.images, self.record, self.files = images, record, []

    def __enter__(self) -> list[BinaryIO]:
        self.files = [self.images.content.open(layer.digest) for layer in self.record.image.manifest.layers]
        return self.files

    def __exit__(self, *exc_info) -> None:
        for file in self.files:
            file.close()
