"""`minidock lab`: list, start, check and reset the labs.

Implements: spec/lab.md LAB-001 .. LAB-031
Explained:  labs/README.md

    minidock lab list                     every lab, with its status
    minidock lab start N [--dir D]        make the workspace: the package, lab N's regions stubbed
    minidock lab check N [--dir D]        run lab N's tests against the workspace, with points
    minidock lab reset N [--dir D] [--yes] delete the workspace

The main CLI mounts these with add_parser(subparsers); `python -m minidock.lab`
runs them on their own through main(). Every handler returns an exit status.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from typing import TYPE_CHECKING

from minidock.errors import MinidockError

if TYPE_CHECKING:
    from minidock.lab.catalog import Lab, Project

# The verbs import their modules when they run, not when the main CLI builds its parser:
# `minidock --version` should not pay for tomllib, tokenize and subprocess (~30 ms).

DEFAULT_PACKAGE = "minidock"


def add_parsers(subparsers: argparse._SubParsersAction, only: str | None = None) -> None:
    """`lab` as one of the minidock CLI's topics (minidock/cli/main.py's table)."""
    add_parser(subparsers)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Mount `lab` on a parent CLI's subparsers; the parsed args carry func=run."""
    parser = subparsers.add_parser(
        "lab",
        help="Work through the labs: list, start, check, reset",
        description="Work through the labs: list, start, check, reset (see labs/README.md).",
    )
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    """Give `parser` the lab options and verbs, and set func=run."""
    parser.add_argument("--root", type=Path, help="the project root (default: found from the current folder)")
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help="the package a workspace copies")
    parser.add_argument("--labs-dir", type=Path, help="the folder of labs (default: ROOT/labs)")
    verbs = parser.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)

    verbs.add_parser("list", help="list the labs and how far you got")

    start = verbs.add_parser("start", help="create the workspace for lab N")
    start.add_argument("number", type=int, metavar="N")
    start.add_argument("--dir", type=Path, help="where to create it (default: labs/NN-topic/work)")

    check = verbs.add_parser("check", help="grade the workspace of lab N")
    check.add_argument("number", type=int, metavar="N")
    check.add_argument("--dir", type=Path, help="the workspace (default: labs/NN-topic/work)")
    check.add_argument("--quiet", action="store_true", help="show only the points, not pytest's output")
    check.add_argument(
        "--pytest-args", default="", metavar="ARGS",
        help='extra pytest arguments in one string: --pytest-args="-x -k hostname"',
    )

    reset = verbs.add_parser("reset", help="delete the workspace of lab N")
    reset.add_argument("number", type=int, metavar="N")
    reset.add_argument("--dir", type=Path, help="the workspace (default: labs/NN-topic/work)")
    reset.add_argument("--yes", "-y", action="store_true", help="do not ask")

    # `func` for any parent CLI; `handler` is what minidock/cli/main.py dispatches on
    parser.set_defaults(func=run, handler=run)


def find_root(package: str, start: Path | None = None) -> Path:
    """The nearest folder, from `start` upwards, that holds both labs/ and the package.

    Falls back to the folder this package was loaded from (an editable install).
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "labs").is_dir() and (folder / package).is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def project_from(args: argparse.Namespace) -> Project:
    """The Project the options describe."""
    from minidock.lab.catalog import Project

    root = (args.root or find_root(args.package)).resolve()
    labs_dir = args.labs_dir.resolve() if args.labs_dir else None
    return Project(root=root, package=args.package, labs_dir=labs_dir)


def workspace_of(project: Project, lab: Lab, directory: Path | None) -> Path:
    return directory.resolve() if directory else project.default_workspace(lab)


def run(args: argparse.Namespace) -> int:
    """Run the verb in args; print errors as `error: ...` and return 1 for them."""
    handlers = {"list": cmd_list, "start": cmd_start, "check": cmd_check, "reset": cmd_reset}
    try:
        return handlers[args.lab_command](args)
    except MinidockError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1


def cmd_list(args: argparse.Namespace) -> int:
    """[LAB-030] number, title, status of every lab."""
    from rich.console import Console  # lazily, as everywhere in the CLI
    from rich.table import Table

    from minidock.lab.catalog import load_catalog
    from minidock.lab.workspace import describe_status

    project = project_from(args)
    table = Table(title=f"labs in {project.labs_path}")
    for column in ("lab", "title", "status"):
        table.add_column(column)
    for lab in load_catalog(project):
        table.add_row(f"{lab.number:02d}", lab.title, describe_status(project.default_workspace(lab)))
    Console().print(table)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Create the workspace of lab N and say where to begin."""
    from minidock.lab.catalog import find_lab
    from minidock.lab.workspace import create_workspace

    project = project_from(args)
    lab = find_lab(project, args.number)
    target = workspace_of(project, lab, args.dir)
    stubbed = create_workspace(project, lab, target)
    print(f"lab {lab.number:02d} ({lab.title}): workspace created at {target}")
    if stubbed:
        print("your TODOs are in:")
        for path in stubbed:
            print(f"  {target / path}")
    else:
        print(f"note: no region of {project.package}/ is marked for lab {lab.number:02d} yet")
    print(f"read {lab.directory / 'README.md'}, then run `minidock lab check {lab.number}`")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Grade the workspace; exit 0 only with every point earned."""
    from rich.console import Console

    from minidock.lab.catalog import find_lab
    from minidock.lab.grader import grade_table, run_check
    from minidock.lab.workspace import save_result

    project = project_from(args)
    lab = find_lab(project, args.number)
    target = workspace_of(project, lab, args.dir)
    extra = shlex.split(args.pytest_args)
    grade = run_check(project, lab, target, extra_args=extra, show_output=not args.quiet)
    console = Console()
    for problem in grade.problems:
        console.print(f"[red]problem:[/red] {problem}", markup=True, highlight=False)
    console.print(grade_table(grade))
    save_result(target, grade.earned, grade.total)
    return 0 if grade.complete else 1


def cmd_reset(args: argparse.Namespace) -> int:
    """Delete the workspace, after asking unless --yes."""
    from minidock.lab.catalog import find_lab
    from minidock.lab.workspace import remove_workspace

    project = project_from(args)
    lab = find_lab(project, args.number)
    target = workspace_of(project, lab, args.dir)
    if not target.exists():
        print(f"lab {lab.number:02d}: no workspace at {target}")
        return 0
    if not args.yes and not confirm(f"Delete {target} and everything you wrote in it? [y/N] "):
        print("kept it")
        return 1
    remove_workspace(target, project)
    print(f"lab {lab.number:02d}: removed {target}")
    return 0


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal; no answer (EOF) means no."""
    try:
        return input(question).strip().lower() in {"y", "yes"}
    except EOFError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m minidock.lab ...`: the same verbs without the main CLI."""
    parser = argparse.ArgumentParser(prog="minidock lab", description="Work through the labs.")
    configure(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

