"""The engine's images: names and IDs over the content store, layers unpacked as snapshots.

Implements: spec/images.md IMG-ENG-001 .. IMG-ENG-004
Explained:  chapters/04-images.md#from-the-engine
Modelled on: containerd's image service + its unpacker (layer -> snapshot by chain ID)
             and dockerd's image service (image ID = the config's digest)

    <data-root>/content/          blobs (images.content.ContentStore)
    <data-root>/images/           repositories.json (names) and ids.json (every image by ID)
    <data-root>/snapshots/        one committed snapshot per layer chain, "layer/<chain-id>",
                                  and one active snapshot per container, "container/<id>"

    ImageService(data_root)
      .add(manifest_descriptor, names) -> image ID     record an image whose blobs are stored
      .lookup(name_or_id) -> Record                     by reference, full or short ID
      .load_archive(stream) -> [lines]                  `docker load`: a docker-save tar
      .unpack(record) -> parent key                     every layer applied, once, as a snapshot
      .prepare_container(id, record) -> [Mount]         the container's writable root
      .container_mounts(id), .remove_container(id), .diff_container(id, out)

Rules: an image ID is the digest of its config, as in Docker. A layer is applied
through a mounted snapshot, so whiteouts become what the snapshotter needs
(overlayfs's own whiteouts); a layer chain is unpacked once and shared by
every image and container built on it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from typing import BinaryIO, Iterable

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.images import digest as digests
from minidock.images import layers, oci, reference
from minidock.images.content import ContentStore
from minidock.images.snapshots import mount as mounting
from minidock.images.snapshots.copy import CopySnapshotter
from minidock.images.snapshots.overlay import OverlaySnapshotter, overlay_supported
from minidock.images.snapshots.snapshotter import Mount
from minidock.images.store import Image, ImageStore

_HEX_PREFIX = re.compile(r"^[a-f0-9]{1,64}$")


@dataclass(frozen=True)
class Record:
    """One image as the engine sees it: its ID, the names pointing at it, what it is."""

    id: str                       # sha256:<config digest>
    descriptor: oci.Descriptor    # the manifest (or index) it was stored under
    image: Image
    names: tuple[str, ...]        # normalised references, docker.io/library/busybox:latest

    @property
    def config(self) -> dict:
        """The image config document (architecture, os, config, rootfs, history)."""
        return self.image.config.raw

    @property
    def chain_ids(self) -> list[str]:
        return oci.chain_ids(self.image.config.diff_ids)


def layer_key(chain_id: str) -> str:
    return f"layer/{chain_id}"


def container_key(container_id: str) -> str:
    return f"container/{container_id}"


class ImageService:
    """Images for one daemon, under its data root."""

    def __init__(self, data_root: str) -> None:
        self.root = data_root
        self.content = ContentStore(os.path.join(data_root, "content"))
        self.store = ImageStore(self.content, os.path.join(data_root, "images"))
        self.ids_file = os.path.join(data_root, "images", "ids.json")
        snapshots = os.path.join(data_root, "snapshots")
        # [IMG-ENG-003] overlayfs where the data root can hold an upper dir, copies elsewhere
        kind = OverlaySnapshotter if overlay_supported(snapshots) else CopySnapshotter
        self.snapshotter = kind(snapshots)
        self.driver = "overlay2" if kind is OverlaySnapshotter else "vfs"
        self._lock = threading.RLock()  # one writer of ids.json / repositories.json at a time

    # -- IDs ------------------------------------------------------------------------------

    def _ids(self) -> dict[str, oci.Descriptor]:
        try:
            with open(self.ids_file, "rb") as file:
                stored = json.load(file)
        except FileNotFoundError:
            return {}
        return {image_id: oci.parse_descriptor(value, image_id) for image_id, value in stored.items()}

    def _save_ids(self, ids: dict[str, oci.Descriptor]) -> None:
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(self.ids_file), prefix=".ids-")
        with os.fdopen(fd, "w") as file:
            json.dump({key: value.to_json() for key, value in sorted(ids.items())}, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, self.ids_file)  # a crash leaves the old list, whole

    def add(self, descriptor: oci.Descriptor, names: Iterable[str] = ()) -> str:
        """Record the complete image at ``descriptor`` and point ``names`` at it; return its ID."""
        with self._lock:
            image = self.store.load(descriptor)  # [IMG-STORE-007] complete, or refused
            image_id = image.manifest.config.digest
            ids = self._ids()
            ids[image_id] = descriptor
            self._save_ids(ids)
            for name in names:
                self.store.tag(name, descriptor)
            return image_id

    def records(self) -> list[Record]:
        """Every image, with the names that point at it."""
        names: dict[str, list[str]] = {}
        by_manifest = {}
        for name, descriptor in self.store.references().items():
            names.setdefault(descriptor.digest, []).append(name)
        for image_id, descriptor in self._ids().items():
            by_manifest[image_id] = Record(image_id, descriptor, self.store.load(descriptor),
                                           tuple(sorted(names.get(descriptor.digest, []))))
        return list(by_manifest.values())

    def lookup(self, name: str) -> Record:
        """The image ``name`` means: a reference, a full ID (sha256:...), or a unique ID prefix."""
        ids = self._ids()
        candidate = name.removeprefix("sha256:")
        if _HEX_PREFIX.match(candidate):
            matches = [image_id for image_id in ids if image_id.removeprefix("sha256:").startswith(candidate)]
            if len(matches) == 1:
                return self._record(matches[0], ids[matches[0]])
            if len(matches) > 1 and len(candidate) < 64:
                raise Conflict(f"ambiguous image ID {name!r}: it begins {len(matches)} images' IDs")
        try:
            descriptor = self.store.resolve(name)
        except InvalidArgument:
            raise NotFound(f"No such image: {name}") from None
        image = self.store.load(descriptor)
        return self._record(image.manifest.config.digest, descriptor)

    def _record(self, image_id: str, descriptor: oci.Descriptor) -> Record:
        image = self.store.load(descriptor)
        names = tuple(sorted(name for name, target in self.store.references().items()
                             if target.digest == descriptor.digest))
        return Record(image_id, descriptor, image, names)

    # -- docker load ----------------------------------------------------------------------

    def load_archive(self, stream: BinaryIO) -> list[str]:
        """Load a `docker save` archive; return the lines `docker load` prints."""
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".load-") as scratch:
            files = _extract_archive(stream, scratch)
            if "manifest.json" not in files:
                raise InvalidArgument("invalid archive: no manifest.json (not a `docker save` archive)")
            try:
                with open(files["manifest.json"], "rb") as file:
                    entries = json.load(file)
            except ValueError as error:
                raise InvalidArgument(f"invalid archive: manifest.json: {error}") from None
            if not isinstance(entries, list):
                raise InvalidArgument("invalid archive: manifest.json is not a list")
            # [IMG-ENG-001] every image checked and stored before the first name changes
            prepared = [self._store_entry(number, entry, files) for number, entry in enumerate(entries)]
            lines = []
            for descriptor, tags in prepared:
                image_id = self.add(descriptor)
                for tag in tags:
                    self.store.tag(tag, descriptor)
                    lines.append(f"Loaded image: {reference.parse(tag).familiar}")
                if not tags:
                    lines.append(f"Loaded image ID: {image_id}")
            return lines

    def _store_entry(self, number: int, entry: object, files: dict[str, str]) -> tuple[oci.Descriptor, list[str]]:
        where = f"manifest.json[{number}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise InvalidArgument(f"invalid archive: {where} needs Config and Layers")
        tags = entry.get("RepoTags") or []
        for tag in tags:
            reference.parse(tag)  # a bad name is refused before anything is named
        config_path = _member(files, entry["Config"], f"{where}.Config")
        with open(config_path, "rb") as file:
            config_bytes = file.read()
        config = oci.parse_config(config_bytes)
        layer_descriptors = []
        for index, name in enumerate(entry["Layers"]):
            path = _member(files, name, f"{where}.Layers[{index}]")
            with open(path, "rb") as file:
                gzipped = file.read(2) == b"\x1f\x8b"
                file.seek(0)
                digest = _digest_of(file)
                file.seek(0)
                # [IMG-ENG-001] an uncompressed layer's digest is its diff ID: check it
                if not gzipped and index < len(config.diff_ids) and digest != config.diff_ids[index]:
                    raise InvalidArgument(f"invalid archive: {name}: its digest {digest} is not "
                                          f"config.rootfs.diff_ids[{index}] ({config.diff_ids[index]})")
                info = self.content.write(digest, file)
            media_type = oci.OCI_LAYER_GZIP if gzipped else oci.OCI_LAYER
            layer_descriptors.append(oci.Descriptor(media_type, digest, info.size))
        self.content.write_bytes(config_bytes)
        config_descriptor = oci.descriptor_of(config_bytes, oci.OCI_CONFIG)
        oci.check_image(oci.Manifest(oci.OCI_MANIFEST, config_descriptor, tuple(layer_descriptors)), config)
        manifest = oci.manifest_bytes(config_descriptor, layer_descriptors)
        self.content.write_bytes(manifest)
        return oci.descriptor_of(manifest, oci.OCI_MANIFEST), list(tags)

    # -- snapshots ------------------------------------------------------------------------

    def unpack(self, record: Record) -> str | None:
        """Apply every layer not yet unpacked; return the key of the top layer (None: no layers)."""
        parent = None
        existing = {info.key for info in self.snapshotter.walk()}
        for layer, chain_id in zip(record.image.manifest.layers, record.chain_ids):
            key = layer_key(chain_id)
            if key not in existing:
                self._apply_layer(layer, parent, key)
            parent = key
        return parent

    def _apply_layer(self, layer: oci.Descriptor, parent: str | None, key: str) -> None:
        """containerd's unpacker: prepare, mount, apply, unmount, commit under the chain ID."""
        scratch_key = f"extract/{secrets.token_hex(8)}"
        mounts = self.snapshotter.prepare(scratch_key, parent)
        target = tempfile.mkdtemp(dir=self.root, prefix=".apply-")
        try:
            mounting.mount_all(mounts, target)
            try:
                with self.content.open(layer.digest) as blob:
                    layers.apply(blob, target)
            finally:
                mounting.unmount(target)
            try:
                self.snapshotter.commit(key, scratch_key)
                return
            except Conflict:
                pass  # another request unpacked the same chain meanwhile: theirs stands
            self.snapshotter.remove(scratch_key)
        except BaseException:
            try:
                self.snapshotter.remove(scratch_key)
            except NotFound:
                pass
            raise
        finally:
            os.rmdir(target)

    def prepare_container(self, container_id: str, record: Record) -> list[Mount]:
        """A writable snapshot on top of the image's layers, for one container."""
        return self.snapshotter.prepare(container_key(container_id), self.unpack(record))

    def container_mounts(self, container_id: str) -> list[Mount]:
        return self.snapshotter.mounts(container_key(container_id))

    def remove_container(self, container_id: str) -> None:
        try:
            self.snapshotter.remove(container_key(container_id))
        except NotFound:
            pass

    def diff_container(self, container_id: str, out: BinaryIO) -> None:
        """The container's changes as a layer tar (`commit`, `diff`)."""
        self.snapshotter.diff(container_key(container_id), out)


def _digest_of(file: BinaryIO) -> str:
    digester = digests.Digester()
    while chunk := file.read(1 << 20):
        digester.update(chunk)
    return digester.digest()


def _member(files: dict[str, str], name: str, where: str) -> str:
    if not isinstance(name, str) or name not in files:
        raise InvalidArgument(f"invalid archive: {where} names {name!r}, which the archive does not hold")
    return files[name]


def _extract_archive(stream: BinaryIO, dest: str) -> dict[str, str]:
    """Unpack the regular files of an archive into ``dest``; refuse names that leave it."""
    files = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                name = os.path.normpath(member.name.lstrip("./") or ".")
                if member.name.startswith("/") or name.startswith(".."):
                    # [IMG-ENG-001] an archive entry never writes outside the scratch directory
                    raise InvalidArgument(f"invalid archive: the entry {member.name!r} leaves the archive")
                if not member.isfile():
                    continue
                path = os.path.join(dest, f"{len(files)}")
                with open(path, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
                files[name] = path
    except tarfile.TarError as error:
        raise InvalidArgument(f"invalid archive: {error}") from None
    return files
