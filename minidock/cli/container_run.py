"""How `run`, `start -a` and `attach` meet a container: create, attach, wait, start, read.

Implements: spec/engine.md ENGINE-CLI-010, ENGINE-CLI-011, ENGINE-CLI-013, ENGINE-CLI-019,
            ENGINE-CLI-021 .. ENGINE-CLI-023
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/container (run.go, start.go, hijack.go, utils.go)

    create(api, body, name) -> id           404 for the image: "Unable to find image", pull, again
    request_body(args, verb, detach)        the create body, or None once the error is printed
    attached_run(api, id, tty, verb, remove, streams) -> exit code
    check_tty(stdin, tty) -> refused?       docker's "the input device is not a TTY"

    attach (101) ──▶ wait?condition=next-exit ──▶ start ──▶ resize ──▶ stdin in, output out ──▶
    the wait's answer (both streams are open before start, so not a byte is missed)
    ctrl-p ctrl-q on a TTY: the daemon ends the stream, the container goes on, we exit 0

Exit status as docker's: 125 when the daemon or a flag refused, 126 (cannot execute) and
127 (not found) when the command could not start, else the container's own.
"""

from __future__ import annotations

import argparse
import sys

from minidock.errors import MinidockError


def _quote(text: str) -> str:
    from urllib.parse import quote  # here, not at the top: the CLI starts fast

    return quote(text, safe="")


def refused(verb: str, error: MinidockError) -> None:
    """What `docker run` prints when the daemon refuses: the error, then where the help is."""
    prefix = "Error response from daemon: " if getattr(error, "from_daemon", False) else ""
    print(f"minidock: {prefix}{error.message}\n\nRun 'minidock {verb} --help' for more information",
          file=sys.stderr)


def full_reference(image: str) -> str:
    """busybox -> busybox:latest, as the "Unable to find image" line names it."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in image else f"{image}:latest"


def create(api, body: dict, name: str | None) -> str:
    """POST /containers/create; a missing image is pulled first, as docker does."""
    from minidock.errors import NotFound

    path = "/containers/create" + (f"?name={_quote(name)}" if name else "")
    try:
        return api.json("POST", path, body)["Id"]
    except NotFound as error:
        if "image" not in error.message.lower():
            raise
    reference = full_reference(body["Image"])
    print(f"Unable to find image '{reference}' locally", file=sys.stderr)
    repository, _, tag = reference.rpartition(":") if "@" not in reference else (reference, "", "")
    query = f"fromImage={_quote(repository)}" + (f"&tag={_quote(tag)}" if tag else "")
    from minidock.cli.registry import auth_header  # the stored login for its registry, as docker sends it

    from minidock.cli.registry import show_progress

    response = api.stream("POST", f"/images/create?{query}", headers=auth_header(reference))
    try:
        show_progress(response, out=sys.stderr)  # docker run shows the pull on stderr; an error raises
    finally:
        response.close()
    return api.json("POST", path, body)["Id"]


def start_status(error: MinidockError) -> int:
    """docker's exit status for a start that failed: 127 not found, 126 cannot execute, else 125."""
    text = error.message
    if "executable file not found" in text or "no such file or directory" in text.lower():
        return 127
    if "permission denied" in text.lower() or "is a directory" in text.lower():
        return 126
    return 125


def request_body(args: argparse.Namespace, verb: str, detach: bool) -> dict | None:
    """The create body for `run`/`create` flags; None once a refusal is printed (exit 125)."""
    import os

    from minidock.cli.run_options import FlagError, create_body

    try:
        return create_body(args, os.environ, detach=detach)
    except FlagError as error:
        print(f"{error.message}\n\nRun 'minidock {verb} --help' for more information", file=sys.stderr)
        return None


def remove_quietly(api, container_id: str) -> None:
    """DELETE ?force=1, for `--rm`; a container already gone is fine."""
    try:
        api.json("DELETE", f"/containers/{container_id}?force=1")
    except MinidockError:
        pass


def check_tty(stdin: bool, tty: bool) -> bool:
    """docker's CheckTty: stdin for a container's terminal must be a terminal; True if refused."""
    import os

    if stdin and tty and not os.isatty(0):
        print("the input device is not a TTY", file=sys.stderr)
        return True
    return False


def attach_query(streams: tuple[str, ...], detach_keys: str | None = None) -> str:
    """?stream=1&stdin=1&stdout=1&stderr=1 for the streams asked for (and --detach-keys)."""
    from urllib.parse import quote

    keys = f"&detachKeys={quote(detach_keys)}" if detach_keys else ""
    return "stream=1" + "".join(f"&{name}=1" for name in ("stdin", "stdout", "stderr") if name in streams) + keys


def detach_bytes(text: str | None) -> bytes:
    """--detach-keys as bytes; a bad one ends the command with moby/term's words (ENGINE-TTY-005)."""
    from minidock.engine import detachkeys

    return detachkeys.parse(text)


def attached_run(api, container_id: str, tty: bool, verb: str, remove: bool = False,
                 streams: tuple[str, ...] = ("stdout", "stderr"), detach_keys: str | None = None,
                 sig_proxy: bool = True) -> int:
    """attach, wait, start, converse; return the exit code (docker's run and start -a)."""
    import signal

    keys = detach_bytes(detach_keys)

    def remove_it() -> None:
        if remove:
            remove_quietly(api, container_id)

    connection = api.upgrade("POST", f"/containers/{container_id}/attach?{attach_query(streams, detach_keys)}")
    # with --rm the daemon removes it (AutoRemove); like docker's CLI, wait until it has
    waiter = api.stream("POST", f"/containers/{container_id}/wait?condition={'removed' if remove else 'next-exit'}")
    try:
        api.json("POST", f"/containers/{container_id}/start")
    except MinidockError as error:
        connection.close()
        waiter.close()
        refused(verb, error)
        remove_it()
        return start_status(error)

    def forward(signum, _frame) -> None:
        # docker's --sig-proxy: a signal to us is a signal to the container
        try:
            api.json("POST", f"/containers/{container_id}/kill?signal={signal.Signals(signum).name}")
        except MinidockError:
            pass

    # --sig-proxy=false: our signals are ours (Ctrl-C ends the CLI, not the container)
    proxied = (signal.SIGINT, signal.SIGTERM) if sig_proxy else ()
    previous = {signum: signal.signal(signum, forward) for signum in proxied}
    outcome = "ended"
    try:
        outcome = converse(api, connection, tty, "stdin" in streams, f"/containers/{container_id}", keys=keys)
        if outcome == "detached":
            # [ENGINE-CLI-023] docker's run and start -a: a quiet exit 0, the container goes on
            # (with --rm the daemon removes it when it exits)
            return 0
        answer = wait_answer(waiter)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        waiter.close()
        if outcome != "detached":
            remove_it()
    if (answer.get("Error") or {}).get("Message"):
        print(f"minidock: {answer['Error']['Message']}", file=sys.stderr)
    return int(answer.get("StatusCode", 0))


def converse(api, connection, tty: bool, stdin: bool, resource: str, detach_ends: bool = False,
             keys: bytes | None = None) -> str:
    """Our stdin in and the output out on a hijacked ``connection``, closed at the end.

    ``resource`` (/containers/ID or /exec/ID) is where window sizes go with a TTY.
    Returns "ended", "detached" (ctrl-p ctrl-q) or "interrupted" (Ctrl-C without a TTY).
    """
    from minidock.cli.streams import converse as talk

    def resize(rows: int, columns: int) -> None:
        api.json("POST", f"{resource}/resize?h={rows}&w={columns}")

    try:
        detached = talk(connection, tty, stdin, resize if tty else None, detach_ends,
                        **({"keys": keys} if keys else {}))
    except KeyboardInterrupt:
        return "interrupted"
    finally:
        connection.close()
    return "detached" if detached else "ended"


def show_output(stream, tty: bool) -> bool:
    """Copy a container's output stream to ours and close it; False if Ctrl-C stopped us."""
    from minidock.cli.streams import copy_output

    try:
        copy_output(stream, tty, sys.stdout.buffer, sys.stderr.buffer)
    except KeyboardInterrupt:
        return False
    finally:
        stream.close()
    return True


def wait_answer(response) -> dict:
    """Read and close a /wait response: {"StatusCode": N, "Error": ...}."""
    import json

    try:
        return json.loads(response.read() or b"{}")
    finally:
        response.close()
