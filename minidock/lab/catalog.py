"""The catalog of labs: what each lab is, where it lives, what it is graded on.

Implements: spec/lab.md LAB-010 .. LAB-012
Explained:  labs/README.md#for-authors

A lab is a folder `labs/NN-topic/` with a README.md and a lab.toml:

    number = 1
    title = "Namespaces: a process of its own"
    topic = "namespaces"
    tests = ["tests/namespaces"]          # paths, relative to the project root
    specs = ["NS-001", "NS-002"]          # optional: only tests marked with these IDs
    default_points = 1                    # optional: what a test not listed below is worth
    [points]                              # optional: by test name or by spec ID
    test_hostname_is_private = 3
    "NS-002" = 2

Project says where the code, the labs and the workspaces are, so the same
commands work on this repository and on a tiny project a test builds in /tmp.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from minidock.errors import InvalidArgument, NotFound

LAB_FILE = "lab.toml"
WORKSPACE_NAME = "work"  # labs/NN-topic/work/, ignored by git (.gitignore: labs/*/work/)


@dataclass(frozen=True)
class Lab:
    """One level: its number, what it is about, and how it is graded."""

    number: int
    title: str
    topic: str
    directory: Path
    tests: tuple[str, ...]
    specs: tuple[str, ...] = ()
    default_points: int = 1
    points: Mapping[str, int] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The folder name, `00-warmup`."""
        return self.directory.name

    def points_for(self, test_name: str, spec_ids: Iterable[str] = ()) -> int:
        """What passing one test is worth.

        Looked up by the full test name (`test_x[case]`), then its name without
        parameters (`test_x`), then the first of its spec IDs listed in [points],
        and otherwise default_points.
        """
        base_name = test_name.split("[", 1)[0]
        for key in (test_name, base_name, *spec_ids):
            if key in self.points:
                return self.points[key]
        return self.default_points


@dataclass(frozen=True)
class Project:
    """Where a project's package, labs and tests are.

    root      the folder with the package and the tests (this repository)
    package   the name of the package a workspace copies (`minidock`)
    labs_dir  the folder of lab folders (root/labs unless given)
    """

    root: Path
    package: str = "minidock"
    labs_dir: Path | None = None

    @property
    def package_dir(self) -> Path:
        return self.root / self.package

    @property
    def labs_path(self) -> Path:
        return self.labs_dir if self.labs_dir is not None else self.root / "labs"

    def default_workspace(self, lab: Lab) -> Path:
        """labs/NN-topic/work/: where `start` puts the student's copy unless told otherwise."""
        return lab.directory / WORKSPACE_NAME


def parse_lab(text: str, directory: Path) -> Lab:
    """Read one lab.toml; raise InvalidArgument naming the file and the faulty key."""
    where = directory / LAB_FILE
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidArgument(f"{where}: {error}") from error

    def need(key: str, kind: type) -> object:
        if key not in data:
            raise InvalidArgument(f"{where}: missing key {key!r}")
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise InvalidArgument(f"{where}: {key!r} must be a {kind.__name__}")
        return data[key]

    tests = need("tests", list)
    specs = data.get("specs", [])
    points = data.get("points", {})
    default_points = data.get("default_points", 1)
    if not all(isinstance(item, str) for item in [*tests, *specs]):
        raise InvalidArgument(f"{where}: 'tests' and 'specs' must be lists of strings")
    if not isinstance(points, dict) or not all(
        isinstance(value, int) and value >= 0 for value in points.values()
    ):
        raise InvalidArgument(f"{where}: [points] must map names to whole numbers >= 0")
    if not isinstance(default_points, int) or default_points < 0:
        raise InvalidArgument(f"{where}: 'default_points' must be a whole number >= 0")
    return Lab(
        number=need("number", int),  # type: ignore[arg-type]
        title=need("title", str),  # type: ignore[arg-type]
        topic=need("topic", str),  # type: ignore[arg-type]
        directory=directory,
        tests=tuple(tests),  # type: ignore[arg-type]
        specs=tuple(specs),
        default_points=default_points,
        points=dict(points),
    )


def load_catalog(project: Project) -> list[Lab]:
    """Every lab of the project, in order of number."""
    labs = []
    if project.labs_path.is_dir():
        for lab_file in sorted(project.labs_path.glob(f"*/{LAB_FILE}")):
            labs.append(parse_lab(lab_file.read_text(), lab_file.parent))
    numbers = [lab.number for lab in labs]
    duplicates = sorted({number for number in numbers if numbers.count(number) > 1})
    if duplicates:
        raise InvalidArgument(f"{project.labs_path}: more than one lab numbered {duplicates}")
    return sorted(labs, key=lambda lab: lab.number)


def find_lab(project: Project, number: int) -> Lab:
    """The lab with that number, or NotFound listing the ones there are."""
    labs = load_catalog(project)
    for lab in labs:
        if lab.number == number:
            return lab
    known = ", ".join(f"{lab.number:02d}" for lab in labs) or "none"
    raise NotFound(f"No such lab: {number:02d} (labs in {project.labs_path}: {known})")
