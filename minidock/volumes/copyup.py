"""Copy-up: a new, empty volume mounted over an image's directory starts with its files.

Implements: spec/volumes.md VOL-011
Explained:  chapters/06-volumes.md#copy-up
Modelled on: moby's container.CopyImagePathContent and volume copyExistingContents
             (fs.CopyDir: owners, modes, times, symlinks, device nodes, hard links)

    copy_up(source, volume) -> bool    copy source's tree into volume if volume is empty

Rules: only into an empty volume (a volume with data is never overwritten, so the
second container sees the first one's files); symlinks are copied as symlinks,
never followed; the volume's top directory takes the source directory's owner and
mode, as Docker's copyOwnership does.
"""

from __future__ import annotations

import os
import shutil
import stat


def copy_up(source: str, volume: str) -> bool:
    """Copy the tree at ``source`` into the empty directory ``volume``; False if nothing was done."""
    if not os.path.isdir(source) or os.path.islink(source) or os.listdir(volume):
        return False
    links: dict[tuple[int, int], str] = {}  # (dev, inode) -> first copy, for hard links
    for directory, names, files in os.walk(source):
        relative = os.path.relpath(directory, source)
        target_dir = os.path.normpath(os.path.join(volume, relative))
        for name in [*names, *files]:
            _copy_entry(os.path.join(directory, name), os.path.join(target_dir, name), links)
        # os.walk lists symlinks to directories among names but does not enter them: good
        names[:] = [n for n in names if not os.path.islink(os.path.join(directory, n))]
    for directory, names, _ in os.walk(source, topdown=False):
        relative = os.path.relpath(directory, source)
        for name in names:  # a directory's times last: writing into it changed them
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                info = os.lstat(path)
                os.utime(os.path.join(volume, relative, name), ns=(info.st_atime_ns, info.st_mtime_ns))
    _keep_attributes(os.lstat(source), volume)
    return True


def _copy_entry(path: str, target: str, links: dict[tuple[int, int], str]) -> None:
    info = os.lstat(path)
    key = (info.st_dev, info.st_ino)
    if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1 and key in links:
        os.link(links[key], target)
        return
    if stat.S_ISDIR(info.st_mode):
        os.mkdir(target)
    elif stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(path), target)
    elif stat.S_ISREG(info.st_mode):
        with open(path, "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    else:  # fifos, device nodes, sockets: made again, not read
        os.mknod(target, info.st_mode, info.st_rdev)
    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
        links[key] = target
    _keep_attributes(info, target)


def _keep_attributes(info: os.stat_result, target: str) -> None:
    """Owner, mode (set-id bits included: chown clears them, so chmod comes after) and times."""
    os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(target, stat.S_IMODE(info.st_mode))
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
