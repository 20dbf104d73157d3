"""`minidock trace run [run flags] IMAGE [COMMAND...]`: a container's start, syscall by syscall.

Implements: spec/trace.md TRACE-030 .. TRACE-034
Explained:  chapters/05-engine.md#tracing-a-start
Modelled on: `strace -f runc run`, with the bundle dockerd would have written

The daemon starts containers in its runtime fork server, a process we neither own nor
should stop under a debugger. So the trace is of a standalone `minidock-runtime run`,
in this process's own children, of the bundle the daemon would start:

    POST /containers/create     the run flags, checked by the daemon; a missing image pulled
    GET  /containers/ID/json    the Config and HostConfig the daemon stored
    GET  /images/IMAGE/json     the image's own config
    GET  /containers/ID/export  its root file system, unpacked into a private bundle
    engine.bundle.oci_config()  the very config.json the daemon would write
    trace(minidock-runtime run)  the runtime's code path, under ptrace
    DELETE /containers/ID       the container was never started; it goes

What differs from `minidock run`: no network is plugged in (the container gets a fresh
network namespace with only lo), no /etc/hosts or volumes are bound, and the rootfs is
an unpacked copy rather than an overlay mount; the runtime's steps are the same.

Exit status: the container's, 125 when the daemon or a flag refused, 1 when the kernel
refused ptrace (the message says why), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from minidock.cli.common import client as _client
from minidock.errors import InvalidArgument, MinidockError


def cmd_trace_run(args: argparse.Namespace) -> int:
    """Create the container through the daemon, rebuild its bundle here, run it under the tracer."""
    from minidock.cli import container_run as run

    body = run.request_body(args, "trace run", detach=False)
    if body is None:
        return 125
    api = _client(args)
    try:
        container_id = run.create(api, body, args.name)
    except MinidockError as error:
        run.refused("trace run", error)
        return 125
    try:
        traced = _trace_bundle(api, container_id, args.format != "text")
    except KeyboardInterrupt:  # before the tracer took over (the export, the unpacking)
        return 130
    finally:
        run.remove_quietly(api, container_id)
    from minidock.runtime.trace import render

    print(render.render(traced, args.format, book=args.book), flush=True)
    return 130 if traced.interrupted else traced.exit_code


def _trace_bundle(api, container_id: str, output_to_stderr: bool):
    """The container's bundle in a private folder, and `minidock-runtime run` of it, traced."""
    import json
    import os
    import tarfile
    import tempfile

    from minidock.engine.bundle import oci_config
    from minidock.runtime.trace import trace

    inspect = api.json("GET", f"/containers/{container_id}/json")
    image = api.json("GET", f"/images/{inspect['Image']}/json")
    with tempfile.TemporaryDirectory(prefix="minidock-trace-") as scratch:
        bundle = os.path.join(scratch, "bundle")
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(rootfs)
        with api.stream("GET", f"/containers/{container_id}/export") as response:
            with tarfile.open(fileobj=response, mode="r|") as archive:
                for member in archive:
                    # the daemon's export names entries relative to the root: refuse anything else
                    if member.name.startswith("/") or ".." in member.name.split("/"):
                        raise InvalidArgument(f"the export holds an unsafe name: {member.name!r}")
                    archive.extract(member, rootfs, set_attrs=True, numeric_owner=True)
        document = oci_config(container_id, inspect["Config"], inspect["HostConfig"],
                              image.get("Config") or {}, rootfs, [], None)
        with open(os.path.join(bundle, "config.json"), "w") as file:
            json.dump(document, file, indent=1)
        argv = [sys.executable, "-m", "minidock.runtime.cli", "--root", os.path.join(scratch, "state"),
                "run", "--bundle", bundle, container_id[:12]]
        return trace(argv, output_to_stderr=output_to_stderr)


def add_parsers(verbs, only: str | None = None) -> None:
    """`trace` and its one verb, `run`, with every flag of `minidock run`."""
    from minidock.cli import run_options
    from minidock.cli.containers import _strict, _usage_error

    group = verbs.add_parser("trace", help="run a container under ptrace and show what the kernel was asked")
    sub = group.add_subparsers(dest="trace_verb", required=True, metavar="COMMAND")
    parser = sub.add_parser("run", add_help=False, help="trace the start of a new container")
    parser.add_argument("--help", action="help", help="print usage")
    parser.error = _usage_error("trace run", 125)
    parser.parse_known_args = _strict(parser)
    parser.add_argument("--format", choices=("text", "json", "html"), default="text",
                        help="text (default), json for tools, html with links to the book; "
                        "with json and html the container's output goes to stderr")
    parser.add_argument("--book", default="",
                        help="prefix of the chapter links in --format html (default: relative chapters/...)")
    run_options.add_flags(parser)
    parser.set_defaults(handler=cmd_trace_run, detach=False)
