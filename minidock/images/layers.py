"""Layers: apply a layer tar onto a directory, whiteouts included, refusing anything that escapes it.

Implements: spec/images.md IMG-LAYER-001 .. IMG-LAYER-011
Explained:  chapters/04-images.md#layers
Modelled on: containerd's archive.Apply (applyNaive) and the OCI image-spec's "Representing Changes"

    check_member(member, dest)   raise InvalidArgument if this entry would escape dest
    apply(fileobj, dest)         read and check the whole layer, then read it again and apply it
    unpack(fileobj, dest)        the same (the name the bootstrap and the CLI use)
    set_attributes(path, ...)    owner, mode, xattrs, mtime: in the order the kernel needs

The stream (gzip or plain, read front to back through a LayerStream, read_members,
open_layer) is layer_stream.py's.

Whiteouts, the OCI way of writing a deletion into a tar:

    dir/.wh.NAME        NAME (a file, a link or a whole directory) is deleted from the lower content
    dir/.wh..wh..opq    dir is opaque: everything the lower content had in it is gone

A whiteout hides *lower* content only, never what its own layer adds, whatever the order of
the entries; the whiteout files themselves never appear in the result.

Rules: a layer is untrusted input. Absolute names, `..` components, hard links that point
outside, and entries that would be written *through* a symlink are refused before anything
of that entry is written. Two readings of the stream: the first decompresses all of it
and reads every header, writing nothing, so a corrupt gzip, a truncated tar or a bad name
anywhere in it is refused before anything of the layer is written; the second reads it
again and applies the entries in order, each file's bytes going from the decompressor
straight into the file (a stream that cannot seek is first copied, compressed as it came,
into a temporary file).
"""

from __future__ import annotations

import decimal
import errno
import os
import posixpath
import shutil
import stat
import tarfile
from typing import BinaryIO

from isal import igzip_lib

from minidock.errors import InvalidArgument
# open_layer and read_members: the engine's readers of layer tars (build, cp) take them from here too
from minidock.images.layer_stream import LayerStream, bad_gzip, open_layer, raw_layer, read_members  # noqa: F401

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
WHITEOUT_META_PREFIX = ".wh..wh."  # aufs bookkeeping (.wh..wh.plnk, ...): never content
XATTR_PAX_PREFIX = "SCHILY.xattr."  # how GNU tar, Go's archive/tar and docker store xattrs
OVERLAY_XATTR_PREFIX = "trusted.overlay."  # overlayfs's own markers: state, not content
_BUFFER = 1 << 20
_DEVICE_TYPES = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK}


# -- reading: the whole stream is checked before anything is written ------------------------


def _read_layer(raw: BinaryIO, gzipped: bool) -> list[tarfile.TarInfo]:
    """The first reading: the whole stream, every header, nothing written; return the entries."""
    stream = LayerStream(raw, gzipped)
    try:
        with tarfile.open(fileobj=stream, mode="r:") as tar:  # type: ignore[call-overload]
            members = read_members(tar)
        stream.drain()
    except tarfile.TarError as error:  # tarfile.open on a file that is no tar at all
        raise InvalidArgument(f"the layer is not a valid tar ({error}): nothing was written") from None
    except (OSError, EOFError, igzip_lib.IsalError) as error:
        raise bad_gzip(error) from None
    finally:
        stream.close()
    for member in members:
        _check_name(member)  # [IMG-LAYER-001] every name, before the first write
    return members


# -- checks: names first, then the destination as it is on disk now ---------------------------


def _normalise(name: str) -> str:
    """Return a layer path relative to the layer root, or raise if it climbs out."""
    if name.startswith("/"):
        # [IMG-LAYER-001] absolute names are refused
        raise InvalidArgument(f"layer entry {name!r} has an absolute path")
    clean = posixpath.normpath(name)
    if clean == ".." or clean.startswith("../") or "/../" in f"/{name}/":
        # [IMG-LAYER-001] `..` components are refused, even when they cancel out
        raise InvalidArgument(f"layer entry {name!r} climbs out of the layer with '..'")
    return clean


def _check_name(member: tarfile.TarInfo) -> str:
    """The checks that need only the entry itself: run on every entry before any write."""
    path = _normalise(member.name)
    base = posixpath.basename(path)
    if base.startswith(WHITEOUT_PREFIX) and not base.startswith(WHITEOUT_META_PREFIX):
        if base[len(WHITEOUT_PREFIX):] in ("", ".", ".."):
            # [IMG-LAYER-001] `.wh...` would delete the parent directory
            raise InvalidArgument(f"layer entry {member.name!r} is a whiteout of no name")
    if path == "." and not member.isdir():
        raise InvalidArgument(f"layer entry {member.name!r} would replace the root of the layer")
    if member.islnk() and (member.linkname.startswith("/") or "/../" in f"/{member.linkname}/"):
        # [IMG-LAYER-002] a hard link's target must stay in the layer
        raise InvalidArgument(f"hard link {member.name!r} points at {member.linkname!r}, "
                              "outside the layer")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()
            or member.ischr() or member.isblk() or member.isfifo()):
        raise InvalidArgument(f"layer entry {member.name!r} has the tar type "
                              f"{member.type!r}, which a layer cannot hold")
    return path


def _check_parents(name: str, path: str, dest: str) -> None:
    """Refuse a path whose parent directories in ``dest`` include a symlink."""
    parent = dest
    for part in path.split("/")[:-1]:
        parent = os.path.join(parent, part)
        if os.path.islink(parent):
            raise InvalidArgument(f"layer entry {name!r} would be written through "
                                  f"the symlink {os.path.relpath(parent, dest)!r}")


def check_member(member: tarfile.TarInfo, dest: str) -> str:
    """Check one tar entry against ``dest``; return its clean relative path."""
    path = _check_name(member)
    # [IMG-LAYER-003] never write through a symlink an earlier entry (or layer) made
    _check_parents(member.name, path, dest)
    if member.islnk():
        # [IMG-LAYER-002] ... nor through a symlink
        _check_parents(member.name, posixpath.normpath(member.linkname), dest)
    return path


# -- writing ----------------------------------------------------------------------------------


def _remove(target: str) -> None:
    """Remove whatever is at ``target`` (a directory with its contents); never follow a symlink."""
    if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    elif os.path.lexists(target):
        os.unlink(target)


def _clear_the_way(member: tarfile.TarInfo, path: str, dest: str) -> bool:
    """A later entry replaces an earlier one: remove what is at its place first.

    Without this, a regular file named like an earlier symlink would be written
    through that symlink (open(2) follows it). Only a directory entry onto a
    directory merges with it. Returns whether a directory is left at the place.
    """
    target = os.path.join(dest, path)
    try:
        found = os.lstat(target).st_mode  # lstat: a symlink is itself, never its target
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(found):
        if member.isdir():
            return True
        # [IMG-LAYER-011] a file where the lower content has a directory replaces it
        shutil.rmtree(target)
    else:
        # [IMG-LAYER-003] replace a file or symlink, never write through it
        os.unlink(target)
    return False


def _make_parents(dest: str, path: str) -> None:
    """Create the missing directories above ``path`` (a layer need not list them)."""
    parent = os.path.dirname(os.path.join(dest, path))
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
    """A regular file: its bytes, read on from the layer's stream, then its attributes."""
    # O_EXCL | O_NOFOLLOW: _clear_the_way emptied the place; if something appeared, fail
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if member.sparse is not None:  # GNU sparse: tarfile knows where the holes are
            with tar.extractfile(member) as data:  # type: ignore[union-attr]
                while chunk := data.read(_BUFFER):
                    os.write(fd, chunk)
        else:
            tar.fileobj.seek(member.offset_data)
            if tar.fileobj.write_to(fd, member.size) != member.size:  # type: ignore[union-attr]
                raise InvalidArgument(f"the layer changed while it was applied: {member.name!r} is "
                                      "cut short the second time it is read")
        set_attributes(fd, uid=member.uid, gid=member.gid, mode=member.mode, mtime_ns=_mtime_ns(member),
                       xattrs=xattrs_of(member), symlink=False)
    finally:
        os.close(fd)


def _create(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str, dest: str, is_dir: bool) -> None:
    """Create the file system object one entry describes (a regular file with its attributes).

    ``is_dir``: a directory is at ``target`` already (a directory entry merges with it).
    """
    if member.isdir():
        if not is_dir:
            os.mkdir(target, 0o700)  # the real mode comes last, once the children are in
    elif member.isreg():
        _write_file(tar, member, target)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        source = os.path.join(dest, posixpath.normpath(member.linkname))
        if not os.path.lexists(source) or (os.path.isdir(source) and not os.path.islink(source)):
            raise InvalidArgument(f"hard link {member.name!r} points at {member.linkname!r}, "
                                  "which is no file of the layer")
        # [IMG-LAYER-008] a hard link, to the link itself if it is a symlink
        os.link(source, target, follow_symlinks=False)
    elif member.isfifo():
        os.mkfifo(target, 0o600)
    else:
        # [IMG-LAYER-008] character and block devices (mknod(2) needs CAP_MKNOD)
        kind = _DEVICE_TYPES[member.type]
        os.mknod(target, 0o600 | kind, os.makedev(member.devmajor, member.devminor))


def _mtime_ns(member: tarfile.TarInfo) -> int:
    """The entry's mtime in nanoseconds, exact when a PAX header carries the fraction."""
    exact = member.pax_headers.get("mtime")
    if exact is not None:
        return int(decimal.Decimal(exact) * 1_000_000_000)
    return int(member.mtime) * 1_000_000_000


def xattrs_of(member: tarfile.TarInfo) -> dict[str, bytes]:
    """The extended attributes a PAX header carries (values may be binary)."""
    return {key[len(XATTR_PAX_PREFIX):]: value.encode("utf-8", "surrogateescape")
            for key, value in member.pax_headers.items() if key.startswith(XATTR_PAX_PREFIX)}


def set_attributes(path: str | int, *, uid: int, gid: int, mode: int, mtime_ns: int,
                   xattrs: dict[str, bytes], symlink: bool) -> None:
    """Give ``path`` (or the open file ``path``) its owner, mode, xattrs and mtime, in the order
    the kernel needs.

    chown(2) clears setuid/setgid and the security.capability xattr, so it goes first;
    writing an xattr or a mode does not change the mtime, so utimensat(2) goes last.
    A path is never followed if it is a symlink; an open file needs no lookup at all.
    """
    own = {} if isinstance(path, int) else {"follow_symlinks": False}
    if os.geteuid() == 0:  # as tarfile does: only root can give files away
        os.chown(path, uid, gid, **own)
    for name, value in sorted(xattrs.items()):
        if name.startswith(OVERLAY_XATTR_PREFIX):
            continue  # a layer must not forge overlayfs whiteouts or opaque markers
        try:
            os.setxattr(path, name, value, **own)
        except OSError as error:
            # [IMG-LAYER-010] "where present": a file system without xattrs (or this
            # namespace of them) keeps the file, without the attribute
            if error.errno not in (errno.ENOTSUP, errno.EPERM):
                raise
    if not symlink:  # a symlink's mode is always 0777 on Linux
        # [IMG-LAYER-009] the permission bits, setuid/setgid/sticky included
        os.chmod(path, stat.S_IMODE(mode))
    os.utime(path, ns=(mtime_ns, mtime_ns), **own)


def _set_attributes(member: tarfile.TarInfo, target: str) -> None:
    set_attributes(target, uid=member.uid, gid=member.gid, mode=member.mode,
                   mtime_ns=_mtime_ns(member), xattrs=xattrs_of(member), symlink=member.issym())


def _remember_parents(dest: str, path: str, saved: dict[str, tuple[int, int]]) -> None:
    """Note the times of the directories above ``path`` before this layer changes them.

    Creating or removing a name changes its directory's mtime. A directory the layer
    does not list is one it leaves unchanged, so apply() puts its times back at the end.
    """
    while path not in ("", "."):
        path = posixpath.dirname(path) or "."
        if path in saved:
            return
        try:
            info = os.lstat(os.path.join(dest, path))
        except FileNotFoundError:
            continue
        saved[path] = (info.st_atime_ns, info.st_mtime_ns)


def _hide_lower(dest: str, directory: str, written: set[str], saved: dict[str, tuple[int, int]]) -> None:
    """Make ``directory`` opaque: remove what is in it that this layer did not write."""
    # lab 04: begin: remove everything under directory but what this layer wrote and the directories above it
    keep = set(written)
    for path in written:  # and the directories above what it wrote
        while path not in ("", "."):
            path = posixpath.dirname(path)
            keep.add(path)

    def sweep(relative: str) -> None:
        for name in os.listdir(os.path.join(dest, relative)):
            child = posixpath.join(relative, name) if relative != "." else name
            full = os.path.join(dest, child)
            if child not in keep:
                _remember_parents(dest, child, saved)
                _remove(full)
            elif os.path.isdir(full) and not os.path.islink(full):
                sweep(child)

    sweep(directory)
    # lab 04: end


def apply(fileobj: BinaryIO, dest: str) -> list[str]:
    """Apply the layer tar ``fileobj`` onto the directory ``dest``; return the entries' paths.

    ``dest`` may hold the layers below (the copy snapshotter, flattening an image):
    whiteouts delete from it, entries replace what it has at their paths.
    """
    raw, gzipped = raw_layer(fileobj)
    start = raw.tell()
    try:
        members = _read_layer(raw, gzipped)  # the first reading: nothing written if it fails
        raw.seek(start)
        stream = LayerStream(raw, gzipped)  # the second: the same bytes, written as they come
        try:
            with tarfile.open(fileobj=stream, mode="r:") as tar:  # type: ignore[call-overload]
                return _apply_members(tar, members, dest)
        except (tarfile.TarError, EOFError, igzip_lib.IsalError) as error:
            raise InvalidArgument(f"the layer changed while it was applied ({error})") from None
        finally:
            stream.close()
    finally:
        if raw is not fileobj:
            raw.close()


def _apply_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: str) -> list[str]:
    """apply(), once the whole layer has been read and its names checked: write in order."""
    names, written, opaque, directories = [], set(), [], []
    saved: dict[str, tuple[int, int]] = {}  # directory -> (atime, mtime) before this layer
    for member in members:
        path = check_member(member, dest)
        names.append(path)
        parent, base = posixpath.split(path)
        parent = parent or "."
        if base == OPAQUE_WHITEOUT:
            # [IMG-LAYER-007] hide the lower contents, at the end: order must not matter
            opaque.append(parent)
            continue
        if base.startswith(WHITEOUT_META_PREFIX):
            continue
        if base.startswith(WHITEOUT_PREFIX):
            # lab 04: begin: delete the lower content this .wh. whiteout names, unless this layer wrote it
            hidden = posixpath.normpath(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
            if hidden not in written:  # [IMG-LAYER-006] lower content only
                _remember_parents(dest, hidden, saved)
                _remove(os.path.join(dest, hidden))
            # lab 04: end
            continue
        target = os.path.join(dest, path)
        _remember_parents(dest, path, saved)
        _make_parents(dest, path)
        is_dir = _clear_the_way(member, path, dest)
        _create(tar, member, target, dest, is_dir)
        written.add(path)
        if member.isdir():
            directories.append((member, target))  # its mtime changes with every child
        elif not (member.islnk() or member.isreg()):  # a regular file has its attributes already
            _set_attributes(member, target)
    for directory in opaque:
        _hide_lower(dest, directory, written, saved)
    for directory, times in saved.items():
        # [IMG-LAYER-009] a directory the layer does not list keeps its times
        if os.path.isdir(os.path.join(dest, directory)):
            os.utime(os.path.join(dest, directory), ns=times, follow_symlinks=False)
    for member, target in reversed(directories):
        _set_attributes(member, target)
    return names


def unpack(fileobj: BinaryIO, dest: str) -> list[str]:
    """Extract the layer tar ``fileobj`` into ``dest``, entry by entry, checking each first.

    The name the bootstrap and the CLI use; the same as apply().
    """
    return apply(fileobj, dest)
