"""Which lines of a Markdown page lie outside fenced code blocks.

Used by: docs/hooks/quote.py, figures.py and trace.py (not a hook itself: mkdocs.yml
does not list it). MkDocs imports each hook by its path with this folder first on
sys.path, so the hooks import this module by its bare name, `fences`.

Each of those hooks expands a `::: NAME` line, and none may touch one that a page
shows as an example inside a code block. A block opens with three or more backticks
or tildes and closes with a run of the same character at least as long (CommonMark).

    outside_fences(lines) -> (number, line), ...    the lines a directive may be on
"""

from __future__ import annotations

import re
from collections.abc import Iterator

FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})")


def outside_fences(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yield each line (with its index) that is neither a fence nor inside a fenced block."""
    fence: str | None = None  # the opening fence while inside a block
    for number, line in enumerate(lines):
        opened = FENCE.match(line)
        if fence is not None:
            if opened and opened["fence"][0] == fence[0] and len(opened["fence"]) >= len(fence):
                fence = None
        elif opened:
            fence = opened["fence"]
        else:
            yield number, line
