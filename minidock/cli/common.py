"""What every CLI verb shares: the client for -H, tables, Docker's time and size words.

Explained:  chapters/05-engine.md#the-cli

    client(args) -> Client            the daemon chosen by -H / MINIDOCK_HOST
    table(rows, headers) -> str       columns padded as the docker CLI pads them (3 spaces)
    ago(seconds) -> "2 minutes ago"   human_size(bytes) -> "4.26MB" (Docker's units: powers of 1000)

Rules: nothing heavy is imported here; the CLI must start fast.
"""

from __future__ import annotations

import argparse


def client(args: argparse.Namespace):
    """The API client for the daemon the user chose."""
    from minidock.engine.client import Client

    return Client(args.host)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns, three spaces apart, the last one unpadded (docker's tabwriter)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(cell))) for w, cell in zip(widths, row)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths)] + [str(row[-1])]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def ago(seconds: float) -> str:
    """Docker's go-units HumanDuration, followed by "ago"."""
    return f"{human_duration(seconds)} ago"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours", ..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def human_size(size: float) -> str:
    """go-units HumanSize: powers of 1000, up to 4 significant digits ("4.26MB", "0B")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    return f"{size:.4g}{units[index]}"
