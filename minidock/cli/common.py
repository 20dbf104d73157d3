"""What every CLI verb shares: the client for -H, tables, Docker's time and size words.

Explained:  chapters/05-engine.md#the-cli

    client(args) -> Client            the daemon chosen by -H / MINIDOCK_HOST
    table(rows, headers) -> str       columns padded as the docker CLI pads them (3 spaces)
    ago(seconds) -> "2 minutes ago"   human_size(bytes) -> "4.26MB" (Docker's units: powers of 1000)

Rules: nothing heavy is imported here; the CLI must start fast.
"""

from __future__ import annotations

import argparse

from minidock.engine.timefmt import human_duration, human_size  # noqa: F401 - the CLI's words too


def client(args: argparse.Namespace):
    """The API client for the daemon the user chose (-H, and --tls/--tlsverify for TCP)."""
    from minidock.engine.client import Client

    return Client(args.host, tls=tls_options(args))


def tls_options(args: argparse.Namespace):
    """The docker CLI's TLS rules: --tlsverify checks the daemon against the CA; --tls alone
    encrypts without checking; our certificate and key are sent when they exist."""
    import os

    from minidock.engine.http1 import TLSOptions

    verify = bool(getattr(args, "tlsverify", False))
    if not (verify or getattr(args, "tls", False)):
        return None
    folder = os.environ.get("MINIDOCK_CERT_PATH") or os.path.expanduser("~/.minidock")

    def file(given: str | None, name: str) -> str | None:
        path = given or os.path.join(folder, name)
        return path if given or os.path.exists(path) else None

    return TLSOptions(ca=file(args.tlscacert, "ca.pem") if verify else None,
                      cert=file(args.tlscert, "cert.pem"), key=file(args.tlskey, "key.pem"), verify=verify)


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
