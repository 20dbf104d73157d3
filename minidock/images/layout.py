"""OCI image layouts: a directory of blobs and an index.json, readable by skopeo and umoci.

Implements: spec/images.md IMG-STORE-008
Explained:  chapters/04-images.md#oci-image-layout
Modelled on: the OCI image-spec's image-layout.md; containerd's OCI exporter

    DIR/oci-layout       {"imageLayoutVersion": "1.0.0"}
    DIR/index.json       an image index; each entry names an image by annotation
    DIR/blobs/sha256/    the blobs, as in the content store

    write_layout(content, images, dest)   copy what each image reaches, write index.json last
    read_layout(src, content) -> {name: descriptor}   import every blob, verified; the name is
                                          the full one, or the ref name (a tag) alone

Rules: `org.opencontainers.image.ref.name` holds the tag (what `skopeo
inspect oci:DIR:TAG` looks for), `io.containerd.image.name` the full name.
Blobs read from a layout are untrusted: each enters the content store only
through write(), so its digest and size are checked.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Mapping

from minidock.errors import InvalidArgument, NotFound
from minidock.images import oci, reference
from minidock.images.content import ContentStore

LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"


def write_layout(content: ContentStore, images: Mapping[str, oci.Descriptor], dest: str) -> None:
    """Write ``images`` (name -> manifest or index descriptor) as an OCI layout in ``dest``."""
    blobs = os.path.join(dest, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    entries = []
    for name, descriptor in images.items():
        parsed = reference.parse(name)
        for digest in sorted(content.reachable([descriptor])):
            target = os.path.join(blobs, digest.split(":", 1)[1])
            if content.exists(digest) and not os.path.exists(target):
                shutil.copyfile(content.path(digest), target)
        annotations = {**descriptor.annotations, IMAGE_NAME: str(parsed)}
        if parsed.tag:
            annotations[REF_NAME] = parsed.tag
        entries.append(oci.Descriptor(descriptor.media_type, descriptor.digest, descriptor.size,
                                      descriptor.urls, annotations, descriptor.platform))
    with open(os.path.join(dest, "oci-layout"), "w") as file:
        json.dump({"imageLayoutVersion": LAYOUT_VERSION}, file)
    # index.json last: a layout is readable only once every blob it names is there
    with open(os.path.join(dest, "index.json"), "wb") as file:
        file.write(oci.index_bytes(entries))


def read_layout(src: str, content: ContentStore) -> dict[str, oci.Descriptor]:
    """Import every blob ``src``'s index reaches into ``content``; return name -> descriptor."""
    try:
        with open(os.path.join(src, "oci-layout")) as file:
            version = json.load(file).get("imageLayoutVersion")
        with open(os.path.join(src, "index.json"), "rb") as file:
            index = oci.parse_index(file.read())
    except FileNotFoundError as error:
        raise InvalidArgument(f"{src} is not an OCI image layout: {error.filename} is missing") from None
    if version != LAYOUT_VERSION:
        raise InvalidArgument(f"{src}: unsupported imageLayoutVersion {version!r}")
    found: dict[str, oci.Descriptor] = {}
    pending = list(index.manifests)
    while pending:
        descriptor = pending.pop()
        if content.exists(descriptor.digest):
            data = content.read_descriptor(descriptor)
        else:
            path = os.path.join(src, "blobs", "sha256", descriptor.digest.split(":", 1)[-1])
            if descriptor.media_type in oci.FOREIGN_LAYER_TYPES and not os.path.exists(path):
                continue
            try:
                with open(path, "rb") as blob:
                    content.write_descriptor(descriptor, blob)  # checks digest and size
            except FileNotFoundError:
                raise NotFound(f"{src}: blob {descriptor.digest} is missing") from None
            data = content.read(descriptor.digest) \
                if descriptor.media_type in oci.MANIFEST_TYPES | oci.INDEX_TYPES else b""
        pending.extend(oci.children(descriptor, data) if data else [])
    for entry in index.manifests:
        # the full name if containerd's annotation has it, else the ref name (often a tag alone)
        name = entry.annotations.get(IMAGE_NAME) or entry.annotations.get(REF_NAME)
        if name:
            found[name] = oci.Descriptor(entry.media_type, entry.digest, entry.size,
                                         entry.urls, {}, entry.platform)
    return found
