"""The content store: blobs kept by digest, written so that none is ever half there.

Implements: spec/images.md IMG-STORE-001 .. IMG-STORE-006
Explained:  chapters/04-images.md#the-content-store
Modelled on: containerd's content store (content/local): ingest, commit, walk, and
             its garbage collector's mark and sweep

    <root>/blobs/sha256/<hex>    a blob, named by the sha256 of its bytes (read-only)
    <root>/ingest/<random>       a blob being written; never read by anyone else

    write(digest, stream, size) -> Info   hash while copying into ingest/, check, fsync, rename(2)
    exists, info, open, read, delete, walk
    gc(roots) -> [digest]                 delete every blob no root descriptor reaches

Rules: a blob appears under blobs/ whole and verified, or not at all:
rename(2) is atomic, so a wrong digest, a short stream or a crash leaves
at most a file in ingest/, which abort_ingests() clears at start-up.
gc() must not run while an image is being stored (the caller holds its lock,
as containerd holds a lease): a blob written but not yet tagged is unreachable.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from minidock.errors import InvalidArgument, NotFound
from minidock.images import digest as digests
from minidock.images import oci

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Info:
    """What the store knows of a blob: its digest and size."""

    digest: str
    size: int


def _fsync_directory(path: str) -> None:
    # a rename is durable only once the directory holding it is synced
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentStore:
    """Blobs by digest under ``root`` (the same blobs/ layout an OCI image layout has)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = os.path.join(root, "blobs", digests.ALGORITHM)
        self.ingest = os.path.join(root, "ingest")
        os.makedirs(self.blobs, exist_ok=True)
        os.makedirs(self.ingest, exist_ok=True)

    def path(self, digest: str) -> str:
        """Return where the blob ``digest`` lives (whether or not it is there)."""
        # [IMG-STORE-002] the digest is validated before it becomes a file name
        return os.path.join(self.blobs, digests.validate(digest))

    # -- writing -------------------------------------------------------------

    def write(self, digest: str, stream: BinaryIO, size: int | None = None) -> Info:
        """Copy ``stream`` into the store as blob ``digest``, checking digest and ``size``.

        Idempotent: writing a blob that is already there checks the bytes and keeps one copy.
        """
        target = self.path(digest)
        fd, temporary = tempfile.mkstemp(dir=self.ingest, prefix="ingest-")
        try:
            digester = digests.Digester()
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    digester.update(chunk)
                    if size is not None and digester.size > size:
                        # [IMG-STORE-003] stop early: the stream is longer than promised
                        raise InvalidArgument(f"blob {digest}: wrong size, more than the "
                                              f"expected {size} bytes")
                    out.write(chunk)
                if size is not None and digester.size != size:
                    # [IMG-STORE-003] a truncated stream is refused
                    raise InvalidArgument(f"blob {digest}: wrong size, {digester.size} bytes "
                                          f"where {size} were expected (truncated?)")
                if digester.digest() != digest:
                    # [IMG-STORE-001] content whose digest is wrong never enters the store
                    raise InvalidArgument(f"blob {digest}: wrong digest, the content is "
                                          f"{digester.digest()}")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o444)
            # [IMG-STORE-001] rename(2) is atomic: the blob is there whole, or not at all
            os.rename(temporary, target)
            _fsync_directory(self.blobs)
        finally:
            if os.path.lexists(temporary):
                os.unlink(temporary)
        return Info(digest, digester.size)

    def adopt(self, path: str, digest: str, size: int) -> Info:
        """Move the file at ``path`` (in ingest/, its digest computed by the caller as it was
        written) into the store as blob ``digest``: no second copy of a layer just made."""
        with open(path, "rb") as file:
            os.fsync(file.fileno())
        os.chmod(path, 0o444)
        target = self.path(digest)
        if os.path.exists(target):
            os.unlink(path)  # the same bytes are there already
        else:
            os.rename(path, target)  # [IMG-STORE-001] atomic: whole, or not at all
            _fsync_directory(self.blobs)
        return Info(digest, size)

    def write_bytes(self, data: bytes, digest: str | None = None) -> Info:
        """Store ``data``; check it against ``digest`` when one is given."""
        return self.write(digest or digests.of_bytes(data), io.BytesIO(data), len(data))

    def write_descriptor(self, descriptor: oci.Descriptor, stream: BinaryIO) -> Info:
        """Store the blob ``descriptor`` names, checking both its digest and its size."""
        return self.write(descriptor.digest, stream, descriptor.size)

    def abort_ingests(self) -> int:
        """Remove every unfinished write left in ingest/ (by a crash); return how many.

        Call it at start-up, when no write is running: a live writer's file would go too.
        """
        removed = 0
        for name in os.listdir(self.ingest):
            os.unlink(os.path.join(self.ingest, name))
            removed += 1
        return removed

    # -- reading -------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Return whether blob ``digest`` is in the store."""
        return os.path.exists(self.path(digest))

    def info(self, digest: str) -> Info:
        """Return the digest and size of blob ``digest``."""
        try:
            return Info(digest, os.stat(self.path(digest)).st_size)
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def open(self, digest: str) -> BinaryIO:
        """Open blob ``digest`` for reading (the caller closes it)."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read(self, digest: str, size: int | None = None) -> bytes:
        """Return the bytes of blob ``digest``, checked again against the digest (and ``size``).

        For small blobs (manifests, configs): the check catches a blob damaged on disk.
        """
        with self.open(digest) as blob:
            data = blob.read()
        if size is not None and len(data) != size:
            # [IMG-STORE-004] a blob shorter or longer than its descriptor says is refused
            raise InvalidArgument(f"content {digest}: wrong size, {len(data)} bytes on disk, "
                                  f"{size} in its descriptor")
        if digests.of_bytes(data) != digest:
            # [IMG-STORE-004] a blob damaged on disk is refused, not returned
            raise InvalidArgument(f"content {digest}: corrupt, its bytes hash to "
                                  f"{digests.of_bytes(data)}")
        return data

    def read_descriptor(self, descriptor: oci.Descriptor) -> bytes:
        """Return the blob ``descriptor`` names, checked against its digest and size."""
        return self.read(descriptor.digest, descriptor.size)

    def walk(self) -> Iterator[Info]:
        """Yield every blob in the store, in digest order."""
        for name in sorted(os.listdir(self.blobs)):
            digest = f"{digests.ALGORITHM}:{name}"
            if digests.is_valid(digest):
                yield Info(digest, os.stat(os.path.join(self.blobs, name)).st_size)

    # -- deleting ------------------------------------------------------------

    def delete(self, digest: str) -> None:
        """Remove blob ``digest``; NotFound if it is not there."""
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def reachable(self, roots: Iterable[oci.Descriptor]) -> set[str]:
        """Return the digests reachable from ``roots``: index -> manifests -> config + layers."""
        seen: set[str] = set()
        pending = list(roots)
        while pending:
            descriptor = pending.pop()
            if descriptor.digest in seen:
                continue
            seen.add(descriptor.digest)
            if descriptor.media_type in oci.MANIFEST_TYPES | oci.INDEX_TYPES \
                    and self.exists(descriptor.digest):
                pending.extend(oci.children(descriptor, self.read(descriptor.digest)))
        return seen

    def gc(self, roots: Iterable[oci.Descriptor]) -> list[str]:
        """Delete every blob no descriptor in ``roots`` reaches; return the deleted digests.

        Mark and sweep, as containerd's collector: the roots are the images the
        store names (tags), so a blob no image needs is garbage.
        """
        # [IMG-STORE-005] mark what the roots reach, sweep the rest
        keep = self.reachable(roots)
        removed = []
        for blob in list(self.walk()):
            if blob.digest not in keep:
                try:
                    self.delete(blob.digest)
                except NotFound:
                    continue  # someone else removed it first
                removed.append(blob.digest)
        return removed
