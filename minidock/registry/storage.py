"""The registry's storage: blobs by digest, and per repository the links that name them.

Implements: spec/registry.md REG-004, REG-005, REG-011, REG-016
Explained:  chapters/09-registry.md#storage
Modelled on: distribution's storage driver layout (registry/storage/paths.go), over
             minidock's own content store (minidock/images/content.py)

    <root>/blobs/sha256/<hex>                         every blob, once (images.content.ContentStore)
    <root>/uploads/<uuid>/data, .../repository        an upload in progress
    <root>/repositories/<name>/_layers/<hex>          "this repository has that blob"
    <root>/repositories/<name>/_manifests/revisions/<hex>   a manifest of it; holds its media type
    <root>/repositories/<name>/_manifests/tags/<tag>  the digest the tag points at

    Storage(root)
      .start_upload(name) -> Upload       .upload(name, uuid) -> Upload   (resumes after a restart)
      .append(upload, chunks)             .commit(upload, digest) -> size  (verified, then renamed)
      .link_blob / .has_blob / .unlink_blob / .mount(name, digest, source)
      .put_manifest(name, data, media_type, tag) / .manifest(name, reference) / .delete_manifest
      .tags(name), .repositories(), .referrers(name, digest)

Rules: a blob enters blobs/ only whole and verified (rename(2) of a finished upload);
a link or tag file is written to a temporary name and renamed, so a reader never sees
half of one. A repository sees only the blobs it links: a digest other repositories
hold is reached through a mount, never by guessing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from minidock.images import digest as digests
from minidock.images.content import ContentStore
from minidock.registry.errors import RegistryError

# the spec's <name> and <reference> grammars ("Pulling manifests")
NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_UUID = re.compile(r"[a-f0-9]{32}")
SYNC_BYTES = 32 << 20  # an upload is flushed to the disk every this many bytes
# at most this many bytes per writev(2): a push of 200 MB written in calls of 1 MiB cost the
# writer thread 0.8-1.3 s of system time on the CI machine (ext4, Linux 6.18), in calls of
# 32 or 64 KiB about 0.5 s less, in 5 interleaved rounds twice over (chapter 09)
WRITE_BYTES = 64 << 10


def check_name(name: str) -> str:
    """Refuse a repository name the spec's grammar refuses (``..``, upper case, ``//``)."""
    if len(name) > 255 or not NAME.fullmatch(name):
        # [REG-011] a name that is not a repository name never becomes a directory
        raise RegistryError("NAME_INVALID", f"invalid repository name: {name!r}")
    return name


def check_digest(digest: str) -> str:
    """Return the hex of a sha256 digest, or DIGEST_INVALID."""
    if not digests.is_valid(digest):
        raise RegistryError("DIGEST_INVALID", f"invalid digest: {digest!r} (sha256:<64 hex>)")
    return digest[7:]


@dataclass
class Upload:
    """An upload in progress: where its bytes go, how many there are, their hash so far."""

    uuid: str
    name: str
    path: str
    size: int = 0
    hasher: "hashlib._Hash | None" = field(default_factory=hashlib.sha256)
    synced: int = 0  # how many of its bytes are on the disk already (fdatasync)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _groups(chunks: list[bytes], limit: int) -> Iterator[list[memoryview]]:
    """``chunks`` regrouped in order into lists of at most ``limit`` bytes (a larger chunk cut)."""
    group: list[memoryview] = []
    size = 0
    for chunk in chunks:
        view = memoryview(chunk)
        for start in range(0, len(view), limit):
            piece = view[start:start + limit]
            if group and size + len(piece) > limit:
                yield group
                group, size = [], 0
            group.append(piece)
            size += len(piece)
    if group:
        yield group


def _write_all(fd: int, pieces: list[memoryview]) -> None:
    """One writev(2) of ``pieces``; the rest written if it comes back short (a signal, a nearly full disk)."""
    written, total = os.writev(fd, pieces), sum(len(piece) for piece in pieces)
    if written < total:
        rest = memoryview(b"".join(pieces))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]


def _write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.rename(temporary, path)  # a reader sees the old file or the new one, never half


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


class Storage:
    """Blobs, manifests, tags and uploads of one registry under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.content = ContentStore(root)
        self.uploads_dir = os.path.join(root, "uploads")
        self.repositories_dir = os.path.join(root, "repositories")
        os.makedirs(self.uploads_dir, exist_ok=True)
        os.makedirs(self.repositories_dir, exist_ok=True)
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def _repository(self, name: str) -> str:
        return os.path.join(self.repositories_dir, check_name(name))

    # -- uploads ----------------------------------------------------------------------

    def start_upload(self, name: str) -> Upload:
        """Open an upload session for repository ``name``."""
        uuid = secrets.token_hex(16)
        folder = os.path.join(self.uploads_dir, uuid)
        os.makedirs(folder)
        _write_atomically(os.path.join(folder, "repository"), check_name(name))
        open(os.path.join(folder, "data"), "wb").close()
        upload = Upload(uuid, name, os.path.join(folder, "data"))
        with self._lock:
            self._uploads[uuid] = upload
        return upload

    def upload(self, name: str, uuid: str) -> Upload:
        """The upload ``uuid`` of ``name``; one a restart forgot is found again on disk."""
        with self._lock:
            upload = self._uploads.get(uuid)
            if upload is None and _UUID.fullmatch(uuid):
                folder = os.path.join(self.uploads_dir, uuid)
                if _read(os.path.join(folder, "repository")) == name:
                    path = os.path.join(folder, "data")
                    # the hash state died with the process: commit() hashes the file again
                    upload = Upload(uuid, name, path, os.path.getsize(path), hasher=None)
                    self._uploads[uuid] = upload
        if upload is None or upload.name != name:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"blob upload unknown: {uuid}")
        return upload

    def append(self, upload: Upload, chunks: list[bytes], file: BinaryIO | None = None) -> None:
        """Add ``chunks`` at the end of the upload (the caller holds ``upload.lock``).

        ``file``: the upload's data file, opened unbuffered for appending by a caller that
        writes many batches (a request's body); else it is opened for this one.
        """
        if file is None:
            with open(upload.path, "ab", buffering=0) as opened:
                self.append(upload, chunks, opened)
            return
        fd, total = file.fileno(), sum(len(chunk) for chunk in chunks)
        try:
            for group in _groups(chunks, WRITE_BYTES):
                _write_all(fd, group)
        except OSError:
            os.ftruncate(fd, upload.size)  # all of the batch or none of it: size, hash and file agree
            raise
        if upload.hasher is not None:
            for chunk in chunks:
                upload.hasher.update(chunk)
        upload.size += total
        if upload.size - upload.synced >= SYNC_BYTES:
            # on the disk as it comes, on this thread, while the loop receives the next bytes:
            # commit()'s fsync then has only the tail to write, not the whole layer
            os.fdatasync(fd)
            upload.synced = upload.size

    def cancel(self, upload: Upload) -> None:
        """Forget an upload and its bytes."""
        with self._lock:
            self._uploads.pop(upload.uuid, None)
        folder = os.path.dirname(upload.path)
        for name in ("data", "repository"):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(folder)
        except OSError:
            pass

    def commit(self, upload: Upload, digest: str) -> int:
        """Check the upload against ``digest``, move it into blobs/, link it; return its size.

        A wrong digest cancels the upload: nothing of it is stored (DIGEST_INVALID).
        """
        check_digest(digest)
        hasher = upload.hasher
        if hasher is None:
            hasher = hashlib.sha256()
            with open(upload.path, "rb") as file:
                while chunk := file.read(1 << 20):
                    hasher.update(chunk)
        actual = f"sha256:{hasher.hexdigest()}"
        if actual != digest:
            self.cancel(upload)
            # [REG-004] the bytes are not what the digest names: refused, nothing kept
            raise RegistryError("DIGEST_INVALID", detail={"expected": digest, "actual": actual})
        with open(upload.path, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(upload.path, 0o444)
        # [REG-005] rename(2): the blob appears whole or not at all; two uploads of the
        # same blob at once rename the same bytes onto one name
        os.rename(upload.path, self.content.path(digest))
        self.cancel(upload)
        self.link_blob(upload.name, digest)
        return upload.size

    # -- blobs ------------------------------------------------------------------------

    def link_blob(self, name: str, digest: str) -> None:
        """Record that repository ``name`` holds blob ``digest``."""
        _write_atomically(os.path.join(self._repository(name), "_layers", check_digest(digest)), digest)

    def has_blob(self, name: str, digest: str) -> bool:
        """Does ``name`` hold ``digest`` (linked, and the blob still there)?"""
        link = os.path.join(self._repository(name), "_layers", check_digest(digest))
        return os.path.exists(link) and self.content.exists(digest)

    def blob_path(self, name: str, digest: str) -> str:
        """Where the blob's bytes are, or BLOB_UNKNOWN if ``name`` does not hold it."""
        if not self.has_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": digest})
        return self.content.path(digest)

    def unlink_blob(self, name: str, digest: str) -> None:
        """DELETE of a blob: the repository forgets it; gc takes the bytes if nobody needs them."""
        link = os.path.join(self._repository(name), "_layers", check_digest(digest))
        try:
            os.unlink(link)
        except FileNotFoundError:
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": digest}) from None

    def mount(self, name: str, digest: str, source: str) -> bool:
        """Cross-repository mount: link ``source``'s blob into ``name``, if ``source`` has it."""
        if not self.has_blob(source, digest):
            return False
        self.link_blob(name, digest)
        return True

    def write_blob(self, name: str, data: bytes) -> str:
        """Store small bytes (a manifest) and link them; return their digest."""
        digest = digests.of_bytes(data)
        if not self.content.exists(digest):
            self.content.write_bytes(data, digest)
        self.link_blob(name, digest)
        return digest

    # -- manifests and tags -----------------------------------------------------------

    def _manifests(self, name: str) -> str:
        return os.path.join(self._repository(name), "_manifests")

    def put_manifest(self, name: str, data: bytes, media_type: str, tag: str | None) -> str:
        """Store a manifest (checked by the caller), link it as a revision, point ``tag`` at it."""
        digest = self.write_blob(name, data)
        _write_atomically(os.path.join(self._manifests(name), "revisions", digest[7:]), media_type)
        if tag is not None:
            _write_atomically(os.path.join(self._manifests(name), "tags", tag), digest)
        return digest

    def resolve(self, name: str, reference: str) -> str:
        """A tag or a digest -> the digest of a manifest ``name`` holds, or MANIFEST_UNKNOWN."""
        if ":" in reference:
            digest = reference
            check_digest(digest)
        else:
            if not TAG.fullmatch(reference):
                raise RegistryError("MANIFEST_INVALID", f"invalid tag: {reference!r}")
            digest = _read(os.path.join(self._manifests(name), "tags", reference)) or ""
        if not digest or _read(os.path.join(self._manifests(name), "revisions", digest[7:])) is None:
            raise RegistryError("MANIFEST_UNKNOWN", detail={"name": name, "reference": reference})
        return digest

    def manifest(self, name: str, reference: str) -> tuple[bytes, str, str]:
        """The bytes, media type and digest of the manifest ``reference`` names."""
        digest = self.resolve(name, reference)
        media_type = _read(os.path.join(self._manifests(name), "revisions", digest[7:])) or ""
        return self.content.read(digest), media_type, digest

    def has_manifest(self, name: str, digest: str) -> bool:
        return _read(os.path.join(self._manifests(name), "revisions", check_digest(digest))) is not None

    def delete_manifest(self, name: str, reference: str) -> None:
        """By tag: remove the tag. By digest: remove the revision and every tag pointing at it."""
        digest = self.resolve(name, reference)
        tags = os.path.join(self._manifests(name), "tags")
        if ":" not in reference:
            os.unlink(os.path.join(tags, reference))
            return
        for tag in self.tags(name):
            if _read(os.path.join(tags, tag)) == digest:
                os.unlink(os.path.join(tags, tag))
        os.unlink(os.path.join(self._manifests(name), "revisions", digest[7:]))

    def tags(self, name: str) -> list[str]:
        """The repository's tags, in lexical order; NAME_UNKNOWN for no such repository."""
        if not os.path.isdir(self._repository(name)):
            raise RegistryError("NAME_UNKNOWN", detail={"name": name})
        try:
            return sorted(tag for tag in os.listdir(os.path.join(self._manifests(name), "tags"))
                          if not tag.startswith("."))
        except FileNotFoundError:
            return []

    def revisions(self, name: str) -> Iterator[tuple[str, str]]:
        """Every manifest of ``name``: (digest, media type)."""
        folder = os.path.join(self._manifests(name), "revisions")
        for hex_digest in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            media_type = _read(os.path.join(folder, hex_digest))
            if media_type is not None and not hex_digest.startswith("."):
                yield f"sha256:{hex_digest}", media_type

    def repositories(self) -> list[str]:
        """Every repository name, in lexical order (a directory holding _layers or _manifests)."""
        found = []
        for folder, subfolders, _ in os.walk(self.repositories_dir):
            if "_layers" in subfolders or "_manifests" in subfolders:
                found.append(os.path.relpath(folder, self.repositories_dir))
            subfolders[:] = [sub for sub in subfolders if not sub.startswith("_")]
        return sorted(found)

    def referrers(self, name: str, subject: str) -> list[dict]:
        """The descriptors of the manifests of ``name`` whose subject is ``subject``."""
        out = []
        for digest, media_type in self.revisions(name):
            try:
                document = json.loads(self.content.read(digest))
            except (OSError, ValueError):
                continue
            if not isinstance(document, dict) or (document.get("subject") or {}).get("digest") != subject:
                continue
            descriptor = {"mediaType": media_type, "digest": digest, "size": self.content.info(digest).size}
            # [REG-018] artifactType, else the config's media type (the spec's rule)
            artifact = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
            if artifact:
                descriptor["artifactType"] = artifact
            if document.get("annotations"):
                descriptor["annotations"] = document["annotations"]
            out.append(descriptor)
        return out
