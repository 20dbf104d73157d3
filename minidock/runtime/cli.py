"""`minidock-runtime`: an OCI runtime with runc's command line.

Implements: spec/runtime.md RT-CLI-001 .. RT-CLI-003
Explained:  chapters/03-runtime.md#the-command

    minidock-runtime spec [--bundle DIR]        write a default config.json
    minidock-runtime run  [--bundle DIR] ID     create, start, wait, delete

Today's verbs are the foreground pair the demo needs; create, start, state,
kill, delete, exec, ps and list follow with issue 3. Errors print as
`minidock-runtime: <message>` and exit 1, before anything is created.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from minidock.errors import Conflict, InvalidArgument, MinidockError

STATE_ROOT = "/run/minidock-runtime"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _spec(args: argparse.Namespace) -> int:
    from minidock.runtime.config import default_config

    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise Conflict(f"File {path} exists. Remove it first")  # runc's words
    with open(path, "w") as file:
        json.dump(default_config(), file, indent=2)
        file.write("\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from minidock.runtime import config, run

    # [RT-CLI-002] a container id is a safe file name
    if not _ID.match(args.id):
        raise InvalidArgument(f"invalid container id {args.id!r}: use letters, digits, '_', '.', '-'")
    checked = config.load(args.bundle)
    state_dir = os.path.join(args.root, args.id)
    os.makedirs(args.root, exist_ok=True)
    try:
        os.mkdir(state_dir)
    except FileExistsError:
        # [RT-CLI-003] two containers never share an id
        raise Conflict(f"container with id exists: {args.id}") from None
    try:
        return run.run(checked, args.id)
    finally:
        os.rmdir(state_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minidock-runtime", description="An OCI runtime, runc's verbs.")
    parser.add_argument("--root", default=STATE_ROOT, help="where container state lives")
    verbs = parser.add_subparsers(dest="verb", required=True)
    spec = verbs.add_parser("spec", help="write a default config.json into the bundle")
    spec.add_argument("--bundle", "-b", default=".")
    spec.set_defaults(handler=_spec)
    run = verbs.add_parser("run", help="create and start a container, wait for it, delete it")
    run.add_argument("--bundle", "-b", default=".")
    run.add_argument("id")
    run.set_defaults(handler=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except MinidockError as error:
        print(f"minidock-runtime: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
