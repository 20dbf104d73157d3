"""The book in a real browser: a loopback HTTP server for a built site, headless Chromium, page checks.

Used by tests/docs/test_browser.py (spec/docs.md DOCS-040 .. DOCS-046).

    serve(site) -> (base_url, stop)       http.server on 127.0.0.1, a free port, in a thread
    chromium(profile) -> (driver, quit)   Debian's chromium through Debian's chromedriver (Selenium)
    missing_browser() -> reason or None   why the browser tests must skip, if they must
    page_problems(driver, url) -> ([str], state)   console errors, unresolved `:::` lines, figures not drawn
    search(driver, term, wanted) -> [paths]        the site's own search, typed into its box

Rules: traffic only to 127.0.0.1; every process started here is stopped by the returned
stop/quit, which kills by pid whatever did not go on its own.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/lib/chromium/chromium"  # the binary; /usr/bin/chromium is a wrapper script
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 15.0  # seconds for a page, an image or a search result
POLL = 0.05  # seconds between looks while waiting

# Every unresolved directive, every figure and whether it was drawn; run in the page.
PAGE_STATE = """
const article = document.querySelector("article") || document.body;
const unresolved = [...article.querySelectorAll("p, li, td")]
    .map(element => element.textContent.trim())
    .filter(text => /^:::\\s*(code|figure)\\b/.test(text));
const figures = [...article.querySelectorAll("figure img, figure svg")].map(element => {
    const box = element.getBoundingClientRect();
    const loaded = element.tagName.toLowerCase() !== "img" || (element.complete && element.naturalWidth > 0);
    return {src: element.getAttribute("src") || "inline svg", loaded: loaded,
            width: box.width, height: box.height};
});
const titles = [...article.querySelectorAll(".highlight .filename")].map(element => element.textContent.trim());
return {unresolved: unresolved, figures: figures, titles: titles,
        h1: (article.querySelector("h1") || {textContent: ""}).textContent.replace("¶", "").trim()};
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002, ANN001, ANN002 - the base class's names
        pass


def serve(site: Path) -> tuple[str, Callable[[], None]]:
    """Serve ``site`` on 127.0.0.1 (a free port); return its base URL and a stop function."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{server.server_address[1]}", stop


def missing_browser() -> str | None:
    """Why the browser cannot run here (for a skip), or None."""
    for program, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(program, os.X_OK):
            return f"{program} is missing: install Debian's {package} (`make deb` does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is missing: `make venv` installs it (pyproject.toml [test])"
    return None


def chromium(profile: Path, width: int = 1280, height: int = 900):  # noqa: ANN201 - a selenium WebDriver
    """Start headless Chromium with a private profile; return the driver and a quit function."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT * 2)
    driver_pid = service.process.pid

    def quit() -> None:  # noqa: A001 - the driver's word
        try:
            driver.quit()
        finally:
            _kill_tree(driver_pid)
            shutil.rmtree(profile, ignore_errors=True)

    return driver, quit


def _kill_tree(pid: int) -> None:
    """Kill ``pid`` and its descendants if they are still there (chromedriver and its chromium)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    family, queue = [], [pid]
    while queue:
        current = queue.pop()
        family.append(current)
        queue += children.get(current, [])
    for member in family:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def console_errors(driver) -> list[str]:  # noqa: ANN001
    """The SEVERE entries of the browser's log since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver, url: str) -> dict:  # noqa: ANN001
    """Load ``url``, wait for it and its images; return PAGE_STATE's answer."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, WAIT, poll_frequency=POLL).until(
        lambda d: d.execute_script("return document.readyState === 'complete' && "
                                   "[...document.images].every(image => image.complete)"))
    return driver.execute_script(PAGE_STATE)


def page_problems(driver, url: str) -> tuple[list[str], dict]:  # noqa: ANN001
    """What is wrong with the page at ``url`` (and the page's state, for further checks)."""
    console_errors(driver)  # drop what earlier pages left
    state = open_page(driver, url)
    problems = [f"console: {message}" for message in console_errors(driver)]
    problems += [f"unresolved: {text[:80]}" for text in state["unresolved"]]
    problems += [f"figure not drawn: {figure['src']} (loaded={figure['loaded']}, "
                 f"{figure['width']:.0f}x{figure['height']:.0f})"
                 for figure in state["figures"]
                 if not (figure["loaded"] and figure["width"] > 0 and figure["height"] > 0)]
    return problems, state


def search(driver, term: str, wanted: str | None = None) -> list[str]:  # noqa: ANN001
    """Type ``term`` into the site's search box; the paths of the result links.

    Waits until there are results, and until one is the page ``wanted`` (a path such as
    ``/chapters/03-runtime/``) if given: the results of the previous query may still show.
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.getElementById('__search').checked = true;")  # open the search
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(term)
    seen: list[str] = []

    def arrived(d) -> bool:  # noqa: ANN001
        seen[:] = [urlsplit(href).path for href in d.execute_script(
            "return [...document.querySelectorAll('.md-search-result__list a.md-search-result__link')]"
            ".map(link => link.href);")]
        return bool(seen) and (wanted is None or wanted in seen)

    try:
        WebDriverWait(driver, WAIT, poll_frequency=POLL).until(arrived)
    except TimeoutException:
        pass
    return seen
