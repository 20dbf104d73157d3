"""`minidock` verbs on a container's files: cp, export, diff, commit.

Implements: spec/engine.md ENGINE-FS-008 .. ENGINE-FS-010, ENGINE-FS-012
Explained:  chapters/05-engine.md#a-containers-files
Modelled on: docker/cli's cli/command/container (cp.go, export.go, diff.go, commit.go)
             and moby's pkg/archive/copy.go (PrepareArchiveCopy, RebaseArchiveEntries)

    cp CONTAINER:SRC DEST    HEAD? + GET /containers/C/archive?path=SRC, the tar unpacked at DEST
    cp SRC CONTAINER:DEST    HEAD /containers/C/archive?path=DEST, PUT the tar into a directory
    cp ... -                 the tar itself, to stdout or from stdin
    export [-o FILE] C       GET /containers/C/export
    diff C                   GET /containers/C/changes      ("C /tmp", "A /tmp/x", "D /etc/old")
    commit [-m] [-a] [-c] C [REPO[:TAG]]                   POST /commit, prints the new ID

How a copy lands (PrepareArchiveCopy): the archive's entries start with the source's
base name; they are renamed to the destination's base name unless the destination
is an existing directory, and unpacked into the destination's parent otherwise.

Rules: the CLI never touches the daemon's data; an archive from a container is
untrusted, so it is unpacked with the same checks as a layer (nothing escapes DEST).
"""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
from io import BufferedIOBase as BinaryIO  # a binary file; not typing's (3 ms to import)

from minidock.cli.common import client as _client
from minidock.errors import MinidockError

KINDS = {0: "C", 1: "A", 2: "D"}  # Docker's ChangeType letters


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# -- cp -------------------------------------------------------------------------------------

def split_copy_argument(argument: str) -> tuple[str, str]:
    """docker's splitCpArg: ("container", "path"), or ("", path) for a local path.

    An absolute path, or one that starts with "." (./a:b), is local whatever colons it holds.
    """
    if argument.startswith("/") or argument.startswith("."):
        return "", argument
    container, colon, path = argument.partition(":")
    return (container, path) if colon else ("", argument)


def split_dir_entry(path: str) -> tuple[str, str]:
    """moby's SplitPathDirEntry: ("/etc", "passwd"); a path ending in "/." keeps "." as its base."""
    clean = posixpath.normpath(path)
    if path.endswith("/.") or path == ".":
        clean = clean.rstrip("/") + "/."
    return posixpath.dirname(clean) or ".", posixpath.basename(clean)


def rebase(source: BinaryIO, old_base: str, new_base: str, out: BinaryIO) -> None:
    """moby's RebaseArchiveEntries: the first `old_base` of every name becomes `new_base`."""
    import tarfile

    with tarfile.open(fileobj=source, mode="r|") as tar_in, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar_out:
        for member in tar_in:
            data = tar_in.extractfile(member) if member.isreg() else None
            member.name = member.name.replace(old_base, new_base, 1)
            if member.islnk():
                member.linkname = member.linkname.replace(old_base, new_base, 1)
            tar_out.addfile(member, data)


def prepare_copy(src_path: str, src_is_dir: bool, rebase_name: str, dst_path: str,
                 dst_exists: bool, dst_is_dir: bool) -> tuple[str, str, str]:
    """moby's PrepareArchiveCopy: (the directory to unpack into, old base, new base).

    old == new means the entries are unpacked as they are. Raises for a directory onto a
    file, or a file onto a path that asserts a directory (a trailing '/').
    """
    dst_dir, dst_base = split_dir_entry(dst_path)
    _, src_base = split_dir_entry(src_path)
    src_base = rebase_name or src_base
    if dst_exists and dst_is_dir:
        return dst_path, src_base, src_base
    if dst_exists and src_is_dir:
        raise MinidockError("cannot copy a directory to a file")  # ErrCannotCopyDir
    if not dst_exists and not src_is_dir and (dst_path.endswith("/") or dst_path.endswith("/.")):
        raise MinidockError(f"no such directory: {dst_path}")  # ErrDirNotExists
    return dst_dir, src_base, dst_base


def _spooled_rebase(tar: BinaryIO, old_base: str, new_base: str) -> BinaryIO:
    """The archive with its entries renamed (the same file when nothing changes), at its start."""
    if old_base == new_base:
        return tar
    import tempfile

    out = tempfile.TemporaryFile()
    rebase(tar, old_base, new_base, out)
    out.seek(0)
    return out


def copy_from_container(args: argparse.Namespace, container: str, src_path: str, dst_path: str) -> int:
    """`cp CONTAINER:SRC DEST`: the path's tar from the daemon, unpacked here (or to stdout)."""
    import shutil

    from minidock.engine.filesystem import GO_MODE_SYMLINK
    from minidock.images import layers

    api = _client(args)
    rebase_name = ""
    if args.follow_link:
        found = _stat(api, container, src_path)
        if found is not None and found["mode"] & GO_MODE_SYMLINK:
            rebase_name = split_dir_entry(src_path)[1]
            src_path = found["linkTarget"]
    response = api.stream("GET", f"/containers/{_quote(container)}/archive?path={_quote(src_path)}")
    import tempfile

    with response, tempfile.TemporaryFile() as tar:
        if dst_path == "-":
            shutil.copyfileobj(response, sys.stdout.buffer)
            return 0
        shutil.copyfileobj(response, tar)
        found = _decode_stat(response.getheader("X-Docker-Container-Path-Stat", ""))
        tar.seek(0)
        size = os.fstat(tar.fileno()).st_size
        exists = os.path.exists(dst_path)
        src_is_dir = bool(found.get("mode", 0) & (1 << 31))
        dst_dir, old, new = prepare_copy(src_path, src_is_dir, rebase_name, dst_path, exists,
                                         os.path.isdir(dst_path))
        if not os.path.isdir(dst_dir):
            print(f"Error: destination directory {dst_dir!r} does not exist", file=sys.stderr)
            return 1
        with _spooled_rebase(tar, old, new) as prepared:
            layers.apply(prepared, dst_dir)  # [ENGINE-FS-008] a container's tar never escapes DEST
    if not args.quiet:
        print(f"Successfully copied {_size_words(size)} to {dst_path}", file=sys.stderr)
    return 0


def copy_to_container(args: argparse.Namespace, src_path: str, container: str, dst_path: str) -> int:
    """`cp SRC CONTAINER:DEST`: a tar of SRC (or stdin's), PUT into the right directory."""
    import shutil

    from minidock.engine.filesystem import GO_MODE_DIR, GO_MODE_SYMLINK, write_tar

    api = _client(args)
    target = dst_path
    found = _stat(api, container, target)
    if found is not None and found["mode"] & GO_MODE_SYMLINK:
        target = found["linkTarget"]
        found = _stat(api, container, target)
    exists, is_dir = found is not None, bool(found and found["mode"] & GO_MODE_DIR)
    import tempfile

    with tempfile.TemporaryFile() as tar:
        if src_path == "-":
            if not is_dir:
                print(f'Error: destination "{container}:{dst_path}" must be a directory', file=sys.stderr)
                return 1
            shutil.copyfileobj(sys.stdin.buffer, tar)
            tar.seek(0)
            return _put(api, args, container, target, tar, dst_path)
        if not os.path.lexists(src_path):
            print(f"Error: lstat {os.path.abspath(src_path)}: no such file or directory", file=sys.stderr)
            return 1
        local = os.path.realpath(src_path) if args.follow_link else src_path
        rebase_name = split_dir_entry(src_path)[1] if local != src_path else ""
        source_dir, source_base = split_dir_entry(local)
        write_tar(os.path.join(source_dir, source_base), rebase_name or source_base, tar)
        tar.seek(0)
        src_is_dir = os.path.isdir(local) and not os.path.islink(local)
        dst_dir, old, new = prepare_copy(local, src_is_dir, rebase_name, target, exists, is_dir)
        with _spooled_rebase(tar, old, new) as prepared:
            return _put(api, args, container, dst_dir, prepared, dst_path)


def _put(api, args: argparse.Namespace, container: str, directory: str, tar: BinaryIO, shown: str) -> int:
    size = os.fstat(tar.fileno()).st_size
    query = f"path={_quote(directory)}&noOverwriteDirNonDir=true" + ("&copyUIDGID=true" if args.archive else "")
    status, _, raw = api.request("PUT", f"/containers/{_quote(container)}/archive?{query}", tar,  # type: ignore[arg-type]
                                 {"Content-Type": "application/x-tar", "Content-Length": str(size)})
    if status >= 400:
        from minidock.engine.client import daemon_error

        print(f"Error response from daemon: {daemon_error(status, raw).message}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"Successfully copied {_size_words(size)} to {container}:{shown}", file=sys.stderr)
    return 0


def _stat(api, container: str, path: str) -> dict | None:
    """HEAD the path: its stat, or None when the daemon says 404 (no such path, or container)."""
    status, headers, _ = api.request("HEAD", f"/containers/{_quote(container)}/archive?path={_quote(path)}")
    if status != 200:
        return None
    return _decode_stat(headers.get("X-Docker-Container-Path-Stat", ""))


def _decode_stat(header: str) -> dict:
    import base64
    import json

    try:
        return json.loads(base64.b64decode(header)) if header else {}
    except ValueError:
        return {}


def _size_words(size: int) -> str:
    from minidock.cli.common import human_size

    return human_size(size)


def cmd_cp(args: argparse.Namespace) -> int:
    """Copy files between a container and here, in either direction."""
    src_container, src_path = split_copy_argument(args.source)
    dst_container, dst_path = split_copy_argument(args.destination)
    if src_container and dst_container:
        print("minidock: copying between containers is not supported", file=sys.stderr)
        return 1
    if not src_container and not dst_container:
        print("minidock: must specify at least one container source", file=sys.stderr)
        return 1
    try:
        if src_container:
            return copy_from_container(args, src_container, src_path, dst_path)
        return copy_to_container(args, src_path, dst_container, dst_path)
    except BrokenPipeError:  # `cp C:/x - | head`: the reader left
        return 1
    except MinidockError as error:
        prefix = "Error response from daemon: " if getattr(error, "from_daemon", False) else "Error: "
        print(f"{prefix}{error.message}", file=sys.stderr)
        return 1


# -- export, diff, commit ---------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    """Write the container's root file system as a tar to -o FILE or stdout (never a terminal)."""
    import shutil

    if not args.output and sys.stdout.isatty():
        # docker's words
        print("Error: cowardly refusing to save to a terminal. Use the -o flag or redirect", file=sys.stderr)
        return 1
    response = _client(args).stream("GET", f"/containers/{_quote(args.container)}/export")
    with response:
        if args.output:
            with open(args.output, "wb") as out:
                shutil.copyfileobj(response, out)
            return 0
        try:
            shutil.copyfileobj(response, sys.stdout.buffer)
        except BrokenPipeError:  # `export C | tar t | head`: the reader left
            return 1
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """The container's changes to its image's files: C(hanged), A(dded), D(eleted)."""
    for change in _client(args).json("GET", f"/containers/{_quote(args.container)}/changes") or []:
        print(f"{KINDS.get(change['Kind'], '?')} {change['Path']}")
    return 0


def split_repo_tag(name: str) -> tuple[str, str]:
    """"repo:tag" -> ("repo", "tag"); a colon in a registry's host:port is not a tag."""
    repo, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, ""
    return repo, tag


def cmd_commit(args: argparse.Namespace) -> int:
    """Make an image of the container's changes; print its ID."""
    from urllib.parse import urlencode

    query: list[tuple[str, str]] = [("container", args.container)]
    if args.reference:
        repo, tag = split_repo_tag(args.reference)
        query += [("repo", repo), ("tag", tag)]
    query += [("comment", args.message), ("author", args.author)]
    query += [("changes", change) for change in args.change]
    query.append(("pause", "1" if args.pause.lower() in ("1", "true", "yes") else "0"))
    answer = _client(args).json("POST", f"/commit?{urlencode(query)}", {})
    print(answer["Id"])
    return 0


# -- the parsers ------------------------------------------------------------------------------

_HELP = {
    "cp": "copy files/folders between a container and the local filesystem",
    "export": "export a container's filesystem as a tar archive",
    "diff": "inspect changes to files or directories on a container's filesystem",
    "commit": "create a new image from a container's changes",
}


def add_parsers(subparsers, only: str | None = None) -> None:
    """Add cp, export, diff and commit (or ``only`` that one of them) to ``subparsers``."""
    for verb in _HELP:
        if only is None or only == verb:
            _add_verb(subparsers, verb)


def _add_verb(subparsers, verb: str) -> None:
    from minidock.cli import containers  # the verbs' shared conventions (its module is loaded)

    parser = subparsers.add_parser(verb, add_help=False, help=_HELP[verb])
    parser.add_argument("-h", "--help", action="help", help="print usage")
    parser.error = containers._usage_error(verb, 125)  # noqa: SLF001 - cobra's words, shared
    parser.parse_known_args = containers._strict(parser)  # noqa: SLF001
    add = parser.add_argument
    if verb == "cp":
        add("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid information)")
        add("-L", "--follow-link", action="store_true", help="always follow a symbol link in SRC_PATH")
        add("-q", "--quiet", action="store_true", help="suppress progress output")
        add("source", metavar="SRC")
        add("destination", metavar="DEST")
        parser.set_defaults(handler=cmd_cp)
    elif verb == "export":
        add("-o", "--output", help="write to a file, instead of STDOUT")
        add("container", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_export)
    elif verb == "diff":
        add("container", metavar="CONTAINER")
        parser.set_defaults(handler=cmd_diff)
    elif verb == "commit":
        add("-a", "--author", default="", help='author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
        add("-c", "--change", action="append", default=[], help="apply a Dockerfile instruction to the image")
        add("-m", "--message", default="", help="commit message")
        add("-p", "--pause", nargs="?", const="true", default="true",
            help="pause the container during commit (default true; --pause=false not to)")
        add("container", metavar="CONTAINER")
        add("reference", nargs="?", metavar="REPOSITORY[:TAG]")
        parser.set_defaults(handler=cmd_commit)
