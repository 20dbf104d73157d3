"""Inner pytest sessions for the harness self-tests.

The `inner` fixture sets up a throw-away project in pytester's tmp dir (a spec/
folder, a conftest loading the harness plugins, test files) and runs pytest on it
in a subprocess, as `make test` would: the harness is imported from this
repository through PYTHONPATH.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = ["tests.harness.spec_plugin", "tests.harness.engine", "tests.harness.leaks"]
MINIMAL_SPEC = """\
# Demo

- `NS-001` A namespace MUST exist.
- `NS-002` A namespace SHOULD be named.
"""


class InnerProject:
    """A tiny pytest project under pytester.path, and a way to run it."""

    def __init__(self, pytester: pytest.Pytester):
        self.pytester = pytester
        self.path = pytester.path
        self.pythonpath = [str(REPO)]

    def spec(self, name: str, text: str) -> Path:
        """Write spec/<name> (dedented)."""
        folder = self.path / "spec"
        folder.mkdir(exist_ok=True)
        target = folder / name
        target.write_text(textwrap.dedent(text))
        return target

    def tests(self, name: str, source: str) -> Path:
        """Write a test file (dedented)."""
        target = self.path / name
        target.write_text(textwrap.dedent(source))
        return target

    def run(self, *args: str, leak_check: bool = False, timeout: float = 90) -> pytest.RunResult:
        """pytest in a subprocess, with the harness plugins, -p no:cacheprovider and, unless
        asked for, --no-leak-check (the outer session's other tests would show up as leaks)."""
        (self.path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
        (self.path / "conftest.py").write_text(f"pytest_plugins = {PLUGINS!r}\n")
        extra = [] if leak_check else ["--no-leak-check"]
        return self.pytester.runpytest_subprocess(*extra, *args, timeout=timeout)


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> InnerProject:
    """An InnerProject whose subprocesses see this repository's harness and nothing of ours."""
    project = InnerProject(pytester)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(project.pythonpath))
    for variable in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                     "PYTEST_ADDOPTS", "DOCKER_HOST"):
        monkeypatch.delenv(variable, raising=False)
    return project


def output_of(result: pytest.RunResult) -> str:
    """Everything an inner run printed."""
    return result.stdout.str() + "\n" + result.stderr.str()
