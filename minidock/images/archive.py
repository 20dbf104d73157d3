"""Image archives: what `docker save` writes and `docker load` reads.

Implements: spec/images.md IMG-ENG-001, IMG-ENG-011 .. IMG-ENG-012
Explained:  chapters/04-images.md#save-and-load
Modelled on: moby's image/tarexport (load.go, save.go) and the archive Docker 25 writes,
             which is an OCI image layout with Docker's manifest.json beside it

    archive.tar
      manifest.json       [{"Config": "blobs/sha256/<c>", "RepoTags": ["busybox:latest"],
                            "Layers": ["blobs/sha256/<l1>", ...]}]     what `docker load` reads
      repositories        {"busybox": {"latest": "<l-top hex>"}}      for the oldest readers
      oci-layout          {"imageLayoutVersion": "1.0.0"}               what skopeo and
      index.json          an index of the images' manifests             `docker load` >= 25 read
      blobs/sha256/<hex>  configs, layers, manifests

    extract(stream, dest) -> {name: path}     regular files only; names that leave refused
    read_entries(files) -> [Entry]            manifest.json, checked
    write(content, images, out)               [(manifest descriptor, tags)] -> archive.tar

Rules: an archive is untrusted input. It is extracted into a scratch directory
first, every name checked before anything is stored; a link inside it is only
an alias for another file of the archive (older `docker save` links shared
layers as `../<id>/layer.tar`); nothing it holds is read from outside.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Iterable

from minidock.errors import InvalidArgument
from minidock.images import oci, reference
from minidock.images.content import ContentStore
from minidock.images.layout import IMAGE_NAME, LAYOUT_VERSION, REF_NAME

MANIFEST = "manifest.json"
INDEX = "index.json"


@dataclass(frozen=True)
class Entry:
    """One image of a manifest.json: its config and layers (archive paths) and its names."""

    config: str
    layers: tuple[str, ...]
    repo_tags: tuple[str, ...]


def _safe_name(name: str) -> str:
    """The archive member's path, normalised; refuse one that leaves the archive."""
    normal = posixpath.normpath(name)
    if name.startswith("/") or normal == ".." or normal.startswith("../"):
        # [IMG-ENG-001] an archive entry never writes outside the scratch directory
        raise InvalidArgument(f"invalid archive: the entry {name!r} leaves the archive")
    return normal


def extract(stream: BinaryIO, dest: str) -> dict[str, str]:
    """Unpack the regular files of the tar ``stream`` under ``dest``; return name -> path.

    Symlinks and hard links between members become aliases (the same path); any
    other kind of member is skipped. A corrupt or truncated tar is refused.
    """
    files: dict[str, str] = {}
    links: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                name = _safe_name(member.name)
                if member.issym():
                    links[name] = _safe_name(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.islnk():
                    links[name] = _safe_name(member.linkname)
                elif member.isfile():
                    path = os.path.join(dest, name)
                    if os.path.isdir(path) or name == ".":
                        raise InvalidArgument(f"invalid archive: {name!r} is both a file and a directory")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as out:
                        shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
                    files[name] = path
    except tarfile.TarError as error:
        # [IMG-ENG-001] a truncated or corrupt archive is refused before anything is stored
        raise InvalidArgument(f"invalid archive: {error}") from None
    except (EOFError, OSError) as error:  # a gzip stream cut short, bad compressed data
        raise InvalidArgument(f"invalid archive: {error}") from None
    for name, target in links.items():
        for _ in range(8):  # a link to a link, a few deep at most
            target = links.get(target, target)
        if target in files:
            files[name] = files[target]
    return files


def member(files: dict[str, str], name: object, where: str) -> str:
    """The path of the archive member ``name``; refuse one the archive does not hold."""
    if not isinstance(name, str) or posixpath.normpath(name) not in files:
        # [IMG-ENG-001] a manifest.json naming a missing file
        raise InvalidArgument(f"invalid archive: {where} names {name!r}, which the archive does not hold")
    return files[posixpath.normpath(name)]


def read_entries(files: dict[str, str]) -> list[Entry]:
    """The images manifest.json lists, every field checked and every tag parsed."""
    try:
        with open(files[MANIFEST], "rb") as file:
            document = json.load(file)
    except ValueError as error:
        raise InvalidArgument(f"invalid archive: {MANIFEST}: {error}") from None
    if not isinstance(document, list):
        raise InvalidArgument(f"invalid archive: {MANIFEST} is not a list")
    entries = []
    for number, value in enumerate(document):
        where = f"{MANIFEST}[{number}]"
        if not isinstance(value, dict) or not isinstance(value.get("Config"), str) \
                or not isinstance(value.get("Layers"), list):
            raise InvalidArgument(f"invalid archive: {where} needs Config and Layers")
        tags = value.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise InvalidArgument(f"invalid archive: {where}.RepoTags is not a list of names")
        for tag in tags:
            reference.parse(tag)  # a bad name is refused before anything is named
        member(files, value["Config"], f"{where}.Config")
        for index, layer in enumerate(value["Layers"]):
            member(files, layer, f"{where}.Layers[{index}]")
        entries.append(Entry(value["Config"], tuple(value["Layers"]), tuple(tags)))
    return entries


# -- writing ---------------------------------------------------------------------------------

def _blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def write(content: ContentStore, images: Iterable[tuple[oci.Descriptor, list[str]]], out: BinaryIO) -> None:
    """Write ``images`` (manifest descriptor, normalised tags) as one archive to ``out``.

    Streamed (tar mode "w|"): a large image is never held in memory. The same
    images always give the same bytes (mtime 0, blobs in digest order).
    """
    entries, index, repositories, blobs = [], [], {}, {}
    for descriptor, tags in images:
        manifest = oci.parse_manifest(content.read_descriptor(descriptor), descriptor.media_type)
        for blob in (descriptor, manifest.config, *manifest.layers):
            blobs[blob.digest] = blob
        familiar = [reference.parse(tag) for tag in tags]
        entries.append({"Config": _blob_path(manifest.config.digest),
                        "RepoTags": [tag.familiar for tag in familiar] or None,
                        "Layers": [_blob_path(layer.digest) for layer in manifest.layers]})
        for tag in familiar:
            if manifest.layers:
                top = manifest.layers[-1].digest.split(":", 1)[1]
                repositories.setdefault(tag.familiar_name, {})[tag.tag] = top
            index.append(oci.Descriptor(descriptor.media_type, descriptor.digest, descriptor.size,
                                        annotations={IMAGE_NAME: str(tag), REF_NAME: tag.tag or ""}))
        if not familiar:
            index.append(descriptor)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for digest in sorted(blobs):
            info = tarfile.TarInfo(_blob_path(digest))
            info.size, info.mode, info.mtime = content.info(digest).size, 0o444, 0
            with content.open(digest) as blob:
                tar.addfile(info, blob)
        _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        _add_bytes(tar, INDEX, oci.index_bytes(index))
        _add_bytes(tar, MANIFEST, json.dumps(entries).encode())
        _add_bytes(tar, "repositories", json.dumps(repositories).encode())
