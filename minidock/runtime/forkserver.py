"""A fork server for `create`: the runtime imported once, a fork per container.

Implements: spec/runtime.md RT-CLI-004
Explained:  chapters/03-runtime.md#the-command

    python -m minidock.runtime.forkserver --root DIR      (the engine starts one per daemon)
    stdin:  {"bundle": "/path", "id": "abc"}\\n           one request a line
    stdout: {"pid": 1234}\\n  or  {"error": "..."}\\n     one answer a line, in order

Why: `minidock-runtime create` spends most of its time starting Python and
importing the runtime. This process pays that once and runs the same create()
the command runs for each request. The monitor create() forks is our child:
it shares this process's pages (copy-on-write) for as long as it lives, which
is what keeps twenty monitors small (RT-MON-004), and the kernel reaps it
when it ends (SIGCHLD ignored).

Rules: single-threaded (forking is safe); one request at a time; the end of
stdin is the end of the server.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys

# What a detached monitor uses, which create.py, monitor.py and hooks.py import only where
# they use it (a foreground `run` without hooks never does): imported here, before
# gc.freeze(), so that every monitor shares these modules' pages with this server instead
# of importing its own copy (subprocess: for a config's poststart hooks).
import datetime  # noqa: F401
import selectors  # noqa: F401
import socket  # noqa: F401
import subprocess  # noqa: F401

from minidock.errors import MinidockError
from minidock.runtime import create


def handle(request: dict, root: str) -> dict:
    """Create one container, as `create` does; return its answer."""
    try:
        return {"pid": create.create(request["bundle"], request["id"], root)}
    except MinidockError as error:
        return {"error": error.message}
    except OSError as error:  # the server answers for every request, and lives on
        return {"error": f"create failed: {error}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minidock-runtime-forkserver")
    parser.add_argument("--root", required=True)
    args = parser.parse_args(argv)
    # [RT-MON-004] everything imported so far moves to the collector's permanent
    # generation: a forked monitor's collections never write to these objects, so
    # their pages stay shared with this server and with every other monitor
    gc.collect()
    gc.freeze()
    # each monitor is our child (create() forks it, and it stays): the kernel reaps them
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = handle(request, args.root)
        except (ValueError, KeyError, TypeError) as error:
            answer = {"error": f"bad request: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
