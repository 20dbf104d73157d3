"""Container output: the json-file log the monitor writes, read back and framed for the API.

Implements: spec/engine.md ENGINE-LOG-001 .. ENGINE-LOG-004
Explained:  chapters/05-engine.md#logs-and-attach
Modelled on: moby's daemon/logger/jsonfilelog (reader) and pkg/stdcopy (framing)

    {"log": "hi\\n", "stream": "stdout", "time": "2026-12-01T21:00:00.123Z"}   one line per record

    Record(stream, data, time)
    read(path, offset) -> ([Record], next offset)     whole lines only (read_open: from an open file)
    select(records, since, until, tail)               what `logs --since --until --tail` keep
    frame(stream, data) -> bytes                       stdcopy: [stream, 0, 0, 0, len uint32 BE] + data
    render(record, tty, timestamps) -> bytes           framed without a TTY, raw with one

Rules: the reader never blocks the event loop for long (a read is one chunk);
a line the monitor is still writing is left for the next read.
"""

from __future__ import annotations

import dataclasses
import json
import struct

from minidock.engine.container import parse_time

STREAMS = {"stdin": 0, "stdout": 1, "stderr": 2}


@dataclasses.dataclass(frozen=True)
class Record:
    stream: str
    data: bytes
    time: str


def read(path: str, offset: int = 0, limit: int = 1 << 20) -> tuple[list[Record], int]:
    """The whole records from ``offset`` on (at most ``limit`` bytes); the offset after them."""
    try:
        with open(path, "rb") as file:
            return read_open(file, offset, limit)
    except FileNotFoundError:
        return [], offset


def read_open(file, offset: int, limit: int = 1 << 20) -> tuple[list[Record], int]:
    """read() from a file already open: a follower keeps its descriptor, so it reads to the
    end even after `run --rm` has removed the container and unlinked the log."""
    file.seek(offset)
    chunk = file.read(limit)
    end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next read
    records = []
    for line in chunk[:end].splitlines():
        try:
            entry = json.loads(line)
            records.append(Record(entry["stream"], entry["log"].encode(), entry["time"]))
        except (ValueError, KeyError, TypeError):
            continue  # a damaged line is skipped, as dockerd's reader does
    return records, offset + end


def read_all(path: str) -> list[Record]:
    records, offset = [], 0
    while True:
        more, after = read(path, offset)
        if after == offset:
            return records
        records.extend(more)
        offset = after


def select(records: list[Record], since: float = 0, until: float = 0, tail: int | None = None) -> list[Record]:
    """Keep records after ``since`` and before ``until`` (epoch seconds), then the last ``tail``."""
    # lab 05: begin: keep the records after since and up to until (0: no bound), then the last tail of them
    kept = [r for r in records
            if (not since or parse_time(r.time) > since) and (not until or parse_time(r.time) <= until)]
    if tail is not None:
        kept = kept[-tail:] if tail > 0 else []
    return kept
    # lab 05: end


def frame(stream: str, data: bytes) -> bytes:
    """One stdcopy frame: the header the docker CLI demultiplexes by, then the bytes."""
    # lab 05: begin: return the 8-byte stdcopy header of this stream and length, then the data
    # [ENGINE-LOG-002] 1 byte stream, 3 zero bytes, 4 bytes big-endian length
    return struct.pack(">BxxxI", STREAMS[stream], len(data)) + data
    # lab 05: end


def render(record: Record, tty: bool, timestamps: bool = False) -> bytes:
    """A record as the API sends it: raw with a TTY, framed without."""
    data = (record.time.encode() + b" " + record.data) if timestamps else record.data
    return data if tty else frame(record.stream, data)


def parse_since(value: str | None) -> float:
    """A `--since`/`--until` value as the CLI sends it: epoch seconds, maybe with nanoseconds."""
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        from minidock.errors import InvalidArgument

        raise InvalidArgument(f"invalid value for since/until: {value!r}") from None
