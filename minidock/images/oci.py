"""The OCI image model: media types, descriptors, manifests, indexes, image configs.

Implements: spec/images.md IMG-OCI-001 .. IMG-OCI-002, IMG-OCI-005 .. IMG-OCI-006
Explained:  chapters/04-images.md#the-oci-image-model
Modelled on: the OCI image-spec (descriptor.md, manifest.md, image-index.md, config.md)
             and Docker's image manifest v2 schema 2, which it grew out of

    index ──manifests──▶ manifest ──config──▶ image config (rootfs.diff_ids)
                           │
                           └──layers──▶ layer blobs (tar, tar+gzip, tar+zstd)

    parse(data, media_type) -> Manifest | Index   validate a manifest or index document
    parse_config(data) -> ImageConfig             validate an image config
    children(descriptor, data) -> [Descriptor]    what a blob points at (for gc and copying)
    diff_id(media_type, stream), chain_id(diff_ids)   the identities of uncompressed layers

Rules: every blob is named by a descriptor (mediaType, digest, size), and
every field a reader relies on is checked, naming the field: a manifest an
image store keeps is one it can later unpack. Docker's v2 schema 2 manifest
and manifest list are the same shape under other media types, and accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterable

from minidock.errors import InvalidArgument, NotImplemented
from minidock.images import digest as digests
from minidock.images.platforms import Platform

# -- media types ---------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_FOREIGN_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_FOREIGN_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_FOREIGN_LAYER_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"  # what `docker save` holds
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# each layer media type and how its blob is compressed
LAYER_COMPRESSION = {
    OCI_LAYER: "", OCI_FOREIGN_LAYER: "", DOCKER_LAYER: "",
    OCI_LAYER_GZIP: "gzip", OCI_FOREIGN_LAYER_GZIP: "gzip",
    DOCKER_LAYER_GZIP: "gzip", DOCKER_FOREIGN_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd", OCI_FOREIGN_LAYER_ZSTD: "zstd",
}
FOREIGN_LAYER_TYPES = frozenset({OCI_FOREIGN_LAYER, OCI_FOREIGN_LAYER_GZIP,
                                 OCI_FOREIGN_LAYER_ZSTD, DOCKER_FOREIGN_LAYER_GZIP})


# -- records -------------------------------------------------------------------

@dataclass(frozen=True)
class Descriptor:
    """What names a blob: its media type, digest and size (descriptor.md)."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    platform: Platform | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the descriptor as the OCI JSON object (empty optional fields left out)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one image for one platform, a config and its layers in order."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Index:
    """An image index (Docker: manifest list): one manifest per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config (config.md) minidock reads; ``raw`` keeps the rest."""

    architecture: str
    os: str
    diff_ids: tuple[str, ...]
    variant: str = ""
    config: dict[str, Any] = field(default_factory=dict, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)

    @property
    def platform(self) -> Platform:
        """The platform this image runs on."""
        return Platform(os=self.os, architecture=self.architecture, variant=self.variant)


# -- parsing -------------------------------------------------------------------

def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        # [IMG-OCI-002] corrupt JSON is refused, with where it broke
        raise InvalidArgument(f"invalid {what}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"invalid {what}: a JSON object is expected, not {type(document).__name__}")
    return document


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise InvalidArgument(f"invalid {where}: a map of strings to strings is expected")
    return dict(value)


def parse_descriptor(value: Any, where: str = "descriptor") -> Descriptor:
    """Validate one descriptor object; ``where`` names it in errors (``layers[2]``)."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {where}: a descriptor object is expected")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or "/" not in media_type:
        raise InvalidArgument(f"invalid {where}.mediaType: {media_type!r} is not a media type")
    digest = value.get("digest")
    try:
        digests.validate(digest)
    except InvalidArgument as error:
        # [IMG-OCI-002] the field is named, then go-digest's words
        raise InvalidArgument(f"invalid {where}.digest: {error.message}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidArgument(f"invalid {where}.size: {size!r} is not a size in bytes")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise InvalidArgument(f"invalid {where}.urls: a list of strings is expected")
    platform = value.get("platform")
    return Descriptor(media_type=media_type, digest=digest, size=size, urls=tuple(urls),
                      annotations=_string_map(value.get("annotations"), f"{where}.annotations"),
                      platform=None if platform is None
                      else Platform.from_json(platform, f"{where}.platform"))


def _document_type(document: dict[str, Any], declared: str | None, what: str) -> str:
    """Return the document's media type: its own field, the declared one, or a guess (OCI)."""
    if document.get("schemaVersion") != 2:
        # [IMG-OCI-002] schema 2 is the only one there is (schema 1 is gone from Docker)
        if document.get("schemaVersion") == 1:
            raise NotImplemented("image manifest schema 1 is deprecated and not supported: "
                                 "push the image again with a current docker or use an OCI manifest")
        raise InvalidArgument(f"invalid {what}.schemaVersion: {document.get('schemaVersion')!r}, "
                              "it must be 2")
    own = document.get("mediaType")
    if own is not None and not isinstance(own, str):
        raise InvalidArgument(f"invalid {what}.mediaType: {own!r} is not a media type")
    if own and declared and own != declared:
        # a document must be what its descriptor says, or a reader could be tricked
        raise InvalidArgument(f"invalid {what}.mediaType: {own!r}, but its descriptor says {declared!r}")
    media_type = own or declared
    if media_type is None:
        # OCI manifests and indexes may leave mediaType out; their fields tell them apart
        media_type = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    return media_type


def parse(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse and validate a manifest or an index; ``media_type`` is what its descriptor says."""
    if media_type in DOCKER_SCHEMA1:
        raise NotImplemented("image manifest schema 1 is deprecated and not supported")
    document = _load(data, "manifest")
    kind = _document_type(document, media_type, "manifest")
    if kind in MANIFEST_TYPES:
        return _manifest(document, kind)
    if kind in INDEX_TYPES:
        return _index(document, kind)
    # [IMG-OCI-002] a document type we do not know is refused by name
    raise InvalidArgument(f"invalid manifest.mediaType: unknown media type {kind!r}")


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest:
    """Parse an image manifest; an index here is an error."""
    result = parse(data, media_type)
    if not isinstance(result, Manifest):
        raise InvalidArgument(f"an image manifest is expected, not {result.media_type!r}")
    return result


def parse_index(data: bytes, media_type: str | None = None) -> Index:
    """Parse an image index or manifest list; a manifest here is an error."""
    result = parse(data, media_type)
    if not isinstance(result, Index):
        raise InvalidArgument(f"an image index is expected, not {result.media_type!r}")
    return result


def _manifest(document: dict[str, Any], media_type: str) -> Manifest:
    if "config" not in document:
        raise InvalidArgument("invalid manifest.config: missing (a manifest names its image config)")
    config = parse_descriptor(document["config"], "manifest.config")
    if config.media_type not in CONFIG_TYPES:
        # [IMG-OCI-002] this store keeps images, whose config it must read
        raise InvalidArgument(f"invalid manifest.config.mediaType: unknown media type "
                              f"{config.media_type!r} for an image config")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise InvalidArgument("invalid manifest.layers: a list of descriptors is expected")
    parsed = []
    for number, value in enumerate(layers):
        layer = parse_descriptor(value, f"manifest.layers[{number}]")
        if layer.media_type not in LAYER_COMPRESSION:
            # [IMG-OCI-002] a layer we could not unpack is refused before it is stored
            raise InvalidArgument(f"invalid manifest.layers[{number}].mediaType: unknown "
                                  f"layer media type {layer.media_type!r}")
        parsed.append(layer)
    return Manifest(media_type=media_type, config=config, layers=tuple(parsed),
                    annotations=_string_map(document.get("annotations"), "manifest.annotations"))


def _index(document: dict[str, Any], media_type: str) -> Index:
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise InvalidArgument("invalid index.manifests: a list of descriptors is expected")
    # entries of unknown media types are kept (image-index.md: ignore, don't fail);
    # choosing a platform only ever picks manifests and indexes
    return Index(media_type=media_type,
                 manifests=tuple(parse_descriptor(value, f"index.manifests[{number}]")
                                 for number, value in enumerate(manifests)),
                 annotations=_string_map(document.get("annotations"), "index.annotations"))


def parse_config(data: bytes) -> ImageConfig:
    """Parse and validate an image config (config.md): os, architecture, rootfs.diff_ids."""
    document = _load(data, "image config")
    for name in ("architecture", "os"):
        if not isinstance(document.get(name), str) or not document[name]:
            raise InvalidArgument(f"invalid config.{name}: missing or not a string")
    rootfs = document.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidArgument("invalid config.rootfs.type: it must be \"layers\"")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        raise InvalidArgument("invalid config.rootfs.diff_ids: a list of digests is expected")
    for number, value in enumerate(diff_ids):
        try:
            digests.validate(value)
        except InvalidArgument as error:
            raise InvalidArgument(f"invalid config.rootfs.diff_ids[{number}]: {error.message}") from None
    run = document.get("config") or {}
    if not isinstance(run, dict):
        raise InvalidArgument("invalid config.config: an object is expected")
    variant = document.get("variant") or ""
    return ImageConfig(architecture=document["architecture"], os=document["os"],
                       diff_ids=tuple(diff_ids), variant=variant if isinstance(variant, str) else "",
                       config=run, raw=document)


def check_image(manifest: Manifest, config: ImageConfig) -> None:
    """Check that a manifest and its config agree: one diff_id per layer."""
    if len(manifest.layers) != len(config.diff_ids):
        # [IMG-OCI-002] otherwise the layers could not be named after unpacking
        raise InvalidArgument(f"invalid config.rootfs.diff_ids: {len(config.diff_ids)} diff_ids "
                              f"for {len(manifest.layers)} layers in the manifest")


def children(descriptor: Descriptor, data: bytes) -> list[Descriptor]:
    """Return the descriptors a manifest or index blob points at; other blobs point at none.

    Lenient on purpose: garbage collection and copying walk whatever is stored,
    including manifests of media types minidock would not run (attestations).
    """
    if descriptor.media_type not in MANIFEST_TYPES | INDEX_TYPES:
        return []
    document = _load(data, "manifest")
    found: list[Any] = []
    if descriptor.media_type in INDEX_TYPES:
        found = document.get("manifests") or []
    else:
        found = [document["config"]] if "config" in document else []
        found += document.get("layers") or []
    return [parse_descriptor(value, "child") for value in found]


# -- building --------------------------------------------------------------------

def canonical_json(document: Any) -> bytes:
    """Return ``document`` as compact JSON with sorted keys: the same bytes every time."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def descriptor_of(data: bytes, media_type: str, **extra: Any) -> Descriptor:
    """Return the descriptor naming ``data``."""
    return Descriptor(media_type=media_type, digest=digests.of_bytes(data), size=len(data), **extra)


def manifest_bytes(config: Descriptor, layers: Iterable[Descriptor],
                   media_type: str = OCI_MANIFEST) -> bytes:
    """Return an image manifest document for ``config`` and ``layers``."""
    return canonical_json({"schemaVersion": 2, "mediaType": media_type,
                           "config": config.to_json(), "layers": [d.to_json() for d in layers]})


def index_bytes(manifests: Iterable[Descriptor], media_type: str = OCI_INDEX) -> bytes:
    """Return an image index document listing ``manifests``."""
    return canonical_json({"schemaVersion": 2, "mediaType": media_type,
                           "manifests": [d.to_json() for d in manifests]})


# -- layer identities ------------------------------------------------------------

def uncompressed(media_type: str, stream: BinaryIO) -> BinaryIO:
    """Return a reader of the layer tar inside ``stream``, decompressed as ``media_type`` says."""
    if media_type not in LAYER_COMPRESSION:
        raise InvalidArgument(f"unknown layer media type {media_type!r}")
    compression = LAYER_COMPRESSION[media_type]
    if compression == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        try:
            import zstandard  # optional: not in Debian's python3 by default
        except ImportError:
            raise NotImplemented(f"{media_type}: zstd layers need the 'zstandard' Python "
                                 "package, which is not installed") from None
        return zstandard.ZstdDecompressor().stream_reader(stream)
    return stream


def diff_id(media_type: str, stream: BinaryIO) -> str:
    """Return the layer's diff_id: the digest of its uncompressed tar (config.md)."""
    hasher = hashlib.sha256()
    reader = uncompressed(media_type, stream)
    try:
        while chunk := reader.read(1 << 20):
            hasher.update(chunk)
    except (OSError, EOFError) as error:
        # [IMG-OCI-005] corrupt or truncated compressed data is an error, not a short layer
        raise InvalidArgument(f"layer of type {media_type!r} is corrupt: {error}") from None
    return f"sha256:{hasher.hexdigest()}"


def chain_id(diff_ids: Iterable[str]) -> str:
    """Return the chain_id of a stack of layers, bottom first (config.md "Layer ChainID").

        ChainID(L0)           = DiffID(L0)
        ChainID(L0|...|Ln)    = Digest(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))

    It names a whole stack: the same layer on a different base gets another chain_id.
    """
    # [IMG-OCI-006] the spec's recursive definition, written as a loop
    chain = None
    for layer in diff_ids:
        digests.validate(layer)
        chain = layer if chain is None else digests.of_bytes(f"{chain} {layer}".encode())
    if chain is None:
        raise InvalidArgument("a chain_id needs at least one diff_id")
    return chain


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """Return the chain_id of every prefix of the stack: one per layer, as snapshots are named."""
    out: list[str] = []
    for layer in diff_ids:
        out.append(chain_id([out[-1], layer]) if out else chain_id([layer]))
    return out
