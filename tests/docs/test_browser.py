"""The book in a real browser: the built site, served on the loopback, opened in headless Chromium.

The site is built once per xdist worker (repo_site, tests/docs/conftest.py) from the
repository's own inputs, into a temporary directory; tests/docs/browser.py serves it and
drives Debian's chromium. What a reader would meet is checked: pages that load without a
script error, a navigation that reaches every chapter, a search that finds them, quotes
resolved and figures drawn.
Screenshots go to docs/report/screenshots/ (git-ignored), beside the conformance report.

Skipped, saying why, only when chromium, chromedriver or selenium is missing (`make` installs them).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.docs import browser
from tests.docs.conftest import REPO, load_hook

SCREENSHOTS = REPO / "docs" / "report" / "screenshots"
CHAPTERS = sorted(path.stem for path in (REPO / "chapters").glob("*.md"))
FIGURE_CHAPTERS = CHAPTERS  # every chapter shows a figure (DOCS-033)


@pytest.fixture(scope="module")
def chrome(tmp_path_factory):
    """Headless Chromium (through chromedriver), stopped with everything it started."""
    reason = browser.missing_browser()
    if reason:
        pytest.skip(reason)
    driver, quit = browser.chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        quit()


@pytest.fixture(scope="module")
def base_url(repo_site) -> str:
    """The repository's book (built once per worker, tests/docs/conftest.py), served on 127.0.0.1."""
    url, stop = browser.serve(repo_site)
    try:
        yield url
    finally:
        stop()


def nav_links(driver, base_url: str) -> dict[str, str]:  # noqa: ANN001
    """The home page's navigation: site path -> absolute URL."""
    browser.open_page(driver, base_url + "/")
    hrefs = driver.execute_script(
        "return [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')].map(a => a.href);")
    return {urlsplit(href).path: href for href in hrefs if href.startswith(base_url)}


def quotes_in(chapter: str) -> int:
    """How many `::: code` quotes chapters/<chapter>.md has (the quote hook's own reading)."""
    quote = load_hook("quote")
    reader, read = quote.file_reader(REPO), []

    def counting(module: str) -> tuple[str, str]:
        read.append(module)
        return reader(module)

    quote.expand_quotes((REPO / "chapters" / f"{chapter}.md").read_text(), counting)
    return len(read)


def own_words(site: Path) -> dict[str, str]:
    """For each chapter, one word of its text that starts as no word of another page does.

    A chapter that has none yet (one being written) is searched by the longest word of its title.
    """
    words: dict[str, set[str]] = {}
    for document in json.loads((site / "search" / "search_index.json").read_text())["docs"]:
        page = document["location"].split("#")[0]
        prose = re.sub(r"<(pre|code)\b.*?</\1>", " ", document["title"] + " " + document["text"], flags=re.S)
        text = re.sub(r"<[^>]+>", " ", prose)  # words in prose, lower-case as written: no code names
        words.setdefault(page, set()).update(re.findall(r"(?<![\w./-])[a-z]{6,14}(?![\w/-])", text))
    chosen = {}
    for chapter in CHAPTERS:
        page = f"chapters/{chapter}/"
        # by its first six letters: the search stems words and matches prefixes
        others = {word[:6] for name, found in words.items() if name != page for word in found}
        own = sorted((word for word in words.get(page, set()) if word[:6] not in others),
                     key=lambda word: (-len(word), word))
        if not own:  # a chapter still being written: the longest word of its title (boosted in the index)
            title = (REPO / "chapters" / f"{chapter}.md").read_text().splitlines()[0].lower()
            own = sorted(re.findall(r"[a-z]{4,}", title), key=lambda word: (-len(word), word))
        chosen[chapter] = own[0]
    return chosen


@pytest.mark.spec("DOCS-040", "DOCS-041", "DOCS-043", "DOCS-044")
def test_every_chapter_opens_from_the_nav_and_reads_whole(chrome, base_url):
    links = nav_links(chrome, base_url)
    failures = {}
    for chapter in CHAPTERS:
        url = links.get(f"/chapters/{chapter}/")
        assert url, f"the home page's navigation has no link to chapters/{chapter}.md"
        problems, state = browser.page_problems(chrome, url)
        title = (REPO / "chapters" / f"{chapter}.md").read_text().splitlines()[0].lstrip("# ").strip()
        if state["h1"] != title:
            problems.append(f"title {state['h1']!r}, expected {title!r}")
        quoted = [name for name in state["titles"] if re.search(r"\.py( · |$)", name)]
        if len(quoted) < quotes_in(chapter):
            problems.append(f"{len(quoted)} quoted code blocks for {quotes_in(chapter)} quotes")
        if chapter in FIGURE_CHAPTERS and not state["figures"]:
            problems.append("no figure")
        if problems:
            failures[chapter] = problems
    assert failures == {}


@pytest.mark.spec("DOCS-040", "DOCS-043", "DOCS-044")
def test_home_spec_labs_and_report_load_without_errors(chrome, base_url):
    links = nav_links(chrome, base_url)
    pages = ["/"] + sorted(path for path in links if path.startswith("/spec/")) + ["/labs/", "/report/conformance/"]
    specs = [path for path in pages if path.startswith("/spec/")]
    assert len(specs) == len(list((REPO / "spec").glob("*.md"))), f"spec pages in the nav: {specs}"
    failures = {}
    for path in pages:
        problems, _ = browser.page_problems(chrome, base_url + path)
        if problems:
            failures[path] = problems
    assert failures == {}


@pytest.mark.spec("DOCS-042")
def test_search_finds_every_chapter_by_a_word_of_its_own(chrome, base_url, repo_site):
    words = own_words(repo_site)
    browser.open_page(chrome, base_url + "/")
    missed = {}
    for chapter, word in words.items():
        found = browser.search(chrome, word, wanted=f"/chapters/{chapter}/")
        if f"/chapters/{chapter}/" not in found:
            missed[chapter] = (word, sorted(set(found)))
    assert missed == {}, f"searched word -> result pages: {missed}"
    assert browser.console_errors(chrome) == []


@pytest.mark.spec("DOCS-045")
def test_screenshots_of_home_a_chapter_and_the_report(chrome, base_url):
    from selenium.webdriver.common.by import By

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"home.png": "/", "chapter-03-runtime.png": "/chapters/03-runtime/",
             "conformance-report.png": "/report/conformance/"}
    for name, path in shots.items():
        browser.open_page(chrome, base_url + path)
        figures = chrome.find_elements(By.CSS_SELECTOR, "article figure")
        if figures:  # the chapter at its first figure
            chrome.execute_script("arguments[0].scrollIntoView({block: 'center'});", figures[0])
        assert chrome.save_screenshot(str(SCREENSHOTS / name))
        assert (SCREENSHOTS / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshots: {SCREENSHOTS}")


@pytest.mark.spec("DOCS-046")
def test_the_checks_catch_a_broken_page(chrome, repo_site, tmp_path):
    """The same checks, on a copy of the site with one chapter broken three ways."""
    broken = tmp_path / "site"
    shutil.copytree(repo_site, broken)
    page = broken / "chapters" / "01-namespaces" / "index.html"
    html = page.read_text()
    html = html.replace("</article>", "<p>::: code minidock.nowhere:gone</p>"
                        '<figure><img src="../../figures/no-such-figure.svg" alt="gone"></figure></article>', 1)
    html = html.replace("</body>", "<script>undefinedFunctionOfTheBook()</script></body>", 1)
    page.write_text(html)
    url, stop = browser.serve(broken)
    try:
        problems, _ = browser.page_problems(chrome, url + "/chapters/01-namespaces/")
        clean, _ = browser.page_problems(chrome, url + "/chapters/02-cgroups/")
    finally:
        stop()
    assert any("undefinedFunctionOfTheBook" in problem for problem in problems), problems
    assert any(problem.startswith("console:") and "404" in problem for problem in problems), problems
    assert "unresolved: ::: code minidock.nowhere:gone" in problems
    assert any(problem.startswith("figure not drawn: ../../figures/no-such-figure.svg") for problem in problems)
    assert clean == []
