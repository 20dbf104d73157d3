"""A small application up and down through the engine: our compose, and docker-compose 1.29.

The application: `web` built from a Dockerfile (busybox httpd) on two networks with a
published port, `worker` fetching http://web/ by name into a named volume. Our compose
is a client of the API, so it also runs against dockerd (--engine=docker).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from urllib.parse import quote

import pytest

CLI = [sys.executable, "-P", "-m", "minidock.cli.main"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def app(tmp_path, busybox):
    """(folder, project name, published port); the project is taken down whatever happened."""
    port = _free_port()
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(textwrap.dedent(f"""
        FROM {busybox}
        RUN mkdir -p /www && echo "hello from web" > /www/index.html
        CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
        """).lstrip())
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""
        services:
          web:
            build: ./web
            ports: ["127.0.0.1:{port}:80"]
            networks: [front, back]
          worker:
            image: {busybox}
            command: sh -c 'while true; do wget -q -O - http://web/ > /data/last.txt 2>&1; sleep 0.3; done'
            depends_on: [web]
            volumes: ["data:/data"]
            networks: [back]
            environment:
              ROLE: ${{ROLE:-first}}
        networks:
          front: {{}}
          back: {{}}
        volumes:
          data: {{}}
        """).lstrip())
    name = f"mdc{secrets.token_hex(4)}"
    yield tmp_path, name, port
    subprocess.run([*CLI, "-H", _host[0], "compose", "-f", str(tmp_path / "compose.yaml"), "-p", name, "down", "-v",
                    "--rmi", "local"], capture_output=True, timeout=120)


_host: list[str] = [""]


def compose(engine, folder, name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    _host[0] = engine.host
    import os

    result = subprocess.run([*CLI, "-H", engine.host, "compose", "-f", str(folder / "compose.yaml"), "-p", name, *args],
                            capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result


def project_containers(engine, name: str) -> dict[str, dict]:
    filters = quote(json.dumps({"label": [f"com.docker.compose.project={name}"]}))
    status, _, raw = engine.api("GET", f"/v1.41/containers/json?all=1&filters={filters}")
    return {c["Labels"]["com.docker.compose.service"]: c for c in json.loads(raw)}


def wait_for(check, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


@pytest.mark.spec("COMPOSE-010", "COMPOSE-011", "COMPOSE-013", "COMPOSE-015")
def test_up_finds_by_name_recreates_what_changed_and_down_removes_all(engine, app):
    folder, name, port = app
    compose(engine, folder, name, "up", "-d")
    running = project_containers(engine, name)
    assert set(running) == {"web", "worker"} and all(c["State"] == "running" for c in running.values())
    assert running["web"]["Names"] == [f"/{name}-web-1"]

    def fetched() -> str:
        result = engine.cli("exec", f"{name}-worker-1", "cat", "/data/last.txt", check=False)
        return result.stdout if "hello from web" in result.stdout else ""

    assert wait_for(fetched) == "hello from web\n"  # the worker found web by its service name
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
        assert answer.read() == b"hello from web\n"
    # nothing changed: nothing recreated; ROLE changed: the worker only
    compose(engine, folder, name, "up", "-d")
    assert {s: c["Id"] for s, c in project_containers(engine, name).items()} == {s: c["Id"] for s, c in running.items()}
    compose(engine, folder, name, "up", "-d", env={"ROLE": "second"})
    after = project_containers(engine, name)
    assert after["web"]["Id"] == running["web"]["Id"] and after["worker"]["Id"] != running["worker"]["Id"]
    listed = compose(engine, folder, name, "ps").stdout
    assert f"{name}-web-1" in listed and f"{name}-worker-1" in listed
    compose(engine, folder, name, "down", "-v")
    assert project_containers(engine, name) == {}
    for kind in ("networks", "volumes"):
        filters = quote(json.dumps({"label": [f"com.docker.compose.project={name}"]}))
        status, _, raw = engine.api("GET", f"/v1.41/{kind}?filters={filters}")
        found = json.loads(raw)
        assert (found if kind == "networks" else found["Volumes"] or []) == []


@pytest.mark.spec("COMPOSE-012", "COMPOSE-008")
def test_depends_on_conditions_are_waited_for(engine, busybox, tmp_path):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""
        services:
          init:
            image: {busybox}
            command: sh -c 'sleep 1; echo done > /shared/ready'
            volumes: ["shared:/shared"]
          app:
            image: {busybox}
            command: sh -c 'cat /shared/ready; sleep 60'
            volumes: ["shared:/shared"]
            depends_on:
              init: {{condition: service_completed_successfully}}
        volumes:
          shared: {{}}
        """).lstrip())
    name = f"mdc{secrets.token_hex(4)}"
    try:
        compose(engine, tmp_path, name, "up", "-d")
        logs = wait_for(lambda: engine.cli("logs", f"{name}-app-1").stdout)
        assert logs == "done\n"
    finally:
        compose(engine, tmp_path, name, "down", "-v")


@pytest.mark.spec("COMPOSE-008", "COMPOSE-001")
def test_bad_projects_create_nothing(engine, busybox, tmp_path):
    (tmp_path / "compose.yaml").write_text(f"services:\n  a: {{image: {busybox}, depends_on: [b]}}\n"
                                           f"  b: {{image: {busybox}, depends_on: [a]}}\nnetworks: {{n: {{}}}}\n")
    name = f"mdc{secrets.token_hex(4)}"
    result = subprocess.run([*CLI, "-H", engine.host, "compose", "-f", str(tmp_path / "compose.yaml"), "-p", name,
                             "up", "-d"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "dependency cycle detected" in result.stderr
    filters = quote(json.dumps({"label": [f"com.docker.compose.project={name}"]}))
    status, _, raw = engine.api("GET", f"/v1.41/networks?filters={filters}")
    assert json.loads(raw) == []


@pytest.mark.spec("COMPOSE-014")
def test_docker_compose_1_29_runs_the_application(engine, busybox, tmp_path):
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (make setup installs Debian's 1.29)")
    (tmp_path / "docker-compose.yml").write_text(textwrap.dedent(f"""
        version: "3.8"
        services:
          web:
            image: {busybox}
            command: httpd -f -p 80 -h /etc
          probe:
            image: {busybox}
            command: sh -c 'sleep 60'
            depends_on: [web]
            volumes: ["data:/data"]
        volumes:
          data: {{}}
        """).lstrip())
    name = f"mdc{secrets.token_hex(4)}"
    base = ["docker-compose", "-H", engine.host, "-f", str(tmp_path / "docker-compose.yml"), "-p", name]
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr
        running = project_containers(engine, name)
        assert set(running) == {"web", "probe"} and all(c["State"] == "running" for c in running.values())
        fetched = wait_for(lambda: "root:" in engine.cli("exec", running["probe"]["Id"], "wget", "-q", "-O", "-",
                                                         "http://web/passwd", check=False).stdout)
        assert fetched  # by name, on the project's default network
        ps = subprocess.run([*base, "ps"], capture_output=True, text=True, timeout=60)
        assert f"{name}_web_1" in ps.stdout
        # our compose reads docker-compose's project (the same labels)
        ours = subprocess.run([*CLI, "-H", engine.host, "compose", "-f", str(tmp_path / "docker-compose.yml"), "-p", name,
                               "ps", "-q"], capture_output=True, text=True, timeout=60)
        assert sorted(ours.stdout.split()) == sorted(c["Id"] for c in running.values())
    finally:
        down = subprocess.run([*base, "down", "-v"], capture_output=True, text=True, timeout=180)
    assert down.returncode == 0, down.stderr
    assert project_containers(engine, name) == {}


@pytest.mark.spec("COMPOSE-013")
def test_a_failing_up_leaves_nothing_half_created(engine, busybox, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""
        services:
          first:
            image: {busybox}
            command: sleep 60
            networks: [inside]
          second:
            image: {busybox}
            command: sleep 60
            ports: ["127.0.0.1:{port}:80"]
            depends_on: [first]
            networks: [inside]
        networks:
          inside: {{}}
        volumes:
          kept: {{}}
        """).lstrip())
    name = f"mdc{secrets.token_hex(4)}"
    try:
        result = subprocess.run([*CLI, "-H", engine.host, "compose", "-f", str(tmp_path / "compose.yaml"), "-p", name,
                                 "up", "-d"], capture_output=True, text=True, timeout=120)
    finally:
        taken.close()
    assert result.returncode == 1 and str(port) in result.stderr
    assert project_containers(engine, name) == {}
    filters = quote(json.dumps({"label": [f"com.docker.compose.project={name}"]}))
    assert json.loads(engine.api("GET", f"/v1.41/networks?filters={filters}")[2]) == []
    assert json.loads(engine.api("GET", f"/v1.41/volumes?filters={filters}")[2])["Volumes"] in (None, [])
