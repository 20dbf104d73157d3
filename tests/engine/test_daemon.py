"""The daemon's flags and life cycle (minidock only: each test starts its own minidockd)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from minidock.errors import (Conflict, Forbidden, InvalidArgument, MinidockError, NotFound,
                             NotImplemented, Unauthorized, Unavailable, http_status)

DAEMON = [sys.executable, "-m", "minidock.engine.daemon"]


class _Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path_)


def _ping(sock: str) -> int:
    connection = _Unix(sock)
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status
    finally:
        connection.close()


def _own_network() -> list[str]:
    """A bridge name and subnet no other daemon of the suite uses (they run side by side)."""
    from tests.harness.engine import spare_network_flags

    return spare_network_flags()


def _start(tmp_path, *extra, name="d"):
    base = tmp_path / name
    sock = base / "minidock.sock"
    args = [*DAEMON, "-H", f"unix://{sock}", "--data-root", str(base / "data"),
            "--exec-root", str(base / "exec"), *_own_network(), *extra]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(150):
        if sock.exists():
            try:
                if _ping(str(sock)) == 200:
                    return process, base, sock
            except OSError:
                pass
        if process.poll() is not None:
            raise AssertionError(f"daemon exited: {process.stdout.read()}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError("daemon did not answer")


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.spec("ENGINE-D-001", "ENGINE-D-005")
def test_the_daemon_writes_only_under_its_roots_and_cleans_up(tmp_path):
    process, base, sock = _start(tmp_path)
    try:
        assert (base / "exec" / "minidockd.pid").read_text().strip() == str(process.pid)
        connection = _Unix(str(sock))
        connection.request("GET", "/v1.41/info")
        assert connection.getresponse().status == 200
        assert (base / "data" / "engine-id").exists()
    finally:
        _stop(process)
    assert process.returncode == 0
    assert not sock.exists()
    assert not (base / "exec" / "minidockd.pid").exists()


@pytest.mark.spec("ENGINE-D-003")
@pytest.mark.parametrize("flags, named", [
    (["--bip", "10.0.0.300/24"], "10.0.0.300/24"),
    (["--bip", "not-an-address"], "not-an-address"),
    (["--bip", "172.29.0.1"], "172.29.0.1"),
    (["--bridge", "a-bridge-name-far-too-long"], "a-bridge-name-far-too-long"),
    (["--bridge", "bad/name"], "bad/name"),
])
def test_bad_network_flags_are_refused_at_start(tmp_path, flags, named):
    result = subprocess.run([*DAEMON, "-H", f"unix://{tmp_path}/s.sock", "--data-root", str(tmp_path / "d"),
                             "--exec-root", str(tmp_path / "e"), *flags],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert named in result.stderr
    assert not (tmp_path / "s.sock").exists()


@pytest.mark.spec("ENGINE-D-004")
def test_a_second_daemon_on_the_same_socket_is_refused(tmp_path):
    process, base, sock = _start(tmp_path)
    try:
        second = subprocess.run([*DAEMON, "-H", f"unix://{sock}", "--data-root", str(base / "data2"),
                                 "--exec-root", str(base / "exec2")],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "already listening" in second.stderr
        assert _ping(str(sock)) == 200  # the first one is unharmed
        other_socket = base / "other.sock"
        third = subprocess.run([*DAEMON, "-H", f"unix://{other_socket}", "--data-root", str(base / "data3"),
                                "--exec-root", str(base / "exec")], capture_output=True, text=True, timeout=30)
        assert third.returncode == 1 and "pid file found" in third.stderr
        assert (base / "exec" / "minidockd.pid").read_text().strip() == str(process.pid)
        assert _ping(str(sock)) == 200
    finally:
        _stop(process)


@pytest.mark.spec("ENGINE-ERR-002")
def test_errors_map_to_status_codes():
    cases = {NotFound: 404, Conflict: 409, InvalidArgument: 400, Unauthorized: 401,
             Forbidden: 403, NotImplemented: 501, Unavailable: 503, MinidockError: 500}
    for kind, status in cases.items():
        assert http_status(kind("x")) == status, kind
    assert http_status(ValueError("a bug")) == 500


@pytest.mark.spec("ENGINE-D-006")
def test_daemon_json_is_read_and_checked(tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"data-root": str(tmp_path / "from-file"), "debug": True}))
    from minidock.engine.config import parse_args

    parsed = parse_args(["--config-file", str(config), "-H", f"unix://{tmp_path}/s.sock"])
    assert parsed.data_root == str(tmp_path / "from-file") and parsed.debug and parsed.bridge == "minidock0"
    refusals = [('{"data-root": "/x", "no-such-key": 1}', "don't match any configuration option: no-such-key"),
                 ("{not json", "unable to configure the daemon with file"),
                 ('{"bip": "10.9.0.1/24"}', "specified both as a flag and in the configuration file: bip")]
    for text, words in refusals:
        config.write_text(text)
        result = subprocess.run([*DAEMON, "--config-file", str(config), "--bip", "10.8.0.1/24",
                                 "-H", f"unix://{tmp_path}/s.sock"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 1 and words in result.stderr, result.stderr
        assert not (tmp_path / "s.sock").exists()


@pytest.mark.spec("ENGINE-D-006")
def test_the_socket_is_for_root_and_its_group(tmp_path):
    process, base, sock = _start(tmp_path)
    try:
        assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    finally:
        _stop(process)
