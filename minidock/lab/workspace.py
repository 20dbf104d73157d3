"""A student's workspace: a copy of the package with one lab's regions stubbed out.

Implements: spec/lab.md LAB-001 .. LAB-006, LAB-030, LAB-031
Explained:  labs/README.md

    <workspace>/
        minidock/              the package, every region of lab N a TODO stub
        .lab-result.json       the last `check`: points earned and possible

plan_workspace() is pure: it reads the package and returns what to write.
create_workspace() writes it, and refuses to overwrite a workspace that exists.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from minidock.errors import Conflict, InvalidArgument
from minidock.lab.catalog import Lab, Project
from minidock.lab.markers import make_skeleton

RESULT_FILE = ".lab-result.json"
# What never belongs in a student's copy.
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache"}


@dataclass(frozen=True)
class PlannedFile:
    """One file of a workspace: where it goes and what it holds."""

    relative_path: Path
    content: bytes
    stubbed: bool  # True when lab regions were replaced in it


def plan_workspace(project: Project, lab: Lab) -> list[PlannedFile]:
    """Every file of the student's copy of the package, with lab regions stubbed.

    Raises MarkerError (naming file and line) when a file's markers do not pair up,
    and InvalidArgument when a stubbed file would not be valid Python.
    """
    if not project.package_dir.is_dir():
        raise InvalidArgument(f"no package to copy at {project.package_dir}")
    planned = []
    for path in sorted(project.package_dir.rglob("*")):
        relative = path.relative_to(project.root)
        if path.is_dir() or SKIPPED_NAMES.intersection(relative.parts):
            continue
        if path.suffix != ".py":
            planned.append(PlannedFile(relative, path.read_bytes(), stubbed=False))
            continue
        source = path.read_text()
        skeleton = make_skeleton(source, lab.number, filename=str(relative))
        if skeleton != source:
            try:
                compile(skeleton, str(relative), "exec")
            except SyntaxError as error:
                raise InvalidArgument(
                    f"{relative}:{error.lineno}: the skeleton for lab {lab.number:02d} is not "
                    f"valid Python ({error.msg}); mark a function's body, not its def"
                ) from error
        planned.append(PlannedFile(relative, skeleton.encode(), stubbed=skeleton != source))
    return planned


def create_workspace(project: Project, lab: Lab, target: Path) -> list[Path]:
    """Write the student's copy to `target`; return the files that got stubs.

    [LAB-003] an existing workspace MUST NOT be overwritten: reset it first.
    """
    if target.exists() and any(target.iterdir()):
        raise Conflict(
            f"a workspace for lab {lab.number:02d} already exists at {target}; "
            f"keep working in it, or remove it with `minidock lab reset {lab.number}`"
        )
    planned = plan_workspace(project, lab)  # before writing anything: a bad marker writes nothing
    for item in planned:
        destination = target / item.relative_path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(item.content)
    return [item.relative_path for item in planned if item.stubbed]


def remove_workspace(target: Path, project: Project) -> bool:
    """Delete a workspace; False when there was none.

    Refuses any folder that holds no copy of the package, so a mistyped --dir
    cannot delete something else.
    """
    if not target.exists():
        return False
    if not (target / project.package).is_dir() and any(target.iterdir()):
        raise InvalidArgument(f"{target} does not look like a lab workspace (no {project.package}/)")
    shutil.rmtree(target)
    return True


def save_result(target: Path, earned: int, total: int) -> None:
    """Remember the last check's score, for `minidock lab list`."""
    (target / RESULT_FILE).write_text(json.dumps({"earned": earned, "total": total}) + "\n")


def load_result(target: Path) -> tuple[int, int] | None:
    """The last check's (earned, total), or None if never checked or unreadable."""
    try:
        data = json.loads((target / RESULT_FILE).read_text())
        return int(data["earned"]), int(data["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe_status(target: Path) -> str:
    """'not started', 'started', 'started (3/5 points)' or 'passed (5/5 points)'."""
    if not target.exists():
        return "not started"
    result = load_result(target)
    if result is None:
        return "started"
    earned, total = result
    if total > 0 and earned == total:
        return f"passed ({earned}/{total} points)"
    return f"started ({earned}/{total} points)"
