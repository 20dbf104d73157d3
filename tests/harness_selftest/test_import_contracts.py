"""The import contracts of pyproject.toml, run by `lint-imports` on a copy of the tree.

import-linter parses the source and never imports it, so a copy with a broken module
still gets checked; PYTHONPATH points it at the copy rather than the installed minidock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness_selftest.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_tree(destination: Path) -> Path:
    """minidock/ and pyproject.toml, copied to destination."""
    shutil.copytree(REPO / "minidock", destination / "minidock",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", destination / "pyproject.toml")
    return destination


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """`lint-imports --no-cache` in tree, finding minidock there first."""
    if not LINT_IMPORTS.exists():
        pytest.skip(f"{LINT_IMPORTS} is not installed (pip install -e '.[test]')")
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.spec("HARNESS-IMPORT-001")
def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    tree = copy_tree(tmp_path)
    wrong = tree / "minidock" / "namespaces" / "upward.py"
    wrong.write_text('"""Wrong on purpose: namespaces must know nothing of the engine."""\n\nimport minidock.engine\n')
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "Layers: a module imports only downward BROKEN" in result.stdout
    assert "minidock.namespaces.upward -> minidock.engine" in result.stdout


@pytest.mark.spec("HARNESS-IMPORT-001")
def test_compose_reaching_into_the_engine_breaks_the_client_contract(tmp_path):
    tree = copy_tree(tmp_path)
    (tree / "minidock" / "compose" / "sneaky.py").write_text("import minidock.runtime\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "compose and swarm are clients of the engine's API, never its internals BROKEN" in result.stdout


@pytest.mark.spec("HARNESS-IMPORT-002")
def test_the_tree_as_it_is_keeps_every_contract(tmp_path):
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
