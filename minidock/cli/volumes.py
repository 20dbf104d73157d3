"""`minidock volume create | ls | inspect | rm | prune`: Docker's volume verbs.

Implements: spec/volumes.md VOL-001, VOL-017
Explained:  chapters/06-volumes.md#the-cli
Modelled on: docker/cli's cli/command/volume (create.go, list.go, inspect.go, remove.go, prune.go)
             and its formatter.VolumeContext

    volume create [-d DRIVER] [-o KEY=VALUE]... [--label KEY=VALUE]... [NAME]   prints the name
    volume ls [-q] [-f KEY=VALUE]... [--format T]    DRIVER and VOLUME NAME, sorted by name
    volume inspect [-f T] NAME...                    a JSON array, or the template per volume
    volume rm [-f] NAME...                           prints each name removed
    volume prune [-f] [--filter label=...]           asks first, then lists what went

Rules: every word the user reads is docker's (the table's headers, the prune warning
for API 1.41, "Total reclaimed space").
"""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import quote, urlencode

from minidock.cli.common import client, human_size
from minidock.errors import MinidockError

LS_DEFAULT = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
              "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Availability": "AVAILABILITY",
              "Group": "GROUP", "Status": "STATUS"}
PRUNE_WARNING = "WARNING! This will remove all local volumes not used by at least one container."


def _pairs(entries: list[str], flag: str) -> dict[str, str]:
    """KEY=VALUE words (a bare KEY is KEY= for labels, refused for options as docker's opts do)."""
    out: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep and flag == "--opt":
            raise _Usage(f'invalid argument "{entry}" for "-o, --opt" flag: bad format for option, '
                         "expected key=value")
        out[key] = value
    return out


class _Usage(Exception):
    """A flag error: docker prints it and exits 125."""


def _filters(entries: list[str]) -> str:
    filters: dict[str, dict[str, bool]] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep:
            raise _Usage(f'invalid argument "{entry}" for "-f, --filter" flag: bad format of filter '
                         "(expected name=value)")
        filters.setdefault(key, {})[value] = True
    return json.dumps(filters) if filters else ""


def _error(error: MinidockError) -> None:
    prefix = "Error response from daemon: " if getattr(error, "from_daemon", False) else ""
    print(f"{prefix}{error.message}", file=sys.stderr, flush=True)


def cmd_create(args: argparse.Namespace) -> int:
    if args.name and args.positional and args.name != args.positional:
        print("conflicting options: cannot specify a volume-name through both --name and as a positional arg",
              file=sys.stderr)
        return 1
    body = {"Name": args.name or args.positional or "", "Driver": args.driver,
            "DriverOpts": _pairs(args.opt, "--opt"), "Labels": _pairs(args.label, "--label")}
    volume = client(args).json("POST", "/volumes/create", body)
    print(volume["Name"])
    return 0


def ls_row(volume: dict):
    """The fields a `volume ls --format` template sees (docker's VolumeContext)."""
    from minidock.cli.container_list import Row

    labels = volume.get("Labels") or {}
    usage = volume.get("UsageData") or {}
    row = Row({"Name": volume["Name"], "Driver": volume["Driver"], "Scope": volume.get("Scope", "local"),
               "Mountpoint": volume.get("Mountpoint", ""),
               "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
               "Links": str(usage["RefCount"]) if "RefCount" in usage else "N/A",
               "Size": human_size(usage["Size"]) if usage.get("Size", -1) >= 0 else "N/A",
               "Availability": "N/A", "Group": "N/A", "Status": "N/A"})
    row.labels = labels
    return row


def cmd_ls(args: argparse.Namespace) -> int:
    from minidock.cli.template import TemplateError

    query = {"filters": _filters(args.filter)} if args.filter else {}
    listed = client(args).json("GET", "/volumes" + (f"?{urlencode(query)}" if query.get("filters") else ""))
    volumes = sorted(listed.get("Volumes") or [], key=lambda v: v["Name"])
    form = "{{.Name}}" if args.quiet else ("{{json .}}" if args.format == "json" else (args.format or LS_DEFAULT))
    try:
        text = _render(LS_DEFAULT if form == "table" else form, [ls_row(volume) for volume in volumes])
    except TemplateError as error:
        print(f"failed to execute template: {error}", file=sys.stderr)
        return 1
    if text:
        print(text)
    return 0


def _render(form: str, rows: list) -> str:
    """docker's formatter: a "table" form gets the header row and Go's tabwriter columns."""
    from minidock.cli.container_list import Row, tabwrite
    from minidock.cli.template import Template

    is_table = form.startswith("table")
    template = Template((form[len("table"):] if is_table else form).strip(" ").replace("\\t", "\t")
                        .replace("\\n", "\n"))
    header = Row(LS_HEADERS)
    header.labels = {}
    lines = [template.execute(row) for row in ([header] if is_table else []) + rows]
    return tabwrite(lines) if is_table else "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    from minidock.cli.template import Template, TemplateError

    api, found, status = client(args), [], 0
    for name in args.names:
        try:
            found.append(api.json("GET", f"/volumes/{quote(name, safe='')}"))
        except MinidockError as error:
            _error(error)
            status = 1
    if not args.format:
        print(json.dumps(found, indent=4, ensure_ascii=False))
        return status
    try:
        template = Template("{{json .}}" if args.format == "json" else args.format)
        for volume in found:
            print(template.execute(volume))
    except TemplateError as error:
        print(f"template parsing error: {error}", file=sys.stderr)
        return 1
    return status


def cmd_rm(args: argparse.Namespace) -> int:
    api, status = client(args), 0
    for name in args.names:
        try:
            api.json("DELETE", f"/volumes/{quote(name, safe='')}" + ("?force=1" if args.force else ""))
            print(name, flush=True)
        except MinidockError as error:
            _error(error)
            status = 1
    return status


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        print(PRUNE_WARNING)
        sys.stdout.write("Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    filters = _filters(args.filter)
    report = client(args).json("POST", "/volumes/prune" + (f"?{urlencode({'filters': filters})}" if filters else ""))
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        print("Deleted Volumes:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")
    return 0


def _usage_errors(handler):
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _Usage as error:
            print(f"{error}\nSee 'minidock volume {args.volume_verb} --help'.", file=sys.stderr)
            return 125
    return run


def add_parsers(verbs, only: str | None = None) -> None:
    """The `volume` group (docker has no top-level aliases for it)."""
    if only not in (None, "volume"):
        return
    group = verbs.add_parser("volume", help="manage volumes")
    sub = group.add_subparsers(dest="volume_verb", required=True, metavar="COMMAND")
    create = sub.add_parser("create", help="create a volume")
    create.add_argument("positional", nargs="?", metavar="VOLUME")
    create.add_argument("--name", help="the volume's name (or give it as the argument)")
    create.add_argument("-d", "--driver", default="local", help="the volume driver's name")
    create.add_argument("-o", "--opt", action="append", default=[], help="driver specific options")
    create.add_argument("--label", action="append", default=[], help="set metadata for a volume")
    create.set_defaults(handler=_usage_errors(cmd_create))
    ls = sub.add_parser("ls", aliases=["list"], help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    ls.add_argument("-f", "--filter", action="append", default=[], help="filter output (dangling, name, label, driver)")
    ls.add_argument("--format", help="'table', 'table TEMPLATE', 'json' or a Go template")
    ls.set_defaults(handler=_usage_errors(cmd_ls))
    inspect = sub.add_parser("inspect", help="display detailed information on one or more volumes")
    inspect.add_argument("names", nargs="+", metavar="VOLUME")
    inspect.add_argument("-f", "--format", help="format the output using a Go template, or 'json'")
    inspect.set_defaults(handler=_usage_errors(cmd_inspect))
    rm = sub.add_parser("rm", aliases=["remove"], help="remove one or more volumes")
    rm.add_argument("names", nargs="+", metavar="VOLUME")
    rm.add_argument("-f", "--force", action="store_true", help="force the removal of one or more volumes")
    rm.set_defaults(handler=_usage_errors(cmd_rm))
    prune = sub.add_parser("prune", help="remove unused local volumes")
    prune.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    prune.add_argument("--filter", action="append", default=[], help="provide filter values (label=...)")
    prune.set_defaults(handler=_usage_errors(cmd_prune))
