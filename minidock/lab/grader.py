"""The grader: run a lab's tests against the student's workspace, and score them.

Implements: spec/lab.md LAB-020 .. LAB-024
Explained:  labs/README.md#how-check-works
Modelled on: rubber-docker's per-level test runs; the points are ours

    run_check(project, lab, workspace)
      ├── grading_environment()   PYTHONPATH=<workspace>:<plugin dir>, PYTHONSAFEPATH=1
      ├── pytest <lab.tests> -p minidock_lab_grader --import-mode=append
      │        (grader_plugin.py writes one outcome per test to a JSON file)
      └── score(lab, results)  -> Grade: points per test, earned and total

Why the environment looks the way it does: the tests, and the daemon their
fixtures start with `sys.executable -m minidock.engine.daemon`, must import the
student's `minidock`, never this repository's. PYTHONPATH puts the workspace
first; PYTHONSAFEPATH=1 (python -P) stops every Python in the tree from putting
its working folder, this repository, in front of it; `--import-mode=append`
stops pytest from doing the same for the test folders; and the plugin checks,
at the end, where `minidock` was really imported from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minidock.errors import NotFound
from minidock.lab.catalog import Lab, Project

if TYPE_CHECKING:
    from rich.table import Table

PLUGIN_MODULE = "minidock_lab_grader"
PLUGIN_SOURCE = Path(__file__).with_name("grader_plugin.py")


@dataclass(frozen=True)
class Outcome:
    """What pytest said about one test."""

    nodeid: str
    name: str
    outcome: str  # passed, failed, error, skipped, not run
    specs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoredTest:
    """One row of the grade: a test, what it is worth, what it earned."""

    test: Outcome
    possible: int
    earned: int


@dataclass(frozen=True)
class Grade:
    """The result of one check."""

    lab: Lab
    tests: tuple[ScoredTest, ...]
    problems: tuple[str, ...] = ()

    @property
    def earned(self) -> int:
        return sum(row.earned for row in self.tests)

    @property
    def total(self) -> int:
        return sum(row.possible for row in self.tests)

    @property
    def complete(self) -> bool:
        """[LAB-023] every point earned, some test ran, and nothing went wrong around them."""
        return bool(self.tests) and self.earned == self.total and not self.problems


def score(lab: Lab, outcomes: Sequence[Outcome], problems: Sequence[str] = ()) -> Grade:
    """Give each test its points: all of them if it passed, none otherwise (skipped too)."""
    rows = []
    for outcome in outcomes:
        possible = lab.points_for(outcome.name, outcome.specs)
        rows.append(ScoredTest(outcome, possible, possible if outcome.outcome == "passed" else 0))
    return Grade(lab, tuple(rows), tuple(problems))


def parse_results(data: Mapping) -> tuple[list[Outcome], list[str]]:
    """The plugin's JSON, as outcomes and problems."""
    outcomes = [
        Outcome(test["nodeid"], test["name"], test["outcome"], tuple(test.get("specs", ())))
        for test in data.get("tests", [])
    ]
    return outcomes, [str(problem) for problem in data.get("problems", [])]


def grading_environment(
    project: Project, workspace: Path, plugin_dir: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the test run: the workspace's package first, this repository's nowhere."""
    env = dict(os.environ if base is None else base)
    root = project.root.resolve()
    inherited = [
        entry
        for entry in env.get("PYTHONPATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != root
    ]
    env["PYTHONPATH"] = os.pathsep.join([str(workspace.resolve()), str(plugin_dir), *inherited])
    env["PYTHONSAFEPATH"] = "1"  # no Python below us puts its cwd (this repository) first
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the workspace free of __pycache__ noise
    return env


def ini_pythonpath(project: Project) -> list[str]:
    """The `pythonpath` entries of the project's [tool.pytest.ini_options], if any."""
    try:
        config = tomllib.loads((project.root / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return []
    entries = config.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("pythonpath", [])
    return entries.split() if isinstance(entries, str) else list(entries)


def pytest_command(
    project: Project,
    lab: Lab,
    workspace: Path,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The pytest command line for a lab's tests."""
    # pytest's `pythonpath` ini option puts its folders (the repository, often) in front of
    # sys.path; give it the same folders with the workspace ahead of them.
    pythonpath = ini_pythonpath(project)
    override = (
        ["-o", "pythonpath=" + " ".join([str(workspace.resolve()), *(str(project.root / e) for e in pythonpath)])]
        if pythonpath
        else []
    )
    return [
        python, "-P", "-m", "pytest",
        *(str(project.root / path) for path in lab.tests),
        "--rootdir", str(project.root),
        "-p", PLUGIN_MODULE,
        "-p", "no:cacheprovider",
        "--import-mode=append",
        *override,
        "-q", "--tb=short", "--no-header",
        *extra_args,
    ]


def run_check(
    project: Project,
    lab: Lab,
    workspace: Path,
    extra_args: Sequence[str] = (),
    show_output: bool = True,
    timeout: float | None = None,
) -> Grade:
    """Run the lab's tests against the workspace and score them."""
    if not (workspace / project.package).is_dir():
        raise NotFound(
            f"No workspace for lab {lab.number:02d} at {workspace}: "
            f"create it with `minidock lab start {lab.number}`"
        )
    with tempfile.TemporaryDirectory(prefix="minidock-lab-") as scratch:
        plugin_dir = Path(scratch)
        shutil.copyfile(PLUGIN_SOURCE, plugin_dir / f"{PLUGIN_MODULE}.py")
        results_file = plugin_dir / "results.json"
        env = grading_environment(project, workspace, plugin_dir)
        env["MINIDOCK_LAB_RESULTS"] = str(results_file)
        env["MINIDOCK_LAB_SPECS"] = ",".join(lab.specs)
        env["MINIDOCK_LAB_PACKAGE"] = project.package
        env["MINIDOCK_LAB_WORKSPACE"] = str(workspace.resolve())
        completed = subprocess.run(
            pytest_command(project, lab, workspace, extra_args),
            cwd=project.root,
            env=env,
            stdout=None if show_output else subprocess.PIPE,
            stderr=None if show_output else subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        if not results_file.exists():
            output = completed.stdout or ""
            return score(lab, [], [f"pytest stopped before any result (exit {completed.returncode})\n{output}"])
        outcomes, problems = parse_results(json.loads(results_file.read_text()))
    if not outcomes and not problems:
        problems.append("no test was collected for this lab: check `tests` and `specs` in lab.toml")
    return score(lab, outcomes, problems)


def grade_table(grade: Grade) -> Table:
    """The grade as a rich table: one row per test, then the total."""
    from rich.markup import escape
    from rich.table import Table  # lazily: rich costs ~50 ms to import

    table = Table(title=f"lab {grade.lab.number:02d}: {grade.lab.title}")
    table.add_column("test", overflow="fold")
    table.add_column("spec")
    table.add_column("result")
    table.add_column("points", justify="right")
    colours = {"passed": "green", "skipped": "yellow"}
    for row in grade.tests:
        colour = colours.get(row.test.outcome, "red")
        table.add_row(
            escape(row.test.nodeid),  # parametrized ids hold '[...]', which rich reads as markup
            ", ".join(row.test.specs),
            f"[{colour}]{row.test.outcome}[/{colour}]",
            f"{row.earned}/{row.possible}",
        )
    table.add_section()
    verdict = "[green]passed[/green]" if grade.complete else "[red]not yet[/red]"
    table.add_row("total", "", verdict, f"{grade.earned}/{grade.total}")
    return table
