"""Figures: `::: figure runtime:life_cycle` becomes an SVG drawn from the code at build time.

Implements: spec/docs.md DOCS-030 .. DOCS-034
Explained:  docs/index.md#figures
Modelled on: the `::: code` quotes of docs/hooks/quote.py; Sphinx's graphviz extension

A chapter writes one line, alone, at any indentation:

    ::: figure runtime:life_cycle               the function life_cycle() of docs/figures/runtime.py
    ::: figure runtime:life_cycle A caption     the same, with its own caption
    ::: figure bridge.svg A caption             a hand-drawn SVG kept as docs/figures/bridge.svg

A figure function takes no argument and returns Graphviz DOT text (drawn with Debian's
`dot -Tsvg`) or SVG text; its docstring's first paragraph is the caption. It reads the
truth from the code (the runtime's TRANSITIONS, the import-linter layers, a snapshotter's
mounts), so the picture changes when the code does. The build writes the drawing to
`figures/<module>.<function>.svg` in the site and puts in the page

    <figure class="minidock-figure"> <img src="../figures/runtime.life_cycle.svg"> <figcaption>

    find_figures(markdown) -> [Directive]       pure: the directives outside fenced code
    expand_figures(markdown, page_uri, caption_of) -> markdown   pure
    draw(root, target) -> Drawing               runs the figure function (and dot)
    on_files / on_page_markdown                 the thin MkDocs hooks

Rules: a figure that cannot be drawn (a missing function or file, a DOT error, no `dot`)
fails the build, naming the page and the figure; lines inside fenced code are left alone.
"""

from __future__ import annotations

import importlib
import posixpath
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from fences import outside_fences  # docs/hooks/fences.py: MkDocs puts this folder on sys.path

DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*):::[ \t]+figure[ \t]+(?P<target>\S+)(?:[ \t]+(?P<caption>\S.*?))?[ \t]*$")
TARGET = re.compile(r"^(?:(?P<module>[a-z_][a-z0-9_]*):(?P<function>[a-z_][a-z0-9_]*)|(?P<file>[\w.-]+\.svg))$")
FIGURES = "figures"  # docs/figures/ in the repository, figures/ in the site


class FigureError(Exception):
    """A figure that cannot be drawn."""


class Directive(NamedTuple):  # NamedTuple: the tests load hooks by path, outside sys.modules
    """One `::: figure` line: where it is, what it draws, and its own caption if it has one."""

    line: int
    indent: str
    target: str
    caption: str | None


class Drawing(NamedTuple):
    """A drawn figure: the SVG text and the caption (Markdown, one paragraph)."""

    svg: str
    caption: str


# --- the pure part -----------------------------------------------------------


def find_figures(markdown: str) -> list[Directive]:
    """Every `::: figure` line of a page, outside fenced code blocks."""
    found: list[Directive] = []
    for number, line in outside_fences(markdown.split("\n")):
        if match := DIRECTIVE.match(line):
            found.append(Directive(number, match["indent"], match["target"], match["caption"]))
    return found


def site_path(target: str) -> str:
    """Where a figure lands in the site: ``runtime:life_cycle`` -> ``figures/runtime.life_cycle.svg``."""
    match = TARGET.match(target)
    if match is None:
        raise FigureError(f"{target!r} is neither module:function (docs/figures/module.py) nor a file.svg")
    return f"{FIGURES}/{match['file'] or match['module'] + '.' + match['function'] + '.svg'}"


def figure_html(src: str, caption: str, indent: str = "") -> str:
    """The Markdown (HTML with Markdown inside, md_in_html) that shows one figure."""
    alt = re.sub(r"[`*\[\]\"<>]|\(.*?\)", "", caption).strip()
    lines = ['<figure class="minidock-figure" markdown="span">',
             f"![{alt}]({src})",  # not indented: md_in_html would add a <br />
             f'<figcaption markdown="span">{caption}</figcaption>',
             "</figure>"]
    return "\n".join(indent + line for line in lines)


def expand_figures(markdown: str, page_uri: str, caption_of: Callable[[str], str]) -> str:
    """Replace each `::: figure` line of the page at ``page_uri`` with its <figure>.

    ``caption_of(target)`` gives the default caption (the function's docstring).
    """
    lines = markdown.split("\n")
    for directive in find_figures(markdown):
        src = posixpath.relpath(site_path(directive.target), posixpath.dirname(page_uri) or ".")
        caption = directive.caption or caption_of(directive.target)
        lines[directive.line] = figure_html(src, caption, directive.indent)
    return "\n".join(lines)


def first_paragraph(docstring: str | None) -> str:
    """A docstring's first paragraph, on one line."""
    text = (docstring or "").strip().split("\n\n")[0]
    return " ".join(text.split())


# --- drawing -----------------------------------------------------------------


def dot_to_svg(dot: str) -> str:
    """Lay a DOT graph out with Graphviz; the SVG, without its XML prologue."""
    program = shutil.which("dot")
    if program is None:
        raise FigureError("Graphviz's `dot` is not installed (`make deb` installs the graphviz package)")
    result = subprocess.run([program, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise FigureError(f"dot failed: {result.stderr.strip()}")
    return result.stdout[result.stdout.index("<svg"):]


def figure_function(root: Path, module: str, function: str) -> Callable[[], str]:
    """The function ``function`` of docs/figures/<module>.py, imported as docs.figures.<module>.

    The figures import minidock, so the repository's root goes first on sys.path.
    """
    if not (root / "docs" / FIGURES / f"{module}.py").is_file():
        raise FigureError(f"no docs/{FIGURES}/{module}.py")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    loaded = importlib.import_module(f"docs.{FIGURES}.{module}")
    found = getattr(loaded, function, None)
    if not callable(found):
        raise FigureError(f"docs/{FIGURES}/{module}.py has no function {function!r}")
    return found


def draw(root: Path, target: str) -> Drawing:
    """Draw one figure: run its function (and dot), or read its hand-drawn SVG."""
    match = TARGET.match(target)
    if match is None:
        site_path(target)  # raises, with the message
    if match["file"]:
        path = root / "docs" / FIGURES / match["file"]
        if not path.is_file():
            raise FigureError(f"no docs/{FIGURES}/{match['file']}")
        svg = path.read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", svg, re.S)
        return Drawing(svg, title.group(1).strip() if title else "")
    function = figure_function(root, match["module"], match["function"])
    try:
        text = function()
    except FigureError:
        raise
    except Exception as error:  # a figure reads live code: say which figure broke
        raise FigureError(f"{type(error).__name__}: {error}") from error
    text = text.strip()
    svg = text[text.index("<svg"):] if text.startswith(("<svg", "<?xml")) else dot_to_svg(text)
    return Drawing(svg, first_paragraph(function.__doc__))


# --- the MkDocs hooks ----------------------------------------------------------
#
# MkDocs runs on_files (the site's file list is fixed), then on_page_markdown page by page,
# then copies the files. So on_files only reserves figures/<name>.svg for every figure a
# page names, and each page draws its own figures, after its quotes: the first broken
# thing of the first broken page is the error reported.

_drawn: dict[tuple[str, str], Drawing] = {}  # (root, target) -> Drawing, for one build


def _root(config) -> Path:  # noqa: ANN001
    return Path(config["config_file_path"]).parent


def on_files(files, config):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    """Reserve a file in the site for every figure the pages name (drawn by on_page_markdown)."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    _drawn.clear()
    for name in [name for name in sys.modules if name.startswith(f"docs.{FIGURES}.")]:
        del sys.modules[name]  # `mkdocs serve` rebuilds in one process: read the figures anew
    for file in list(files):
        if not file.is_documentation_page():
            continue
        for directive in find_figures(file.content_string):
            try:
                path = site_path(directive.target)
            except FigureError as error:
                raise PluginError(f"{file.src_uri}: cannot draw `::: figure {directive.target}`: {error}") from None
            if files.get_file_from_path(path) is None and not directive.target.endswith(".svg"):
                files.append(File.generated(config, path, content=""))
    return files


def on_page_markdown(markdown, page, config, files):  # noqa: ANN001, ANN201
    """Draw the figures of the page, into their files, and put each in place of its line."""
    from mkdocs.exceptions import PluginError

    root = _root(config)
    for directive in find_figures(markdown):
        key = (str(root), directive.target)
        if key in _drawn:
            continue
        try:
            _drawn[key] = draw(root, directive.target)
        except FigureError as error:
            raise PluginError(f"{page.file.src_uri}: cannot draw `::: figure {directive.target}`: {error}") from None
        if not directive.target.endswith(".svg"):
            files.get_file_from_path(site_path(directive.target)).content_string = _drawn[key].svg
    return expand_figures(markdown, page.file.src_uri, lambda target: _drawn[(str(root), target)].caption)
