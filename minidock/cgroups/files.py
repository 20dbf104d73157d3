"""Cgroupfs files: the few I/O helpers both drivers share.

Implements: spec/cgroups.md CG-003, CG-RES-005
Explained:  chapters/02-cgroups.md#everything-is-a-file

    write(path, value, field)   one write(2); the kernel's refusal names the OCI field
    read(path) / read_if_exists(path)
    missing_knob(file, field, why)  the error for a knob this host does not have
    wait_until(check, timeout)  poll a file until the kernel has caught up
    make_with_parents(path)     mkdir -p that survives a concurrent remove_with_parents
    remove_with_parents(root, name)

Rules: a cgroup file takes one value per write(2): never buffer two values into
one write, and report EINVAL as the user's value being refused, not as a crash.
"""

from __future__ import annotations

import os
import time

from minidock import errors

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    from collections.abc import Callable


def write(path: str, value: str, field: str | None = None) -> None:
    """Write ``value`` to the cgroup file ``path``; an OSError becomes a clear error.

    os.open and os.write rather than open(): the three calls the kernel needs, where a
    file object adds an fstat, an ioctl, two lseeks and three Python objects. The child
    that becomes init writes eight such files (v1's `tasks`) as it starts, and in a child
    just forked every object costs more (chapters/03-runtime.md#start-up-time).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as error:
        what = f"{field}: " if field else ""
        reason = os.strerror(error.errno or 0)
        raise errors.SystemError(f"{what}the kernel refused {value!r} for {path}: {reason}") from error


def read(path: str) -> str:
    """The whole text of a cgroup file."""
    with open(path) as file:
        return file.read()


def read_if_exists(path: str) -> str | None:
    """The text of a cgroup file, or None when this host (or group) does not have it."""
    try:
        return read(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def missing_knob(file: str, field: str, why: str) -> errors.Unavailable:
    """The error for a limit the user asked for and this host cannot apply."""
    # [CG-RES-005] a knob the host lacks is an error only when the user asked for it
    return errors.Unavailable(f"{field}: this host cannot apply it: {why} (no {file}); "
                       f"leave the field out to run without this limit")


def wait_until(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005) -> bool:
    """Call ``check`` until it is true or ``timeout`` seconds have passed; return its last answer."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return check()
        time.sleep(interval)
    return True


def make_with_parents(path: str, attempts: int = 50) -> None:
    """mkdir -p ``path``, again when another group's removal took a parent away meanwhile.

    Two containers share the parent (``minidock/``): the one that goes rmdirs the
    parent when it looks empty, which it does between our mkdir of the parent and
    our mkdir of the leaf; that mkdir then fails with ENOENT, and we make both again.
    """
    for _ in range(attempts - 1):
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    os.makedirs(path, exist_ok=True)


def remove_with_parents(root: str, name: str) -> None:
    """rmdir the group, then each parent of it under ``root`` that is left empty."""
    rmdir_when_empty(os.path.join(root, name))
    parent = os.path.dirname(name)
    while parent:
        try:
            os.rmdir(os.path.join(root, parent))
        except OSError:
            return  # still holds other groups (or is gone): leave it
        parent = os.path.dirname(parent)


def rmdir_when_empty(path: str, attempts: int = 250) -> None:
    """rmdir a cgroup, waiting (up to 5 s) for the kernel to finish reaping its tasks.

    An OOM-killed or SIGKILLed task can stay accounted for a while on a busy host.
    """
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while an exiting task is still accounted
            time.sleep(0.02)
    os.rmdir(path)
