"""Figures: `::: figure topic:function` drawn from the code at build time (docs/hooks/figures.py).

The pure parts are driven directly; the build tests break a copy of the book
(tests/docs/conftest.py), never the real files.
"""

from __future__ import annotations

import re

import pytest

from tests.docs.conftest import REPO, load_hook, mkdocs_build

figures = load_hook("figures")

FIGURE_CHAPTERS = sorted(path.stem for path in (REPO / "chapters").glob("*.md"))  # every chapter (DOCS-033)


@pytest.mark.spec("DOCS-030")
def test_directives_outside_code_blocks_are_found():
    markdown = "\n".join([
        "Text.",
        "::: figure runtime:life_cycle",
        "  ::: figure images:overlay_stack A caption of its own",
        "```text",
        "::: figure runtime:life_cycle",
        "```",
        "::: figure bridge.svg",
    ])
    found = [(d.line, d.indent, d.target, d.caption) for d in figures.find_figures(markdown)]
    assert found == [(1, "", "runtime:life_cycle", None), (2, "  ", "images:overlay_stack", "A caption of its own"),
                     (6, "", "bridge.svg", None)]


@pytest.mark.spec("DOCS-030")
def test_a_directive_becomes_a_figure_linked_relative_to_the_page():
    out = figures.expand_figures("Before\n::: figure runtime:life_cycle\nAfter", "chapters/03-runtime.md",
                                 lambda target: f"The `{target}` caption")
    assert "![The runtime:life_cycle caption](../figures/runtime.life_cycle.svg)" in out
    assert '<figcaption markdown="span">The `runtime:life_cycle` caption</figcaption>' in out
    assert out.startswith("Before\n<figure") and out.endswith("</figure>\nAfter")
    assert figures.site_path("bridge.svg") == "figures/bridge.svg"


@pytest.mark.spec("DOCS-031")
@pytest.mark.parametrize("target", ["Runtime:LifeCycle", "runtime", "../x.svg", "a:b:c"])
def test_a_malformed_target_is_refused(target):
    with pytest.raises(figures.FigureError, match="neither module:function"):
        figures.site_path(target)


@pytest.mark.spec("DOCS-030", "DOCS-032")
def test_a_figure_function_is_drawn_with_its_docstring_as_caption():
    drawing = figures.draw(REPO, "runtime:life_cycle")
    assert drawing.svg.startswith("<svg") and "</svg>" in drawing.svg
    assert drawing.caption.startswith("The runtime's life cycle")
    from minidock.runtime.state import TRANSITIONS

    for (status, _event), after in TRANSITIONS.items():  # one edge per entry of the table
        assert f"<title>{status}&#45;&gt;{after}</title>" in drawing.svg


@pytest.mark.spec("DOCS-033")
@pytest.mark.parametrize("chapter", FIGURE_CHAPTERS)
def test_every_chapter_has_a_figure(chapter):
    markdown = (REPO / "chapters" / f"{chapter}.md").read_text()
    assert figures.find_figures(markdown), f"chapters/{chapter}.md has no `::: figure` line"


@pytest.mark.spec("DOCS-030", "DOCS-032")
def test_a_built_figure_follows_the_code(book_copy):
    state = book_copy / "minidock" / "runtime" / "state.py"
    source = state.read_text()
    anchor = "    (Status.PAUSED, Event.EXITED): Status.STOPPED,\n"
    assert anchor in source
    state.write_text(source.replace(anchor, anchor + "    (Status.STOPPED, Event.STARTED): Status.RUNNING,\n"))
    (book_copy / "docs" / "figures" / "hand.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><title>A hand-drawn box</title>'
        '<rect width="40" height="20"/></svg>')
    chapter = book_copy / "chapters" / "03-runtime.md"
    chapter.write_text(chapter.read_text() + "\n::: figure hand.svg\n")
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode == 0, result.stderr
    svg = (book_copy / "site" / "figures" / "runtime.life_cycle.svg").read_text()
    assert "<title>stopped&#45;&gt;running</title>" in svg
    page = (book_copy / "site" / "chapters" / "03-runtime" / "index.html").read_text()
    assert 'src="../../figures/runtime.life_cycle.svg"' in page
    assert re.search(r'<img alt="A hand-drawn box" src="../../figures/hand.svg" />\s*<figcaption>A hand-drawn box<', page)
    assert not (book_copy / "site" / "figures" / "runtime.py").exists()  # the code is not published


@pytest.mark.spec("DOCS-031")
@pytest.mark.parametrize("line, message", [
    ("::: figure runtime:no_such_figure", "docs/figures/runtime.py has no function 'no_such_figure'"),
    ("::: figure nowhere:thing", "no docs/figures/nowhere.py"),
    ("::: figure gone.svg", "no docs/figures/gone.svg"),
])
def test_a_figure_that_cannot_be_drawn_fails_the_build(book_copy, line, message):
    chapter = book_copy / "chapters" / "00-architecture.md"
    chapter.write_text(chapter.read_text() + f"\n{line}\n")
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode != 0
    assert "chapters/00-architecture.md" in result.stderr and line.removeprefix("::: ") in result.stderr
    assert message in result.stderr


@pytest.mark.spec("DOCS-031")
def test_a_figure_naming_a_gone_function_fails_the_build(book_copy):
    engine = book_copy / "minidock" / "runtime" / "lifecycle.py"
    engine.write_text(engine.read_text().replace("def start(", "def start_renamed("))
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode != 0
    assert "engine:request_path" in result.stderr
    assert "minidock.runtime.lifecycle:start" in result.stderr
