"""Conformance: the Engine API's system routes, against minidock or real Docker.

Black-box: only engine.api(), engine.cli() and engine.docker_cli().
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.spec("ENGINE-API-001")
def test_ping_answers_ok_with_the_api_version(engine):
    status, headers, body = engine.api("GET", "/_ping")
    assert status == 200
    assert body == b"OK"
    assert headers.get("Api-Version") == "1.41"
    status, headers, body = engine.api("HEAD", "/_ping")
    assert status == 200 and body == b""
    assert headers.get("Api-Version") == "1.41"


@pytest.mark.spec("ENGINE-API-002", "ENGINE-CLI-003")
def test_the_real_docker_cli_shows_the_server(engine):
    result = engine.docker_cli("version", "--format", "{{json .Server}}")
    server = json.loads(result.stdout)
    assert server["ApiVersion"] == "1.41"
    assert server["Os"] == "linux"
    status, _, body = engine.api("GET", "/v1.41/version")
    assert status == 200
    assert json.loads(body)["MinAPIVersion"] in ("1.12", "1.24")  # dockerd 20.10 says 1.12


@pytest.mark.spec("ENGINE-CLI-003")
def test_our_cli_shows_client_and_server(engine):
    out = engine.cli("version").stdout
    assert "Client:" in out and "Server:" in out
    assert out.count("API version:") == 2
    info = engine.cli("info").stdout
    assert "Cgroup Version:" in info


def _host_cgroup_version() -> str:
    with open("/proc/self/mountinfo") as file:
        text = file.read()
    # the memory controller on a v1 mount means the host is driven as v1 (hybrid or legacy)
    v1_memory = any(line.split(" - ")[1].startswith("cgroup ") and "memory" in line.split(" - ")[1]
                    for line in text.splitlines() if " - " in line)
    return "1" if v1_memory else "2"


@pytest.mark.spec("ENGINE-API-003")
def test_info_has_the_fields_docker_info_prints(engine):
    status, _, body = engine.api("GET", "/v1.41/info")
    assert status == 200
    info = json.loads(body)
    for key in ("ServerVersion", "Driver", "CgroupDriver", "CgroupVersion", "KernelVersion",
                "NCPU", "MemTotal", "DockerRootDir", "Swarm"):
        assert key in info, key
    assert info["NCPU"] == os.cpu_count()
    assert info["KernelVersion"] == os.uname().release
    assert info["CgroupVersion"] == _host_cgroup_version()
    out = engine.docker_cli("info", "--format", "{{.CgroupVersion}} {{.NCPU}}").stdout.split()
    assert out == [info["CgroupVersion"], str(os.cpu_count())]


@pytest.mark.spec("ENGINE-API-004")
@pytest.mark.parametrize("version", ["1.24", "1.30", "1.41"])
def test_routes_answer_under_every_supported_version(engine, version):
    for path in ("/_ping", "/version", "/info"):
        status, _, _ = engine.api("GET", f"/v{version}{path}")
        assert status == 200, (version, path)


@pytest.mark.spec("ENGINE-API-005", "ENGINE-ERR-001")
def test_a_too_new_client_is_told_so(engine):
    status, _, body = engine.api("GET", "/v1.99/version")
    assert status == 400
    assert json.loads(body)["message"] == \
        "client version 1.99 is too new. Maximum supported API version is 1.41"
    status, headers, body = engine.api("GET", "/v1.0/version")
    assert status == 400
    assert b"client version 1.0 is too old. Minimum supported API version is " in body
    if engine.kind == "minidock":
        # Docker 20.10 sends this one as text/plain; minidock keeps every error JSON (ENGINE-ERR-001)
        assert headers.get("Content-Type") == "application/json"
        assert "client version 1.0 is too old" in json.loads(body)["message"]


@pytest.mark.spec("ENGINE-API-006", "ENGINE-ERR-001")
def test_an_unknown_path_is_a_json_404(engine):
    status, _, body = engine.api("GET", "/v1.41/no/such/route")
    assert status == 404
    assert json.loads(body) == {"message": "page not found"}


@pytest.mark.spec("ENGINE-ERR-001", "ENGINE-CLI-004")
def test_the_docker_cli_shows_our_error_message(engine):
    status, headers, _ = engine.api("GET", "/v1.41/no/such/route")
    assert headers.get("Content-Type") == "application/json"
    result = engine.docker_cli("network", "inspect", "--format", "x", "minidock-no-such-net", check=False)
    assert result.returncode != 0
    assert '{"message"' not in result.stderr  # decoded, not dumped raw


@pytest.mark.spec("ENGINE-CLI-001")
def test_no_daemon_is_a_clear_error(engine, tmp_path):
    missing = f"unix://{tmp_path}/nobody-here.sock"
    # the engine's own CLI with only this -H (engine.cli adds the engine's; docker refuses two)
    result = subprocess.run([*engine.cli_argv, "-H", missing, "version"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Cannot connect to the" in result.stderr
    assert missing in result.stderr and "daemon running?" in result.stderr


@pytest.mark.spec("ENGINE-CLI-002")
def test_the_host_comes_from_the_environment(engine):
    if engine.kind == "minidock":
        command, variable = [sys.executable, "-m", "minidock.cli.main"], "MINIDOCK_HOST"
    else:
        command, variable = ["docker"], "DOCKER_HOST"
    env = {**os.environ, variable: engine.host}
    result = subprocess.run([*command, "version"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Server:" in result.stdout
