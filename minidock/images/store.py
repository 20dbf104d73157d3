"""The image store: names (references) pointing at manifests in the content store.

Implements: spec/images.md IMG-STORE-007
Explained:  chapters/04-images.md#the-image-store
Modelled on: containerd's image store (name -> target descriptor) over its content store

    <root>/repositories.json     {"docker.io/library/busybox:latest": <descriptor>, ...}

    add_image(content, config, layers) -> Descriptor   store blobs and a manifest for them
    ImageStore.tag(reference, descriptor)              name a complete image
    ImageStore.image(reference, want) -> Image         resolve: index -> platform -> manifest -> config
    ImageStore.untag(reference), references(), gc()

Rules: a name only ever points at a complete image: the manifest, its config
and every layer are in the content store with the sizes their descriptors
say. The names are the roots of garbage collection.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Iterable

from minidock.errors import NotFound
from minidock.images import oci, platforms, reference
from minidock.images.content import ContentStore
from minidock.images.platforms import Platform


@dataclass(frozen=True)
class Image:
    """An image resolved for one platform: its manifest and its config."""

    descriptor: oci.Descriptor
    manifest: oci.Manifest
    config: oci.ImageConfig


def add_image(content: ContentStore, config: dict[str, Any] | bytes, layers: Iterable[bytes],
              layer_type: str = oci.OCI_LAYER) -> oci.Descriptor:
    """Store ``layers``, ``config`` and a manifest naming them; return the manifest's descriptor."""
    layer_descriptors = []
    for data in layers:
        content.write_bytes(data)
        layer_descriptors.append(oci.descriptor_of(data, layer_type))
    config_bytes = config if isinstance(config, bytes) else oci.canonical_json(config)
    oci.check_image(oci.Manifest(oci.OCI_MANIFEST, oci.descriptor_of(config_bytes, oci.OCI_CONFIG),
                                 tuple(layer_descriptors)), oci.parse_config(config_bytes))
    content.write_bytes(config_bytes)
    manifest = oci.manifest_bytes(oci.descriptor_of(config_bytes, oci.OCI_CONFIG), layer_descriptors)
    content.write_bytes(manifest)
    return oci.descriptor_of(manifest, oci.OCI_MANIFEST)


class ImageStore:
    """Names for images whose blobs are in ``content``, kept in ``<root>/repositories.json``."""

    def __init__(self, content: ContentStore, root: str) -> None:
        self.content = content
        self.root = root
        self.file = os.path.join(root, "repositories.json")
        os.makedirs(root, exist_ok=True)

    def references(self) -> dict[str, oci.Descriptor]:
        """Return every name and the descriptor it points at."""
        try:
            with open(self.file, "rb") as file:
                stored = json.load(file)
        except FileNotFoundError:
            return {}
        return {name: oci.parse_descriptor(value, name) for name, value in stored.items()}

    def _save(self, names: dict[str, oci.Descriptor]) -> None:
        # written whole to a temporary file and renamed: a crash leaves the old names
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".repositories-")
        with os.fdopen(fd, "w") as file:
            json.dump({name: d.to_json() for name, d in sorted(names.items())}, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, self.file)

    def resolve(self, name: str) -> oci.Descriptor:
        """Return the descriptor ``name`` points at; NotFound in Docker's words."""
        parsed = reference.parse(name)
        found = self.references().get(str(parsed))
        if found is None:
            raise NotFound(f"No such image: {parsed.familiar}")
        return found

    def _read(self, descriptor: oci.Descriptor, owner: str, field: str) -> bytes:
        try:
            return self.content.read_descriptor(descriptor)
        except NotFound:
            # [IMG-STORE-007] a manifest whose blobs are not all here is not an image
            raise NotFound(f"{owner} references a missing blob {descriptor.digest} ({field})") from None

    def load(self, descriptor: oci.Descriptor, want: Platform | None = None) -> Image:
        """Resolve ``descriptor`` (index or manifest) to the image for ``want``, checking every blob."""
        data = self._read(descriptor, "the image", "its manifest")
        document = oci.parse(data, descriptor.media_type)
        while isinstance(document, oci.Index):
            chosen = platforms.choose(((d, d.platform) for d in document.manifests
                                       if d.media_type in oci.MANIFEST_TYPES | oci.INDEX_TYPES), want)
            owner = f"index {descriptor.digest}"
            descriptor = chosen
            document = oci.parse(self._read(chosen, owner, f"manifest for {chosen.platform}"),
                                 chosen.media_type)
        owner = f"manifest {descriptor.digest}"
        config = oci.parse_config(self._read(document.config, owner, "config"))
        oci.check_image(document, config)
        for number, layer in enumerate(document.layers):
            if layer.media_type in oci.FOREIGN_LAYER_TYPES:
                continue  # foreign layers are fetched from their urls, never stored
            info = self.content.info(layer.digest) if self.content.exists(layer.digest) else None
            if info is None:
                raise NotFound(f"{owner} references a missing blob {layer.digest} (layers[{number}])")
            if info.size != layer.size:
                raise NotFound(f"{owner}: layers[{number}] {layer.digest} is {info.size} bytes, "
                               f"its descriptor says {layer.size}")
        return Image(descriptor, document, config)

    def image(self, name: str, want: Platform | None = None) -> Image:
        """Return the image ``name`` points at, for ``want`` (the host by default)."""
        return self.load(self.resolve(name), want)

    def tag(self, name: str, descriptor: oci.Descriptor) -> reference.Reference:
        """Point ``name`` at ``descriptor``, once the image it names is complete."""
        parsed = reference.parse(name)
        self.load(descriptor)
        names = self.references()
        names[str(parsed)] = descriptor
        self._save(names)
        return parsed

    def untag(self, name: str) -> oci.Descriptor:
        """Remove ``name``; return what it pointed at. The blobs stay until gc()."""
        parsed = reference.parse(name)
        names = self.references()
        if str(parsed) not in names:
            raise NotFound(f"No such image: {parsed.familiar}")
        removed = names.pop(str(parsed))
        self._save(names)
        return removed

    def gc(self) -> list[str]:
        """Delete every blob no name reaches; return their digests."""
        return self.content.gc(self.references().values())
