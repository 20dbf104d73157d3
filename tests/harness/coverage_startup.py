"""Coverage in every process of the suite, forked ones included, never inside a container.

Implements: spec/harness.md HARNESS-COV-001 .. HARNESS-COV-003
Explained:  docs/hooks/coverage.py (the book's page), Makefile's test-only target
Modelled on: coverage.py's process_startup() and its "_exit"/"execv" patches

The venv's `minidock-coverage.pth` (written by `make venv`) runs this file's start() in
every Python process, loaded by path (runpy), and only when COVERAGE_PROCESS_START is set;
otherwise it costs one environment lookup. With it:

    coverage.process_startup()          measure this process; its data file is saved at exit
    os.register_at_fork(child=...)      a forked child (forkserver's, a monitor, init) gets
                                        its own data file (coverage.py does that), and
        os._exit / os.exec*             save first: these processes never reach atexit
        syscalls.pivot_root             save first, then stop measuring: after it, the
                                        container's root is `/` and the data directory is
                                        out of reach; nothing is ever written inside

Rules: a save happens only while the data directory is the very one the process started
with (same device and inode), so a process that somehow lost it writes nothing anywhere;
a process saves at most once.
"""

from __future__ import annotations

import os
import sys


def start() -> None:
    """Measure this process if the suite asked for it (COVERAGE_PROCESS_START)."""
    if not os.environ.get("COVERAGE_PROCESS_START"):
        return
    try:
        import coverage
    except ImportError:
        return
    # coverage.py's own a1_coverage.pth may have started it already (process_startup then
    # answers None): either way, the instance measuring this process
    measuring = coverage.process_startup() or coverage.Coverage.current()
    if measuring is None:
        return
    directory = os.path.dirname(os.path.abspath(measuring.config.data_file))
    try:
        identity = _identity(directory)
    except OSError:
        return
    os.register_at_fork(after_in_child=lambda: _in_child(directory, identity))


def _identity(directory: str) -> tuple[int, int]:
    found = os.stat(directory)
    return found.st_dev, found.st_ino


def _save(directory: str, identity: tuple[int, int]) -> None:
    """Stop measuring; write the data if the data directory is still ours."""
    import coverage

    current = coverage.Coverage.current()
    if current is None or getattr(current, "_minidock_saved", False):
        return
    current._minidock_saved = True
    current.stop()
    try:
        same = _identity(directory) == identity
    except OSError:
        same = False
    if same:
        try:
            current.save()
        except Exception:  # noqa: BLE001 - measuring must never break what it measures
            pass  # (a user namespace's root may not write the host's data directory)


def _in_child(directory: str, identity: tuple[int, int]) -> None:
    """In a forked child: save before the ways out that skip atexit, and before pivot_root."""

    def saving_first(function):
        def wrapper(*args, **kwargs):
            _save(directory, identity)
            return function(*args, **kwargs)

        wrapper.__wrapped__ = function
        return wrapper

    for name in ("_exit", "execv", "execve", "execvp", "execvpe"):
        original = getattr(os, name)
        setattr(os, name, saving_first(getattr(original, "__wrapped__", original)))
    syscalls = sys.modules.get("minidock.kernel.syscalls")
    if syscalls is not None:
        original = syscalls.pivot_root
        syscalls.pivot_root = saving_first(getattr(original, "__wrapped__", original))
