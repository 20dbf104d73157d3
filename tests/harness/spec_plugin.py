"""The conformance plugin: tests name spec IDs, the session reports every requirement.

Implements: spec/harness.md HARNESS-SPEC-004 .. HARNESS-SPEC-005, HARNESS-REPORT-001 .. HARNESS-REPORT-006
Explained:  spec/README.md#how-tests-name-requirements
Modelled on: the runtime-spec's validation report (every rule, and what became of it)

    @pytest.mark.spec("ENGINE-API-001", ...)   the IDs a test checks
    --spec-dir=DIR  (ini: spec_dir)            where spec/*.md live; default <rootdir>/spec
    --conformance-report=DIR                   write DIR/conformance.md and DIR/conformance.json,
                                               and fail on a MUST with no test

Where things happen (this also works under pytest-xdist, where tests run in workers):

    worker/single   collection_modifyitems: item.user_properties += ("spec", "ID ID")
    worker/single   runtest_setup: an unknown ID fails the test, naming the ID
    controller      runtest_logreport: reads the IDs back from report.user_properties
    controller      sessionfinish: statuses, the report files, the MUST check
    controller      terminal_summary: "conformance: 12 passed, 0 failed, ..."
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.harness.specs import (
    STATUSES,
    Requirement,
    SpecError,
    load_specs,
    outcome_of,
    status_of,
    untested_musts,
)

USER_PROPERTY = "spec"  # the name under which a test's IDs travel to the controller


def pytest_addoption(parser: pytest.Parser) -> None:
    """--spec-dir, --conformance-report and the spec_dir ini option."""
    group = parser.getgroup("minidock-conformance", "minidock conformance (spec IDs)")
    group.addoption(
        "--spec-dir", default=None, metavar="DIR",
        help="directory of the spec/*.md files (default: the spec_dir ini option, else <rootdir>/spec)",
    )
    group.addoption(
        "--conformance-report", default=None, metavar="DIR",
        help="write DIR/conformance.md and DIR/conformance.json; "
             "a MUST-level requirement with no test then fails the session",
    )
    parser.addini("spec_dir", "directory of the spec/*.md files, relative to the rootdir", default="spec")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, read the specs, and start the plugin for this process."""
    config.addinivalue_line("markers", "spec(*ids): the spec requirement IDs this test checks")
    spec_dir = spec_dir_of(config)
    try:
        requirements = load_specs(spec_dir)
    except SpecError as error:
        raise pytest.UsageError(f"spec files in {spec_dir}: {error}") from None
    config.pluginmanager.register(ConformancePlugin(config, spec_dir, requirements), "minidock-conformance")


def spec_dir_of(config: pytest.Config) -> Path:
    """--spec-dir (relative to the invocation directory), else the ini option under the rootdir."""
    option = config.getoption("spec_dir")
    if option:
        return (Path(config.invocation_params.dir) / option).resolve()
    base = config.inipath.parent if config.inipath else config.rootpath
    return (base / config.getini("spec_dir")).resolve()


def spec_ids_of(item: pytest.Item) -> list[str]:
    """Every ID named by the item's spec markers, in order, without repeats."""
    ids: list[str] = []
    for marker in item.iter_markers("spec"):
        for requirement_id in marker.args:
            if requirement_id not in ids:
                ids.append(str(requirement_id))
    return ids


class ConformancePlugin:
    """Per-process state: the requirements, and (on the controller) each test's outcome."""

    def __init__(self, config: pytest.Config, spec_dir: Path, requirements: dict[str, Requirement]):
        self.config = config
        self.spec_dir = spec_dir
        self.requirements = requirements
        self.is_controller = not hasattr(config, "workerinput")
        # nodeid -> the IDs it names; nodeid -> outcome of each phase
        self.test_ids: dict[str, list[str]] = {}
        self.phase_outcomes: dict[str, list[str]] = defaultdict(list)
        self.statuses: dict[str, str] = {}
        self.untested: list[str] = []

    # -- where the tests run -------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Attach the IDs to each item, so its reports carry them to the controller."""
        for item in items:
            ids = spec_ids_of(item)
            if ids:
                item.user_properties.append((USER_PROPERTY, " ".join(ids)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """[HARNESS-SPEC-004] a test naming an unknown ID MUST fail, naming the ID."""
        unknown = [i for i in spec_ids_of(item) if i not in self.requirements]
        if unknown:
            pytest.fail(
                f"unknown spec ID{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                f"not defined in {self.spec_dir}/*.md (the line format is in spec/README.md)",
                pytrace=False,
            )

    # -- the controller --------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record the outcome of each phase of each test that names IDs."""
        if not self.is_controller:
            return
        for name, value in report.user_properties:
            if name == USER_PROPERTY:
                self.test_ids[report.nodeid] = str(value).split()
                self.phase_outcomes[report.nodeid].append(report.outcome)

    def tests_by_requirement(self) -> dict[str, list[tuple[str, str]]]:
        """{id: [(nodeid, outcome), ...]} for every ID some test named."""
        tests: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for nodeid, ids in self.test_ids.items():
            outcome = outcome_of(self.phase_outcomes[nodeid])
            for requirement_id in ids:
                tests[requirement_id].append((nodeid, outcome))
        return tests

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Judge every requirement; write the report; fail on untested MUSTs if asked to."""
        if not self.is_controller:
            return
        tests = self.tests_by_requirement()
        self.statuses = {
            rid: status_of(req, [outcome for _, outcome in tests.get(rid, [])])
            for rid, req in self.requirements.items()
        }
        report_dir = self.config.getoption("conformance_report")
        if not report_dir:
            return
        directory = Path(self.config.invocation_params.dir) / report_dir
        document = build_report(self.requirements, self.statuses, tests, self.config.getoption("engine", None))
        write_report(directory, document)
        # [HARNESS-REPORT-001] a MUST with no test fails the whole-suite run
        self.untested = untested_musts(self.requirements.values(), self.statuses)
        if self.untested and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """One line of counts, and the untested MUSTs if they failed the session."""
        if not self.is_controller or not self.requirements:
            return
        counts = count_statuses(self.statuses)
        line = ", ".join(f"{counts[status]} {status}" for status in STATUSES)
        terminalreporter.write_line(f"conformance: {line}")
        report_dir = self.config.getoption("conformance_report")
        if report_dir:
            terminalreporter.write_line(f"conformance: report in {report_dir}/conformance.md and .json")
        if self.untested:
            terminalreporter.write_line(
                f"conformance: FAILED: MUST-level requirements with no test: {', '.join(self.untested)} "
                "(write a test that names them, or mark them *(planned: ...)* in their spec file)",
                red=True, bold=True,
            )


# -- the report: plain functions of the results --------------------------------


def count_statuses(statuses: dict[str, str]) -> dict[str, int]:
    """{status: how many requirements have it}, with every status present."""
    counts = {status: 0 for status in STATUSES}
    for status in statuses.values():
        counts[status] += 1
    return counts


def build_report(
    requirements: dict[str, Requirement],
    statuses: dict[str, str],
    tests: dict[str, list[tuple[str, str]]],
    engine: str | None,
) -> dict:
    """The conformance report as JSON-ready data (also the source of the Markdown page)."""
    return {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "summary": count_statuses(statuses),
        "requirements": [
            {
                "id": req.id,
                "level": req.level,
                "text": req.text,
                "file": req.file,
                "line": req.line,
                "status": statuses[req.id],
                "note": req.note,
                "tests": [{"nodeid": nodeid, "outcome": outcome} for nodeid, outcome in tests.get(req.id, [])],
            }
            for req in sorted(requirements.values(), key=lambda r: (r.file, r.line))
        ],
    }


_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def _unlink(text: str) -> str:
    """Keep a link's words, drop its target: spec links are relative to spec/, not to the report."""
    return _LINK.sub(r"\1", text)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """An inline code span that survives backticks in the text."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _tests_cell(tests: list[dict]) -> str:
    """One line per test function; the cases of a parametrized test are counted, not listed."""
    by_function: dict[str, list[str]] = defaultdict(list)
    for test in tests:
        by_function[test["nodeid"].split("[", 1)[0]].append(test["outcome"])
    lines = []
    for function, outcomes in by_function.items():
        if len(outcomes) == 1:
            summary = outcomes[0]
        else:
            counts = {o: outcomes.count(o) for o in ("passed", "failed", "skipped") if o in outcomes}
            summary = f"×{len(outcomes)}: " + ", ".join(f"{n} {o}" for o, n in counts.items())
        lines.append(f"{_code(_cell(function))} {summary}")
    return "<br>".join(lines) or "—"


def render_markdown(document: dict) -> str:
    """The report as a page of the docs site: a summary table, then one table per spec file."""
    lines = ["# Conformance report", ""]
    engine = document.get("engine") or "minidock"
    lines += [f"Engine: `{engine}`. Generated {document['generated']} by `pytest --conformance-report`.", ""]
    lines += ["| status | requirements |", "|---|---|"]
    lines += [f"| {status} | {count} |" for status, count in document["summary"].items()]
    by_file: dict[str, list[dict]] = defaultdict(list)
    for requirement in document["requirements"]:
        by_file[requirement["file"]].append(requirement)
    for file, requirements in sorted(by_file.items()):
        lines += ["", f"## spec/{file}", "", "| ID | level | status | requirement | tests |", "|---|---|---|---|---|"]
        for req in requirements:
            status = req["status"] + (f" ({req['note']})" if req["note"] else "")
            lines.append(f"| `{req['id']}` | {req['level']} | {_cell(status)} | {_cell(_unlink(req['text']))} "
                         f"| {_tests_cell(req['tests'])} |")
    return "\n".join(lines) + "\n"


def write_report(directory: Path, document: dict) -> None:
    """Write conformance.json and conformance.md into directory (made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "conformance.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (directory / "conformance.md").write_text(render_markdown(document), encoding="utf-8")
