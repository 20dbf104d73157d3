"""Coverage in the book: report/coverage.md, one table row per chapter's code.

Implements: spec/docs.md DOCS-053, DOCS-054
Explained:  the page itself
Modelled on: docs/hooks/sources.py's placeholder for the conformance report

`make test` measures every Python process of the suite (pytest, the daemons it starts,
the runtime's commands: pyproject.toml [tool.coverage.run]) and combines the data into
docs/report/coverage.json. This hook makes report/coverage.md from it: per chapter, the
statements of its modules and how many the suite ran, then a bar per module. Without
the file, the page says it has not been measured.

    chapter_of(path) -> "03-runtime" | None     pure
    page(document) -> Markdown                  pure
"""

from __future__ import annotations

import json
from pathlib import Path

PAGE = "report/coverage.md"
DATA = Path("docs") / "report" / "coverage.json"

# each chapter's code (DESIGN.md "One name, five places"); the CLI is the engine's chapter
CHAPTERS = {
    "namespaces": "01-namespaces", "cgroups": "02-cgroups", "kernel": "03-runtime",
    "runtime": "03-runtime", "images": "04-images", "engine": "05-engine", "cli": "05-engine",
    "volumes": "06-volumes", "networking": "07-networking", "build": "08-build",
    "registry": "09-registry", "compose": "10-compose", "swarm": "11-swarm",
}

NOT_MEASURED = """\
# Coverage

**Coverage has not been measured for this build.**

`sudo make test` runs the suite under coverage.py, the daemons and the runtime's
commands included, and writes `docs/report/coverage.json`; the next book build shows
here, chapter by chapter, which parts of the code the suite runs.
"""


def chapter_of(path: str) -> str | None:
    """``minidock/runtime/init.py`` -> ``03-runtime``; None for what no chapter owns."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "minidock":
        return None
    return CHAPTERS.get(parts[1])


def _bar(percent: float, width: int = 120) -> str:
    """A small SVG bar: the covered share dark, the rest light (no script, no font)."""
    return (f'<svg width="{width}" height="12" role="img" aria-label="{percent:.0f} % covered">'
            f'<rect width="{width}" height="12" fill="#cfd8dc"/>'
            f'<rect width="{width * percent / 100:.1f}" height="12" fill="#37474f"/></svg>')


def page(document: dict) -> str:
    """The Markdown page of a coverage.py JSON report."""
    by_chapter: dict[str, list[tuple[str, dict]]] = {}
    for path, data in sorted(document["files"].items()):
        chapter = chapter_of(path)
        if chapter:
            by_chapter.setdefault(chapter, []).append((path, data["summary"]))
    measured = document["meta"].get("timestamp", "")[:16].replace("T", " ")
    lines = ["# Coverage", "",
             f"What `make test` ran of each chapter's code (coverage.py {document['meta'].get('version', '')}, "
             f"measured {measured}, every Python process of the suite: pytest, the daemons, the runtime's "
             "commands, and the processes the runtime forks). The container's init stops measuring at "
             "`pivot_root`, before the container's root hides the data directory, so what it runs "
             "after that (the security steps) counts as not run here; tests/runtime proves it "
             "from outside.", "",
             "| chapter | statements | run | covered |", "|---|---:|---:|---|"]
    for chapter, files in sorted(by_chapter.items()):
        statements = sum(s["num_statements"] for _, s in files)
        covered = sum(s["covered_lines"] for _, s in files)
        percent = 100 * covered / statements if statements else 100.0
        lines.append(f"| [{chapter}](../chapters/{chapter}.md) | {statements} | {covered} | "
                     f"{_bar(percent)} {percent:.0f} % |")
    for chapter, files in sorted(by_chapter.items()):
        lines += ["", f"## {chapter}", "", "| module | statements | covered |", "|---|---:|---|"]
        for path, summary in files:
            lines.append(f"| `{path}` | {summary['num_statements']} | "
                         f"{_bar(summary['percent_covered'])} {summary['percent_covered']:.0f} % |")
    return "\n".join(lines) + "\n"


def on_files(files, config):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    """Add report/coverage.md, made from the combined data (or saying there is none)."""
    from mkdocs.structure.files import File

    path = Path(config["config_file_path"]).parent / DATA
    content = page(json.loads(path.read_text())) if path.is_file() else NOT_MEASURED
    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=content))
    return files
