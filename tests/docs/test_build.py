"""The whole book: it builds strictly, and a broken quote or any warning breaks the build.

Each test builds into its own temporary site directory; the failing builds run on a
copy of the book's inputs (tests/docs/conftest.py), never on the real files.
"""

from __future__ import annotations

import re

import pytest

from tests.docs.conftest import REPO, mkdocs_build


@pytest.mark.spec("DOCS-001")
def test_repository_book_builds_strictly(repo_site):
    assert (repo_site / "index.html").is_file()


@pytest.mark.spec("DOCS-010", "DOCS-011")
def test_pages_keep_their_repository_paths(repo_site):
    assert (repo_site / "chapters" / "00-architecture" / "index.html").is_file()
    assert (repo_site / "spec" / "docs" / "index.html").is_file()
    assert (repo_site / "minidock" / "errors.py").is_file()  # links to the code resolve
    for lab in (REPO / "labs").glob("*/README.md"):
        assert (repo_site / "labs" / lab.parent.name / "index.html").is_file()
    published = [p for p in (repo_site / "labs").rglob("*") if p.is_file() and p.name != "index.html"]
    assert published == [], f"labs/ files other than README.md were published: {published}"


@pytest.mark.spec("DOCS-003")
def test_no_resource_comes_from_another_host(repo_site):
    remote = re.compile(r"""<(?:script|img|iframe)[^>]*\ssrc=["'](?:https?:)?//|"""
                        r"""<link[^>]*\shref=["'](?:https?:)?//|@import\s+url\(["']?(?:https?:)?//""")
    for page in list(repo_site.rglob("*.html")) + list(repo_site.rglob("*.css")):
        match = remote.search(page.read_text(encoding="utf-8", errors="replace"))
        assert match is None, f"{page.relative_to(repo_site)} loads {match.group(0)!r}"


@pytest.mark.spec("DOCS-020")
def test_chapter_shows_the_quoted_source(repo_site):
    html = (repo_site / "chapters" / "00-architecture" / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    assert "minidock/errors.py · http_status" in text
    assert "def http_status(error: BaseException) -&gt; int:" in text
    assert "::: code" not in text


@pytest.mark.spec("DOCS-022")
def test_authors_guide_shows_the_syntax_literally(repo_site):
    html = (repo_site / "index.html").read_text()
    assert "<code>::: code minidock.errors:http_status</code>" in html
    assert "::: code minidock.errors:MinidockError.__init__" in html  # in the fenced example


@pytest.mark.spec("DOCS-013")
def test_builds_without_a_report_and_says_so(book_copy):
    assert not (book_copy / "docs" / "report").exists()
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode == 0, result.stderr
    page = (book_copy / "site" / "report" / "conformance" / "index.html").read_text()
    assert "has not been generated" in page


@pytest.mark.spec("DOCS-013")
def test_a_written_report_replaces_the_placeholder(book_copy):
    (book_copy / "docs" / "report").mkdir()
    (book_copy / "docs" / "report" / "conformance.md").write_text("# Conformance report\n\nAll 3 passed.\n")
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode == 0, result.stderr
    page = (book_copy / "site" / "report" / "conformance" / "index.html").read_text()
    assert "All 3 passed." in page and "has not been generated" not in page


@pytest.mark.spec("DOCS-021")
def test_a_quote_of_a_gone_name_fails_the_build(book_copy):
    chapter = book_copy / "chapters" / "00-architecture.md"
    chapter.write_text(chapter.read_text() + "\n::: code minidock.errors:no_such_function\n")
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode != 0
    assert "chapters/00-architecture.md" in result.stderr
    assert "minidock.errors:no_such_function" in result.stderr


@pytest.mark.spec("DOCS-021")
def test_a_quote_of_a_gone_module_fails_the_build(book_copy):
    (book_copy / "minidock" / "errors.py").unlink()
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode != 0
    assert "module 'minidock.errors' not found" in result.stderr


@pytest.mark.spec("DOCS-002")
@pytest.mark.parametrize("link", ["[gone](../spec/no-such-page.md)", "[gone](01-namespaces.md#no-such-heading)"])
def test_any_warning_fails_the_build(book_copy, link):
    chapter = book_copy / "chapters" / "00-architecture.md"
    chapter.write_text(chapter.read_text() + f"\nSee {link}.\n")
    result = mkdocs_build(book_copy, book_copy / "site")
    assert result.returncode != 0
    assert re.search(r"WARNING .*chapters/00-architecture\.md", result.stderr), result.stderr
    assert "Aborted with" in result.stdout + result.stderr
