"""`minidock build`: the context as a tar to POST /build, the builder's output as it comes.

Implements: spec/build.md BUILD-012
Explained:  chapters/08-build.md#the-cli
Modelled on: docker/cli's cli/command/image/build.go (the classic builder's client)

    minidock build [-t NAME]... [-f Dockerfile] [--build-arg K=V]... [--label K=V]...
                   [--target STAGE] [--no-cache] [-q] [--iidfile FILE] [--network MODE] PATH | -

    PATH ─▶ tar (what .dockerignore leaves; the Dockerfile and .dockerignore always)
         ─▶ POST /build ─▶ {"stream"} lines printed, {"aux": {"ID"}} kept, {"error"} exit 1

Rules: the context is streamed as it is made (a thread writes the tar into a pipe),
never held in memory whole nor copied into a temporary file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from minidock.cli.common import client as _client


def _pairs(entries: list[str], flag: str, environ: bool) -> dict[str, str | None]:
    """K=V entries; for --build-arg a bare K takes the value from the environment (as docker)."""
    out: dict[str, str | None] = {}
    for entry in entries:
        key, equals, value = entry.partition("=")
        if not key:
            raise SystemExit(f"minidock: invalid {flag} {entry!r}: KEY=VALUE expected")
        out[key] = value if equals else (os.environ.get(key) if environ else "")
    return out


def context_tar(path: str, dockerfile: str, out) -> None:
    """Write the build context at ``path`` as a tar to ``out``, minus what .dockerignore excludes."""
    import tarfile

    from minidock.build.ignore import Ignore

    ignore_path = os.path.join(path, ".dockerignore")
    ignore = Ignore.parse(open(ignore_path, encoding="utf-8", errors="replace").read()) \
        if os.path.isfile(ignore_path) else Ignore([])
    always = {os.path.normpath(dockerfile), ".dockerignore"}

    def numeric(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=1 << 20) as tar:
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                relative = os.path.relpath(full, path)
                if relative not in always and ignore.excluded(relative) and not (
                        name in dirnames and ignore.may_hold_exceptions(relative)):
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                tar.add(full, arcname=relative, recursive=False, filter=numeric)


class _Counted:
    """A write-only file that counts what passes: tarfile asks tell() when it starts."""

    def __init__(self, out) -> None:
        self.out, self.size = out, 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return self.out.write(data)

    def tell(self) -> int:
        return self.size


class _ContextStream:
    """The context tar, written by a thread into a pipe while the request sends it, in chunks
    (as the docker CLI streams it): no temporary copy, and the upload starts at once.

    read() gives what the pipe holds (b"" at its end); the thread's error, if it had one,
    is raised there instead of an end, so a cut context is never sent as a whole one.
    """

    def __init__(self, path: str, dockerfile: str) -> None:
        import fcntl
        import threading

        reader, writer = os.pipe()
        try:
            fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, 1 << 20)  # fewer wake-ups than 64 KiB at a time
        except OSError:
            pass  # over /proc/sys/fs/pipe-max-size: the default size works too
        self._pipe = open(reader, "rb")
        self._failure: list[BaseException] = []

        def produce() -> None:
            try:
                with open(writer, "wb") as out:
                    context_tar(path, dockerfile, _Counted(out))
            except BaseException as error:  # noqa: BLE001 - handed to the reading thread
                self._failure.append(error)

        self._thread = threading.Thread(target=produce, name="context", daemon=True)
        self._thread.start()

    def read(self, size: int = -1) -> bytes:
        data = self._pipe.read1(size)
        if not data:
            self._thread.join()
            if self._failure:
                raise self._failure[0]
        return data

    def __enter__(self) -> "_ContextStream":
        return self

    def __exit__(self, *exc) -> None:
        self._pipe.close()  # a writer still at work gets EPIPE and ends
        self._thread.join()


def cmd_build(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    dockerfile = args.file or "Dockerfile"
    query: list[tuple[str, str]] = [("t", tag) for tag in args.tag]
    build_args = _pairs(args.build_arg, "--build-arg", environ=True)
    labels = _pairs(args.label, "--label", environ=False)
    query += [("buildargs", json.dumps(build_args)), ("labels", json.dumps(labels)), ("rm", "1")]
    if args.target:
        query.append(("target", args.target))
    if args.no_cache:
        query.append(("nocache", "1"))
    if args.pull:
        query.append(("pull", "1"))
    if args.quiet:
        query.append(("q", "1"))
    if args.network:
        query.append(("networkmode", args.network))
    if args.path == "-":
        # a Dockerfile on stdin, no context (docker build - < Dockerfile)
        import io
        import tarfile

        data = sys.stdin.buffer.read()
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        dockerfile = "Dockerfile"
        context.seek(0)
    else:
        if not os.path.isdir(args.path):
            print(f"minidock: unable to prepare context: path {args.path!r} not found", file=sys.stderr)
            return 1
        if args.file and os.path.isabs(args.file):
            dockerfile = os.path.relpath(args.file, args.path)
        if not os.path.isfile(os.path.join(args.path, dockerfile)):
            print(f"minidock: unable to prepare context: Cannot locate specified Dockerfile: {dockerfile}",
                  file=sys.stderr)
            return 1
        context = _ContextStream(args.path, dockerfile)
    query.append(("dockerfile", dockerfile))
    with context:
        response = _client(args).stream("POST", "/build?" + urlencode(query), context,
                                        {"Content-Type": "application/x-tar"})
    image_id = None
    with response:
        for line in response:
            if not line.strip():
                continue
            message = json.loads(line)
            if "error" in message:
                print(message.get("errorDetail", {}).get("message") or message["error"], file=sys.stderr)
                return 1
            if "stream" in message:
                sys.stdout.write(message["stream"])
                sys.stdout.flush()
            if "aux" in message:
                image_id = message["aux"].get("ID")
    if args.quiet and image_id:
        print(image_id)
    if args.iidfile and image_id:
        with open(args.iidfile, "w") as file:
            file.write(image_id)
    return 0


def add_parsers(verbs, only: str | None = None) -> None:
    """`build` and `image build` (``only`` is ignored: one verb)."""
    def setup(parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add("-t", "--tag", action="append", default=[], help="name and optionally a tag (name:tag)")
        add("-f", "--file", help="name of the Dockerfile (default PATH/Dockerfile)")
        add("--build-arg", action="append", default=[], help="set a build-time variable (KEY=VALUE)")
        add("--label", action="append", default=[], help="set metadata for the image")
        add("--target", help="the build stage to build")
        add("--no-cache", action="store_true", help="do not use the cache when building the image")
        add("--pull", action="store_true", help="always pull the base images, even those the engine has")
        add("-q", "--quiet", action="store_true", help="print the image ID only")
        add("--iidfile", help="write the image ID to the file")
        add("--network", help="networking mode for the RUN steps")
        add("--rm", default="true", help="remove intermediate containers (always)")
        add("path", metavar="PATH | -")
        parser.set_defaults(handler=cmd_build)

    setup(verbs.add_parser("build", help="build an image from a Dockerfile"))
