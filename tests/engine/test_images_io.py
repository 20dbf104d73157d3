"""Images in and out in Docker's formats: save/load checked by skopeo's docker-archive reader
(the containers/image library) and by a real dockerd, export/import of a container's files
(IMG-IO-001).

The dockerd check runs when MINIDOCK_TEST_DOCKERD names a dockerd's socket
(e.g. unix:///var/run/docker.sock) and minidock is the engine under test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest


@pytest.fixture
def skopeo():
    path = shutil.which("skopeo")
    if path is None:
        pytest.skip("skopeo is not installed (make setup installs it)")
    return path


@pytest.mark.spec("IMG-IO-001")
def test_a_saved_archive_is_read_by_dockers_own_format_library(engine, busybox, skopeo, tmp_path):
    archive = tmp_path / "busybox.tar"
    engine.docker_cli("save", "-o", str(archive), busybox)
    image_id = json.loads(engine.api("GET", f"/v1.41/images/{busybox}/json")[2])["Id"]
    inspected = subprocess.run([skopeo, "inspect", "--config", f"docker-archive:{archive}"],
                               capture_output=True, text=True, check=True)
    config = json.loads(inspected.stdout)
    assert config["rootfs"]["diff_ids"] and config["os"] == "linux"
    raw = subprocess.run([skopeo, "inspect", "--raw", f"docker-archive:{archive}"],
                         capture_output=True, text=True, check=True)
    assert json.loads(raw.stdout)["config"]["digest"] == image_id  # the same image, by Docker's ID
    copied = subprocess.run([skopeo, "copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'layout'}:copy"],
                            capture_output=True, text=True)
    assert copied.returncode == 0, copied.stderr  # every layer's digest checked on the way


@pytest.mark.spec("IMG-IO-001")
def test_export_then_import_keeps_the_files(engine, containers):
    container_id, code = containers.run("sh", "-c", "echo kept > /hello; mkdir -p /data; echo two > /data/x")
    assert code == 0
    status, _, exported = engine.api("GET", f"/v1.41/containers/{container_id}/export")
    assert status == 200 and len(exported) > 1000
    status, _, raw = engine.api("POST", "/v1.41/images/create?fromSrc=-&repo=md-io-test&tag=1", exported,
                                headers={"Content-Type": "application/x-tar"})
    assert status == 200, raw
    try:
        copy_id, code = containers.run("sh", "-c", "cat /hello /data/x", Image="md-io-test:1")
        assert code == 0 and containers.output(copy_id) == "kept\ntwo\n"
        engine.api("DELETE", f"/v1.41/containers/{copy_id}?force=1")
    finally:
        engine.api("DELETE", "/v1.41/images/md-io-test:1?force=1")


@pytest.mark.spec("IMG-IO-001")
def test_docker_export_piped_into_docker_import(engine, busybox, tmp_path):
    engine.docker_cli("create", "--name", "md-io-export", busybox, "true")
    try:
        exported = tmp_path / "fs.tar"
        engine.docker_cli("export", "-o", str(exported), "md-io-export")
        imported = engine.docker_cli("import", "-c", "CMD [\"cat\", \"/etc/hostname\"]", str(exported), "md-io-import:1")
        assert imported.stdout.strip().startswith("sha256:")
        result = engine.docker_cli("run", "--rm", "md-io-import:1")
        assert result.returncode == 0 and result.stdout.strip()
    finally:
        engine.docker_cli("rm", "-f", "md-io-export", check=False)
        engine.docker_cli("rmi", "-f", "md-io-import:1", check=False)


@pytest.fixture
def dockerd() -> dict[str, str]:
    """The environment for a `docker` CLI that talks to the dockerd in $MINIDOCK_TEST_DOCKERD."""
    host = os.environ.get("MINIDOCK_TEST_DOCKERD")
    if not host:
        pytest.skip("MINIDOCK_TEST_DOCKERD is not set (a dockerd socket, e.g. unix:///var/run/docker.sock)")
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    return {**os.environ, "DOCKER_HOST": host}


@pytest.mark.spec("IMG-IO-001")
def test_a_saved_image_loads_into_a_real_dockerd_as_the_same_image(engine, busybox, containers, dockerd,
                                                                    tmp_path):
    if engine.kind != "minidock":
        pytest.skip("saves from minidock into another engine: with --engine=docker both are dockerd")
    name = f"md-io-dockerd-{uuid.uuid4().hex[:8]}:1"  # never busybox: the dockerd is not ours
    container_id, code = containers.run("sh", "-c", f"echo {name} > /marker")
    assert code == 0
    status, _, raw = engine.api("POST", f"/v1.41/commit?container={container_id}&repo={name.split(':')[0]}&tag=1")
    assert status == 201, raw
    image_id = json.loads(raw)["Id"]
    try:
        archive = tmp_path / "saved.tar"
        engine.cli("save", "-o", str(archive), name)
        loaded = subprocess.run(["docker", "load", "-i", str(archive)], env=dockerd,
                                capture_output=True, text=True)
        assert loaded.returncode == 0 and f"Loaded image: {name}" in loaded.stdout, loaded.stderr
        inspected = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}",
                                    name], env=dockerd, capture_output=True, text=True, check=True)
        docker_id, docker_layers = inspected.stdout.split(" ", 1)
        ours = json.loads(engine.api("GET", f"/v1.41/images/{image_id}/json")[2])
        assert docker_id == image_id  # the same config, byte for byte
        assert json.loads(docker_layers) == ours["RootFS"]["Layers"]  # every layer's diff_id checked
        ran = subprocess.run(["docker", "run", "--rm", name, "cat", "/marker"], env=dockerd,
                             capture_output=True, text=True)
        assert (ran.returncode, ran.stdout) == (0, f"{name}\n"), ran.stderr
    finally:
        subprocess.run(["docker", "rmi", name], env=dockerd, capture_output=True)
        engine.api("DELETE", f"/v1.41/images/{image_id}?force=1")
