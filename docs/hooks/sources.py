"""Put the book together from where its parts live in the repository.

Implements: spec/docs.md DOCS-005, DOCS-006
Explained:  docs/index.md#for-authors
Modelled on: MkDocs' own File.generated() for virtual files

The design keeps chapters/, spec/ and labs/ at the top of the repository, beside
minidock/, not inside docs/. This hook adds them to the site under the same
paths, so the site's tree is the repository's tree and a relative link written
for GitHub (`../spec/engine.md`, `../minidock/errors.py`) works in the book too:

    chapters/*.md                  pages        (one per topic, 00 .. 11)
    spec/*.md                      pages        (README.md first)
    labs/README.md, labs/*/README.md  pages     (never the skeletons or work/ dirs)
    minidock/**/*.py               static files (so links to code resolve)
    report/conformance.md          a placeholder page when the test run has not
                                   written docs/report/conformance.md

In mkdocs.yml's nav, an entry that ends in "/" (`Chapters: chapters/`) expands
to that folder's pages in file-name order, README first.
"""

from __future__ import annotations

from pathlib import Path

REPORT = "report/conformance.md"

REPORT_PLACEHOLDER = """\
# Conformance report

**The conformance report has not been generated yet.**

The test run writes it: `sudo make test` runs the whole suite with
`--conformance-report=docs/report` and then builds this book, and this page
then lists every requirement of every spec page, with whether its tests
passed, failed, or do not exist yet.

To see it locally, run `sudo make test`, or run the suite yourself and then
`make docs`.
"""


def book_pages(root: Path) -> list[str]:
    """The Markdown pages that live outside docs/, as repository-relative paths."""
    patterns = ["chapters/*.md", "spec/*.md", "labs/README.md", "labs/*/README.md"]
    pages = {path.relative_to(root).as_posix() for pattern in patterns for path in root.glob(pattern)}
    return sorted(page for page in pages if (root / page).is_file())


def code_files(root: Path) -> list[str]:
    """minidock's Python sources, published so that links to them resolve."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.glob("minidock/**/*.py")
        if "__pycache__" not in path.parts and path.is_file()
    )


def _sort_key(page: str) -> tuple[int, str, bool, str]:
    """A folder's own pages before its subfolders', README first, then by name."""
    folder, _, name = page.rpartition("/")
    return (folder.count("/"), folder, name != "README.md", name)


def expand_nav(nav: list, pages: list[str]) -> list:
    """Replace every nav entry ending in "/" with the pages under that folder."""
    expanded = []
    for entry in nav:
        if isinstance(entry, dict):
            entry = {title: _expand_value(value, pages) for title, value in entry.items()}
        else:
            entry = _expand_value(entry, pages)
        expanded.append(entry)
    return expanded


def _expand_value(value, pages: list[str]):  # noqa: ANN001, ANN202 - nav values are str | list
    if isinstance(value, list):
        return expand_nav(value, pages)
    if isinstance(value, str) and value.endswith("/") and "://" not in value:
        return sorted((page for page in pages if page.startswith(value)), key=_sort_key)
    return value


# --- the MkDocs hooks ----------------------------------------------------------


def _root(config) -> Path:  # noqa: ANN001
    return Path(config["config_file_path"]).parent


def on_config(config):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    """Expand the folder entries of the nav."""
    if config["nav"]:
        config["nav"] = expand_nav(config["nav"], book_pages(_root(config)))
    return config


def on_files(files, config):  # noqa: ANN001, ANN201
    """Add chapters, spec, labs and code; stand in for a missing conformance report."""
    from mkdocs.structure.files import File

    root = _root(config)
    for src_uri in book_pages(root) + code_files(root):
        if files.get_file_from_path(src_uri) is None:
            files.append(File.generated(config, src_uri, abs_src_path=str(root / src_uri)))
    if files.get_file_from_path(REPORT) is None:
        files.append(File.generated(config, REPORT, content=REPORT_PLACEHOLDER))
    return files


def on_serve(server, config, builder):  # noqa: ANN001, ANN201
    """`mkdocs serve` rebuilds when a chapter, spec, lab or the code changes."""
    root = _root(config)
    for folder in ("chapters", "spec", "labs", "minidock"):
        if (root / folder).is_dir():
            server.watch(str(root / folder))
    return server
