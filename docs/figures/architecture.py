"""Chapter 0's figures: the layers of minidock, read from the import-linter contracts.

Explained:  chapters/00-architecture.md#the-layers

    layers()    pyproject.toml's [tool.importlinter] contracts as one picture
"""

from __future__ import annotations

import math
import tomllib

from docs.figures.graph import FILL, HOST, NEW, ROOT, digraph, escape


def _contracts() -> list[dict]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["tool"]["importlinter"]["contracts"]


def _short(module: str) -> str:
    return module.removeprefix("minidock.")


def layers() -> str:
    """minidock's layers as `lint-imports` checks them (drawn from `pyproject.toml`): a package imports only from the rows below its own; compose and swarm reach the engine only through its HTTP API."""
    contracts = _contracts()
    stack = next(contract for contract in contracts if contract["type"] == "layers")["layers"]
    rows = [[_short(part.strip()) for part in layer.split("|")] for layer in stack]
    width = math.lcm(*(len(row) for row in rows))  # every row as wide, its boxes equal
    arrow = "imports<BR/>go<BR/>down<BR/>only<BR/><BR/>↓"
    cells = []
    for number, row in enumerate(rows):
        side = f'<TD ROWSPAN="{len(rows)}" BGCOLOR="white">{arrow}</TD>' if number == 0 else ""
        line = "".join(f'<TD COLSPAN="{width // len(row)}" WIDTH="{560 // len(row)}" BGCOLOR="{NEW if number == 0 else FILL}">'
                       f"<B>{escape(name)}</B></TD>" for name in row)
        cells.append(f"<TR>{side}{line}</TR>")
    for contract in contracts:
        if contract["type"] != "forbidden":
            continue
        sources = ", ".join(_short(module) for module in contract["source_modules"])
        forbidden = ", ".join(_short(module) for module in contract["forbidden_modules"])
        cells.append(f'<TR><TD BGCOLOR="white">✗</TD><TD COLSPAN="{width}" BGCOLOR="{HOST}" ALIGN="LEFT">'
                     f'<FONT POINT-SIZE="10">{escape(sources)} never import {escape(forbidden)}</FONT></TD></TR>')
    table = ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="6" COLOR="#90a4ae">'
             + "".join(cells) + "</TABLE>>")
    return digraph([f'layers [shape=plaintext, style="", label={table}];'])
