"""A fork server for `create`: the runtime imported once, a fork per container.

Implements: spec/runtime.md RT-CLI-004
Explained:  chapters/03-runtime.md#the-command

    python -m minidock.runtime.forkserver --root DIR      (the engine starts one per daemon)
    stdin:  {"bundle": "/path", "id": "abc"}\\n           one request a line
    stdout: {"pid": 1234}\\n  or  {"error": "..."}\\n     one answer a line, in order

Why: `minidock-runtime create` spends most of its time starting Python and
importing the runtime. This process pays that once; each request forks a
child that runs the same create() the command runs, and exits. The monitor
create() forks is the child's child, so it outlives both, as it outlives the
command.

Rules: single-threaded (forking is safe); one request at a time; the end of
stdin is the end of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from minidock.errors import MinidockError
from minidock.runtime import create


def handle(request: dict, root: str) -> dict:
    """Run one create in a forked child; return its answer."""
    answer_r, answer_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(answer_r)
        try:
            answer = {"pid": create.create(request["bundle"], request["id"], root)}
        except MinidockError as error:
            answer = {"error": error.message}
        except Exception as error:  # noqa: BLE001 - the server answers for every request
            answer = {"error": f"create failed: {error}"}
        os.write(answer_w, json.dumps(answer).encode() + b"\n")
        os._exit(0)
    os.close(answer_w)
    with os.fdopen(answer_r, "rb") as answers:
        line = answers.readline()  # one line: the monitor keeps no copy of this pipe open long
    os.waitpid(child, 0)
    return json.loads(line) if line else {"error": "the create child died without an answer"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minidock-runtime-forkserver")
    parser.add_argument("--root", required=True)
    args = parser.parse_args(argv)
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
