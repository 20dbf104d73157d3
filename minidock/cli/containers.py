"""`minidock` container verbs: run, create, start, stop, kill, rm, ps, logs, wait, inspect, exec, ...

Implements: spec/engine.md ENGINE-CLI-010 ..
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/container

    add_parsers(verbs)      the `container` group and its top-level aliases (run, ps, rm, ...)

Rules: handlers import what they need when they run (the CLI starts fast).
"""

from __future__ import annotations


def add_parsers(verbs) -> None:
    """Add the container verbs to the top-level subparsers ``verbs``."""
