"""The start pipe from init's side: the filter, however it arrives, then the start byte.

The monitor writes init's seccomp filter (a 4-byte length, then the program) once init
is ready, and the start byte when the container starts (minidock/runtime/init.py,
Protocol). A write of more than 4 KiB to a pipe may reach the reader in parts, and a
monitor that dies must mean that init never starts.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from minidock.runtime import init


def _write_slowly(fd: int, parts: list[bytes]) -> None:
    for part in parts:
        os.write(fd, part)
        time.sleep(0.05)


@pytest.mark.spec("RT-SEC-024")
def test_a_filter_that_arrives_in_parts_is_read_whole():
    program = bytes(range(256)) * 40  # 10 KiB: more than one write(2) to a pipe is sure to deliver
    message = len(program).to_bytes(4, "little") + program
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=_write_slowly,
                              args=(write_end, [message[:2], message[2:4000], message[4000:], b"\x01"]))
    writer.start()
    try:
        assert init._read_filter(read_end) == program
        assert os.read(read_end, 1) == b"\x01"  # the start byte, still in the pipe behind it
    finally:
        writer.join()
        os.close(read_end)
        os.close(write_end)


@pytest.mark.spec("RT-SEC-024")
def test_no_filter_is_an_empty_program():
    read_end, write_end = os.pipe()
    os.write(write_end, (0).to_bytes(4, "little"))
    try:
        assert init._read_filter(read_end) == b""
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.spec("RT-STATE-002")
@pytest.mark.parametrize("sent", [b"", b"\x10\x00", (16).to_bytes(4, "little") + b"half"])
def test_a_monitor_gone_mid_filter_means_init_never_starts(sent):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # as init: read the filter; the end of the pipe must end us, with 127
        try:
            os.close(write_end)
            init._read_filter(read_end)
        finally:
            os._exit(0)  # never back into pytest
    os.close(read_end)
    os.write(write_end, sent)
    os.close(write_end)  # the monitor dies
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == init.EXIT_START_FAILED
