"""Reading a layer's stream: gzip or plain told by magic bytes, the tar read front to back.

Implements: spec/images.md IMG-LAYER-004 .. IMG-LAYER-005
Explained:  chapters/04-images.md#layers
Modelled on: containerd's archive/compression (DecompressStream: the format by its magic bytes)

    raw_layer(fileobj) -> (raw, gzipped)   the layer as it came, seekable (a stream that
                                           cannot seek is copied into a temporary file)
    LayerStream(raw, gzipped)    the plain tar, decompressed as it is read, front to back:
                                 what tarfile reads; write_to(fd, n) copies n bytes to a file
    read_members(tar)            every header, or InvalidArgument for a corrupt/truncated tar
    open_layer(fileobj)          gzip or plain -> a seekable plain tar (for readers that seek)

Rules: a corrupt or cut gzip stream and a tar without its end-of-archive block are
InvalidArgument. layers.apply() reads a layer through a LayerStream twice (check, then
write), which costs less than a decompressed copy in a temporary file; open_layer makes
that copy, for the readers that seek about in a layer.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from typing import BinaryIO

from isal import igzip, igzip_lib  # zlib's gzip format, about 2.5x faster to decompress

from minidock.errors import InvalidArgument

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BUFFER = 1 << 20  # bytes decompressed (or read) at a time


def raw_layer(fileobj: BinaryIO) -> tuple[BinaryIO, bool]:
    """Return the layer as it came (gzip or plain), seekable, at its start; and whether it is gzip.

    gzip is recognised by its magic bytes (not by a media type: docker's own archives
    mix both). A stream that cannot seek is copied, as it is, into a temporary file:
    the layer is read twice, once to check it whole and once to write it.
    """
    seekable = fileobj.seekable() if hasattr(fileobj, "seekable") else False
    head = fileobj.read(4)
    if seekable:
        fileobj.seek(-len(head), io.SEEK_CUR)
        raw = fileobj
    else:
        raw = _spool(_Prepend(head, fileobj))
    if head.startswith(ZSTD_MAGIC):
        # [IMG-LAYER-004] only gzip and plain tars; say so rather than "invalid header"
        raise InvalidArgument("the layer is zstd-compressed, which minidock does not read: "
                              "recompress it with gzip")
    return raw, head.startswith(GZIP_MAGIC)


def bad_gzip(error: BaseException) -> InvalidArgument:
    # [IMG-LAYER-005] a corrupt or truncated gzip stream is refused before any write
    return InvalidArgument(f"the layer is not a valid gzip stream ({error}): nothing was written")


def open_layer(fileobj: BinaryIO) -> BinaryIO:
    """Return the layer as a seekable, uncompressed tar, positioned at its start.

    For readers that seek about in a layer (apply() reads it front to back, twice):
    a gzip layer is decompressed completely into a temporary file, so a corrupt or cut
    stream is found here.
    """
    raw, gzipped = raw_layer(fileobj)
    if not gzipped:
        return raw
    plain = tempfile.TemporaryFile()
    try:
        with igzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            shutil.copyfileobj(unzipped, plain, _BUFFER)
    except (OSError, EOFError, igzip_lib.IsalError) as error:
        plain.close()
        raise bad_gzip(error) from None
    finally:
        if raw is not fileobj:
            raw.close()
    plain.seek(0)
    return plain


class _Prepend(io.RawIOBase):
    """A non-seekable stream with the bytes we peeked at put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._head[:len(buffer)] or self._rest.read(len(buffer))
        self._head = self._head[len(data):] if self._head else b""
        buffer[:len(data)] = data
        return len(data)


def _spool(stream: BinaryIO) -> BinaryIO:
    """Copy a non-seekable stream into a temporary file, at its start."""
    spooled = tempfile.TemporaryFile()
    shutil.copyfileobj(stream, spooled, _BUFFER)
    spooled.seek(0)
    return spooled


class LayerStream:
    """A layer's plain tar read front to back, as tarfile reads it: no temporary copy.

    A gzip stream cannot seek back without decompressing again from its start, and
    tarfile never needs to: it seeks forward over an entry's data, which is skipped
    here (decompressed and dropped). One step back is allowed, into the last read:
    read_members looks again at the block where tarfile stopped. A plain tar seeks.
    """

    def __init__(self, raw: BinaryIO, gzipped: bool) -> None:
        self._stream: BinaryIO = igzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        self._skips = gzipped  # True: a seek forward reads and drops; False: the file seeks
        self._position = 0 if gzipped else raw.tell()
        self._chunk, self._index = b"", 0  # decompressed, not yet read
        self._last = (0, b"")  # (where it began, what it was): the last read, for one step back
        self._replay = b""

    def tell(self) -> int:
        return self._position

    def _fill(self) -> bool:
        """Decompress (or read) the next chunk once the last is used up; False at the end."""
        if self._index == len(self._chunk):
            self._chunk, self._index = self._stream.read(_BUFFER), 0
        return self._index < len(self._chunk)

    def read(self, size: int = -1) -> bytes:
        size = size if size >= 0 else 1 << 62
        parts = [self._replay[:size]]
        self._replay = self._replay[len(parts[0]):]
        wanted = size - len(parts[0])
        while wanted and self._fill():
            piece = self._chunk[self._index:self._index + wanted]
            self._index += len(piece)
            wanted -= len(piece)
            parts.append(piece)
        data = b"".join(parts)
        self._last = (self._position, data)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a layer is read front to back")
        if offset < self._position:
            start, data = self._last
            if not start <= offset or self._position != start + len(data):
                raise io.UnsupportedOperation("a layer is read front to back")
            self._replay = data[offset - start:] + self._replay
        else:
            self._skip(offset - self._position)
        self._position = offset
        return offset

    def _skip(self, count: int) -> None:
        """Move ``count`` bytes forward (past the end stays past the end, as in a file)."""
        if self._replay:
            dropped = min(count, len(self._replay))
            self._replay, count = self._replay[dropped:], count - dropped
        buffered = len(self._chunk) - self._index
        if count <= buffered:
            self._index += count
            return
        count -= buffered
        self._chunk, self._index = b"", 0
        if not self._skips:
            self._stream.seek(count, io.SEEK_CUR)
            return
        while count > 0:
            dropped = len(self._stream.read(min(count, _BUFFER)))
            if not dropped:
                return
            count -= dropped

    def write_to(self, fd: int, size: int) -> int:
        """Write the next ``size`` bytes to the file ``fd``, straight from the buffer; return how many."""
        done = 0
        while done < size and self._fill():
            view = memoryview(self._chunk)[self._index:self._index + size - done]
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
            self._index += len(view)
            done += len(view)
        self._position += done
        self._last = (self._position, b"")
        return done

    def drain(self) -> None:
        """Read to the end: a gzip stream's checksum and length are checked there."""
        while self._fill():
            self._index = len(self._chunk)

    def close(self) -> None:
        if self._skips:
            self._stream.close()  # the GzipFile, not the file it reads


def read_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Read every header of ``tar``; a truncated or corrupt archive is InvalidArgument.

    tarfile reads a cut header or a garbage block after the first entry as the end of
    the archive, silently. So we also require what every tar writer puts at the end:
    a zero block where the reading stopped.
    """
    try:
        members = tar.getmembers()
    except tarfile.TarError as error:
        # [IMG-LAYER-005] e.g. "unexpected end of data": an entry's data is cut short
        raise InvalidArgument(f"the layer is not a valid tar ({error}): nothing was written") from None
    tar.fileobj.seek(tar.offset)
    if tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        # [IMG-LAYER-005] a cut or garbled header is not the end-of-archive block
        raise InvalidArgument(f"the layer tar is truncated or corrupt after {len(members)} entries "
                              "(no end-of-archive block): nothing was written")
    return members
