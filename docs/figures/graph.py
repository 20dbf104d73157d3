"""The figures' common style: DOT text with one look, and names checked against the code.

Implements: spec/docs.md DOCS-031
Explained:  docs/index.md#figures

    digraph(lines, rankdir="TB") -> DOT text      the book's fonts, colours and spacing
    quoted(text) -> '"text"'                      a DOT string
    escape(text) -> text                          for HTML-like labels (<TABLE> nodes)
    code_name("minidock.runtime.state:TRANSITIONS") -> the name, if it exists in the code

Rules: figure functions (docs/figures/<topic>.py) return DOT or SVG text and read their
facts from the code; a name drawn in a figure is checked with `code_name`, so a figure
naming a function that is gone fails the build, as a quote does.
"""

from __future__ import annotations

import html
from pathlib import Path

from docs.hooks.quote import QuoteError, file_reader, parse_target, quote

ROOT = Path(__file__).resolve().parents[2]
FONT = "Helvetica,Arial,sans-serif"
FILL = "#eceff1"       # blue grey 50: an ordinary box
LINE = "#546e7a"       # blue grey 600: borders and arrows
NEW = "#bbdefb"        # blue 100: what this figure is about (made new, writable, ...)
HOST = "#fff8e1"       # amber 50: the host's, shared


def digraph(lines: list[str], rankdir: str = "TB", **graph: str) -> str:
    """A directed graph in the book's style; ``lines`` are DOT statements."""
    attributes = {"rankdir": rankdir, "bgcolor": "white", "pad": "0.2", "nodesep": "0.35",
                  "ranksep": "0.45", "fontname": FONT, "fontsize": "11", **graph}
    head = [
        "digraph figure {",
        "  " + "; ".join(f"{key}={quoted(value)}" for key, value in attributes.items()) + ";",
        f'  node [fontname="{FONT}", fontsize=11, shape=box, style="rounded,filled", '
        f'fillcolor="{FILL}", color="{LINE}", margin="0.12,0.06"];',
        f'  edge [fontname="{FONT}", fontsize=10, color="{LINE}", fontcolor="#37474f", arrowsize=0.7];',
    ]
    return "\n".join(head + ["  " + line for line in lines] + ["}"])


def quoted(text: str) -> str:
    """``text`` as a DOT string (double-quoted, backslashes and quotes escaped)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def escape(text: str) -> str:
    """``text`` for an HTML-like label."""
    return html.escape(str(text), quote=True)


def code_name(target: str) -> str:
    """Return the qualified name of ``module:qualname`` after checking it exists in the code.

    Found with the quote hook's `ast` lookup, never by importing; a missing name raises.
    """
    module, qualname = parse_target(target)
    path, source = file_reader(ROOT)(module)
    try:
        quote(source, qualname)
    except QuoteError as error:
        raise QuoteError(f"the figure names {target}, but {path}: {error}") from None
    return qualname or module
