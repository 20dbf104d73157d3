"""Routes on a container's files: cp (archive), export, changes, commit.

Implements: spec/engine.md ENGINE-FS-001 ..
Explained:  chapters/05-engine.md#a-containers-files
Modelled on: moby's api/server/router/container (archive.go, copy) and router/image (commit)

    register(app, containers, images, add_route)
"""

from __future__ import annotations

from aiohttp import web


def register(app: web.Application, containers, images, add_route) -> None:
    """Add the routes on a container's files (none yet)."""
