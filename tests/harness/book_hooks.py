"""The book's MkDocs hooks (docs/hooks/*.py) as modules, loaded the way MkDocs loads them.

Used by: tests/docs (the quote, figure and source hooks), tests/trace (the trace, bench
and coverage hooks).

MkDocs imports a hook by its file path, not as a package member, with the hooks' folder
first on sys.path while the file runs, so a hook can import a sibling such as
docs/hooks/fences.py by its bare name. load_hook does the same.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HOOKS = Path(__file__).resolve().parents[2] / "docs" / "hooks"


def load_hook(name: str) -> ModuleType:
    """Import docs/hooks/<name>.py under a private module name, as MkDocs does."""
    spec = importlib.util.spec_from_file_location(f"_book_hook_{name}", HOOKS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = sys.path.copy()
    sys.path.insert(0, str(HOOKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module
