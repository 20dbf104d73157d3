"""The report's host facts and the page of two runs side by side (tests/harness/report.py)."""

from __future__ import annotations

import json

import pytest

from tests.harness.report import cgroup_mode, host_facts, main, render_markdown
from tests.harness_selftest.conftest import MINIMAL_SPEC, output_of

# mountinfo(5) lines: a v2-only host, and the cgroup lines of a hybrid (systemd's layout)
V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
HYBRID = (
    "25 23 0:22 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
    "29 25 0:26 / /sys/fs/cgroup/memory rw shared:14 - cgroup cgroup rw,memory\n"
)
V1 = HYBRID.splitlines(keepends=True)[2]
PROC = "22 1 0:20 / /proc rw shared:5 - proc proc rw\n"


def requirement(rid: str, status: str, tests: list[tuple[str, str]]) -> dict:
    return {"id": rid, "level": "MUST", "text": f"{rid} MUST hold.", "file": "cgroups.md", "line": 1,
            "status": status, "note": "", "tests": [{"nodeid": n, "outcome": o} for n, o in tests]}


def run(cgroup: str, hostname: str, *requirements: dict) -> dict:
    summary = {"passed": 0, "failed": 0}
    for req in requirements:
        summary[req["status"]] = summary.get(req["status"], 0) + 1
    return {"generated": "2026-12-02T00:00:00+00:00", "engine": None, "summary": summary,
            "host": {"hostname": hostname, "kernel": f"kernel-of-{hostname}", "cgroup": cgroup, "python": "3.11.2"},
            "requirements": list(requirements)}


@pytest.mark.spec("HARNESS-REPORT-007")
@pytest.mark.parametrize("mountinfo, mode", [
    (PROC + V2, "v2"), (PROC + HYBRID, "hybrid (v1 + v2)"), (PROC + V1, "v1"), (PROC, "none"),
])
def test_the_cgroup_mode_is_read_from_mountinfo(mountinfo, mode):
    assert cgroup_mode(mountinfo) == mode


@pytest.mark.spec("HARNESS-REPORT-007")
def test_a_single_run_states_its_host():
    facts = host_facts()
    assert set(facts) == {"hostname", "kernel", "cgroup", "python"} and all(facts.values())
    page = render_markdown(run("v2", "minidock-vm", requirement("CG-001", "passed", [("t.py::test_a", "passed")])))
    assert "| this run | minidock-vm | kernel-of-minidock-vm | v2 | 3.11.2 | 2026-12-02T00:00:00+00:00 | — |" in page
    assert "| status | requirements |" in page and "| `CG-001` | MUST | passed |" in page


@pytest.mark.spec("HARNESS-REPORT-008")
def test_two_runs_are_shown_side_by_side():
    host = run("hybrid (v1 + v2)", "ci",
               requirement("CG-001", "passed", [("t.py::test_a", "passed")]),
               requirement("CG-002", "passed", [("t.py::test_b[x]", "passed"), ("t.py::test_b[y]", "passed")]))
    vm = run("v2", "minidock-vm",
             requirement("CG-001", "passed", [("t.py::test_a", "passed")]),
             requirement("CG-002", "failed", [("t.py::test_b[x]", "failed"), ("t.py::test_b[y]", "failed")]))
    vm["selection"] = ["tests/cgroups", "tests/engine/test_stats.py"]
    page = render_markdown(host, [("[v2](v2/conformance.md)", vm)])
    assert "| `tests/cgroups`<br>`tests/engine/test_stats.py` |" in page   # what the run was given
    assert "| [this run](conformance.md) | ci | kernel-of-ci | hybrid (v1 + v2) |" in page
    assert "| [v2](v2/conformance.md) | minidock-vm | kernel-of-minidock-vm | v2 |" in page
    assert "| status | cgroup hybrid (v1 + v2) | cgroup v2 |" in page and "| failed | 0 | 1 |" in page
    assert "| ID | level | cgroup hybrid (v1 + v2) | cgroup v2 | requirement | tests |" in page
    assert "| `CG-001` | MUST | passed | passed | CG-001 MUST hold. | `t.py::test_a` passed |" in page
    # the other run's failure names its test once, however many cases failed
    assert "| `CG-002` | MUST | passed | failed: `t.py::test_b` | CG-002 MUST hold. |" in page


@pytest.mark.spec("HARNESS-REPORT-008")
def test_a_requirement_missing_from_the_other_run_is_a_dash():
    host = run("v1", "ci", requirement("CG-001", "passed", []), requirement("CG-003", "passed", []))
    vm = run("v2", "vm", requirement("CG-001", "passed", []))
    assert "| `CG-003` | MUST | passed | — |" in render_markdown(host, [("vm", vm)])


@pytest.mark.spec("HARNESS-REPORT-008")
def test_the_merge_command_renders_the_page_again_with_the_subdirectory_runs(tmp_path, capsys):
    host = run("hybrid (v1 + v2)", "ci", requirement("CG-001", "passed", []))
    vm = run("v2", "minidock-vm", requirement("CG-001", "failed", [("t.py::test_a", "failed")]))
    assert main([str(tmp_path)]) == 0          # nothing of the host's yet: nothing to merge into
    assert "no " in capsys.readouterr().out and not (tmp_path / "conformance.md").exists()
    (tmp_path / "conformance.json").write_text(json.dumps(host))
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "conformance.json").write_text(json.dumps(vm))
    assert main([str(tmp_path)]) == 0
    page = (tmp_path / "conformance.md").read_text()
    assert "| `CG-001` | MUST | passed | failed: `t.py::test_a` |" in page
    assert "[v2](v2/conformance.md)" in page
    assert json.loads((tmp_path / "conformance.json").read_text()) == host   # the data is left as it was


@pytest.mark.spec("HARNESS-REPORT-009")
def test_a_subset_run_writes_the_report_without_the_must_check(inner):
    inner.spec("namespaces.md", MINIMAL_SPEC)
    inner.tests("test_it.py", "def test_nothing():\n    pass\n")
    result = inner.run("--conformance-report=report", "--conformance-subset", "test_it.py")
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    assert "MUST-level requirements with no test" not in output_of(result)
    document = json.loads((inner.path / "report" / "conformance.json").read_text())
    assert {r["id"]: r["status"] for r in document["requirements"]} == {"NS-001": "no test", "NS-002": "no test"}
    assert document["selection"] == ["test_it.py"]   # what the run was given, for the report's hosts table
