"""Spec files: parse `spec/*.md` into requirements, and judge them from test outcomes.

Implements: spec/harness.md HARNESS-SPEC-001 .. HARNESS-SPEC-006, HARNESS-REPORT-003
Explained:  spec/README.md (the line format, the ID scheme, the statuses)
Modelled on: the OCI runtime-spec's one-rule-a-line style, with RFC 2119 levels

A requirement is one Markdown list line:

    - `ENGINE-API-001` The daemon MUST answer `GET /_ping` with `OK`.
    - `NET-DNS-004` A container SHOULD ... *(planned: issue 8)*
    - `IMG-007` The store MUST ... *(withdrawn: replaced by IMG-012)*

    parse_spec_text(text, file) -> [Requirement]     one file, pure
    load_specs(spec_dir)        -> {id: Requirement} every spec/*.md but README.md
    outcome_of(outcomes)        -> "passed" | "failed" | "skipped"
    status_of(requirement, outcomes) -> one of STATUSES

Rules: an ID is defined once across all files (a duplicate is a SpecError);
a requirement line without an RFC 2119 keyword in upper case is a SpecError;
nothing here touches pytest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

# The areas of spec/README.md, one per topic plus the harness, docs and labs.
AREAS = (
    "NS", "CG", "RT", "IMG", "ENGINE", "VOL", "NET", "BUILD",
    "REG", "COMPOSE", "SWARM", "HARNESS", "DOCS", "LAB", "TRACE",
)

# RFC 2119 keywords. Longer phrases first, so "MUST NOT" is not read as "MUST".
LEVELS = (
    "MUST NOT", "MUST", "REQUIRED", "SHALL NOT", "SHALL",
    "SHOULD NOT", "SHOULD", "NOT RECOMMENDED", "RECOMMENDED", "MAY", "OPTIONAL",
)
MUST_LEVELS = frozenset({"MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT"})

# Where a requirement stands, in the order the report lists them.
STATUSES = ("passed", "failed", "skipped", "no test", "planned", "withdrawn")

ID_PATTERN = r"[A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)?-[0-9]{3}"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")
_LINE_RE = re.compile(
    rf"^- `(?P<id>{ID_PATTERN})` (?P<text>.+?)"
    r"(?: \*\((?P<status>planned|withdrawn)(?:: (?P<note>[^)]*))?\)\*)?\s*$"
)
_LEVEL_RE = re.compile(r"\b(" + "|".join(LEVELS) + r")\b")
_CODE_SPAN_RE = re.compile(r"`[^`]*`")


class SpecError(ValueError):
    """A spec file breaks the format of spec/README.md (bad ID, no level, duplicate)."""


@dataclass(frozen=True)
class Requirement:
    """One rule of a spec file.

    status is "active", "planned" or "withdrawn" (what the spec says of itself;
    the report's status also depends on the tests, see status_of()).
    """

    id: str
    level: str
    text: str
    file: str
    status: str = "active"
    note: str = ""
    line: int = 0

    @property
    def is_must(self) -> bool:
        """True for MUST, MUST NOT, REQUIRED, SHALL and SHALL NOT."""
        return self.level in MUST_LEVELS

    @property
    def area(self) -> str:
        """The first part of the ID: `ENGINE` for `ENGINE-API-001`."""
        return self.id.split("-", 1)[0]


def is_valid_id(requirement_id: str) -> bool:
    """True when the ID has the form AREA-NNN or AREA-TOPIC-NNN with a known area."""
    return bool(_ID_RE.match(requirement_id)) and requirement_id.split("-", 1)[0] in AREAS


def level_of(text: str) -> str | None:
    """The first RFC 2119 keyword written in upper case, outside `code spans`."""
    match = _LEVEL_RE.search(_CODE_SPAN_RE.sub("", text))
    return match.group(1) if match else None


def parse_spec_line(line: str, file: str = "", line_number: int = 0) -> Requirement | None:
    """The requirement on this line, None if the line is not a requirement line.

    Raises SpecError when the line is a requirement line with a bad area or no level.
    """
    match = _LINE_RE.match(line.rstrip("\n"))
    if match is None:
        return None
    where = f"{file}:{line_number}"
    requirement_id, text = match.group("id"), match.group("text").strip()
    if not is_valid_id(requirement_id):
        raise SpecError(f"{where}: {requirement_id}: unknown area; areas are {', '.join(AREAS)}")
    level = level_of(text)
    if level is None:
        raise SpecError(f"{where}: {requirement_id} has no RFC 2119 keyword (MUST, SHOULD, MAY, ...)")
    return Requirement(
        id=requirement_id,
        level=level,
        text=text,
        file=file,
        status=match.group("status") or "active",
        note=(match.group("note") or "").strip(),
        line=line_number,
    )


def parse_spec_text(text: str, file: str = "") -> list[Requirement]:
    """Every requirement of one spec file, in order. Duplicates within it are a SpecError."""
    requirements: list[Requirement] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        requirement = parse_spec_line(line, file, number)
        if requirement is None:
            continue
        if requirement.id in seen:
            raise SpecError(f"{file}:{number}: {requirement.id} already defined at line {seen[requirement.id]}")
        seen[requirement.id] = number
        requirements.append(requirement)
    return requirements


def merge_requirements(per_file: Iterable[list[Requirement]]) -> dict[str, Requirement]:
    """One {id: requirement} for all files; an ID in two files is a SpecError."""
    merged: dict[str, Requirement] = {}
    for requirements in per_file:
        for requirement in requirements:
            first = merged.get(requirement.id)
            if first is not None:
                raise SpecError(
                    f"{requirement.file}:{requirement.line}: {requirement.id} is already "
                    f"defined in {first.file}:{first.line}; IDs are never reused"
                )
            merged[requirement.id] = requirement
    return merged


def load_specs(spec_dir: Path) -> dict[str, Requirement]:
    """Parse every `spec_dir/*.md` except README.md. A missing directory holds no rules."""
    if not spec_dir.is_dir():
        return {}
    files = sorted(path for path in spec_dir.glob("*.md") if path.name != "README.md")
    return merge_requirements(
        parse_spec_text(path.read_text(encoding="utf-8"), path.name) for path in files
    )


def outcome_of(phase_outcomes: Iterable[str]) -> str:
    """One test's outcome from its phases' outcomes (setup, call, teardown).

    Any failed phase fails the test; a skipped phase with no failure skips it.
    """
    outcomes = set(phase_outcomes)
    if "failed" in outcomes:
        return "failed"
    if "skipped" in outcomes:
        return "skipped"
    return "passed"


def status_of(requirement: Requirement, test_outcomes: Iterable[str]) -> str:
    """The report's status for a requirement, given the outcomes of its tests.

    withdrawn stays withdrawn; otherwise the tests decide (failed if any failed,
    skipped if all skipped, else passed); with no tests: planned or "no test".
    """
    outcomes = list(test_outcomes)
    if requirement.status == "withdrawn":
        return "withdrawn"
    if outcomes:
        if "failed" in outcomes:
            return "failed"
        if all(outcome == "skipped" for outcome in outcomes):
            return "skipped"
        return "passed"
    return "planned" if requirement.status == "planned" else "no test"


def untested_musts(requirements: Iterable[Requirement], statuses: dict[str, str]) -> list[str]:
    """The IDs of MUST-level requirements whose status is "no test" (what fails the build)."""
    return sorted(r.id for r in requirements if r.is_must and statuses.get(r.id) == "no test")
