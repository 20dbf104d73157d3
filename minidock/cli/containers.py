"""`minidock` container verbs: run, create, start, stop, kill, rm, ps, logs, wait, inspect, ...

Implements: spec/engine.md ENGINE-CLI-010 .. ENGINE-CLI-019, ENGINE-CLI-021 .. ENGINE-CLI-023
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/container (run.go, start.go, hijack.go, utils.go)

    add_parsers(verbs, only)  the `container` group and its top-level aliases (run, ps, rm, ...)
    cmd_<verb>(args) -> exit status, one per verb

    run -d:  create ──404──▶ "Unable to find image" ▶ pull ▶ create ──▶ start ──▶ print the ID
    run:     create ──▶ attach ▶ wait ▶ start ▶ output ▶ exit code      (minidock/cli/container_run.py)
    ps, inspect                                                       (minidock/cli/container_list.py)
    exec                                                              (minidock/cli/container_exec.py)

Rules: a verb given several names acts on each and says each, as docker's do; handlers
import what they need when they run (the CLI starts fast).
"""

from __future__ import annotations

import argparse
import sys

from minidock.cli import container_list
from minidock.cli import container_run as run
from minidock.cli.common import client as _client
from minidock.errors import MinidockError

# the verbs of `minidock container`, each also a top-level verb (docker's aliases)
VERBS = ("run", "create", "start", "stop", "restart", "kill", "rm", "ps", "logs", "wait", "inspect",
         "top", "rename", "pause", "unpause", "attach", "port")


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _usage_error(verb: str, status: int):
    """parser.error as cobra's: the message, how to get help, docker's exit status."""
    def error(message: str):
        if message.startswith("the following arguments are required"):
            # cobra's argument checks: their own words, and status 1
            print(f"minidock: 'minidock {verb}' requires at least 1 argument\n\n"
                  f"See 'minidock {verb} --help'.", file=sys.stderr)
            sys.exit(1)
        print(f"minidock: {message}\n\nRun 'minidock {verb} --help' for more information", file=sys.stderr)
        sys.exit(status)
    return error


def _strict(parser: argparse.ArgumentParser):
    """A verb's parser that refuses unknown flags itself (cobra's words), not via the top parser."""
    parse_known_args = parser.parse_known_args

    def parse(args=None, namespace=None):
        namespace, extras = parse_known_args(args, namespace)
        if extras:
            word = extras[0]
            parser.error(f"unknown flag: {word}" if word.startswith("-") else f"unexpected argument: {word}")
        return namespace, extras
    return parse


def _each(args: argparse.Namespace, action, missing_ok: bool = False) -> list[str]:
    """Apply ``action(api, name)`` to every name; print the name, or the error and go on.

    Returns the names that failed (the verb then exits 1). ``missing_ok``: a container
    that does not exist is said but is no failure (docker's `rm -f`).
    """
    from minidock.errors import NotFound

    api = _client(args)
    failed = []
    for name in args.containers:
        try:
            action(api, name)
            print(name, flush=True)
        except MinidockError as error:
            prefix = "Error response from daemon: " if getattr(error, "from_daemon", False) else ""
            print(f"{prefix}{error.message}", file=sys.stderr, flush=True)
            if not (missing_ok and isinstance(error, NotFound)):
                failed.append(name)
    return failed


# -- run and create --------------------------------------------------------------------------

def cmd_create(args: argparse.Namespace) -> int:
    """Create a container and print its ID."""
    body = run.request_body(args, "create", detach=True)
    if body is None:
        return 125
    try:
        print(run.create(_client(args), body, args.name))
    except MinidockError as error:
        run.refused("create", error)
        return 125
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Create, (attach,) start, and (unless -d) print the output and exit with the container's code."""
    body = run.request_body(args, "run", detach=args.detach)
    if body is None:
        return 125
    if not args.detach and run.check_tty(body["AttachStdin"], body["Tty"]):
        return 1
    api = _client(args)
    try:
        container_id = run.create(api, body, args.name)
    except MinidockError as error:
        run.refused("run", error)
        return 125
    if args.detach:
        try:
            api.json("POST", f"/containers/{container_id}/start")
        except MinidockError as error:
            run.refused("run", error)
            return run.start_status(error)
        print(container_id)
        return 0
    streams = tuple(name for name in ("stdin", "stdout", "stderr") if body[f"Attach{name.capitalize()}"])
    return run.attached_run(api, container_id, args.tty, "run", remove=args.rm, streams=streams,
                            detach_keys=args.detach_keys, sig_proxy=_true(args.sig_proxy))


def _true(flag: str) -> bool:
    """docker's boolean flags: --sig-proxy, --sig-proxy=true, --sig-proxy=false."""
    return str(flag).lower() not in ("false", "0")


# -- start, attach, the signals ------------------------------------------------------------

def cmd_start(args: argparse.Namespace) -> int:
    """Start containers; with -a or -i, attach to the one container and return its exit code."""
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            print("minidock: you cannot start and attach multiple containers at once", file=sys.stderr)
            return 1
        api = _client(args)
        document = api.json("GET", f"/containers/{_quote(args.containers[0])}/json")
        # docker's start.go: stdin only with -i and for a container created with -i
        stdin = args.interactive and bool(document["Config"].get("OpenStdin"))
        streams = ("stdin", "stdout", "stderr") if stdin else ("stdout", "stderr")
        return run.attached_run(api, document["Id"], bool(document["Config"].get("Tty")), "start",
                                streams=streams, detach_keys=args.detach_keys)
    failed = _each(args, lambda api, name: api.json("POST", f"/containers/{_quote(name)}/start"))
    if failed:
        print("Error: failed to start containers: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


def cmd_attach(args: argparse.Namespace) -> int:
    """Our stdin to a running container (unless --no-stdin), its output to us; its exit code."""
    keys = run.detach_bytes(args.detach_keys)  # a bad sequence is refused first
    api = _client(args)
    document = api.json("GET", f"/containers/{_quote(args.container)}/json")
    if not document["State"]["Running"]:
        print("You cannot attach to a stopped container, start it first", file=sys.stderr)
        return 1
    tty = bool(document["Config"].get("Tty"))
    if run.check_tty(not args.no_stdin, tty):
        return 1
    stdin = not args.no_stdin and bool(document["Config"].get("OpenStdin"))
    streams = ("stdin", "stdout", "stderr") if stdin else ("stdout", "stderr")
    connection = api.upgrade("POST", f"/containers/{document['Id']}/attach?{run.attach_query(streams, args.detach_keys)}")
    outcome = run.converse(api, connection, tty, stdin, f"/containers/{document['Id']}", keys=keys)
    if outcome == "interrupted":
        return 130
    if outcome == "detached":
        print("read escape sequence", file=sys.stderr)  # docker attach's words, and its status 1
        return 1
    return run.wait_answer(api.stream("POST", f"/containers/{document['Id']}/wait")).get("StatusCode", 0)


def _post_each(args: argparse.Namespace, action: str, query: str = "") -> int:
    """POST /containers/{name}/{action}{query} for each name given; 1 if any failed."""
    failed = _each(args, lambda api, name: api.json("POST", f"/containers/{_quote(name)}/{action}{query}"))
    return 1 if failed else 0


def cmd_stop(args: argparse.Namespace) -> int:
    """stop and restart: the stop signal, then SIGKILL after -t seconds."""
    query = []
    if args.time is not None:
        query.append(f"t={args.time}")
    if args.signal:
        query.append(f"signal={_quote(args.signal)}")  # API 1.42's; minidockd does not read it yet
    return _post_each(args, args.verb_name, "?" + "&".join(query) if query else "")


def cmd_kill(args: argparse.Namespace) -> int:
    """Send a signal (SIGKILL unless -s) to each container."""
    return _post_each(args, "kill", f"?signal={_quote(args.signal)}" if args.signal else "")


def cmd_pause(args: argparse.Namespace) -> int:
    """pause and unpause: freeze or thaw every process of each container."""
    return _post_each(args, args.verb_name)


def cmd_rm(args: argparse.Namespace) -> int:
    """Remove containers (-f: running ones too; a missing one is said but no failure)."""
    query = "&".join(part for part, on in (("force=1", args.force), ("v=1", args.volumes)) if on)
    suffix = f"?{query}" if query else ""
    failed = _each(args, lambda api, name: api.json("DELETE", f"/containers/{_quote(name)}{suffix}"),
                   missing_ok=args.force)
    return 1 if failed else 0


def cmd_rename(args: argparse.Namespace) -> int:
    """Give a container a new name (it prints nothing, as docker's)."""
    _client(args).json("POST", f"/containers/{_quote(args.container)}/rename?name={_quote(args.new_name)}")
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """Block until each container stops; print its exit code."""
    api = _client(args)
    status = 0
    for name in args.containers:
        try:
            response = api.stream("POST", f"/containers/{_quote(name)}/wait")
        except MinidockError as error:
            print(f"Error response from daemon: {error.message}", file=sys.stderr)
            status = 1
            continue
        print(run.wait_answer(response).get("StatusCode", 0), flush=True)
    return status


# -- logs, top, port -------------------------------------------------------------------------

def cmd_logs(args: argparse.Namespace) -> int:
    """What the container printed (and, with -f, prints), to our stdout and stderr."""
    from urllib.parse import urlencode

    from minidock.cli.streams import parse_timestamp

    api = _client(args)
    document = api.json("GET", f"/containers/{_quote(args.container)}/json")
    query = {"stdout": "1", "stderr": "1", "tail": args.tail}
    if args.follow:
        query["follow"] = "1"
    if args.timestamps:
        query["timestamps"] = "1"
    for key in ("since", "until"):
        if getattr(args, key):
            query[key] = parse_timestamp(getattr(args, key))
    response = api.stream("GET", f"/containers/{document['Id']}/logs?{urlencode(query)}")
    return 0 if run.show_output(response, bool(document["Config"].get("Tty"))) else 130


def cmd_top(args: argparse.Namespace) -> int:
    """The container's processes, in docker top's table (ps options after the name)."""
    from urllib.parse import urlencode

    path = f"/containers/{_quote(args.container)}/top"
    if args.ps_args:
        path += "?" + urlencode({"ps_args": " ".join(args.ps_args)})
    answer = _client(args).json("GET", path)
    lines = ["\t".join(answer["Titles"])] + ["\t".join(row) for row in answer["Processes"]]
    print(container_list.tabwrite(lines, minwidth=20, padding=3))
    return 0


def cmd_port(args: argparse.Namespace) -> int:
    """The container's published ports ("80/tcp -> 0.0.0.0:8080"); none until -p exists."""
    document = _client(args).json("GET", f"/containers/{_quote(args.container)}/json")
    ports = (document.get("NetworkSettings") or {}).get("Ports") or {}
    wanted = args.private_port
    if wanted and "/" not in wanted:
        wanted += "/tcp"
    found = False
    for private, bindings in sorted(ports.items()):
        if wanted and private != wanted:
            continue
        for binding in bindings or []:
            found = True
            address = f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}"
            print(address if wanted else f"{private} -> {address}")
    if wanted and not found:
        print(f"Error: No public port '{wanted}' published for {args.container}", file=sys.stderr)
        return 1
    return 0


# -- the parsers -----------------------------------------------------------------------------

def _add_verb(verbs, verb: str, name: str | None = None, aliases: tuple[str, ...] = (),
              in_group: bool = False) -> None:
    """Add one verb under ``name`` (default: the verb) to ``verbs``."""
    from minidock.cli import run_options

    name = name or verb
    parser = verbs.add_parser(name, aliases=list(aliases), add_help=False, help=_HELP[verb])
    # -h is --hostname for run and create, as in docker; --help everywhere
    parser.add_argument(*(("--help",) if verb in ("run", "create") else ("-h", "--help")),
                        action="help", help="print usage")
    parser.error = _usage_error(name, 125)
    parser.parse_known_args = _strict(parser)
    add = parser.add_argument
    if verb in ("run", "create"):
        if verb == "run":
            add("-d", "--detach", action="store_true", help="run in the background and print the container ID")
        run_options.add_flags(parser)
        parser.set_defaults(handler=cmd_run if verb == "run" else cmd_create)
    elif verb == "start":
        add("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and forward signals")
        add("-i", "--interactive", action="store_true", help="attach the container's STDIN")
        add("--detach-keys", help="override the key sequence for detaching a container")
        add("containers", nargs="+", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_start)
    elif verb in ("stop", "restart"):
        add("-t", "--time", type=int, help="seconds to wait before killing the container")
        add("-s", "--signal", help="signal to send to the container")
        add("containers", nargs="+", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_stop, verb_name=verb)
    elif verb == "kill":
        add("-s", "--signal", help="signal to send to the container (default KILL)")
        add("containers", nargs="+", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_kill)
    elif verb in ("pause", "unpause"):
        add("containers", nargs="+", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_pause, verb_name=verb)
    elif verb == "rm":
        add("-f", "--force", action="store_true", help="force the removal of a running container (SIGKILL)")
        add("-v", "--volumes", action="store_true", help="remove anonymous volumes of the container")
        add("containers", nargs="+", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_rm)
    elif verb == "ps":
        container_list.add_ps_flags(parser)
    elif verb == "inspect":
        # `inspect` tries containers then images; `container inspect` only containers
        container_list.add_inspect_flags(parser, kind="container" if in_group else None)
    elif verb == "logs":
        add("-f", "--follow", action="store_true", help="follow log output")
        add("-n", "--tail", default="all", help='number of lines to show from the end ("all")')
        add("--since", help="logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
        add("--until", help="logs before a timestamp or relative (42m)")
        add("-t", "--timestamps", action="store_true", help="show timestamps")
        add("--details", action="store_true", help="show extra details (ignored)")
        add("container", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_logs)
    elif verb == "wait":
        add("containers", nargs="+", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_wait)
    elif verb == "top":
        add("container", metavar="CONTAINER")
        add("ps_args", nargs=argparse.REMAINDER, metavar="PS OPTIONS")
        parser.set_defaults(handler=cmd_top)
    elif verb == "rename":
        add("container", metavar="CONTAINER")
        add("new_name", metavar="NEW_NAME")
        parser.set_defaults(handler=cmd_rename)
    elif verb == "attach":
        add("--no-stdin", action="store_true", help="do not attach STDIN")
        add("--sig-proxy", nargs="?", const="true", default="true", help="proxy signals (accepted)")
        add("--detach-keys", help="override the key sequence for detaching a container")
        add("container", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_attach)
    elif verb == "port":
        add("container", metavar="CONTAINER")
        add("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
        parser.set_defaults(handler=cmd_port)


_HELP = {
    "run": "create and run a new container from an image", "create": "create a new container",
    "start": "start one or more stopped containers", "stop": "stop one or more running containers",
    "restart": "restart one or more containers", "kill": "kill one or more running containers",
    "rm": "remove one or more containers", "ps": "list containers",
    "logs": "fetch the logs of a container", "wait": "block until containers stop, print their exit codes",
    "inspect": "return low-level information on containers or images",
    "top": "display the running processes of a container", "rename": "rename a container",
    "pause": "pause all processes within containers", "unpause": "unpause all processes within containers",
    "attach": "attach local standard input, output, and error streams to a running container",
    "port": "list port mappings of a container",
}


def add_parsers(verbs, only: str | None = None) -> None:
    """Add the container verbs to the top-level subparsers ``verbs``.

    ``only``: the one top-level word of this command line; the other verbs are not
    built (ENGINE-CLI-026: `run` alone has some sixty flags, and building them costs).
    """
    from minidock.cli import container_exec, container_files

    def wanted(verb: str) -> bool:
        return only is None or only == verb

    for verb in VERBS:
        if wanted(verb):
            _add_verb(verbs, verb)
    container_files.add_parsers(verbs, only)  # cp, export, diff, commit
    container_exec.add_parsers(verbs, only)   # exec
    if wanted("container"):
        group = verbs.add_parser("container", help="manage containers")
        sub = group.add_subparsers(dest="container_verb", required=True, metavar="COMMAND")
        for verb in VERBS:
            if verb == "ps":
                _add_verb(sub, "ps", "ls", aliases=("ps", "list"), in_group=True)
            else:
                _add_verb(sub, verb, in_group=True)
        container_files.add_parsers(sub)
        container_exec.add_parsers(sub)
