"""`minidock exec`: run another command in a running container.

Implements: spec/engine.md ENGINE-CLI-024
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/container/exec.go (parseExec, interactiveExec)

    exec [-d] [-i] [-t] [-e K=V] [--env-file F] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]

    GET /containers/C/json ──▶ POST /containers/C/exec {Cmd, Attach*, Tty, Env, User, WorkingDir}
      -d:   POST /exec/ID/start {"Detach": true}                              ──▶ exit 0
      else: POST /exec/ID/start {"Detach": false, "Tty": t} (Upgrade: tcp) ──▶ stdin in (-i),
            output out (frames, or raw with -t), resize with -t ──▶ GET /exec/ID/json: ExitCode

Rules: the container is inspected first, so "No such container" comes before anything
else (docker's order); the exit status is the command's (127 when it is not found).
"""

from __future__ import annotations

import argparse
import sys

from minidock.cli.common import client as _client

_USAGE = "exec [OPTIONS] CONTAINER COMMAND [ARG...]"


def exec_body(args: argparse.Namespace, environ) -> dict:
    """POST /containers/{id}/exec's body for these flags (docker's parseExec)."""
    from minidock.cli.run_options import environment

    attached = not args.detach  # without -d, attach to everything by default
    body = {
        "User": args.user or "",
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": attached and args.interactive,
        "AttachStdout": attached,
        "AttachStderr": attached,
        "Cmd": list(args.command),
        "WorkingDir": args.workdir or "",
    }
    env = environment(args.env, args.env_file, environ)
    if env:
        body["Env"] = env
    return body


def cmd_exec(args: argparse.Namespace) -> int:
    """Run COMMAND in CONTAINER; exit with its exit code (0 at once with -d)."""
    import os
    from urllib.parse import quote

    from minidock.cli import container_run as run
    from minidock.cli.run_options import FlagError

    if not args.container or not args.command:
        print(f"minidock: 'minidock exec' requires at least 2 arguments\n\nUsage:  minidock {_USAGE}\n\n"
              "See 'minidock exec --help'.", file=sys.stderr)
        return 1
    api = _client(args)
    document = api.json("GET", f"/containers/{quote(args.container, safe='')}/json")
    if not args.detach and run.check_tty(args.interactive, args.tty):
        return 1
    try:
        body = exec_body(args, os.environ)
    except FlagError as error:
        print(f"minidock: {error.message}", file=sys.stderr)
        return 125
    exec_id = api.json("POST", f"/containers/{document['Id']}/exec", body)["Id"]
    if args.detach:
        api.json("POST", f"/exec/{exec_id}/start", {"Detach": True, "Tty": args.tty})
        return 0
    connection = api.upgrade("POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": args.tty})
    # the daemon knows no detach keys for an exec: we see them and leave (detach_ends)
    outcome = run.converse(api, connection, args.tty, args.interactive, f"/exec/{exec_id}", detach_ends=True,
                           keys=run.detach_bytes(args.detach_keys))
    if outcome == "detached":
        print("read escape sequence", file=sys.stderr)  # docker exec's words, and its status 1
        return 1
    if outcome == "interrupted":
        return 130
    return int(api.json("GET", f"/exec/{exec_id}/json").get("ExitCode") or 0)


def add_parsers(subparsers, only: str | None = None) -> None:
    """Add `exec` to ``subparsers`` (the top level's or `container`'s) unless ``only`` names another verb."""
    if only is None or only == "exec":
        _add_verb(subparsers)


def _add_verb(subparsers) -> None:
    from minidock.cli import containers  # the verbs' shared conventions (its module is loaded)

    parser = subparsers.add_parser("exec", add_help=False, help="execute a command in a running container",
                                   usage=f"minidock {_USAGE}")
    parser.add_argument("-h", "--help", action="help", help="print usage")
    parser.error = containers._usage_error("exec", 125)  # noqa: SLF001 - cobra's words, shared
    parser.parse_known_args = containers._strict(parser)  # noqa: SLF001
    add = parser.add_argument
    add("-d", "--detach", action="store_true", help="detached mode: run command in the background")
    add("--detach-keys", help="override the key sequence for detaching a container")
    add("-e", "--env", action="append", default=[], help="set environment variables")
    add("--env-file", action="append", default=[], help="read in a file of environment variables")
    add("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    add("--privileged", action="store_true", help="give extended privileges to the command")
    add("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    add("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    add("-w", "--workdir", help="working directory inside the container")
    add("container", nargs="?", metavar="CONTAINER")  # both missing: cmd_exec says so, as cobra
    add("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    parser.set_defaults(handler=cmd_exec)
