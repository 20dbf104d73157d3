"""Fault injection for the crash tests: the daemon kills itself at a named point when told to.

Implements: spec/engine.md ENGINE-D-010
Explained:  chapters/05-engine.md#crashes-and-restarts

    point("start:after-runtime-create")   SIGKILL ourselves if MINIDOCK_CRASH_AT names this point

Rules: a no-op unless the environment variable is set (only the tests set it);
the points sit between the steps whose interruption could leave something behind.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "MINIDOCK_CRASH_AT"


def point(name: str) -> None:
    """Die here, at once and without cleaning up, if the tests asked for it."""
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
