"""Reading a container's output off the wire: attach and logs, with or without a TTY.

Implements: spec/engine.md ENGINE-CLI-011, ENGINE-CLI-017
Explained:  chapters/05-engine.md#the-cli
Modelled on: moby's pkg/stdcopy (StdCopy) and docker/cli's hijack.go

    copy_output(stream, tty, out, err)     demultiplex 8-byte frames, or copy a TTY's raw bytes
    parse_timestamp("10m") -> "1700000000" docker's --since/--until values, as the API wants them

    frame: [stream 1=stdout 2=stderr 3=systemerr, 0, 0, 0, length uint32 big-endian] payload

Rules: output is written and flushed frame by frame, so `logs -f` and `run` show each
line as it comes; a stream that ends in the middle of a frame is an error, as in StdCopy.
"""

from __future__ import annotations

import datetime
import re
import struct
import time
from typing import BinaryIO

from minidock.errors import InvalidArgument, MinidockError

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def copy_output(stream: BinaryIO, tty: bool, out: BinaryIO, err: BinaryIO) -> None:
    """Copy a container's output stream to ``out`` and ``err`` until it ends."""
    if tty:
        # a TTY merges both streams: the bytes come as the terminal wrote them
        read = getattr(stream, "read1", stream.read)
        while chunk := read(65536):
            out.write(chunk)
            out.flush()
        return
    while True:
        header = _read_exactly(stream, 8)
        if not header:
            return
        if len(header) < 8:
            raise MinidockError("Unrecognized input header: the stream ended inside a frame")
        kind, length = header[0], struct.unpack(">I", header[4:])[0]
        payload = _read_exactly(stream, length)
        if kind == 3:
            # systemerr: the daemon's own error, not the container's output
            raise MinidockError(f"error from daemon in stream: {payload.decode(errors='replace')}")
        if kind not in (0, 1, 2):
            raise MinidockError(f"Unrecognized input header: {kind}")
        target = err if kind == 2 else out
        target.write(payload)
        target.flush()
        if len(payload) < length:
            return


def _go_duration(text: str) -> float | None:
    """Seconds of a Go duration ("1h30m", "10s"), or None if it is not one."""
    if not text or _DURATION.sub("", text) != "":
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION.findall(text))


def parse_timestamp(value: str, now: float | None = None) -> str:
    """docker's timetypes.GetTimestamp: a duration ago, an RFC 3339 time, or epoch seconds."""
    now = time.time() if now is None else now
    seconds = _go_duration(value) if value != "0" else None
    if seconds is not None:
        return str(int(now - seconds))
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value  # already what the API takes
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # docker reads a time without a zone as local time
    stamp = moment.timestamp()
    return f"{int(stamp)}.{int(round((stamp % 1) * 1e9)):09d}"
