"""`minidock events`: the daemon's events as they happen, as `docker events` prints them.

Implements: spec/engine.md ENGINE-EVT-001
Explained:  chapters/05-engine.md#events
Modelled on: docker/cli's cli/command/system/events.go

    2026-12-01T22:40:00.123456789Z container start 1b08b1... (image=busybox, name=web)
"""

from __future__ import annotations

import argparse
import datetime
import json
import urllib.parse

from minidock.cli.common import client


def _when(value: str | None) -> str | None:
    """--since/--until: epoch seconds, or an RFC 3339 time, or a duration like 10m (before now)."""
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return value
    units = {"s": 1, "m": 60, "h": 3600}
    if value[-1] in units and value[:-1].isdigit():
        now = datetime.datetime.now(datetime.timezone.utc).timestamp()
        return f"{now - int(value[:-1]) * units[value[-1]]:.3f}"
    stamp = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{stamp.timestamp():.3f}"


def line(event: dict) -> str:
    """One event in docker's default format."""
    stamp = datetime.datetime.fromtimestamp(event["timeNano"] // 10**9, datetime.timezone.utc)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{event['timeNano'] % 10**9:09d}Z"
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(event["Actor"]["Attributes"].items()))
    return f"{when} {event['Type']} {event['Action']} {event['Actor']['ID']}" + (f" ({attributes})" if attributes else "")


def cmd_events(args: argparse.Namespace) -> int:
    query = {}
    for name in ("since", "until"):
        value = _when(getattr(args, name))
        if value:
            query[name] = value
    filters: dict[str, list[str]] = {}
    for entry in args.filter:
        key, _, value = entry.partition("=")
        filters.setdefault(key, []).append(value)
    if filters:
        query["filters"] = json.dumps(filters)
    response = client(args).stream("GET", "/events?" + urllib.parse.urlencode(query))
    try:
        for raw in response:
            event = json.loads(raw)
            if args.format:
                from minidock.cli.template import render

                print(render(args.format, event), flush=True)
            else:
                print(line(event), flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        response.close()
    return 0


def add_parsers(verbs, only: str | None = None) -> None:
    """Add this topic's verbs; ``only`` (the command line's verb) is ignored: they are few."""
    events = verbs.add_parser("events", help="show the daemon's events as they happen")
    events.add_argument("--since", help="show events since this time (epoch, RFC 3339, or 10m)")
    events.add_argument("--until", help="stop at this time")
    events.add_argument("-f", "--filter", action="append", default=[], help="key=value (type, event, container, image, label)")
    events.add_argument("--format", help="a Go template for each event")
    events.set_defaults(handler=cmd_events)
