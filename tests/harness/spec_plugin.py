"""The conformance plugin: tests name spec IDs, the session reports every requirement.

Implements: spec/harness.md HARNESS-SPEC-004 .. HARNESS-SPEC-005, HARNESS-REPORT-001 .. HARNESS-REPORT-006,
            HARNESS-REPORT-009
Explained:  spec/README.md#how-tests-name-requirements
Modelled on: the runtime-spec's validation report (every rule, and what became of it)

    @pytest.mark.spec("ENGINE-API-001", ...)   the IDs a test checks
    --spec-dir=DIR  (ini: spec_dir)            where spec/*.md live; default <rootdir>/spec
    --conformance-report=DIR                   write DIR/conformance.md and DIR/conformance.json,
                                               and fail on a MUST with no test
    --conformance-subset                       ... but not that: a part of the suite (make vm-test)

Where things happen (this also works under pytest-xdist, where tests run in workers):

    worker/single   collection_modifyitems: item.user_properties += ("spec", "ID ID")
    worker/single   runtest_setup: an unknown ID fails the test, naming the ID
    controller      runtest_logreport: reads the IDs back from report.user_properties
    controller      sessionfinish: statuses, the report files, the MUST check
    controller      terminal_summary: "conformance: 12 passed, 0 failed, ..."

The report itself (its document, the host it ran on, its page beside other runs) is
tests/harness/report.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.harness.report import build_report, count_statuses, write_report
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
    group.addoption(
        "--conformance-subset", action="store_true", default=False,
        help="with --conformance-report: this run is a part of the suite (make vm-test's), "
             "so a MUST-level requirement with no test does not fail it",
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
        document = build_report(self.requirements, self.statuses, tests, self.config.getoption("engine", None),
                                selection=[str(arg) for arg in self.config.args])
        write_report(directory, document)
        # [HARNESS-REPORT-001] a MUST with no test fails the whole-suite run
        # [HARNESS-REPORT-009] ... but not a run that says it is a part of the suite
        if self.config.getoption("conformance_subset"):
            return
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
