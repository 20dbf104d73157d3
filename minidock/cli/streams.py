"""A container's streams on the wire: output (attach, logs, exec), and our input with -i and -t.

Implements: spec/engine.md ENGINE-CLI-011, ENGINE-CLI-017, ENGINE-CLI-021 .. ENGINE-CLI-023
Explained:  chapters/05-engine.md#the-cli
Modelled on: moby's pkg/stdcopy (StdCopy), docker/cli's hijack.go and tty.go, moby/term (MakeRaw)

    copy_output(stream, tty, out, err)     demultiplex 8-byte frames, or copy a TTY's raw bytes
    converse(connection, tty, stdin, resize, detach_ends) -> detached?
                                           run -i/-it, start -ai, attach, exec -i/-it
    parse_timestamp("10m") -> "1700000000" docker's --since/--until values, as the API wants them

    frame: [stream 1=stdout 2=stderr 3=systemerr, 0, 0, 0, length uint32 big-endian] payload

    our stdin ──thread──▶ connection ──▶ the container's stdin     (EOF: shutdown(SHUT_WR), no TTY)
    our stdout ◀─────────  connection ◀── the container's output   (main thread, until the end)
    with -t: our terminal raw (restored in any case), its size sent now and on SIGWINCH

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
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q, docker's default detach sequence


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


class _Input:
    """Our stdin to the connection, on a thread of its own; notes a detach sequence."""

    def __init__(self, connection, tty: bool, detach_ends: bool, fd: int = 0, keys: bytes = DETACH_KEYS) -> None:
        self.connection, self.tty, self.detach_ends, self.fd = connection, tty, detach_ends, fd
        self.keys = keys  # --detach-keys (ENGINE-TTY-005)
        self.detached = False

    def start(self) -> None:
        import threading  # here: only the interactive verbs need it

        threading.Thread(target=self._copy, name="stdin", daemon=True).start()

    def _copy(self) -> None:
        import os

        held = b""
        try:
            while chunk := os.read(self.fd, 32768):
                data, held = held + chunk, b""
                if self.tty:
                    at = data.find(self.keys)
                    if at >= 0:
                        self._detach(data, at)
                        return
                    for size in range(len(self.keys) - 1, 0, -1):
                        if data.endswith(self.keys[:size]):
                            # held back until the next key, so the sequence is never split across
                            # two sends (the daemon looks for it within one chunk), as moby/term does
                            data, held = data[:-size], data[-size:]
                            break
                if data:
                    self.connection.send(data)
            if held:
                self.connection.send(held)
            if not self.tty:
                self.connection.close_write()  # [ENGINE-CLI-021] our EOF is the container's
        except OSError:
            pass  # the container has gone, and the connection with it

    def _detach(self, data: bytes, at: int) -> None:
        self.detached = True
        if self.detach_ends:
            # an exec's stream knows no detach keys: we leave, as the docker CLI does
            self.connection.send(data[:at])
            self.connection.abort()
        else:
            # [ENGINE-CLI-023] the daemon sees the keys, ends the stream; the container goes on
            self.connection.send(data[:at + len(self.keys)])


class _FirstBytes:
    """A stream that calls ``then()`` once, when its first bytes have come."""

    def __init__(self, stream, then) -> None:
        self.stream, self.then = stream, then

    def read(self, size: int = -1) -> bytes:
        return self._seen(self.stream.read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._seen(self.stream.read1(size))

    def _seen(self, data: bytes) -> bytes:
        if data and self.then is not None:
            then, self.then = self.then, None
            then()
        return data


def _follow_window(resize) -> object:
    """Send our terminal's size now and on every SIGWINCH; return the previous handler."""
    import os
    import signal

    def send(*_ignored) -> None:
        try:
            size = os.get_terminal_size(1)
        except OSError:
            return
        try:
            resize(size.lines, size.columns)
        except MinidockError:
            pass  # the container or the exec has just ended

    send()
    return signal.signal(signal.SIGWINCH, send), send


def converse(connection, tty: bool, stdin: bool, resize=None, detach_ends: bool = False,
             out: BinaryIO | None = None, err: BinaryIO | None = None, keys: bytes = DETACH_KEYS) -> bool:
    """Our stdin to ``connection`` (when ``stdin``), its output to ours, until the stream ends.

    With ``tty``: our terminal in raw mode while the stream lasts (keys go to the
    container's terminal as typed, Ctrl-C included), and, when our stdout is a terminal,
    ``resize(rows, columns)`` now, once the first output comes (an exec's terminal exists
    only once its process runs) and on every SIGWINCH. Returns True if the user detached
    with the detach ``keys`` (ctrl-p ctrl-q unless --detach-keys).
    """
    import os
    import sys

    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    pump = _Input(connection, tty, detach_ends, keys=keys) if stdin else None
    saved = None
    window = None
    try:
        if tty and stdin and os.isatty(0):
            import termios
            import tty as terminal

            saved = termios.tcgetattr(0)
            terminal.setraw(0, termios.TCSANOW)  # moby/term's MakeRaw: no echo, no signals, bytes as typed
        if tty and resize is not None and os.isatty(1):
            window = _follow_window(resize)
            connection = _FirstBytes(connection, window[1])
        if pump is not None:
            pump.start()
        copy_output(connection, tty, out, err)
    finally:
        if window is not None:
            import signal

            signal.signal(signal.SIGWINCH, window[0])
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)  # restored whatever happened
    return pump is not None and pump.detached


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
