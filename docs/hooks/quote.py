"""Quote code by name: `::: code minidock.errors:http_status` becomes its source.

Implements: spec/docs.md DOCS-002, DOCS-003
Explained:  docs/index.md#for-authors
Modelled on: mkdocstrings' `::: identifier` blocks, without importing the code

A chapter writes one line, alone, at any indentation:

    ::: code minidock.errors                    the module's docstring (its map)
    ::: code minidock.errors:http_status        a function
    ::: code minidock.errors:MinidockError      a class
    ::: code minidock.errors:MinidockError.__init__   a method
    ::: code minidock:API_VERSION               a module-level assignment

and the build replaces it with a fenced Python block holding that definition's
current source, found with `ast` in the file (the code is never imported, so
quoting needs no root and no dependencies). A name that is gone fails the build.

    expand_quotes(markdown, read_module) -> markdown     pure: the unit tests drive it
    quote(source, qualname) -> str                       pure: one definition's text
    on_page_markdown(...)                                the thin MkDocs hook

Rules: lines inside fenced code blocks are left alone (so the syntax can be
shown); a quote is never by line number, so it cannot go stale silently.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from fences import outside_fences  # docs/hooks/fences.py: MkDocs puts this folder on sys.path

DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*):::[ \t]+code[ \t]+(?P<target>\S+)[ \t]*$")


class QuoteError(Exception):
    """A quote names a module or a definition that does not exist."""


# --- the pure part -----------------------------------------------------------


def _definition_names(node: ast.stmt) -> list[str]:
    """The names a statement defines: `def f`, `class C`, `X = ...`, `X: int = ...`."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        names = []
        for target in node.targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            names += [element.id for element in elements if isinstance(element, ast.Name)]
        return names
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _find(body: list[ast.stmt], qualname: str) -> ast.stmt:
    """Walk `Class.method` down through class bodies; the last definition wins, as in Python."""
    found: ast.stmt | None = None
    head, _, rest = qualname.partition(".")
    for node in body:
        if head in _definition_names(node):
            found = node
    if found is None:
        raise QuoteError(f"no definition named {head!r}")
    if not rest:
        return found
    if not isinstance(found, ast.ClassDef):
        raise QuoteError(f"{head!r} is not a class, so it has no {rest!r}")
    try:
        return _find(found.body, rest)
    except QuoteError as error:
        raise QuoteError(f"in class {head!r}: {error}") from None


def _lines(source: str, first: int, last: int) -> str:
    """Lines first..last (1-based, inclusive), dedented so a method reads as top-level."""
    return textwrap.dedent("\n".join(source.splitlines()[first - 1 : last]))


def quote(source: str, qualname: str | None) -> str:
    """Return the source text of ``qualname`` in ``source`` (a module's text).

    ``qualname`` is ``None`` for the module's docstring, or a dotted name such as
    ``http_status``, ``MinidockError``, ``MinidockError.__init__`` or ``API_VERSION``.
    Decorators are included with their function or class. Raises QuoteError.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise QuoteError(f"cannot parse the source: {error}") from None
    if qualname is None:
        first = tree.body[0] if tree.body else None
        if not (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            raise QuoteError("the module has no docstring")
        return _lines(source, first.lineno, first.end_lineno or first.lineno)
    node = _find(tree.body, qualname)
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno] + [decorator.lineno for decorator in decorators])
    return _lines(source, first, node.end_lineno or node.lineno)


def parse_target(target: str) -> tuple[str, str | None]:
    """Split ``minidock.errors:http_status`` into the module and the qualified name."""
    module, _, qualname = target.partition(":")
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        raise QuoteError(f"{module!r} is not a dotted module name (write package.module:Name)")
    if qualname and not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", qualname):
        raise QuoteError(f"{qualname!r} is not a qualified name (write Name or Class.method)")
    return module, qualname or None


def module_path(module: str) -> str:
    """The file a module lives in, relative to the repository: ``a/b.py`` or ``a/b/__init__.py``."""
    return module.replace(".", "/")


def render(target: str, read_module: Callable[[str], tuple[str, str]], indent: str = "") -> str:
    """The fenced block that replaces ``::: code target``.

    ``read_module(module)`` returns ``(path shown in the title, source text)`` or
    raises QuoteError; the hook reads files, the tests pass a dict.
    """
    module, qualname = parse_target(target)
    path, source = read_module(module)
    try:
        text = quote(source, qualname)
    except QuoteError as error:
        raise QuoteError(f"{path}: {error}") from None
    title = f"{path} · {qualname}" if qualname else path
    block = [f'```python title="{title}"', *text.splitlines(), "```"]
    return "\n".join(indent + line if line else line for line in block)


def expand_quotes(markdown: str, read_module: Callable[[str], tuple[str, str]]) -> str:
    """Replace every ``::: code`` line outside fenced code blocks with its quote."""
    lines = markdown.split("\n")
    for number, line in outside_fences(lines):
        directive = DIRECTIVE.match(line)
        if directive:
            target = directive["target"]
            try:
                lines[number] = render(target, read_module, directive["indent"])
            except QuoteError as error:
                raise QuoteError(f"`::: code {target}`: {error}") from None
    return "\n".join(lines)


def file_reader(root: Path) -> Callable[[str], tuple[str, str]]:
    """A ``read_module`` that finds ``a.b`` as ``root/a/b.py`` or ``root/a/b/__init__.py``."""

    def read_module(module: str) -> tuple[str, str]:
        base = module_path(module)
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if (root / candidate).is_file():
                return candidate, (root / candidate).read_text(encoding="utf-8")
        raise QuoteError(f"module {module!r} not found (no {base}.py or {base}/__init__.py)")

    return read_module


# --- the MkDocs hook -----------------------------------------------------------


def on_page_markdown(markdown, page, config, files):  # noqa: ANN001 - MkDocs' hook signature
    """Expand the quotes of one page; a missing name fails the whole build."""
    from mkdocs.exceptions import PluginError

    root = Path(config["config_file_path"]).parent
    try:
        return expand_quotes(markdown, file_reader(root))
    except QuoteError as error:
        raise PluginError(f"{page.file.src_uri}: cannot quote code: {error}") from None
