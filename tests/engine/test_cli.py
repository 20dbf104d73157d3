"""The CLI's handling of daemon errors, against a tiny fake daemon (pure CLI logic)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest


def _serve_once(path: str, status: int, body: dict, ready: threading.Event) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    ready.set()
    connection, _ = server.accept()
    connection.recv(65536)
    payload = json.dumps(body).encode()
    connection.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
    connection.close()
    server.close()


@pytest.mark.spec("ENGINE-CLI-004")
def test_a_daemon_error_is_printed_as_docker_prints_it(tmp_path):
    path = str(tmp_path / "fake.sock")
    ready = threading.Event()
    thread = threading.Thread(target=_serve_once, args=(path, 500, {"message": "disk on fire"}, ready))
    thread.start()
    ready.wait(5)
    result = subprocess.run([sys.executable, "-m", "minidock.cli.main", "-H", f"unix://{path}", "version"],
                            capture_output=True, text=True, timeout=30)
    thread.join(5)
    assert result.returncode == 1
    assert "Error response from daemon: disk on fire" in result.stderr
