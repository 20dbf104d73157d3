"""`minidock-runtime`: an OCI runtime with runc's command line.

Implements: spec/runtime.md RT-CLI-001 .. RT-CLI-003, RT-VERB-*
Explained:  chapters/03-runtime.md#the-command

    minidock-runtime [--root DIR] spec   [--bundle DIR]      write a default config.json
    minidock-runtime [--root DIR] create [--bundle DIR] ID   init waits for `start`
    minidock-runtime [--root DIR] start  ID
    minidock-runtime [--root DIR] run    [--bundle DIR] ID   create + start + wait + delete
    minidock-runtime [--root DIR] state  ID                  the OCI state as JSON
    minidock-runtime [--root DIR] kill   ID [SIGNAL]         default TERM
    minidock-runtime [--root DIR] pause  ID / resume ID       freeze / thaw (cgroup freezer)
    minidock-runtime [--root DIR] delete [--force] ID
    minidock-runtime [--root DIR] exec   [--cwd D] [--env K=V] [--user UID[:GID]] [--tty [--resize-fd N]] ID CMD...
    minidock-runtime [--root DIR] ps     ID                  pids in the container
    minidock-runtime [--root DIR] list
    minidock-runtime [--root DIR] --trace [--trace-format text|json|html] run [--bundle DIR] ID
                                                          run under ptrace; print the kernel-facing
                                                          steps (minidock/runtime/trace/)

Errors print as `minidock-runtime: <message>` and exit 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

from minidock.errors import Conflict, MinidockError

STATE_ROOT = "/run/minidock-runtime"


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
    # No cyclic garbage collection in run: the start allocates some 10,000 objects that all
    # live until the end, and each collection would walk them again (~4 ms of a start);
    # reference counting still frees what run drops, and it ends with _exit below.
    gc.disable()
    from minidock.runtime import create

    code = create.run(args.bundle, args.id, args.root)
    # The container is gone and deleted: nothing is left to do but exit. Python's own
    # clean-up at exit (freeing every module and object) costs 20-50 ms here, longer
    # than starting the container; _exit(2) skips it, once our output is written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _traced_run(args: argparse.Namespace) -> int:
    """`--trace run`: this same command without --trace, under the tracer; then its steps."""
    from minidock.runtime.trace import render, trace

    traced = trace([sys.executable, "-m", "minidock.runtime.cli", "--root", args.root,
                    "run", "--bundle", args.bundle, args.id], output_to_stderr=args.trace_format != "text")
    print(render.render(traced, args.trace_format), flush=True)
    return 130 if traced.interrupted else traced.exit_code


def _create(args: argparse.Namespace) -> int:
    from minidock.runtime import create

    create.create(args.bundle, args.id, args.root)
    return 0


def _lifecycle(verb: str, *options: str):
    """A handler that calls lifecycle.VERB(root, id, *those options of args), imported lazily."""

    def handler(args: argparse.Namespace) -> int:
        from minidock.runtime import lifecycle

        getattr(lifecycle, verb)(args.root, args.id, *(getattr(args, o) for o in options))
        return 0

    return handler


def _state(args: argparse.Namespace) -> int:
    from minidock.runtime import lifecycle

    print(json.dumps(lifecycle.state(args.root, args.id), indent=2))
    return 0


def _exec(args: argparse.Namespace) -> int:
    from minidock.runtime import exec as exec_verb

    if not args.command:
        raise MinidockError("exec needs a command")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return exec_verb.exec_in(args.root, args.id, command, env=args.env, cwd=args.cwd, user=args.user,
                               tty=args.tty, resize_fd=args.resize_fd)


def _ps(args: argparse.Namespace) -> int:
    from minidock.runtime import lifecycle

    pids = lifecycle.ps(args.root, args.id)
    print(json.dumps(pids) if args.format == "json" else "\n".join(map(str, pids)))
    return 0


def _list(args: argparse.Namespace) -> int:
    from minidock.runtime import lifecycle

    containers = lifecycle.list_all(args.root)
    if args.format == "json":
        print(json.dumps(containers, indent=2))
        return 0
    print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} CREATED")
    for c in containers:
        print(f"{c['id']:<20} {c['pid']:<8} {c['status']:<10} {c['bundle']:<40} {c['created']}")
    return 0


VERBS = ("spec", "create", "start", "run", "state", "kill", "pause", "resume", "delete", "exec", "ps", "list")
# global options that take a value: the verb is the first word that is neither these nor their values
_VALUED = {"--root", "--trace-format"}


def first_verb(argv: list[str]) -> str | None:
    """The verb of a command line, skipping the global options (and their values) before it."""
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's help formatter, told the terminal's width.

    Left to find it, argparse imports shutil to ask (and shutil imports zlib, bz2 and
    lzma), ~2 ms of every container's start, though help is hardly ever printed.
    """
    columns = os.environ.get("COLUMNS", "")  # what shutil.get_terminal_size() reads first
    if not columns.isdigit():
        try:
            columns = os.get_terminal_size().columns
        except OSError:  # not a terminal
            columns = 80
    return argparse.HelpFormatter(prog, width=int(columns) - 2)  # as argparse does: 2 columns of margin


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser for the verb ``only``, or for every verb when it is None or unknown (help, typos).

    As the minidock command does (minidock/cli/main.py): argparse looks up a translation
    of each help text as it builds a sub-parser (stat(2) calls in every locale directory),
    so building all twelve cost a container's start some 5 ms.
    """
    parser = argparse.ArgumentParser(prog="minidock-runtime", description="An OCI runtime, runc's verbs.",
                                     formatter_class=_formatter)
    parser.add_argument("--root", default=STATE_ROOT, help="where container state lives")
    parser.add_argument("--trace", action="store_true",
                        help="run under ptrace and print what the kernel was asked to do (run only)")
    parser.add_argument("--trace-format", choices=("text", "json", "html"), default="text",
                        help="how --trace prints its steps (json and html: the container's output goes to stderr)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    every = only not in VERBS

    def verb(name: str, handler, help_text: str, bundle: bool = False, with_id: bool = True):
        """Add the sub-parser ``name`` (None when another verb is being parsed)."""
        if not every and name != only:
            return None
        sub = verbs.add_parser(name, help=help_text, formatter_class=_formatter)
        if bundle:
            sub.add_argument("--bundle", "-b", default=".")
        if with_id:
            sub.add_argument("id")
        sub.set_defaults(handler=handler)
        return sub

    verb("spec", _spec, "write a default config.json into the bundle", bundle=True, with_id=False)
    verb("create", _create, "create a container that waits for start", bundle=True)
    verb("start", _lifecycle("start"), "run the program of a created container")
    verb("run", _run, "create and start a container, wait for it, delete it", bundle=True)
    verb("state", _state, "print a container's state as JSON")
    if kill := verb("kill", _lifecycle("kill", "signal"), "send a signal to a container's init"):
        kill.add_argument("signal", nargs="?", default="TERM")
    verb("pause", _lifecycle("pause"), "freeze every process of a container")
    verb("resume", _lifecycle("resume"), "thaw a paused container")
    if delete := verb("delete", _lifecycle("delete", "force"), "remove a stopped container"):
        delete.add_argument("--force", "-f", action="store_true")
    if exec_parser := verb("exec", _exec, "run a process in a running container"):
        exec_parser.add_argument("--cwd")
        exec_parser.add_argument("--env", "-e", action="append", default=[])
        exec_parser.add_argument("--user", "-u", help="UID[:GID] to run as (default: the container's user)")
        exec_parser.add_argument("--tty", "-t", action="store_true", help="give the process a terminal (the container's devpts)")
        exec_parser.add_argument("--resize-fd", type=int, default=-1, help="a descriptor carrying 'ROWS COLUMNS' lines")
        exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    if ps := verb("ps", _ps, "list the pids in a container"):
        ps.add_argument("--format", "-f", choices=("table", "json"), default="table")
    if listing := verb("list", _list, "list containers", with_id=False):
        listing.add_argument("--format", "-f", choices=("table", "json"), default="table")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(first_verb(argv))
    args = parser.parse_args(argv)
    if args.trace and args.verb != "run":
        # [TRACE-002] a trace follows one run from its start to its end
        parser.error("--trace works with the run verb only")
    try:
        if args.trace:
            return _traced_run(args)
        return args.handler(args)
    except MinidockError as error:
        print(f"minidock-runtime: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
