"""The pytest plugin that `minidock lab check` loads into the student's test run.

Implements: spec/lab.md LAB-012, LAB-020, LAB-022
Explained:  labs/README.md#how-check-works

It runs in the pytest subprocess, where `import minidock` means the student's
copy, so it imports nothing from minidock: the grader copies this file into a
temporary folder as `minidock_lab_grader.py` and loads it with
`-p minidock_lab_grader`. It talks to the grader through environment variables:

    MINIDOCK_LAB_RESULTS    where to write the results (JSON)
    MINIDOCK_LAB_SPECS      comma-separated spec IDs; only tests marked with one run
    MINIDOCK_LAB_PACKAGE    the package that must come from the workspace
    MINIDOCK_LAB_WORKSPACE  the workspace folder

and writes {"tests": [{nodeid, name, outcome, specs}], "problems": [text]}.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

_tests: dict[str, dict] = {}
_problems: list[str] = []


def _spec_ids(item: pytest.Item) -> list[str]:
    return [str(spec_id) for marker in item.iter_markers("spec") for spec_id in marker.args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the lab's tests (by spec ID when the lab names any), and note each one."""
    wanted = {spec for spec in os.environ.get("MINIDOCK_LAB_SPECS", "").split(",") if spec}
    if wanted:
        kept = [item for item in items if wanted.intersection(_spec_ids(item))]
        deselected = [item for item in items if item not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    for item in items:
        _tests[item.nodeid] = {
            "nodeid": item.nodeid,
            "name": item.name,
            "outcome": "not run",
            "specs": _spec_ids(item),
        }


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A test file that cannot even be imported costs the points of every test in it."""
    if report.failed:
        _problems.append(f"cannot collect {report.nodeid or 'the tests'}:\n{report.longreprtext}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold setup, call and teardown into one outcome per test."""
    test = _tests.setdefault(
        report.nodeid,
        {"nodeid": report.nodeid, "name": report.nodeid.split("::")[-1], "outcome": "not run", "specs": []},
    )
    if report.failed:
        test["outcome"] = "failed" if report.when == "call" else "error"
    elif report.skipped and test["outcome"] == "not run":
        test["outcome"] = "skipped"
    elif report.passed and report.when == "call" and test["outcome"] == "not run":
        test["outcome"] = "passed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Check that the student's package was the one tested, then write the results."""
    package = os.environ.get("MINIDOCK_LAB_PACKAGE", "")
    workspace = os.environ.get("MINIDOCK_LAB_WORKSPACE", "")
    module = sys.modules.get(package)
    module_file = getattr(module, "__file__", None)
    if module_file and workspace:
        if not Path(module_file).resolve().is_relative_to(Path(workspace).resolve()):
            _problems.append(
                f"`import {package}` found {module_file}, not the workspace {workspace}: "
                f"these results are not about your code"
            )
    results = os.environ.get("MINIDOCK_LAB_RESULTS")
    if results:
        Path(results).write_text(json.dumps({"tests": list(_tests.values()), "problems": _problems}))
