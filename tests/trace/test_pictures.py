"""Benchmarks and coverage as pictures: the results file, the charts, the coverage page, and
coverage.py reaching a process the suite starts (spec/bench.md, spec/docs.md, spec/harness.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import Row
from bench.results import write_results
from tests.harness.book_hooks import load_hook

ROOT = Path(__file__).resolve().parents[2]


ROWS = [Row("isolated-process", "minidock-runtime", 60.0, 55.0, 5, None, ""),
        Row("isolated-process", "runc", 30.0, 28.0, 5, 2.0, ""),
        Row("isolated-process", "crun", None, None, 0, None, "not installed")]


@pytest.mark.spec("HARNESS-BENCH-016", "DOCS-050", "DOCS-051")
def test_results_are_written_with_their_machine_and_drawn_as_charts(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, ROWS, 5)
    document = json.loads(path.read_text())
    assert document["machine"]["kernel"] == os.uname().release and document["rounds"] == 5
    assert document["versions"]["minidock"] and "runc" in document["versions"]
    assert [row["contender"] for row in document["rows"]] == ["minidock-runtime", "runc", "crun"]
    page = load_hook("bench").expand("# B\n\n::: bench\n", document)
    assert document["measured"] in page and "### isolated-process" in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "<script" not in page and svg.count("<rect") == 2  # crun has no median: no bar
    assert "crun: not measured (not installed)" in page


@pytest.mark.spec("DOCS-052", "DOCS-054")
def test_without_data_the_pages_say_so():
    assert "No benchmark results yet" in load_hook("bench").expand("::: bench", None)
    assert "has not been measured" in load_hook("coverage").NOT_MEASURED


@pytest.mark.spec("DOCS-053")
def test_the_coverage_page_counts_per_chapter():
    coverage = load_hook("coverage")
    document = {"meta": {"version": "7", "timestamp": "2026-01-01T00:00:00"}, "files": {
        "minidock/runtime/init.py": {"summary": {"num_statements": 10, "covered_lines": 5, "percent_covered": 50.0}},
        "minidock/kernel/syscalls.py": {"summary": {"num_statements": 10, "covered_lines": 10, "percent_covered": 100.0}},
        "minidock/cli/main.py": {"summary": {"num_statements": 4, "covered_lines": 1, "percent_covered": 25.0}},
    }}
    page = coverage.page(document)
    assert "| [03-runtime](../chapters/03-runtime.md) | 20 | 15 |" in page
    assert "| [05-engine](../chapters/05-engine.md) | 4 | 1 |" in page
    assert coverage.chapter_of("minidock/errors.py") is None


@pytest.mark.spec("HARNESS-COV-001", "HARNESS-COV-003")
def test_a_started_python_process_is_measured_only_when_asked(tmp_path):
    program = [sys.executable, "-c", "import minidock.errors"]
    environment = {**os.environ, "MINIDOCK_COVERAGE_DIR": str(tmp_path)}
    environment.pop("COVERAGE_PROCESS_START", None)
    subprocess.run(program, env=environment, check=True, cwd=tmp_path)
    assert list(tmp_path.glob(".coverage*")) == []
    environment["COVERAGE_PROCESS_START"] = str(ROOT / "pyproject.toml")
    subprocess.run(program, env=environment, check=True, cwd="/")
    assert len(list(tmp_path.glob(".coverage.*"))) == 1


@pytest.mark.spec("HARNESS-COV-002")
@pytest.mark.skipif(os.geteuid() != 0, reason="a container's start needs root")
def test_the_runtimes_forks_report_and_nothing_lands_in_the_container(traced, tmp_path):
    import coverage

    before = set(traced.path.rglob("*"))
    data = tmp_path / "data"
    data.mkdir()
    environment = {**os.environ, "MINIDOCK_COVERAGE_DIR": str(data),
                   "COVERAGE_PROCESS_START": str(ROOT / "pyproject.toml")}
    traced.argv("true")  # writes config.json
    done = subprocess.run([sys.executable, "-m", "minidock.runtime.cli", "--root", str(traced.root),
                           "run", "--bundle", str(traced.path), traced.id],
                          env=environment, capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert set(traced.path.rglob("*")) == before  # not a file more in the bundle or its rootfs
    ran: set[int] = set()
    for path in data.glob(".coverage.*"):
        measured = coverage.CoverageData(basename=str(path))
        measured.read()
        ran |= set(measured.lines(str(ROOT / "minidock" / "runtime" / "rootfs.py")) or ())
    # the container's init (a fork) saved its data before pivot_root: enter()'s mounts ran
    source = (ROOT / "minidock" / "runtime" / "rootfs.py").read_text().splitlines()
    private = next(n for n, line in enumerate(source, 1) if "MS_REC | sc.MS_PRIVATE" in line)
    assert private in ran
