"""The engine's images: names and IDs over the content store, layers unpacked as snapshots.

Implements: spec/images.md IMG-ENG-001 .. IMG-ENG-015
Explained:  chapters/04-images.md#from-the-engine
Modelled on: containerd's image service + its unpacker (layer -> snapshot by chain ID)
             and dockerd's image service (image ID = the config's digest, image_delete.go)

    <data-root>/content/          blobs (images.content.ContentStore)
    <data-root>/images/           repositories.json (names) and ids.json (every image by ID)
    <data-root>/snapshots/        one committed snapshot per layer chain, "layer/<chain-id>",
                                  and one active snapshot per container, "container/<id>"

    ImageService(data_root)
      .add(manifest_descriptor, names) -> image ID     record an image whose blobs are stored
      .lookup(name_or_id) -> Record                     by reference, full or short ID
      .records(), .size(record), .layer_size(layer)     what `docker images` lists
      .tag(name, target), .delete(name, force, prune), .prune(all, labels)
      .load_archive(stream) -> [lines]                  `docker load`: docker-save tar or OCI layout
      .save_archive(names, out)                         `docker save`
      .import_image(stream, names, changes, message)    `docker import` of a flat rootfs tar
      .commit(container_id, parent, changes) -> ID      `docker commit`
      .unpack(record) -> parent key                     every layer applied, once, as a snapshot
      .prepare_container(id, record) -> [Mount]         the container's writable root
      .container_mounts(id), .remove_container(id), .diff_container(id, out)
      .in_use(image_id) -> [container names]            set by the daemon; rmi and prune ask it
      .pull(name, credentials, emit), .push(...), .login(credentials)   registry_client.py (chapter 09)

Rules: an image ID is the digest of its config, as in Docker. Every change of names
and IDs holds one lock, and garbage collection (blobs no name or ID reaches,
layer snapshots no image needs) runs under it, so it never sees an image half
stored. A load or import that fails leaves no new name, ID or blob.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import json
import lzma
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.images import archive, commit as commits, layers, layout, oci, platforms, reference
from minidock.images import digest as digests
from minidock.images.content import ContentStore
from minidock.images.snapshots import mount as mounting
from minidock.images.snapshots.copy import CopySnapshotter
from minidock.images.snapshots.overlay import OverlaySnapshotter, overlay_supported
from minidock.images.snapshots.snapshotter import Mount
from minidock.images.store import Image, ImageStore

_HEX_PREFIX = re.compile(r"^[a-f0-9]{1,64}$")
_FULL_ID = re.compile(r"^sha256:[a-f0-9]{64}$")


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


def short_id(image_id: str) -> str:
    """Docker's stringid.TruncateID: 12 hex digits, no algorithm."""
    return image_id.removeprefix("sha256:")[:12]


class ImageService:
    """Images for one daemon, under its data root."""

    def __init__(self, data_root: str) -> None:
        self.root = data_root
        self.content = ContentStore(os.path.join(data_root, "content"))
        self.store = ImageStore(self.content, os.path.join(data_root, "images"))
        self.ids_file = os.path.join(data_root, "images", "ids.json")
        self.parents_file = os.path.join(data_root, "images", "parents.json")  # child ID -> parent ID
        snapshots = os.path.join(data_root, "snapshots")
        # [IMG-ENG-003] overlayfs where the data root can hold an upper dir, copies elsewhere
        kind = OverlaySnapshotter if overlay_supported(snapshots) else CopySnapshotter
        self.snapshotter = kind(snapshots)
        self.driver = "overlay2" if kind is OverlaySnapshotter else "vfs"
        self._lock = threading.RLock()  # one writer of names, IDs and snapshots at a time
        self._sizes: dict[str, int] = {}  # layer digest -> uncompressed size
        # the containers using an image, by name; the daemon replaces this (rmi, prune)
        self.in_use: Callable[[str], list[str]] = lambda image_id: []
        # set by the daemon: an image event (action, image ID, attributes); may be called from a thread
        self.publish: Callable[[str, str, dict], None] = lambda action, image_id, attributes: None
        # set by the daemon: --insecure-registry (plain HTTP allowed; loopback always is)
        self.insecure_registries: tuple[str, ...] = ()
        # set by the daemon: --registry-mirror, Docker Hub's mirrors (tried first on pulls)
        self.registry_mirrors: tuple[str, ...] = ()

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

    def parents(self) -> dict[str, str]:
        """{image ID: the image it was built or committed on} (dockerd's Parent)."""
        try:
            with open(self.parents_file, "rb") as file:
                return json.load(file)
        except FileNotFoundError:
            return {}

    def _save_parents(self, parents: dict[str, str]) -> None:
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(self.parents_file), prefix=".parents-")
        with os.fdopen(fd, "w") as file:
            json.dump(dict(sorted(parents.items())), file, indent=1)
        os.rename(temporary, self.parents_file)

    def _set_parent(self, child: str, parent: Record | None) -> None:
        if parent is not None and child != parent.id:
            parents = self.parents()
            parents[child] = parent.id
            self._save_parents(parents)

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
        for name, descriptor in self.store.references().items():
            names.setdefault(descriptor.digest, []).append(name)
        return [Record(image_id, descriptor, self.store.load(descriptor),
                       tuple(sorted(names.get(descriptor.digest, []))))
                for image_id, descriptor in self._ids().items()]

    def lookup(self, name: str) -> Record:
        """The image ``name`` means: a reference, a full ID (sha256:...), or a unique ID prefix.

        As dockerd's GetImage: a full ID first, then a name, then an ID prefix.
        """
        ids = self._ids()
        if _FULL_ID.match(name):
            if name in ids:
                return self._record(name, ids[name])
            raise NotFound(f"No such image: {name}")
        try:
            parsed = reference.parse(name)
        except InvalidArgument:
            parsed = None
            if not _HEX_PREFIX.match(name.removeprefix("sha256:")):
                raise  # [IMG-ENG-008] 400 invalid reference format
        if parsed is not None:
            descriptor = self.store.references().get(str(parsed))
            if descriptor is not None:
                return self._record(self.store.load(descriptor).manifest.config.digest, descriptor)
        candidate = name.removeprefix("sha256:")
        if _HEX_PREFIX.match(candidate):
            matches = [image_id for image_id in ids if image_id.removeprefix("sha256:").startswith(candidate)]
            if len(matches) == 1:
                return self._record(matches[0], ids[matches[0]])
            if len(matches) > 1:
                raise Conflict(f"ambiguous image ID {name!r}: it begins {len(matches)} images' IDs")
        # [IMG-ENG-008] Docker's words
        raise NotFound(f"No such image: {parsed.familiar if parsed else name}")

    def _record(self, image_id: str, descriptor: oci.Descriptor) -> Record:
        image = self.store.load(descriptor)
        names = tuple(sorted(name for name, target in self.store.references().items()
                             if target.digest == descriptor.digest))
        return Record(image_id, descriptor, image, names)

    # -- sizes ----------------------------------------------------------------------------

    def layer_size(self, layer: oci.Descriptor) -> int:
        """The size of a layer unpacked (its tar): what `docker images` adds up."""
        if layer.digest not in self._sizes:
            size = layer.size
            if oci.LAYER_COMPRESSION.get(layer.media_type) == "gzip" and self.content.exists(layer.digest):
                # gzip's trailer holds the uncompressed size modulo 2**32 (RFC 1952 ISIZE):
                # exact for a one-member stream under 4 GiB, with no need to decompress
                with self.content.open(layer.digest) as blob:
                    blob.seek(-4, os.SEEK_END)
                    size = int.from_bytes(blob.read(4), "little")
            self._sizes[layer.digest] = size
        return self._sizes[layer.digest]

    def size(self, record: Record) -> int:
        """The image's size: its layers, uncompressed ([IMG-ENG-002])."""
        return sum(self.layer_size(layer) for layer in record.image.manifest.layers)

    # -- names: tag, rmi, prune -----------------------------------------------------------

    def tag(self, name: str, target: str) -> str:
        """Point the name ``target`` at the image ``name``; return the normalised target."""
        with self._lock:
            record = self.lookup(name)
            parsed = reference.parse(target)
            if parsed.digest:
                raise InvalidArgument("refusing to create a tag with a digest reference")
            self.store.tag(str(parsed), record.descriptor)
            self.publish("tag", record.id, {"name": reference.familiar(str(parsed))})  # [ENGINE-EVT-004]
            return str(parsed)

    def delete(self, name: str, force: bool = False, prune: bool = True) -> list[dict]:
        """`docker rmi`: untag a name, or delete an image; return Docker's Untagged/Deleted list."""
        image_id = self.lookup(name).id
        out = self._delete(name, force, prune)
        for entry in out:  # [ENGINE-EVT-004] what rmi did, as image events
            if "Untagged" in entry:  # dockerd names the image by its ID here, not by the name untagged
                self.publish("untag", image_id, {"name": image_id})
            if "Deleted" in entry:
                self.publish("delete", entry["Deleted"], {"name": entry["Deleted"]})
        return out

    def _delete(self, name: str, force: bool, prune: bool) -> list[dict]:
        """rmi's work (see delete).

        dockerd's ImageDelete: a name is untagged, and the image goes with its last
        name; an ID deletes the image, refused (unless forced) while another
        repository names it or a container uses it.
        """
        with self._lock:
            record = self.lookup(name)
            out: list[dict] = []
            stripped = record.id.removeprefix("sha256:")
            by_id = record.id.startswith(name) or stripped.startswith(name)
            if not by_id:
                parsed = str(reference.parse(name))
                users = self.in_use(record.id)
                if len(record.names) == 1 and users and not force:
                    # [IMG-ENG-007] the last name of an image a container uses
                    raise Conflict(f"conflict: unable to remove repository reference \"{name}\" "
                                   f"(must force) - container {users[0]} is using its referenced "
                                   f"image {short_id(record.id)}")
                self.store.untag(parsed)
                out.append({"Untagged": reference.familiar(parsed)})
                if len(record.names) > 1:
                    return out  # [IMG-ENG-006] other names remain: untagging was all
            elif _single_repository(record.names):
                if not force:
                    self._refuse_if_used(record)
                for other in record.names:
                    self.store.untag(other)
                    out.append({"Untagged": reference.familiar(other)})
            self._delete_image(record, force, out)
            return out

    def _refuse_if_used(self, record: Record) -> None:
        users = self.in_use(record.id)
        if users:
            # [IMG-ENG-007] dockerd's words for a soft conflict
            raise Conflict(f"conflict: unable to delete {short_id(record.id)} (must be forced) - "
                           f"image is being used by stopped container {users[0]}")

    def _delete_image(self, record: Record, force: bool, out: list[dict]) -> None:
        names = [name for name, target in self.store.references().items()
                 if target.digest == record.descriptor.digest]
        if not force:
            self._refuse_if_used(record)
            if names:
                # [IMG-ENG-006] an ID several repositories name is deleted only when forced
                raise Conflict(f"conflict: unable to delete {short_id(record.id)} (must be forced) - "
                               "image is referenced in multiple repositories")
        for name in names:
            self.store.untag(name)
            out.append({"Untagged": reference.familiar(name)})
        ids = self._ids()
        ids.pop(record.id, None)
        self._save_ids(ids)
        out.append({"Deleted": record.id})
        self._delete_parents(record.id, out)
        needed = self._needed_chains()
        out.extend({"Deleted": chain} for chain in record.chain_ids if chain not in needed)
        self._collect()

    def _delete_parents(self, image_id: str, out: list[dict]) -> None:
        """[IMG-ENG-017] a build's intermediate images go with the image built on them:
        each untagged parent that no other image and no container uses (dockerd's prune)."""
        parents = self.parents()
        parent = parents.pop(image_id, None)
        while parent is not None:
            still_a_parent = parent in parents.values()
            named = any(target.digest == self._ids().get(parent, oci.Descriptor("", "", 0)).digest
                        for target in self.store.references().values())
            if still_a_parent or named or parent not in self._ids() or self.in_use(parent):
                break
            ids = self._ids()
            ids.pop(parent, None)
            self._save_ids(ids)
            out.append({"Deleted": parent})
            parent = parents.pop(parent, None)
        self._save_parents({child: up for child, up in parents.items() if child in self._ids()})

    def prune(self, dangling_only: bool = True, labels: Iterable[str] = ()) -> tuple[list[dict], int]:
        """`docker image prune`: delete unused images, untagged ones only unless ``dangling_only`` is
        False; return the deleted items and the bytes reclaimed."""
        with self._lock:
            before = {blob.digest: blob.size for blob in self.content.walk()}
            out: list[dict] = []
            for record in self.records():
                if (dangling_only and record.names) or self.in_use(record.id) \
                        or not matches_labels(record, labels):
                    continue  # [IMG-ENG-009] in use, tagged, or filtered out: kept
                self._delete_image(record, True, out)
            after = {blob.digest for blob in self.content.walk()}
            return out, sum(size for digest, size in before.items() if digest not in after)

    def _needed_chains(self) -> set[str]:
        needed: set[str] = set()
        for descriptor in self._ids().values():
            with contextlib.suppress(NotFound, InvalidArgument):
                needed.update(oci.chain_ids(self.store.load(descriptor).config.diff_ids))
        return needed

    def _collect(self) -> None:
        """Garbage: blobs no name or ID reaches, layer snapshots no image needs (leaves first)."""
        # [IMG-ENG-010] mark from names and IDs, sweep the rest (the lock is held)
        self.content.gc([*self._ids().values(), *self.store.references().values()])
        self._collect_snapshots()

    def _collect_snapshots(self) -> None:
        needed = {layer_key(chain) for chain in self._needed_chains()}
        while True:
            snapshots = self.snapshotter.walk()
            parents = {info.parent for info in snapshots}
            garbage = [info.key for info in snapshots if info.key.startswith("layer/")
                       and info.key not in needed and info.key not in parents]
            if not garbage:
                return  # what is left is needed, or under a container's snapshot
            for key in garbage:
                self.snapshotter.remove(key)

    # -- docker load / save ---------------------------------------------------------------

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """Hold the lock; if the block fails, delete every blob it added to the content store."""
        with self._lock:
            before = {blob.digest for blob in self.content.walk()}
            try:
                yield
            except BaseException:
                for blob in self.content.walk():
                    if blob.digest not in before:
                        with contextlib.suppress(NotFound):
                            self.content.delete(blob.digest)
                raise

    def load_archive(self, stream: BinaryIO) -> list[str]:
        """Load a `docker save` archive or an OCI layout tar; return the lines `docker load` prints."""
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".load-") as scratch:
            files = archive.extract(stream, scratch)
            if archive.MANIFEST in files:
                entries = archive.read_entries(files)
                with self._all_or_nothing():
                    # [IMG-ENG-001] every image checked and stored before the first name changes
                    prepared = [(self._store_entry(entry, files), entry.repo_tags) for entry in entries]
                    return self._name_loaded(prepared)
            if archive.INDEX in files and "oci-layout" in files:
                with self._all_or_nothing():
                    return self._name_loaded(self._store_layout(scratch, files))
            if not files:
                raise InvalidArgument("invalid archive: it is empty (no manifest.json)")
            raise InvalidArgument("invalid archive: no manifest.json and no index.json "
                                  "(neither a `docker save` archive nor an OCI layout)")

    def _name_loaded(self, prepared: list[tuple[oci.Descriptor, Iterable[str]]]) -> list[str]:
        records = [(self.add(descriptor), descriptor, list(tags)) for descriptor, tags in prepared]
        lines = []
        for image_id, descriptor, tags in records:
            self.publish("load", image_id, {"name": reference.familiar(tags[0]) if tags else image_id})
            for tag in tags:
                self.store.tag(tag, descriptor)
                lines.append(f"Loaded image: {reference.familiar(tag)}")
            if not tags:
                lines.append(f"Loaded image ID: {image_id}")
        return lines

    def _store_entry(self, entry: archive.Entry, files: dict[str, str]) -> oci.Descriptor:
        with open(archive.member(files, entry.config, "Config"), "rb") as file:
            config_bytes = file.read()
        config = oci.parse_config(config_bytes)
        if len(entry.layers) != len(config.diff_ids):
            raise InvalidArgument(f"invalid archive: {entry.config} lists {len(config.diff_ids)} "
                                  f"diff_ids for {len(entry.layers)} layers")
        layer_descriptors = []
        for name in entry.layers:
            with open(archive.member(files, name, "Layers"), "rb") as file:
                head = file.read(4)
                file.seek(0)
                digest = _digest_of(file)
                file.seek(0)
                info = self.content.write(digest, file)
            media_type = oci.OCI_LAYER_GZIP if head.startswith(b"\x1f\x8b") else \
                oci.OCI_LAYER_ZSTD if head.startswith(b"\x28\xb5\x2f\xfd") else oci.OCI_LAYER
            layer_descriptors.append(oci.Descriptor(media_type, digest, info.size))
        manifest = self._store_image(config_bytes, layer_descriptors)
        self._check_diff_ids(self.store.load(manifest))
        return manifest

    def _store_layout(self, scratch: str, files: dict[str, str]) -> list[tuple[oci.Descriptor, list[str]]]:
        layout.read_layout(scratch, self.content)  # every blob verified on its way in
        with open(files[archive.INDEX], "rb") as file:
            index = oci.parse_index(file.read())
        prepared = []
        for entry in index.manifests:
            if entry.media_type not in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
                continue
            descriptor = oci.Descriptor(entry.media_type, entry.digest, entry.size, platform=entry.platform)
            self._check_diff_ids(self.store.load(descriptor))
            name = entry.annotations.get(layout.IMAGE_NAME) or ""
            ref_name = entry.annotations.get(layout.REF_NAME) or ""
            if not name and ("/" in ref_name or ":" in ref_name):
                name = ref_name  # a whole reference, not just a tag (skopeo writes just the tag)
            if name:
                reference.parse(name)
            prepared.append((descriptor, [name] if name else []))
        return prepared

    def _check_diff_ids(self, image: Image) -> None:
        for number, (layer, expected) in enumerate(zip(image.manifest.layers, image.config.diff_ids)):
            if oci.LAYER_COMPRESSION.get(layer.media_type) == "":
                actual = layer.digest  # a plain tar is its own diff_id, and the store checked its digest
            else:
                with self.content.open(layer.digest) as blob:
                    actual = oci.diff_id(layer.media_type, blob)
            if actual != expected:
                # [IMG-ENG-001] a layer that is not the one its config names
                raise InvalidArgument(f"invalid archive: layer {number} ({layer.digest}) has the diff_id "
                                      f"{actual}, but the config says {expected}")

    def _store_image(self, config: bytes | dict, layer_descriptors: list[oci.Descriptor]) -> oci.Descriptor:
        """Store a config and a manifest for layers already in the store; return the manifest's descriptor."""
        config_bytes = config if isinstance(config, bytes) else oci.canonical_json(config)
        self.content.write_bytes(config_bytes)
        config_descriptor = oci.descriptor_of(config_bytes, oci.OCI_CONFIG)
        manifest = oci.manifest_bytes(config_descriptor, layer_descriptors)
        self.content.write_bytes(manifest)
        return oci.descriptor_of(manifest, oci.OCI_MANIFEST)

    def save_archive(self, names: list[str], out: BinaryIO) -> None:
        """`docker save`: the images ``names`` mean, with their tags, as one archive.

        A repository without a tag saves every tag of it; an ID saves the image, unnamed.
        """
        chosen: dict[str, tuple[oci.Descriptor, list[str]]] = {}
        for name in names:
            tags: list[str] = []
            try:
                parsed = reference.parse(name, default_tag=False)
            except InvalidArgument:
                parsed = None
            if parsed is not None and parsed.tag is None and parsed.digest is None:
                tags = [other for other in self.store.references()
                        if reference.parse(other).name == parsed.name and "@" not in other]
            if tags:
                records = [self.lookup(tag) for tag in tags]
            else:
                records = [self.lookup(name)]
                if parsed is not None and str(reference.parse(name)) in records[0].names:
                    tags = [str(reference.parse(name))]
            for record in records:
                descriptor = record.image.descriptor
                entry = chosen.setdefault(record.id, (descriptor, []))
                entry[1].extend(tag for tag in tags if tag in record.names and tag not in entry[1])
        archive.write(self.content, chosen.values(), out)

    # -- docker import / commit -----------------------------------------------------------

    def import_image(self, stream: BinaryIO, names: Iterable[str] = (), changes: Iterable[str] = (),
                     message: str = "") -> str:
        """`docker import`: a flat root filesystem tar (plain, gzip, bzip2 or xz) as a one-layer image."""
        names = [str(reference.parse(name)) for name in names]
        runtime = commits.apply_changes({}, list(changes))
        stream = _decompressed(stream)
        scratch_key = f"extract/{secrets.token_hex(8)}"
        with self._all_or_nothing():
            mounts = self.snapshotter.prepare(scratch_key, None)
            try:
                with self._mounted(mounts) as target:
                    layers.apply(stream, target)  # [IMG-ENG-014] unsafe entries refused here
                layer, diff_id = commits.write_layer(
                    self.content, lambda out: self.snapshotter.diff(scratch_key, out), self.root)
                created = commits.now()
                config = commits.child_config(None, runtime, diff_id, created=created,
                                              comment=message or "Imported from -",
                                              architecture=platforms.host().architecture)
                manifest = self._store_image(config, [layer])
                with contextlib.suppress(Conflict):  # the same tree imported before: keep that one
                    self.snapshotter.commit(layer_key(diff_id), scratch_key)
                image_id = self.add(manifest, names)
                self.publish("import", image_id, {"name": reference.familiar(names[0]) if names else image_id})
                return image_id
            finally:
                with contextlib.suppress(NotFound):
                    self.snapshotter.remove(scratch_key)

    def commit(self, container_id: str, parent: Record, changes: dict) -> str:
        """`docker commit`: the container's changes as a new layer on ``parent``; return the new ID.

        ``changes``: "config" (the new runtime config: Cmd, Env, ...), "comment",
        "author", "repo_tag" (a name for it), "created_by" (for its history).
        """
        names = [str(reference.parse(changes["repo_tag"]))] if changes.get("repo_tag") else []
        with self._all_or_nothing():
            layer, diff_id = commits.write_layer(
                self.content, lambda out: self.diff_container(container_id, out), self.root)
            config = commits.child_config(
                parent.config, changes.get("config") or parent.image.config.config, diff_id,
                created=commits.now(), created_by=changes.get("created_by", ""),
                comment=changes.get("comment", ""), author=changes.get("author", ""))
            config["container"] = container_id
            manifest = self._store_image(config, [*parent.image.manifest.layers, layer])
            image_id = self.add(manifest, names)
            self._set_parent(image_id, parent)
            return image_id

    def build_child(self, parent: Record | None, runtime: dict, created_by: str,
                    produce: Callable[[BinaryIO], None] | None = None, author: str = "") -> str:
        """A build step's image: ``parent`` (None: scratch) with a new config, and the
        layer tar ``produce(out)`` writes on top when the step has one (COPY, ADD, WORKDIR)."""
        with self._all_or_nothing():
            layers_below = list(parent.image.manifest.layers) if parent else []
            diff_id = None
            if produce is not None:
                layer, diff_id = commits.write_layer(self.content, produce, self.root)
                layers_below.append(layer)
            config = commits.child_config(
                parent.config if parent else None, runtime, diff_id, created=commits.now(),
                created_by=created_by, author=author, architecture=platforms.host().architecture)
            manifest = self._store_image(config, layers_below)
            image_id = self.add(manifest)
            self._set_parent(image_id, parent)
            return image_id

    @contextlib.contextmanager
    def _mounted(self, mounts: list[Mount]) -> Iterator[str]:
        target = tempfile.mkdtemp(dir=self.root, prefix=".mnt-")
        try:
            mounting.mount_all(mounts, target)
            try:
                yield target
            finally:
                mounting.unmount(target)
        finally:
            os.rmdir(target)

    # -- snapshots ------------------------------------------------------------------------

    def unpack(self, record: Record) -> str | None:
        """Apply every layer not yet unpacked; return the key of the top layer (None: no layers)."""
        with self._lock:  # a garbage collection must not take a layer from under us
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
        try:
            with self._mounted(mounts) as target, self.content.open(layer.digest) as blob:
                layers.apply(blob, target)
            self.snapshotter.commit(key, scratch_key)
        except Conflict:
            self.snapshotter.remove(scratch_key)  # another daemon's request unpacked it first
        except BaseException:
            with contextlib.suppress(NotFound):
                self.snapshotter.remove(scratch_key)
            raise

    def prepare_container(self, container_id: str, record: Record) -> list[Mount]:
        """A writable snapshot on top of the image's layers, for one container."""
        with self._lock:
            return self.snapshotter.prepare(container_key(container_id), self.unpack(record))

    def container_mounts(self, container_id: str) -> list[Mount]:
        return self.snapshotter.mounts(container_key(container_id))

    def remove_container(self, container_id: str) -> None:
        """Remove the container's snapshot, and the layers of a deleted image it kept alive."""
        with self._lock:
            with contextlib.suppress(NotFound):
                self.snapshotter.remove(container_key(container_id))
            self._collect_snapshots()

    def diff_container(self, container_id: str, out: BinaryIO) -> None:
        """The container's changes as a layer tar (`commit`, `diff`)."""
        self.snapshotter.diff(container_key(container_id), out)

    # -- registries (chapter 09): minidock/engine/registry_client.py does the work -------------

    def pull(self, name: str, credentials: dict, emit: Callable[[dict], None],
             platform: str | None = None) -> str:
        """`docker pull`: fetch ``name`` from its registry, emitting Docker's progress; return its ID."""
        from minidock.engine import registry_client

        want = platforms.parse(platform) if platform else None
        return registry_client.pull(self, name, credentials, emit, want)

    def push(self, name: str, credentials: dict, emit: Callable[[dict], None]) -> dict:
        """`docker push`: send ``name`` to its registry; return {"Tag", "Digest", "Size"}."""
        from minidock.engine import registry_client

        return registry_client.push(self, name, credentials, emit)

    def login(self, credentials: dict) -> dict:
        """`POST /auth`: check credentials against their registry."""
        from minidock.engine import registry_client

        return registry_client.login(credentials, self.insecure_registries)


def matches_labels(record: Record, labels: Iterable[str]) -> bool:
    """Docker's label filter: every `key` present, every `key=value` equal."""
    own = (record.config.get("config") or {}).get("Labels") or {}
    for label in labels:
        key, equals, value = label.partition("=")
        if key not in own or (equals and own[key] != value):
            return False
    return True


def _single_repository(names: tuple[str, ...]) -> bool:
    """dockerd's isSingleReference: one tag at most, and any digest names in its repository."""
    tags = [name for name in names if "@" not in name]
    if len(tags) > 1 or not names:
        return False
    repositories = {reference.parse(name).name for name in names}
    return len(repositories) == 1


def _digest_of(file: BinaryIO) -> str:
    digester = digests.Digester()
    while chunk := file.read(1 << 20):
        digester.update(chunk)
    return digester.digest()


def _decompressed(stream: BinaryIO) -> BinaryIO:
    """bzip2 and xz by their magic bytes (gzip and plain tars layers.apply reads itself)."""
    head = stream.read(6)
    opener = bz2.BZ2File if head.startswith(b"BZh") else \
        lzma.LZMAFile if head.startswith(b"\xfd7zXZ\x00") else None
    if opener is None and getattr(stream, "seekable", lambda: False)():
        stream.seek(-len(head), io.SEEK_CUR)  # a file already (a build's spooled context): no copy
        return stream
    spooled = tempfile.TemporaryFile()
    spooled.write(head)
    while chunk := stream.read(1 << 20):
        spooled.write(chunk)
    spooled.seek(0)
    if opener is None:
        return spooled
    try:
        plain = tempfile.TemporaryFile()
        with opener(spooled) as unzipped:
            while chunk := unzipped.read(1 << 20):
                plain.write(chunk)
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise InvalidArgument(f"invalid archive: {error}") from None
    finally:
        spooled.close()
    plain.seek(0)
    return plain
