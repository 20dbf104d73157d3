"""How docs/hooks/sources.py finds the pages that live outside docs/, and orders the nav."""

from __future__ import annotations

from pathlib import Path

import pytest


def make_tree(root: Path, paths: list[str]) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"# {path}\n")


@pytest.mark.spec("DOCS-010", "DOCS-011")
def test_book_pages_take_only_the_markdown_pages(sources_hook, tmp_path):
    make_tree(tmp_path, [
        "chapters/00-architecture.md", "chapters/notes.txt",
        "spec/README.md", "spec/engine.md",
        "labs/README.md", "labs/01-namespaces/README.md", "labs/01-namespaces/lab.toml",
        "labs/01-namespaces/skeleton.py", "labs/01-namespaces/work/README.md",
        "labs/01-namespaces/hints.md", "README.md", "docs/index.md",
    ])
    assert sources_hook.book_pages(tmp_path) == [
        "chapters/00-architecture.md",
        "labs/01-namespaces/README.md",
        "labs/README.md",
        "spec/README.md",
        "spec/engine.md",
    ]


@pytest.mark.spec("DOCS-012")
def test_folder_entries_expand_in_file_name_order_readme_first(sources_hook):
    pages = [
        "chapters/01-namespaces.md", "chapters/00-architecture.md",
        "labs/02-cgroups/README.md", "labs/01-namespaces/README.md", "labs/README.md",
        "spec/engine.md", "spec/README.md", "spec/cgroups.md",
    ]
    nav = [
        {"Home": "index.md"},
        {"Chapters": "chapters/"},
        {"Spec": "spec/"},
        {"Labs": "labs/"},
        {"Conformance report": "report/conformance.md"},
        {"Elsewhere": "https://example.invalid/"},
    ]
    assert sources_hook.expand_nav(nav, pages) == [
        {"Home": "index.md"},
        {"Chapters": ["chapters/00-architecture.md", "chapters/01-namespaces.md"]},
        {"Spec": ["spec/README.md", "spec/cgroups.md", "spec/engine.md"]},
        {"Labs": ["labs/README.md", "labs/01-namespaces/README.md", "labs/02-cgroups/README.md"]},
        {"Conformance report": "report/conformance.md"},
        {"Elsewhere": "https://example.invalid/"},
    ]


@pytest.mark.spec("DOCS-012")
def test_mkdocs_yml_nav_has_the_five_parts(sources_hook):
    from tests.docs.conftest import REPO

    import yaml

    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    assert [next(iter(entry)) for entry in nav] == ["Home", "Chapters", "Spec", "Labs", "Conformance report"]


@pytest.mark.spec("DOCS-014")
def test_one_chapter_per_topic(sources_hook):
    from tests.docs.conftest import REPO

    topics = ["architecture", "namespaces", "cgroups", "runtime", "images", "engine", "volumes",
              "networking", "build", "registry", "compose", "swarm"]
    for number, topic in enumerate(topics):
        text = (REPO / "chapters" / f"{number:02d}-{topic}.md").read_text()
        assert text.startswith("# "), f"chapter {number:02d}-{topic} has no title"
        assert "\n## Overview\n" in text, f"chapter {number:02d}-{topic} has no Overview"
