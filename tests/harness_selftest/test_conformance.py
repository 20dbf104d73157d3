"""The conformance plugin, through inner pytest sessions: each failure mode really fails."""

from __future__ import annotations

import json

import pytest

from tests.harness_selftest.conftest import MINIMAL_SPEC, output_of

STATUS_SPEC = """\
# Statuses

- `NS-001` It MUST pass.
- `NS-002` It MUST fail.
- `NS-003` It MUST be skipped.
- `NS-004` It SHOULD have a test one day.
- `NS-005` It MUST be written. *(planned: issue 8)*
- `NS-006` It MUST go. *(withdrawn: replaced by NS-001)*
- `NS-007` Passed and skipped MUST make passed.
"""

STATUS_TESTS = """\
import pytest

@pytest.mark.spec("NS-001", "NS-007")
def test_pass():
    pass

@pytest.mark.spec("NS-002")
def test_fail():
    assert False

@pytest.mark.spec("NS-002")
def test_pass_too():
    pass

@pytest.mark.spec("NS-003")
def test_skipped():
    pytest.skip("not here")

@pytest.mark.spec("NS-003", "NS-007")
@pytest.mark.skip(reason="marker")
def test_skipped_by_marker():
    pass

@pytest.mark.spec("NS-006")
def test_of_a_withdrawn_rule():
    pass

def test_without_ids():
    pass
"""


@pytest.mark.spec("HARNESS-SPEC-005")
@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["single", "xdist"])
def test_an_unknown_id_fails_naming_it(inner, workers):
    inner.spec("namespaces.md", MINIMAL_SPEC)
    inner.tests("test_it.py", """\
        import pytest

        @pytest.mark.spec("NS-001")
        def test_known():
            pass

        @pytest.mark.spec("NS-001", "NS-999")
        def test_unknown():
            pass
    """)
    result = inner.run(*workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, errors=1)
    text = output_of(result)
    assert "unknown spec ID NS-999" in text
    assert str(inner.path / "spec") in text


@pytest.mark.spec("HARNESS-SPEC-004")
def test_a_duplicate_id_stops_the_session(inner):
    inner.spec("a.md", "- `NS-001` A MUST.\n")
    inner.spec("b.md", "- `NS-001` B MUST.\n")
    inner.tests("test_it.py", "def test_nothing():\n    pass\n")
    result = inner.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "b.md:1: NS-001 is already defined in a.md:1" in output_of(result)


@pytest.mark.spec("HARNESS-SPEC-006")
def test_the_spec_dir_can_be_moved(inner):
    inner.spec("namespaces.md", "- `NS-001` Only the default dir has it, MUST.\n")
    elsewhere = inner.path / "rules"
    elsewhere.mkdir()
    (elsewhere / "cgroups.md").write_text("- `CG-001` Only the other dir has it, MUST.\n")
    inner.tests("test_it.py", """\
        import pytest

        @pytest.mark.spec("CG-001")
        def test_cg():
            pass
    """)
    inner.run().assert_outcomes(errors=1)                 # default <rootdir>/spec: CG-001 unknown
    inner.run("--spec-dir=rules").assert_outcomes(passed=1)
    inner.run("-o", "spec_dir=rules").assert_outcomes(passed=1)


@pytest.mark.spec("HARNESS-REPORT-001")
def test_an_untested_must_fails_the_report_run(inner):
    inner.spec("namespaces.md", MINIMAL_SPEC)
    inner.tests("test_it.py", "def test_nothing():\n    pass\n")
    result = inner.run("--conformance-report=report")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)
    text = output_of(result)
    assert "MUST-level requirements with no test: NS-001 " in text
    assert "NS-002" not in text.split("no test:")[1].split("(")[0]   # a SHOULD is no failure


@pytest.mark.spec("HARNESS-REPORT-002")
def test_a_planned_must_passes_and_is_reported_planned(inner):
    inner.spec("namespaces.md", """\
        - `NS-001` A namespace MUST exist. *(planned: issue 8)*
        - `NS-002` A namespace SHOULD be named.
    """)
    inner.tests("test_it.py", "def test_nothing():\n    pass\n")
    result = inner.run("--conformance-report=report")
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    document = json.loads((inner.path / "report" / "conformance.json").read_text())
    statuses = {r["id"]: r["status"] for r in document["requirements"]}
    assert statuses == {"NS-001": "planned", "NS-002": "no test"}
    assert "| `NS-001` | MUST | planned (issue 8) |" in (inner.path / "report" / "conformance.md").read_text()


@pytest.mark.spec("HARNESS-REPORT-005")
def test_without_the_report_an_untested_must_does_not_fail(inner):
    inner.spec("namespaces.md", MINIMAL_SPEC)
    inner.tests("test_it.py", "def test_nothing():\n    pass\n")
    result = inner.run()
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    assert not (inner.path / "report").exists()


@pytest.mark.spec("HARNESS-REPORT-003", "HARNESS-REPORT-004", "HARNESS-REPORT-006")
@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["single", "xdist"])
def test_the_report_shows_each_status(inner, workers):
    inner.spec("namespaces.md", STATUS_SPEC)
    inner.spec("cgroups.md", "# Other\n\n- `CG-001` Nobody tests this, MAY.\n")
    inner.tests("test_it.py", STATUS_TESTS)
    result = inner.run("--conformance-report=out/report", *workers)
    result.assert_outcomes(passed=4, failed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED

    document = json.loads((inner.path / "out" / "report" / "conformance.json").read_text())
    by_id = {r["id"]: r for r in document["requirements"]}
    assert {rid: r["status"] for rid, r in by_id.items()} == {
        "NS-001": "passed", "NS-002": "failed", "NS-003": "skipped", "NS-004": "no test",
        "NS-005": "planned", "NS-006": "withdrawn", "NS-007": "passed", "CG-001": "no test",
    }
    assert document["summary"] == {"passed": 2, "failed": 1, "skipped": 1, "no test": 2,
                                   "planned": 1, "withdrawn": 1}
    assert by_id["NS-002"]["level"] == "MUST" and by_id["NS-004"]["level"] == "SHOULD"
    assert sorted((t["nodeid"], t["outcome"]) for t in by_id["NS-002"]["tests"]) == [
        ("test_it.py::test_fail", "failed"), ("test_it.py::test_pass_too", "passed")]

    page = (inner.path / "out" / "report" / "conformance.md").read_text()
    assert "| status | requirements |" in page and "| no test | 2 |" in page
    assert page.index("## spec/cgroups.md") < page.index("## spec/namespaces.md")
    assert "| `NS-003` | MUST | skipped |" in page
    assert "`test_it.py::test_fail` failed" in page
    assert "conformance: 2 passed, 1 failed, 1 skipped, 2 no test, 1 planned, 1 withdrawn" in output_of(result)


@pytest.mark.spec("HARNESS-REPORT-004")
def test_the_page_counts_the_cases_of_a_parametrized_test():
    from tests.harness.report import render_markdown

    document = {
        "generated": "now", "engine": "docker", "summary": {"passed": 0, "failed": 1},
        "requirements": [{
            "id": "NS-001", "level": "MUST", "text": "A | B MUST hold.", "file": "namespaces.md",
            "line": 1, "status": "failed", "note": "",
            "tests": [{"nodeid": "t.py::test_p[a]", "outcome": "passed"},
                      {"nodeid": "t.py::test_p[`b`]", "outcome": "failed"},
                      {"nodeid": "t.py::test_q", "outcome": "skipped"}],
        }],
    }
    page = render_markdown(document)
    assert "Engine: `docker`" in page
    assert "| `NS-001` | MUST | failed | A \\| B MUST hold. | `t.py::test_p` ×2: 1 passed, 1 failed<br>`t.py::test_q` skipped |" in page
