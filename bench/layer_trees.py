"""The made-up images the image benchmarks share: a layer tar, an OCI layout, a changed tree.

Everything is deterministic (one seed, fixed times and owners), so two runs, or two
machines, time the same bytes.

    layer_tar(out, total_bytes)      a layer with a realistic mix, written as a plain tar:
                                     half the bytes in a few large files, half in many small
                                     ones (a few hundred bytes to 64 KiB), in nested
                                     directories, with symlinks and hard links among them
    gzip_file(src, dest)             gzip it as docker and umoci do (level 6, no name, no time)
    oci_layout(layer_gz, diff_id, dest, tag) -> digest
                                     a one-layer OCI image layout around a gzipped layer,
                                     written by minidock's write_layout (read by umoci)
    small_files(count)               [(path, bytes)]: `count` small files in 100 a directory
    files_tar(out, files)            those files as a layer tar
    changed(data)                    the same file, changed (what a container's write leaves)
    write_tree(root, files, mtime)   write those files under root (parents 0755, files 0644)
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from minidock.images import digest, layout, oci
from minidock.images.content import ContentStore

SEED = 4  # issue 4
MTIME = 1_700_000_000  # every entry's time: 2023-11-14, as SOURCE_DATE_EPOCH would make it
LARGE_FILES = 6
SMALL_SIZES = (300, 65_536)  # bytes; log-uniform between the two, as a distribution's files are
POOL = 1 << 22  # 4 MiB of material the file contents are cut from
SYMLINKS_PER_FILE = 0.05
HARD_LINKS_PER_FILE = 0.01
FILES_PER_DIRECTORY = 100
_WORDS = ("the", "layer", "image", "container", "lib", "usr", "share", "doc", "config", "0x7f",
          "return", "static", "int", "char", "void", "if", "else", "for", "include", "define")


# -- content ---------------------------------------------------------------------------------


def _pool(chooser: random.Random) -> bytes:
    """Material for file contents: 64 KiB runs, one of binary noise for two of text.

    Cut from this, a layer compresses about as a distribution's does (roughly 2:1).
    """
    runs = []
    for number in range(POOL // 65_536):
        if number % 3 == 0:
            runs.append(chooser.randbytes(65_536))
        else:
            text = " ".join(chooser.choice(_WORDS) for _ in range(14_000)).encode()
            runs.append(text[:65_536].ljust(65_536, b"\n"))
    return b"".join(runs)


def _content(pool: bytes, chooser: random.Random, size: int) -> bytes:
    """``size`` bytes cut from the pool at a random place (wrapping round for large files)."""
    start = chooser.randrange(len(pool))
    data = (pool[start:] + pool[:start]) * (size // len(pool) + 1)
    return data[:size]


def _small_size(chooser: random.Random) -> int:
    low, high = SMALL_SIZES
    return int(low * (high / low) ** chooser.random())


# -- the layer --------------------------------------------------------------------------------


def _entry(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.mode, entry.size, entry.linkname = kind, mode, size, linkname
    entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = MTIME, 0, 0, "root", "root"
    return entry


def _directories(count: int) -> Iterator[str]:
    """usr/lib/pkg0000/sub0, ...: two levels of packages, parents before children."""
    for number in range(count):
        package = f"usr/lib/pkg{number // 4:04d}"
        if number % 4 == 0:
            yield package
        yield f"{package}/sub{number % 4}"


def layer_tar(out: BinaryIO, total_bytes: int) -> None:
    """Write a layer of about ``total_bytes`` of file data (see the module's docstring) to ``out``."""
    chooser = random.Random(SEED)
    pool = _pool(chooser)
    sizes = []
    small_bytes = total_bytes // 2
    while small_bytes > 0:
        sizes.append(_small_size(chooser))
        small_bytes -= sizes[-1]
    directories = list(_directories(max(1, len(sizes) // 20)))
    leaves = [d for d in directories if "/sub" in d]
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("usr", "usr/bin", "usr/lib", *directories):
            tar.addfile(_entry(directory, tarfile.DIRTYPE, 0o755))
        for number in range(LARGE_FILES):  # sizes 1/2, 1/4, ... of the large half
            size = total_bytes // 2 // 2 ** (number + 1) or 1
            data = _content(pool, chooser, size)
            tar.addfile(_entry(f"usr/bin/large{number}", tarfile.REGTYPE, 0o755, size), io.BytesIO(data))
        files = []
        for number, size in enumerate(sizes):
            name = f"{leaves[number % len(leaves)]}/file{number:05d}"
            mode = 0o755 if number % 10 == 0 else 0o644
            tar.addfile(_entry(name, tarfile.REGTYPE, mode, size), io.BytesIO(_content(pool, chooser, size)))
            files.append(name)
        for number in range(max(1, int(len(files) * SYMLINKS_PER_FILE))):
            target = chooser.choice(files)
            tar.addfile(_entry(f"{target}.link{number}", tarfile.SYMTYPE, 0o777,
                               linkname=os.path.basename(target)))
        for number in range(max(1, int(len(files) * HARD_LINKS_PER_FILE))):
            target = chooser.choice(files)
            tar.addfile(_entry(f"{target}.hard{number}", tarfile.LNKTYPE, 0o644, linkname=target))


def gzip_file(src: Path, dest: Path) -> None:
    """gzip ``src`` into ``dest`` at level 6, with no name and no time in the header."""
    with open(src, "rb") as plain, open(dest, "wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as zipped:
        shutil.copyfileobj(plain, zipped, 1 << 20)


def oci_layout(layer_gz: Path, diff_id: str, dest: Path, tag: str = "latest") -> str:
    """Write a one-layer image around ``layer_gz`` as the OCI layout ``dest`` (named ``tag``).

    Return the layer's digest (its blob is DEST/blobs/sha256/HEX).
    """
    content = ContentStore(str(dest.with_name(dest.name + "-content")))
    hasher = digest.Digester()
    with open(layer_gz, "rb") as blob:
        while chunk := blob.read(1 << 20):
            hasher.update(chunk)
        blob.seek(0)
        content.write(hasher.digest(), blob, hasher.size)
    config = oci.canonical_json({
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    content.write_bytes(config)
    manifest = oci.manifest_bytes(oci.descriptor_of(config, oci.OCI_CONFIG),
                                  [oci.Descriptor(oci.OCI_LAYER_GZIP, hasher.digest(), hasher.size)])
    content.write_bytes(manifest)
    layout.write_layout(content, {f"bench/image:{tag}": oci.descriptor_of(manifest, oci.OCI_MANIFEST)},
                        str(dest))
    shutil.rmtree(content.root)
    return hasher.digest()


# -- the changed tree -------------------------------------------------------------------------


def small_files(count: int) -> list[tuple[str, bytes]]:
    """``count`` small files (300 bytes to 4 KiB), ``FILES_PER_DIRECTORY`` a directory."""
    chooser = random.Random(SEED)
    pool = _pool(chooser)
    return [(f"srv/app/dir{number // FILES_PER_DIRECTORY:03d}/file{number:05d}",
             _content(pool, chooser, chooser.randrange(300, 4096))) for number in range(count)]


def files_tar(out: BinaryIO, files: list[tuple[str, bytes]]) -> None:
    """Write ``files`` as a layer tar (their directories first, each once) to ``out``."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()
        for path, data in files:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in written:
                    tar.addfile(_entry(directory, tarfile.DIRTYPE, 0o755))
                    written.add(directory)
            tar.addfile(_entry(path, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))


def changed(data: bytes) -> bytes:
    """The file after a container wrote to it: a line appended (so its size changes too)."""
    return data + b"\nchanged in the container\n"


def write_tree(root: Path, files: list[tuple[str, bytes]], mtime: int = MTIME) -> None:
    """Write ``files`` under ``root`` (parents 0755, files 0644), each with the time ``mtime``."""
    for path, data in files:
        target = root / path
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        target.write_bytes(data)
        os.chmod(target, 0o644)
        os.utime(target, (mtime, mtime))
