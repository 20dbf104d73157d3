"""`minidock-runtime`: an OCI runtime with runc's command line.

Implements: spec/runtime.md RT-CLI-001 .. RT-CLI-003, RT-VERB-*, RT-SHIM-001, RT-SHIM-007, RT-SHIM-008
Explained:  chapters/03-runtime.md#the-command

    minidock-runtime [--root DIR] spec   [--bundle DIR]      write a default config.json
    minidock-runtime [--root DIR] create [--bundle DIR] ID   init waits for `start`
    minidock-runtime [--root DIR] create [--bundle DIR] --pid-file F [--console-socket S] ID
                                                          a shim's create: init is left to the caller
    minidock-runtime [--root DIR] start  ID
    minidock-runtime [--root DIR] run    [--bundle DIR] ID   create + start + wait + delete
    minidock-runtime [--root DIR] run    --detach [--pid-file F] ID   runc run -d: left running
    minidock-runtime [--root DIR] state  ID                  the OCI state as JSON
    minidock-runtime [--root DIR] kill   ID [SIGNAL]         default TERM
    minidock-runtime [--root DIR] pause  ID / resume ID       freeze / thaw (cgroup freezer)
    minidock-runtime [--root DIR] update --resources FILE|- ID  new limits (OCI linux.resources)
    minidock-runtime [--root DIR] delete [--force] ID
    minidock-runtime [--root DIR] exec   [--cwd D] [--env K=V] [--user UID[:GID]] [--tty [--resize-fd N]] ID CMD...
    minidock-runtime [--root DIR] exec   --process FILE [--detach] [--pid-file F] [--console-socket S] ID
    minidock-runtime [--root DIR] ps     ID                  pids in the container
    minidock-runtime [--root DIR] events [--stats] [--interval 5s] ID   counters as runc's JSON events
    minidock-runtime [--root DIR] list
    minidock-runtime features                             what it supports, as runc's JSON
    minidock-runtime [--root DIR] --trace [--trace-format text|json|html] run [--bundle DIR] ID
                                                          run under ptrace; print the kernel-facing
                                                          steps (minidock/runtime/trace/)

Errors print as `minidock-runtime: <message>` and exit 1.

The command lines an engine sends for every container (run, create, start, state,
kill, delete with their usual options) are read by quick_parse, without argparse;
anything else (help, a typo, an option in an unusual place) goes to argparse.
"""

from __future__ import annotations

import gc
import os
import sys
from types import SimpleNamespace

from minidock.errors import Conflict, MinidockError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    import argparse

STATE_ROOT = "/run/minidock-runtime"


def _spec(args: argparse.Namespace) -> int:
    import json

    from minidock.runtime.config import default_config

    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise Conflict(f"File {path} exists. Remove it first")  # runc's words
    with open(path, "w") as file:
        json.dump(default_config(), file, indent=2)
        file.write("\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    # No cyclic garbage collection in run (the launcher turned it off before the imports):
    # the start allocates some 10,000 objects that all live until the end, and each
    # collection would walk them again (~4 ms of a start); reference counting still frees
    # what run drops, and it ends with _exit below.
    gc.disable()
    if args.detach:
        # [RT-SHIM-008] runc run -d: a shim's create, then start; nothing of ours stays
        from minidock.runtime import lifecycle, shim

        shim.create(args.bundle, args.id, args.root, args.pid_file, args.console_socket, args.preserve_fds)
        lifecycle.start(args.root, args.id)
        return 0
    if args.pid_file or args.console_socket:
        raise MinidockError("run: --pid-file and --console-socket go with --detach")
    from minidock.runtime import create

    code = create.run(args.bundle, args.id, args.root, args.preserve_fds)
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
    if args.pid_file is not None or args.console_socket is not None:
        # [RT-SHIM-001] a shim's create (containerd-shim and conmon name a pid file): the
        # caller is the monitor, as runc's callers are
        from minidock.runtime import shim

        shim.create(args.bundle, args.id, args.root, args.pid_file, args.console_socket, args.preserve_fds)
        return 0
    from minidock.runtime import create

    create.create(args.bundle, args.id, args.root, args.preserve_fds)
    return 0


def _lifecycle(verb: str, *options: str):
    """A handler that calls lifecycle.VERB(root, id, *those options of args), imported lazily."""

    def handler(args: argparse.Namespace) -> int:
        from minidock.runtime import lifecycle

        getattr(lifecycle, verb)(args.root, args.id, *(getattr(args, o) for o in options))
        return 0

    return handler


def _state(args: argparse.Namespace) -> int:
    import json

    from minidock.runtime import lifecycle

    print(json.dumps(lifecycle.state(args.root, args.id), indent=2))
    return 0


def _exec(args: argparse.Namespace) -> int:
    from minidock.runtime import exec as exec_verb

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.process is not None and command:
        raise MinidockError("exec: give a command or --process, not both")
    if args.process is None and not command:
        raise MinidockError("exec needs a command")
    for label in ("apparmor", "process_label"):  # [RT-SEC-032] LSM labels: read, not honoured, said
        if getattr(args, label):
            print(f"minidock-runtime: warning: --{label.replace('_', '-')} ignored: no LSM is configured here",
                  file=sys.stderr)
    code = exec_verb.exec_in(args.root, args.id, command, env=args.env, cwd=args.cwd, user=args.user,
                             tty=args.tty, resize_fd=args.resize_fd, process=args.process,
                             detach=args.detach, pid_file=args.pid_file, console_socket=args.console_socket,
                             preserve_fds=args.preserve_fds, caps=args.cap, no_new_privs=args.no_new_privs,
                             additional_gids=args.additional_gids)
    if args.detach:
        # [RT-SHIM-004] a shim waits for us to exit before it reads the pid file and goes on:
        # exit at once, as runc does, without the interpreter's clean-up (20-50 ms)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _events(args: argparse.Namespace) -> int:
    import json

    from minidock.runtime import events

    if args.stats:
        print(json.dumps(events.stats_event(args.root, args.id)))
        return 0
    events.follow(args.root, args.id, _seconds(args.interval), lambda event: print(json.dumps(event), flush=True))
    return 0


def _count(text: str) -> int:
    """A non-negative integer option (--preserve-fds, -g), refused clearly otherwise."""
    import argparse  # loaded already: only argparse calls this

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return int(text)


def _seconds(duration: str) -> float:
    """runc's --interval: a Go duration ("5s", "500ms", "1m") or a number of seconds, above 0."""
    seconds = 0.0
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("", 1.0)):
        number = duration.removesuffix(suffix) if suffix else duration
        if duration.endswith(suffix) and number.replace(".", "", 1).isdigit():
            seconds = float(number) * scale
            break
    if seconds <= 0:  # [RT-VERB-009] 0 would read the group in a busy loop
        raise MinidockError(f"invalid --interval {duration!r}: expected a duration above 0, such as 5s or 500ms")
    return seconds


def _features(args: argparse.Namespace) -> int:
    import json

    from minidock.runtime.features import features

    print(json.dumps(features(), indent=4))
    return 0


def _ps(args: argparse.Namespace) -> int:
    import json

    from minidock.runtime import lifecycle

    pids = lifecycle.ps(args.root, args.id)
    if args.format == "json":
        print(json.dumps(pids))
    else:
        # [RT-VERB-006] as runc: ps(1) with the options given after the id (-ef by default),
        # its lines kept for the container's processes only
        print(lifecycle.ps_table(pids, args.ps_options or ["-ef"]), end="")
    return 0


def _list(args: argparse.Namespace) -> int:
    import json

    from minidock.runtime import lifecycle

    containers = lifecycle.list_all(args.root)
    if args.format == "json":
        print(json.dumps(containers, indent=2))
        return 0
    print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} CREATED")
    for c in containers:
        print(f"{c['id']:<20} {c['pid']:<8} {c['status']:<10} {c['bundle']:<40} {c['created']}")
    return 0


HANDLERS = {"spec": _spec, "create": _create, "start": _lifecycle("start"), "run": _run, "state": _state,
            "kill": _lifecycle("kill", "signal", "all"), "pause": _lifecycle("pause"), "resume": _lifecycle("resume"),
            "update": _lifecycle("update", "resources"),
            "delete": _lifecycle("delete", "force"), "exec": _exec, "ps": _ps, "list": _list,
            "events": _events, "features": _features}
VERBS = tuple(HANDLERS)
# global options that take a value: the verb is the first word that is neither these nor their values
_VALUED = {"--root", "--trace-format", "--log", "--log-format"}


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
    import argparse

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
    import argparse

    parser = argparse.ArgumentParser(prog="minidock-runtime", description="An OCI runtime, runc's verbs.",
                                     formatter_class=_formatter)
    parser.add_argument("--root", default=STATE_ROOT, help="where container state lives")
    parser.add_argument("--log", help="also write errors to this file, as runc does (containerd reads it)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="the --log file's format")
    parser.add_argument("--debug", action="store_true", help="accepted, as runc's; nothing more is logged")
    parser.add_argument("--systemd-cgroup", action="store_true",
                        help="refused: minidock-runtime drives cgroupfs only (RT-SHIM-007)")
    parser.add_argument("--trace", action="store_true",
                        help="run under ptrace and print what the kernel was asked to do (run only)")
    parser.add_argument("--trace-format", choices=("text", "json", "html"), default="text",
                        help="how --trace prints its steps (json and html: the container's output goes to stderr)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    every = only not in VERBS

    def verb(name: str, help_text: str, bundle: bool = False, with_id: bool = True):
        """Add the sub-parser ``name`` (None when another verb is being parsed)."""
        if not every and name != only:
            return None
        sub = verbs.add_parser(name, help=help_text, formatter_class=_formatter)
        if bundle:
            sub.add_argument("--bundle", "-b", default=".")
        if with_id:
            sub.add_argument("id")
        sub.set_defaults(handler=HANDLERS[name])
        return sub

    verb("spec", "write a default config.json into the bundle", bundle=True, with_id=False)
    if create_parser := verb("create", "create a container that waits for start", bundle=True):
        create_parser.add_argument("--pid-file", help="write init's pid here; the caller (a shim) becomes "
                                   "its parent, with no monitor of ours (RT-SHIM-001)")
        create_parser.add_argument("--console-socket", help="a unix socket to send the terminal's master to")
        create_parser.add_argument("--no-new-keyring", action="store_true",
                                   help="accepted, as runc's: no session keyring is made anyway")
        create_parser.add_argument("--preserve-fds", type=_count, default=0,
                                   help="pass our descriptors 3 .. 3+N-1 to the program too")
    verb("start", "run the program of a created container")
    if run_parser := verb("run", "create and start a container, wait for it, delete it", bundle=True):
        run_parser.add_argument("--detach", "-d", action="store_true",
                                help="as runc run -d: create and start, then leave the container to the caller")
        run_parser.add_argument("--pid-file", help="with --detach: write init's pid here")
        run_parser.add_argument("--console-socket", help="with --detach: where a terminal's master goes")
        run_parser.add_argument("--preserve-fds", type=_count, default=0,
                                help="pass our descriptors 3 .. 3+N-1 to the program too")
    verb("state", "print a container's state as JSON")
    if kill := verb("kill", "send a signal to a container's init"):
        kill.add_argument("signal", nargs="?", default="TERM")
        kill.add_argument("--all", "-a", action="store_true", help="signal every process in the container")
    verb("pause", "freeze every process of a container")
    verb("resume", "thaw a paused container")
    if update := verb("update", "apply new resource limits to a live container"):
        update.add_argument("--resources", "-r", required=True,
                            help="an OCI linux.resources object (JSON) in a file, or - for stdin")
    if delete := verb("delete", "remove a stopped container"):
        delete.add_argument("--force", "-f", action="store_true")
    if exec_parser := verb("exec", "run a process in a running container"):
        exec_parser.add_argument("--cwd")
        exec_parser.add_argument("--env", "-e", action="append", default=[])
        exec_parser.add_argument("--user", "-u", help="UID[:GID] to run as (default: the container's user)")
        exec_parser.add_argument("--tty", "-t", action="store_true", help="give the process a terminal (the container's devpts)")
        exec_parser.add_argument("--resize-fd", type=int, default=-1, help="a descriptor carrying 'ROWS COLUMNS' lines")
        exec_parser.add_argument("--process", "-p", help="an OCI process object (JSON) instead of a command")
        exec_parser.add_argument("--detach", "-d", action="store_true",
                                 help="do not wait: the process is left to our caller (a shim)")
        exec_parser.add_argument("--pid-file", help="write the process's pid here")
        exec_parser.add_argument("--console-socket", help="with --tty and --detach: where the master goes")
        exec_parser.add_argument("--preserve-fds", type=_count, default=0,
                                 help="pass our descriptors 3 .. 3+N-1 to the process too")
        exec_parser.add_argument("--additional-gids", "-g", type=_count, action="append",
                                 help="a supplementary group (repeat it); replaces the process's")
        exec_parser.add_argument("--cap", "-c", action="append", default=[],
                                 help="add a capability to the process's bounding, effective and permitted sets")
        exec_parser.add_argument("--no-new-privs", action="store_true", help="set no_new_privs for the process")
        exec_parser.add_argument("--apparmor", help="accepted and ignored, with a warning (no LSM here)")
        exec_parser.add_argument("--process-label", help="accepted and ignored, with a warning (no LSM here)")
        exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    if events := verb("events", "print the container's counters (and OOM kills) as runc's JSON events"):
        events.add_argument("--stats", action="store_true", help="one reading, then exit")
        events.add_argument("--interval", default="5s", help="between readings (a duration: 5s, 500ms)")
    if ps := verb("ps", "list the processes in a container (ps(1)'s table, or their pids as JSON)"):
        ps.add_argument("--format", "-f", choices=("table", "json"), default="table")
        ps.add_argument("ps_options", nargs=argparse.REMAINDER, help="options for ps(1) (default: -ef)")
    verb("features", "print what this runtime supports, as runc's features", with_id=False)
    if listing := verb("list", "list containers", with_id=False):
        listing.add_argument("--format", "-f", choices=("table", "json"), default="table")
    return parser


# quick_parse's table: verb -> (options with a value, flags, positionals after the id),
# each option by its spellings -> the attribute argparse gives it, with argparse's defaults
_QUICK: dict[str, tuple[dict[str, str], dict[str, str], tuple[str, ...]]] = {
    "run": ({"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file", "--console-socket": "console_socket"},
            {"--detach": "detach", "-d": "detach"}, ()),
    "create": ({"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file",
                "--console-socket": "console_socket"}, {"--no-new-keyring": "no_new_keyring"}, ()),
    "start": ({}, {}, ()),
    "state": ({}, {}, ()),
    "kill": ({}, {"--all": "all", "-a": "all"}, ("signal",)),
    "delete": ({}, {"--force": "force", "-f": "force"}, ()),
}
_QUICK_DEFAULTS = {"bundle": ".", "force": False, "all": False, "detach": False, "signal": "TERM",
                   "pid_file": None, "console_socket": None, "no_new_keyring": False}
# what argparse gives options quick_parse leaves to it (a line that has one goes to argparse)
_QUICK_UNREAD = {"run": {"preserve_fds": 0}, "create": {"preserve_fds": 0}}


def quick_parse(argv: list[str]) -> SimpleNamespace | None:
    """``argv`` read as argparse would, for the common command lines; None for any other.

    `[--root DIR] VERB [OPTIONS] ID [SIGNAL]`: the lines engines (ours, containerd,
    conmon) send for every container. Skipping argparse skips importing it and
    building its parser (which looks up a translation of every help text): ~5 ms
    of a container's start (RT-CLI-006). An unknown word, an option after the id,
    `--help`: None, and argparse reads the line, with its usual errors.
    """
    words = list(argv)
    root = STATE_ROOT
    if words[:1] == ["--root"] and len(words) > 1:
        root, words = words[1], words[2:]
    if not words or words[0] not in _QUICK:
        return None
    verb, words = words[0], words[1:]
    valued, flags, after = _QUICK[verb]
    found = {dest: _QUICK_DEFAULTS[dest] for dest in (*valued.values(), *flags.values(), *after)}
    found.update(_QUICK_UNREAD.get(verb, {}))
    while words and words[0].startswith("-"):
        if words[0] in flags:
            found[flags[words[0]]] = True
            words = words[1:]
        elif words[0] in valued and len(words) > 1:
            found[valued[words[0]]] = words[1]
            words = words[2:]
        else:
            return None
    if not 1 <= len(words) <= 1 + len(after) or any(word.startswith("-") for word in words):
        return None
    found.update(zip(after, words[1:]))
    return SimpleNamespace(root=root, trace=False, trace_format="text", log=None, log_format="text",
                           debug=False, systemd_cgroup=False, verb=verb, id=words[0],
                           handler=HANDLERS[verb], **found)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = quick_parse(argv)
    if args is None:
        parser = build_parser(first_verb(argv))
        args = parser.parse_args(argv)
        if args.trace and args.verb != "run":
            # [TRACE-002] a trace follows one run from its start to its end
            parser.error("--trace works with the run verb only")
    if args.verb != "run" or args.trace:
        gc.enable()  # a monitor lives as long as its container: its garbage must go
    try:
        if args.systemd_cgroup:
            # [RT-SHIM-007] said, not ignored: a shim that asks for systemd's groups would look there
            raise MinidockError("--systemd-cgroup is not supported: minidock-runtime drives cgroupfs only")
        if args.trace:
            return _traced_run(args)
        return args.handler(args)
    except MinidockError as error:
        print(f"minidock-runtime: {error.message}", file=sys.stderr)
        if args.log:
            _log_error(args.log, args.log_format, error.message)
        return 1


def _log_error(path: str, log_format: str, message: str) -> None:
    """[RT-SHIM-007] An error line in runc's --log format, where containerd-shim reads it."""
    import json
    import time

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = (json.dumps({"level": "error", "msg": message, "time": stamp}) if log_format == "json"
            else f"time={json.dumps(stamp)} level=error msg={json.dumps(message)}")
    try:
        with open(path, "a") as file:
            file.write(line + "\n")
    except OSError as failure:
        print(f"minidock-runtime: cannot write the log {path}: {failure.strerror}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
