"""`minidock ps` and `minidock inspect`: what the daemon knows, in Docker's columns and formats.

Implements: spec/engine.md ENGINE-CLI-014, ENGINE-CLI-015, ENGINE-CLI-016
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/formatter (ContainerContext, tabwriter) and
             cli/command/inspect (container first, then image)

    cmd_ps(args)        GET /containers/json -> a table, IDs (-q), or a --format per row
    cmd_inspect(args)   GET /containers/{name}/json, else /images/{name}/json -> JSON or --format
    tabwrite(lines, minwidth, padding)   Go's tabwriter for cells split by "\\t"
    ps_row(summary, trunc) -> dict       the fields a ps template sees (.ID, .Names, ...)

Rules: a row's fields are strings computed as docker's ContainerContext computes
them (ID cut at 12, the command quoted and cut at 20 with "…", "2 minutes ago").
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from minidock.cli.common import ago
from minidock.cli.common import client as _client
from minidock.errors import NotFound

PS_DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS", "State": "STATE",
              "Ports": "PORTS", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "Size": "SIZE", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM"}


def tabwrite(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Align "\\t"-separated cells as Go's tabwriter.NewWriter(w, minwidth, 1, padding, ' ', 0)."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for index, cell in enumerate(row[:-1]):  # the text after the last tab is no cell
            widths[index] = max(widths.get(index, 0), len(cell))
    out = []
    for row in rows:
        cells = [cell.ljust(max(minwidth, widths[i] + padding)) for i, cell in enumerate(row[:-1])]
        out.append("".join(cells) + row[-1])
    return "\n".join(out)


def ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to ``width`` characters, the last one "…"."""
    return text if len(text) <= width else text[:width - 1] + "…"


class Row(dict):
    """The fields a `ps --format` template sees; `{{.Label "k"}}` is a method, as in docker."""

    def get(self, key, default=None):
        if key == "Label":
            labels = self.labels
            return lambda name: labels.get(name, "")
        return super().get(key, default)


def _image(summary: dict, trunc: bool) -> str:
    image = summary.get("Image") or ""
    if not image:
        return "<no image>"
    if trunc:
        if image.startswith("sha256:"):
            return image[7:19]
        image = image.split("@", 1)[0] or image
    return image


def ps_row(summary: dict, trunc: bool = True, now: float | None = None) -> Row:
    """One container of GET /containers/json as docker's ContainerContext shows it."""
    now = time.time() if now is None else now
    names = [name.lstrip("/") for name in summary.get("Names") or []]
    if trunc:
        names = [name for name in names if "/" not in name][:1] or names[:1]
    command = summary.get("Command") or ""
    created = summary.get("Created") or 0
    labels = summary.get("Labels") or {}
    ports = ", ".join(_port(p) for p in summary.get("Ports") or [])
    row = Row({
        "Command": json.dumps(ellipsis(command, 20) if trunc else command, ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "ID": summary["Id"][:12] if trunc else summary["Id"],
        "Image": _image(summary, trunc),
        "Labels": ",".join(f"{key}={value}" for key, value in sorted(labels.items())),
        "LocalVolumes": str(sum(1 for m in summary.get("Mounts") or [] if m.get("Driver") == "local")),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in summary.get("Mounts") or []),
        "Names": ",".join(names),
        "Networks": ",".join(sorted(((summary.get("NetworkSettings") or {}).get("Networks") or {}))),
        "Platform": None,
        "Ports": ports,
        "RunningFor": ago(max(0.0, now - created)),
        "Size": "0B",
        "State": summary.get("State", ""),
        "Status": summary.get("Status", ""),
    })
    row.labels = labels
    return row


def _port(port: dict) -> str:
    private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
    if port.get("PublicPort"):
        return f"{port.get('IP', '0.0.0.0')}:{port['PublicPort']}->{private}"
    return private


def _ps_format(args: argparse.Namespace) -> str:
    if args.quiet:
        return "{{.ID}}"
    if args.format in (None, "", "table"):
        return PS_DEFAULT
    if args.format == "json":
        return "{{json .}}"
    return args.format


def cmd_ps(args: argparse.Namespace) -> int:
    """List containers, as `docker ps` does."""
    from urllib.parse import urlencode

    from minidock.cli.template import Template, TemplateError

    filters: dict[str, dict[str, bool]] = {}
    for entry in args.filter:
        key, sep, value = entry.partition("=")
        if not sep:
            print(f'invalid argument "{entry}" for "-f, --filter" flag: bad format of filter (expected name=value)',
                  file=sys.stderr)
            return 125
        filters.setdefault(key, {})[value] = True
    query: dict[str, str] = {}
    if args.all or args.latest or args.last != -1:
        query["all"] = "1"
    limit = 1 if args.latest else args.last
    if limit > 0:
        query["limit"] = str(limit)
    if filters:
        query["filters"] = json.dumps(filters)
    form = _ps_format(args)
    is_table = form.startswith("table")
    # docker's formatter: "table" off, spaces trimmed, and \t, \n typed in a shell made real
    body = (form[len("table"):] if is_table else form).strip(" ")
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    header = Row(PS_HEADERS)
    header.labels = {}
    try:
        template = Template(body)
        header_line = template.execute(header)  # as docker, a template that cannot run fails at once
    except TemplateError as error:
        print(f"failed to execute template: {error}", file=sys.stderr)
        return 1
    path = "/containers/json" + (f"?{urlencode(query)}" if query else "")
    summaries = _client(args).json("GET", path)
    lines = []
    if is_table:
        lines.append(header_line)
    now = time.time()
    for summary in summaries:
        try:
            lines.append(template.execute(ps_row(summary, trunc=not args.no_trunc, now=now)))
        except TemplateError as error:
            print(f"failed to execute template: {error}", file=sys.stderr)
            return 1
    if lines:
        print(tabwrite(lines) if is_table else "\n".join(lines))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the daemon's JSON for each object (container first, then image), or a --format of it."""
    from urllib.parse import quote

    from minidock.cli.template import Template, TemplateError

    template = None
    if args.format:
        try:
            template = Template("{{json .}}" if args.format == "json" else args.format)
        except TemplateError as error:
            print(f"template parsing error: {error}", file=sys.stderr)
            return 64  # docker's status for a template that does not parse
    api = _client(args)
    found, status = [], 0
    for name in args.names:
        document = None
        kinds = [args.type] if args.type else ["container", "image", "volume"]
        for kind in kinds:
            path = {"container": f"/containers/{quote(name, safe='')}/json",
                    "image": f"/images/{quote(name, safe='/:@')}/json",
                    "volume": f"/volumes/{quote(name, safe='')}"}[kind]
            try:
                document = api.json("GET", path)
                break
            except NotFound:
                continue
        if document is None:
            word = args.type or "object"
            print(f"Error: No such {word}: {name}", file=sys.stderr)
            status = 1
            continue
        found.append(document)
    if template is None:
        print(json.dumps(found, indent=4, ensure_ascii=False))
        return status
    for document in found:
        try:
            print(template.execute(document))
        except TemplateError as error:
            print(f"template parsing error: {error}", file=sys.stderr)  # docker's words, though it ran
            return 1
    return status


def add_ps_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    parser.add_argument("-l", "--latest", action="store_true", help="show the latest created container")
    parser.add_argument("-n", "--last", type=int, default=-1, help="show n last created containers")
    parser.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    parser.add_argument("-f", "--filter", action="append", default=[], help="filter output (key=value)")
    parser.add_argument("--format", help="'table', 'table TEMPLATE', 'json' or a Go template")
    parser.add_argument("-s", "--size", action="store_true", help="display total file sizes (not computed yet)")
    parser.set_defaults(handler=cmd_ps)


def add_inspect_flags(parser: argparse.ArgumentParser, kind: str | None = None) -> None:
    parser.add_argument("-f", "--format", help="format the output using a Go template, or 'json'")
    parser.add_argument("-s", "--size", action="store_true", help="display total file sizes (ignored)")
    if kind is None:
        parser.add_argument("--type", choices=("container", "image", "volume"), help="only inspect this type of object")
    else:
        parser.set_defaults(type=kind)
    parser.add_argument("names", nargs="+", metavar="NAME", help="containers or images")
    parser.set_defaults(handler=cmd_inspect)

