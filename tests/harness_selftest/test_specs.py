"""The spec parser and the status rules, as pure functions (no root, no inner sessions)."""

from __future__ import annotations

import pytest

from tests.harness.specs import (
    Requirement,
    SpecError,
    level_of,
    load_specs,
    outcome_of,
    parse_spec_line,
    parse_spec_text,
    status_of,
    untested_musts,
)


@pytest.mark.spec("HARNESS-SPEC-001")
def test_a_requirement_line_is_parsed_into_its_parts():
    requirement = parse_spec_line("- `ENGINE-API-001` The daemon MUST answer `GET /_ping` with `OK`.", "engine.md", 7)
    assert requirement == Requirement(
        id="ENGINE-API-001", level="MUST", text="The daemon MUST answer `GET /_ping` with `OK`.",
        file="engine.md", status="active", note="", line=7,
    )
    assert requirement.area == "ENGINE"


@pytest.mark.spec("HARNESS-SPEC-001")
def test_other_lines_are_ignored():
    text = """# Title

Prose that MUST not be read as a rule.
- `minidock run` is a command, not an ID
- NET-001 without backticks
  - `NET-002` indented lists are not requirement lines MUST
- `NET-003` A container MUST have a loopback link.
"""
    assert [r.id for r in parse_spec_text(text, "networking.md")] == ["NET-003"]


@pytest.mark.spec("HARNESS-SPEC-002")
@pytest.mark.parametrize(("text", "level"), [
    ("It MUST NOT fail.", "MUST NOT"),
    ("It SHALL NOT fail, and MUST log.", "SHALL NOT"),
    ("It SHOULD log; it MUST exit.", "SHOULD"),
    ("It is REQUIRED.", "REQUIRED"),
    ("It is NOT RECOMMENDED.", "NOT RECOMMENDED"),
    ("The `MUST` flag MAY be set.", "MAY"),
    ("It must be lower case, so OPTIONAL.", "OPTIONAL"),
    ("Nothing here is a keyword, must or may.", None),
])
def test_the_level_is_the_first_upper_case_keyword_outside_code(text, level):
    assert level_of(text) == level


@pytest.mark.spec("HARNESS-SPEC-002")
@pytest.mark.parametrize(("level", "is_must"), [
    ("MUST", True), ("MUST NOT", True), ("REQUIRED", True), ("SHALL", True), ("SHALL NOT", True),
    ("SHOULD", False), ("SHOULD NOT", False), ("RECOMMENDED", False), ("MAY", False), ("OPTIONAL", False),
])
def test_must_level(level, is_must):
    assert Requirement("NS-001", level, "t", "f.md").is_must is is_must


@pytest.mark.spec("HARNESS-SPEC-003")
def test_planned_and_withdrawn_endings():
    planned = parse_spec_line("- `NET-DNS-004` Names MUST resolve. *(planned: issue 8)*")
    assert (planned.status, planned.note, planned.text) == ("planned", "issue 8", "Names MUST resolve.")
    withdrawn = parse_spec_line("- `IMG-007` The store MUST be flat. *(withdrawn: replaced by IMG-012)*")
    assert (withdrawn.status, withdrawn.note) == ("withdrawn", "replaced by IMG-012")
    bare = parse_spec_line("- `IMG-008` It MAY cache. *(planned)*")
    assert (bare.status, bare.note, bare.text) == ("planned", "", "It MAY cache.")


@pytest.mark.spec("HARNESS-SPEC-004")
def test_a_duplicate_id_in_one_file_is_an_error():
    with pytest.raises(SpecError, match=r"net.md:2: NET-001 already defined at line 1"):
        parse_spec_text("- `NET-001` A MUST.\n- `NET-001` B MUST.\n", "net.md")


@pytest.mark.spec("HARNESS-SPEC-004")
def test_a_duplicate_id_across_files_is_an_error(tmp_path):
    (tmp_path / "a.md").write_text("- `NET-001` A MUST.\n")
    (tmp_path / "b.md").write_text("\n- `NET-001` B MUST.\n")
    (tmp_path / "README.md").write_text("- `NET-001` The README is not parsed, MUST.\n")
    with pytest.raises(SpecError, match=r"b.md:2: NET-001 is already defined in a.md:1"):
        load_specs(tmp_path)


@pytest.mark.spec("HARNESS-SPEC-004")
@pytest.mark.parametrize(("line", "message"), [
    ("- `FOO-001` It MUST.", "unknown area"),
    ("- `NET-001` It does things.", "no RFC 2119 keyword"),
])
def test_bad_requirement_lines_are_errors(line, message):
    with pytest.raises(SpecError, match=message):
        parse_spec_line(line, "x.md", 3)


@pytest.mark.spec("HARNESS-SPEC-001")
def test_load_specs_reads_every_file_but_the_readme(tmp_path):
    (tmp_path / "a.md").write_text("- `NS-001` A MUST.\n")
    (tmp_path / "b.md").write_text("- `CG-TOPIC-001` B SHOULD.\n")
    (tmp_path / "README.md").write_text("- `NS-002` Not parsed, MUST.\n")
    (tmp_path / "notes.txt").write_text("- `NS-003` Not a spec file, MUST.\n")
    specs = load_specs(tmp_path)
    assert sorted(specs) == ["CG-TOPIC-001", "NS-001"]
    assert specs["CG-TOPIC-001"].file == "b.md"
    assert load_specs(tmp_path / "missing") == {}


@pytest.mark.spec("HARNESS-REPORT-003")
@pytest.mark.parametrize(("phases", "outcome"), [
    (["passed", "passed", "passed"], "passed"),
    (["passed", "failed", "passed"], "failed"),
    (["passed", "passed", "failed"], "failed"),
    (["skipped", "passed"], "skipped"),
    (["passed", "skipped", "passed"], "skipped"),
])
def test_a_tests_outcome_from_its_phases(phases, outcome):
    assert outcome_of(phases) == outcome


@pytest.mark.spec("HARNESS-REPORT-003")
@pytest.mark.parametrize(("status", "outcomes", "expected"), [
    ("active", ["passed", "passed"], "passed"),
    ("active", ["passed", "skipped"], "passed"),
    ("active", ["passed", "failed", "skipped"], "failed"),
    ("active", ["skipped", "skipped"], "skipped"),
    ("active", [], "no test"),
    ("planned", [], "planned"),
    ("planned", ["passed"], "passed"),
    ("withdrawn", [], "withdrawn"),
    ("withdrawn", ["failed"], "withdrawn"),
])
def test_a_requirements_status(status, outcomes, expected):
    assert status_of(Requirement("NS-001", "MUST", "t", "f.md", status), outcomes) == expected


@pytest.mark.spec("HARNESS-REPORT-001", "HARNESS-REPORT-002")
def test_only_untested_musts_fail_the_build():
    requirements = [
        Requirement("NS-001", "MUST", "t", "f.md"),
        Requirement("NS-002", "SHOULD", "t", "f.md"),
        Requirement("NS-003", "MUST NOT", "t", "f.md", "planned"),
        Requirement("NS-004", "SHALL", "t", "f.md"),
    ]
    statuses = {"NS-001": "no test", "NS-002": "no test", "NS-003": "planned", "NS-004": "passed"}
    assert untested_musts(requirements, statuses) == ["NS-001"]
