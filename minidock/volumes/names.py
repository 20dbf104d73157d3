"""Volume names: Docker's rule for the `local` driver, and the names of anonymous volumes.

Implements: spec/volumes.md VOL-005
Explained:  chapters/06-volumes.md#names
Modelled on: moby's volume/local (validateName) and pkg/stringid

    check_name("data")      -> "data"          a bad one raises InvalidArgument in Docker's words
    anonymous_name()        -> 64 hex digits   what `-v /path` and an image's VOLUME get

Rules: a name is also a directory under the data root, so the rule is what keeps
`..`, `/` and the empty name out of the file system.
"""

from __future__ import annotations

import re
import secrets

from minidock.errors import InvalidArgument

NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(rf"^{NAME_CHARS}+$")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid local volume name; else raise in Docker's words."""
    # [VOL-005] Docker's two messages (the engine prefixes them with "create NAME: ")
    if len(name) == 1:
        raise InvalidArgument("volume name is too short, names should be at least two alphanumeric characters")
    if not _NAME.match(name):
        raise InvalidArgument(f'"{name}" includes invalid characters for a local volume name, '
                              f'only "{NAME_CHARS}" are allowed. If you intended to pass a host directory, '
                              "use absolute path")
    return name


def anonymous_name() -> str:
    """A fresh name for an anonymous volume: 64 hex digits, like a container ID."""
    return secrets.token_hex(32)
