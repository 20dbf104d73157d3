"""Fixtures for the book's tests: the hooks as modules, and a copy of the book's inputs.

The build tests never touch the real files: they copy what `mkdocs build` reads
(mkdocs.yml, pyproject.toml, docs/, chapters/, spec/, the labs' README.md pages, minidock/,
tests/, bench/) into a temporary directory, break the copy, and build it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.harness.book_hooks import load_hook

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def quote_hook() -> ModuleType:
    return load_hook("quote")


@pytest.fixture(scope="session")
def sources_hook() -> ModuleType:
    return load_hook("sources")


def copy_book(dest: Path) -> Path:
    """Copy the inputs of the book into dest, without docs/report; return dest."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "report", "*.pyc")
    shutil.copy2(REPO / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")  # a figure draws its layers
    shutil.copytree(REPO / "docs", dest / "docs", ignore=ignore)
    shutil.copytree(REPO / "minidock", dest / "minidock", ignore=ignore)
    shutil.copytree(REPO / "tests", dest / "tests", ignore=ignore)  # chapters quote tests too
    shutil.copytree(REPO / "bench", dest / "bench", ignore=ignore)  # ... and benchmarks
    for pattern in ("chapters/*.md", "spec/*.md", "labs/README.md", "labs/*/README.md"):
        for path in REPO.glob(pattern):
            target = dest / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest


@pytest.fixture
def book_copy(tmp_path: Path) -> Path:
    """A private copy of the book's inputs, free to break."""
    return copy_book(tmp_path / "book")


@pytest.fixture(scope="session")
def repo_site(tmp_path_factory) -> Path:
    """The real repository's book, built once per xdist worker; read it, never change it."""
    site = tmp_path_factory.mktemp("site")
    result = mkdocs_build(REPO, site)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site


def mkdocs_build(config_dir: Path, site_dir: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of config_dir/mkdocs.yml into site_dir; output in .stdout."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(config_dir / "mkdocs.yml"), "--site-dir", str(site_dir)],
        cwd=config_dir, env=env, capture_output=True, text=True, timeout=120,
    )
