"""`minidock` image verbs: image bootstrap / ls / inspect / rm / tag / history / prune, save, load, import.

Implements: spec/images.md IMG-BOOT-001 .. IMG-BOOT-004, IMG-ENG-004
Explained:  chapters/04-images.md#from-the-engine
Modelled on: docker/cli's cli/command/image and its formatter (cli/command/formatter/image.go)

    add_parsers(verbs)      the `image` group and its top-level aliases
                            (images, rmi, tag, save, load, import, history)
    render(template, value) a small Go-template subset for --format:
                            {{.Field.Sub}}, {{json .X}}, {{index .X 0}}, {{join .X ","}}, {{len .X}}

Rules: handlers import what they need when they run (the CLI starts fast).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from urllib.parse import quote, urlencode

from minidock.cli.common import client as _client
from minidock.errors import InvalidArgument, MinidockError

# the columns of `docker images --format 'table ...'`, by field
HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
           "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
           "CreatedBy": "CREATED BY", "Comment": "COMMENT", "Containers": "CONTAINERS"}


# -- --format: a Go-template subset -------------------------------------------------------------

def _go_string(value) -> str:
    """A value as Go's text/template prints it."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_go_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_go_string(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def _field(value, path: str):
    if path == ".":
        return value
    for part in path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _argument(value, word: str):
    if word.startswith("."):
        return _field(value, word)
    if word.startswith('"'):
        return json.loads(word)
    return int(word)


def render(template: str, value) -> str:
    """Fill the template's {{...}} actions from ``value`` (a dict)."""
    def action(match: re.Match) -> str:
        words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', match[1])
        if not words:
            raise InvalidArgument(f"template: empty action in {template!r}")
        function, arguments = (words[0], words[1:]) if not words[0].startswith(".") else ("", words)
        values = [_argument(value, word) for word in arguments]
        if function == "":
            return _go_string(values[0])
        if function == "json":
            return json.dumps(values[0])
        if function == "index":
            item = values[0]
            for key in values[1:]:
                item = item[key] if item is not None else None
            return _go_string(item)
        if function == "join":
            return values[1].join(str(item) for item in values[0] or [])
        if function == "len":
            return str(len(values[0] or []))
        if function in ("upper", "lower"):
            return getattr(str(values[0]), function)()
        raise InvalidArgument(f'template: function "{function}" not defined (minidock knows '
                              ".Field, json, index, join, len, upper, lower)")
    return re.sub(r"{{-?\s*(.*?)\s*-?}}", action, template)


def _print_formatted(template: str, rows: list[dict]) -> None:
    """--format, with Docker's `table` prefix (a header row) and its \\t and \\n escapes."""
    from minidock.cli.common import table

    template = template.replace("\\t", "\t").replace("\\n", "\n")
    header = None
    if template.startswith("table"):
        template = template[len("table"):].strip()
        header = re.sub(r"{{\s*\.(\w+)\s*}}", lambda m: HEADERS.get(m[1], m[1].upper()), template)
    lines = [render(template, row) for row in rows]
    if header is not None and "\t" in template:  # docker's tabwriter pads the columns
        print(table([line.split("\t") for line in lines], header.split("\t")))
        return
    for line in ([header] if header is not None else []) + lines:
        print(line)


# -- ls, inspect, history -----------------------------------------------------------------------

def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _rows(images: list[dict], args: argparse.Namespace) -> list[dict]:
    """docker/cli's imageFormat: one row per repository:tag (or repository@digest)."""
    import time

    from minidock.cli.common import ago, human_size

    rows = []
    for image in images:
        base = {"ID": image["Id"] if args.no_trunc else _short(image["Id"]),
                "CreatedSince": ago(time.time() - image["Created"]),
                "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(image["Created"])),
                "Size": human_size(image["Size"]), "Containers": "N/A"}
        digests = {}
        for digested in image.get("RepoDigests") or []:
            repository, _, digest = digested.rpartition("@")
            digests.setdefault(repository, digest)
        seen = set()
        for tagged in image.get("RepoTags") or []:
            repository, _, tag = tagged.rpartition(":")
            seen.add(repository)
            rows.append({**base, "Repository": repository, "Tag": tag,
                         "Digest": digests.get(repository, "<none>")})
        for repository, digest in digests.items():
            if repository not in seen and repository != "<none>":
                rows.append({**base, "Repository": repository, "Tag": "<none>", "Digest": digest})
    return rows


def cmd_images(args: argparse.Namespace) -> int:
    """`docker images`: REPOSITORY TAG IMAGE ID CREATED SIZE."""
    filters: dict[str, list[str]] = {}
    for text in args.filter:
        key, _, value = text.partition("=")
        filters.setdefault(key, []).append(value)
    if args.reference:
        filters.setdefault("reference", []).append(args.reference)
    query = urlencode({"filters": json.dumps(filters)} if filters else {})
    images = _client(args).json("GET", "/images/json" + (f"?{query}" if query else ""))
    columns = ["Repository", "Tag", *(["Digest"] if args.digests else []), "ID", "CreatedSince", "Size"]
    return _print_rows(_rows(images, args), args, columns, [HEADERS[c] for c in columns])


def cmd_inspect(args: argparse.Namespace) -> int:
    """`docker image inspect`: a JSON array, or --format for each image."""
    client, found, status = _client(args), [], 0
    for name in args.names:
        try:
            found.append(client.json("GET", f"/images/{quote(name, safe='/:@')}/json"))
        except MinidockError as error:
            print(f"Error: {error.message}", file=sys.stderr)
            status = 1
    if args.format:
        for item in found:
            print(render(args.format.replace("\\t", "\t").replace("\\n", "\n"), item))
    else:
        print(json.dumps(found, indent=4))
    return status


def cmd_history(args: argparse.Namespace) -> int:
    """`docker history`: IMAGE CREATED CREATED BY SIZE COMMENT, newest first."""
    import time

    from minidock.cli.common import ago, human_size

    steps = _client(args).json("GET", f"/images/{quote(args.name, safe='/:@')}/history")
    rows = []
    for step in steps:
        created_by = step["CreatedBy"].replace("\t", " ")
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        image_id = step["Id"] if args.no_trunc or step["Id"] == "<missing>" else _short(step["Id"])
        rows.append({"ID": image_id, "CreatedBy": created_by, "Comment": step["Comment"],
                     "CreatedSince": ago(time.time() - step["Created"]) if args.human else str(step["Created"]),
                     "Size": human_size(step["Size"]) if args.human else str(step["Size"])})
    return _print_rows(rows, args, ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"],
                       ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"])


def _print_rows(rows: list[dict], args: argparse.Namespace, columns: list[str], headers: list[str]) -> int:
    """-q (IDs only), --format, or Docker's table of ``columns``."""
    from minidock.cli.common import table

    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        _print_formatted(args.format, rows)
    else:
        print(table([[row[column] for column in columns] for row in rows], headers))
    return 0


# -- tag, rmi, prune ------------------------------------------------------------------------------

def cmd_tag(args: argparse.Namespace) -> int:
    """`docker tag SOURCE TARGET`."""
    from minidock.images import reference

    target = reference.parse(args.target, default_tag=False)
    query = urlencode({"repo": target.familiar_name, "tag": target.tag or ""})
    _client(args).json("POST", f"/images/{quote(args.source, safe='/:@')}/tag?{query}")
    return 0


def cmd_rmi(args: argparse.Namespace) -> int:
    """`docker rmi`: Untagged: / Deleted: for each name; an error does not stop the others."""
    client, status = _client(args), 0
    query = urlencode({"force": int(args.force), "noprune": int(args.no_prune)})
    for name in args.names:
        try:
            items = client.json("DELETE", f"/images/{quote(name, safe='/:@')}?{query}")
        except MinidockError as error:
            prefix = "Error response from daemon" if getattr(error, "from_daemon", False) else "Error"
            print(f"{prefix}: {error.message}", file=sys.stderr)
            status = 1
            continue
        for item in items:
            for key, value in item.items():
                print(f"{key}: {value}")
    return status


def cmd_prune(args: argparse.Namespace) -> int:
    """`docker image prune [-a] [-f]`."""
    from minidock.cli.common import human_size

    if not args.force:
        what = "all images without at least one container associated to them" if args.all \
            else "all dangling images"
        print(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    filters: dict[str, list[str]] = {"dangling": ["false" if args.all else "true"]}
    for text in args.filter:
        key, _, value = text.partition("=")
        filters.setdefault(key, []).append(value)
    answer = _client(args).json("POST", "/images/prune?" + urlencode({"filters": json.dumps(filters)}))
    deleted = answer.get("ImagesDeleted") or []
    if deleted:
        print("Deleted Images:")
        for item in deleted:
            for key, value in item.items():
                print(f"{key.lower()}: {value}")
        print()
    print(f"Total reclaimed space: {human_size(answer.get('SpaceReclaimed', 0))}")
    return 0


# -- save, load, import ---------------------------------------------------------------------------

def cmd_save(args: argparse.Namespace) -> int:
    """`docker save [-o FILE] IMAGE...`: the archive to a file or to stdout."""
    if not args.output and sys.stdout.isatty():
        raise MinidockError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    query = urlencode([("names", name) for name in args.names])
    status, _, body = _client(args).request("GET", f"/images/get?{query}")
    if status >= 400:
        _client(args).json("GET", f"/images/get?{query}")  # raises the daemon's error
    if args.output:
        with open(args.output, "wb") as file:
            file.write(body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    return 0


def _read_input(path: str | None, what: str) -> bytes:
    if path and path != "-":
        with open(path, "rb") as file:
            return file.read()
    if sys.stdin.isatty():
        raise MinidockError(f"requested {what} from stdin, but stdin is empty")
    return sys.stdin.buffer.read()


def cmd_load(args: argparse.Namespace) -> int:
    """`docker load [-i FILE] [-q]`: prints `Loaded image: NAME` for each image."""
    data = _read_input(args.input, "load")
    answer = _client(args).request("POST", f"/images/load?quiet={int(args.quiet)}", data,
                                   {"Content-Type": "application/x-tar"})
    if answer[0] >= 400:
        _client(args).json("POST", "/images/load", data, content_type="application/x-tar")
    for line in answer[2].decode().splitlines():
        if line.strip():
            message = json.loads(line)
            if "error" in message:
                raise MinidockError(message["error"])
            print(message.get("stream", ""), end="")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """`docker import FILE|- [REPOSITORY[:TAG]]`: prints the new image's ID."""
    from minidock.images import reference

    query = [("fromSrc", "-"), ("message", args.message)]
    if args.reference:
        parsed = reference.parse(args.reference, default_tag=False)
        query += [("repo", parsed.familiar_name), ("tag", parsed.tag or "")]
    query += [("changes", change) for change in args.change]
    data = _read_input(args.file, "import")
    answer = _client(args).json("POST", f"/images/create?{urlencode(query)}", data,
                                content_type="application/x-tar")
    print(answer["status"])
    return 0


# -- bootstrap -----------------------------------------------------------------------------------

def cmd_image_bootstrap(args: argparse.Namespace) -> int:
    """Build busybox:latest from the host's busybox-static (or debian from a mirror), then load it."""
    from minidock.images import bootstrap

    if args.name == "debian":
        return _bootstrap_debian(args)
    if args.name != "busybox":
        raise MinidockError(f"cannot bootstrap {args.name!r}: the only embedded image is 'busybox' "
                            "('debian' is made with debootstrap from a mirror)")
    layer = bootstrap.busybox_layer()
    if args.bundle:
        return _write_bundle(layer, args.bundle)
    archive = bootstrap.image_archive(layer, "busybox:latest")
    if args.output:
        with open(args.output, "wb") as file:
            file.write(archive)
        print(f"wrote busybox:latest ({bootstrap.image_id(layer)}) to {args.output}")
        return 0
    # the Docker way: the client builds an archive and the daemon loads it
    _client(args).json("POST", "/images/load?quiet=1", archive, content_type="application/x-tar")
    print(f"Loaded image: busybox:latest ({bootstrap.image_id(layer)})")
    return 0


def _bootstrap_debian(args: argparse.Namespace) -> int:
    """debootstrap a minimal Debian from the host's apt mirror, then load it as debian:SUITE."""
    import tempfile

    from minidock.images import bootstrap

    if args.bundle:
        raise MinidockError("--bundle is for busybox only")
    mirror = args.mirror or bootstrap.debian_mirror()
    tag = f"debian:{args.suite}"
    with tempfile.TemporaryDirectory(prefix="minidock-debian-") as scratch:
        archive = os.path.join(scratch, "debian.tar")
        image_id = bootstrap.debian_archive(os.path.join(scratch, "rootfs"), archive, tag,
                                            args.suite, mirror)
        if args.output:
            os.replace(archive, args.output)
            print(f"wrote {tag} ({image_id}) to {args.output}")
            return 0
        with open(archive, "rb") as file:
            _client(args).json("POST", "/images/load?quiet=1", file.read(), content_type="application/x-tar")
    print(f"Loaded image: {tag} ({image_id})")
    return 0


def _write_bundle(layer: bytes, bundle: str) -> int:
    """Unpack the busybox layer as an OCI bundle for minidock-runtime."""
    import io

    from minidock.images import layers
    from minidock.runtime.config import default_config

    rootfs = os.path.join(bundle, "rootfs")
    if os.path.exists(rootfs):
        raise MinidockError(f"{rootfs} already exists: remove it or choose another --bundle")
    os.makedirs(rootfs)
    layers.unpack(io.BytesIO(layer), rootfs)
    with open(os.path.join(bundle, "config.json"), "w") as file:
        json.dump(default_config(), file, indent=2)
    print(f"wrote an OCI bundle of busybox:latest to {bundle}")
    return 0


# -- the parsers -----------------------------------------------------------------------------------

def _ls_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", nargs="?", help="only the images of this REPOSITORY[:TAG]")
    parser.add_argument("-a", "--all", action="store_true", help="show all images (the default here)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    parser.add_argument("--digests", action="store_true", help="show digests")
    parser.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    parser.add_argument("-f", "--filter", action="append", default=[], help="filter (dangling=true, ...)")
    parser.add_argument("--format", help="Go-template subset, e.g. '{{.Repository}}:{{.Tag}}'")
    parser.set_defaults(handler=cmd_images)


def _add(verbs, names: list[str], help: str, setup) -> None:
    """The same command under several names (`image ls`, `images`)."""
    for name in names:
        setup(verbs.add_parser(name, help=help))


def add_parsers(verbs, only: str | None = None) -> None:
    """Add the image verbs to the top-level subparsers ``verbs``. ``only``: ignored, all are built (they are few)."""
    image = verbs.add_parser("image", help="manage images").add_subparsers(dest="image_verb", required=True)

    boot = image.add_parser("bootstrap", help="build an embedded image: busybox (no network) or debian")
    boot.add_argument("name", help="busybox, or debian (debootstrap from the host's apt mirror)")
    boot.add_argument("--suite", default="bookworm", help="debian only: the release (default bookworm)")
    boot.add_argument("--mirror", help="debian only: the mirror (default: the host's apt sources)")
    where = boot.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help="write the image archive here instead of loading it")
    where.add_argument("--bundle", help="unpack it as an OCI bundle for minidock-runtime")
    boot.set_defaults(handler=cmd_image_bootstrap)

    _add(image, ["ls", "list"], "list images", _ls_parser)
    _ls_parser(verbs.add_parser("images", help="list images"))

    def inspect_parser(parser):
        parser.add_argument("names", nargs="+", metavar="IMAGE")
        parser.add_argument("-f", "--format", help="Go-template subset, e.g. '{{.Id}}'")
        parser.set_defaults(handler=cmd_inspect)
    inspect_parser(image.add_parser("inspect", help="show images in detail"))

    def history_parser(parser):
        parser.add_argument("name", metavar="IMAGE")
        parser.add_argument("-H", "--human", type=lambda v: v.lower() != "false", default=True,
                            help="sizes and dates for humans (default true)")
        parser.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
        parser.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        parser.add_argument("--format", help="Go-template subset")
        parser.set_defaults(handler=cmd_history)
    for verbs_here in (image, verbs):
        history_parser(verbs_here.add_parser("history", help="show the history of an image"))

    def tag_parser(parser):
        parser.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
        parser.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
        parser.set_defaults(handler=cmd_tag)
    tag_parser(image.add_parser("tag", help="name an image"))
    tag_parser(verbs.add_parser("tag", help="name an image"))

    def rm_parser(parser):
        parser.add_argument("names", nargs="+", metavar="IMAGE")
        parser.add_argument("-f", "--force", action="store_true", help="force removal")
        parser.add_argument("--no-prune", action="store_true", help="(accepted; layers are shared anyway)")
        parser.set_defaults(handler=cmd_rmi)
    _add(image, ["rm", "remove"], "remove images", rm_parser)
    rm_parser(verbs.add_parser("rmi", help="remove images"))

    prune = image.add_parser("prune", help="remove unused images")
    prune.add_argument("-a", "--all", action="store_true", help="all unused images, not just dangling ones")
    prune.add_argument("-f", "--force", action="store_true", help="do not prompt")
    prune.add_argument("--filter", action="append", default=[], help="label=KEY[=VALUE]")
    prune.set_defaults(handler=cmd_prune)

    def save_parser(parser):
        parser.add_argument("names", nargs="+", metavar="IMAGE")
        parser.add_argument("-o", "--output", help="write to a file instead of stdout")
        parser.set_defaults(handler=cmd_save)

    def load_parser(parser):
        parser.add_argument("-i", "--input", help="read from a tar file instead of stdin")
        parser.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
        parser.set_defaults(handler=cmd_load)

    def import_parser(parser):
        parser.add_argument("file", metavar="file|-")
        parser.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
        parser.add_argument("-c", "--change", action="append", default=[],
                            help="a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, ...")
        parser.add_argument("-m", "--message", default="", help="the commit message")
        parser.set_defaults(handler=cmd_import)

    for name, help, setup in (("save", "save images to a tar archive", save_parser),
                              ("load", "load images from a tar archive", load_parser),
                              ("import", "import a root filesystem tar as an image", import_parser)):
        setup(image.add_parser(name, help=help))
        setup(verbs.add_parser(name, help=help))
