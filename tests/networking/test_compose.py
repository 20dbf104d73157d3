"""docker-compose 1.29 against the engine: a project's default network, names, a published port."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import urllib.request

import pytest

from tests.networking.conftest import engine_index

PROJECT = """version: "3.8"
services:
  web:
    image: busybox:latest
    command: sh -c "echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp"
    ports: ["127.0.0.1:{port}:80"]
  client:
    image: busybox:latest
    command: sh -c "sleep 1; printf 'GET /index.html HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 web 80"
    depends_on: [web]
"""


@pytest.mark.spec("NET-057")
def test_compose_default_network(engine, busybox, tmp_path):
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    port = 19000 + engine_index(engine)
    (tmp_path / "docker-compose.yml").write_text(PROJECT.format(port=port))
    name = f"mdn{secrets.token_hex(3)}"
    env = {**os.environ, "DOCKER_HOST": engine.host}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([compose, "-p", name, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    try:
        up = run("up", "-d")
        assert up.returncode == 0, up.stderr
        assert f'network "{name}_default"' in up.stderr
        body = b""
        for _ in range(30):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"hello\n"
        for _ in range(50):  # the client ran once: web, by name, on the project's network
            logs = run("logs", "--no-color", "client").stdout
            if "hello" in logs:
                break
            time.sleep(0.1)
        assert "hello" in logs
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert f"Removing network {name}_default" in down.stderr
