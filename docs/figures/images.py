"""Chapter 4's figures: a container's root filesystem, an overlay of snapshots.

Explained:  chapters/04-images.md#snapshots

    overlay_stack()   the mount an OverlaySnapshotter returns for a container on a 3-layer image
"""

from __future__ import annotations

import os
import tempfile

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, escape

LAYERS = ("chain_id(L1)", "chain_id(L1|L2)", "chain_id(L1|L2|L3)")  # committed keys, bottom first


def _stack() -> tuple[dict[str, str], dict[str, str]]:
    """Commit three layers and prepare "web" on top, in a scratch root; its overlay's options and dirs."""
    from minidock.images.snapshots import OverlaySnapshotter

    with tempfile.TemporaryDirectory(prefix="minidock-figure-") as root:
        snapshots = OverlaySnapshotter(root)
        parent = None
        for number, key in enumerate(LAYERS, 1):
            snapshots.prepare(f"extract-{number}", parent)
            snapshots.commit(key, f"extract-{number}")
            parent = key
        (mount,) = snapshots.prepare("web", parent)
        options = dict(option.split("=", 1) for option in mount.options if "=" in option)
        owner = {snapshots.fs(record["id"]): key for key, record in snapshots.metadata.read()["snapshots"].items()}
        owner.update({os.path.join(os.path.dirname(path), "work"): key for path, key in owner.items()})
        return options, {path: f"{owner[path]}: {os.path.relpath(path, root)}" for path in owner}


def overlay_stack() -> str:
    """A container's root filesystem on a three-layer image (drawn from the mount `OverlaySnapshotter.prepare` returns): overlayfs shows the upper directory over the lower ones, nearest first; writes go to the container's own upper directory, the layers below are never changed."""
    code_name("minidock.images.snapshots.overlay:OverlaySnapshotter._mounts")
    options, named = _stack()
    rows = ['<TR><TD BGCOLOR="white" COLSPAN="2"><B>merged</B>: the container\'s / '
            "(overlay, mounted on the bundle's rootfs)</TD></TR>",
            f'<TR><TD BGCOLOR="{NEW}">upperdir</TD><TD BGCOLOR="{NEW}" ALIGN="LEFT">'
            f"{escape(named[options['upperdir']])}  (active: read-write)</TD></TR>"]
    for depth, path in enumerate(options["lowerdir"].split(":")):
        where = " (nearest)" if depth == 0 else ""
        rows.append(f'<TR><TD BGCOLOR="{FILL}">lowerdir[{depth}]{where}</TD><TD BGCOLOR="{FILL}" ALIGN="LEFT">'
                    f"{escape(named[path])}  (committed: read-only)</TD></TR>")
    rows.append(f'<TR><TD BGCOLOR="{HOST}">workdir</TD><TD BGCOLOR="{HOST}" ALIGN="LEFT">'
                f"{escape(named[options['workdir']])}  (overlayfs' scratch space)</TD></TR>")
    table = ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="6" COLOR="#90a4ae">'
             + "".join(rows) + "</TABLE>>")
    return digraph([f'stack [shape=plaintext, style="", label={table}];'])
