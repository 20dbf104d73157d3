"""Fixtures for the lab framework's tests: a tiny project in a tmp folder.

The fake project has everything minidock's labs have, at toy size:

    root/
        pytest.ini                  registers the `spec` marker
        fakepkg/greet.py            lab 01 and lab 02 regions
        fakepkg/data.txt            a file that is not Python
        labs/01-greet/lab.toml      graded on tests/test_greet.py, 4 points
        labs/02-shout/lab.toml      graded on spec FAKE-002 only
        tests/test_greet.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

GREET = textwrap.dedent(
    '''\
    """A toy module with lab regions."""


    def greet(name: str) -> str:
        """Say hello."""
        # lab 01: begin: return a greeting for name
        return f"hello, {name}"
        # lab 01: end


    def shout(name: str) -> str:
        """Say hello, loudly."""
        # lab 02: begin: return the greeting in capitals
        return greet(name).upper()
        # lab 02: end
    '''
)

TESTS = textwrap.dedent(
    '''\
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    import fakepkg
    from fakepkg.greet import greet, shout

    REPOSITORY_PACKAGE = Path(__file__).resolve().parents[1] / "fakepkg"


    @pytest.mark.spec("FAKE-001")
    def test_greet_says_hello():
        assert greet("ada") == "hello, ada"


    @pytest.mark.spec("FAKE-001")
    def test_the_package_is_the_workspace_copy():
        # the tests, and any Python they start from the project root, see the workspace
        assert Path(fakepkg.__file__).resolve().parent != REPOSITORY_PACKAGE
        child = subprocess.run(
            [sys.executable, "-c", "import fakepkg; print(fakepkg.__file__)"],
            cwd=REPOSITORY_PACKAGE.parent, capture_output=True, text=True, check=True,
        )
        assert Path(child.stdout.strip()).resolve().parent != REPOSITORY_PACKAGE


    @pytest.mark.spec("FAKE-002")
    def test_shout():
        assert shout("ada") == "HELLO, ADA"
    '''
)

LAB_01 = textwrap.dedent(
    """\
    number = 1
    title = "Greetings"
    topic = "greet"
    tests = ["tests/test_greet.py"]
    [points]
    test_greet_says_hello = 3
    """
)

LAB_02 = textwrap.dedent(
    """\
    number = 2
    title = "Shouting"
    topic = "shout"
    tests = ["tests"]
    specs = ["FAKE-002"]
    default_points = 5
    """
)


@pytest.fixture
def fake_project(tmp_path: Path) -> Path:
    """A tiny project with a package, two labs and their tests; returns its root."""
    root = tmp_path / "project"
    files = {
        "pytest.ini": "[pytest]\nmarkers =\n    spec(*ids): spec IDs\n",
        "fakepkg/__init__.py": '"""A toy package."""\n',
        "fakepkg/greet.py": GREET,
        "fakepkg/data.txt": "not python # lab 01: begin\n",
        "labs/01-greet/lab.toml": LAB_01,
        "labs/01-greet/README.md": "# Lab 01\n",
        "labs/02-shout/lab.toml": LAB_02,
        "tests/test_greet.py": TESTS,
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture
def lab_main(fake_project: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `minidock lab` on the fake project; returns main(argv) -> exit status."""
    from minidock.lab.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # rich: no wrapped cells in captured output

    def run(*argv: str) -> int:
        return main(["--root", str(fake_project), "--package", "fakepkg", *argv])

    return run
