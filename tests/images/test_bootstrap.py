"""The embedded busybox image: contents, reproducibility, docker-load format."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile

import pytest

from minidock.images import bootstrap


@pytest.fixture(scope="module")
def layer() -> bytes:
    return bootstrap.busybox_layer()


@pytest.mark.spec("IMG-BOOT-001")
def test_the_layer_holds_busybox_its_applets_and_etc(layer):
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
        for applet in ("sh", "ls", "cat", "hostname", "mount"):
            assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
        assert tar.extractfile("etc/passwd").read().startswith(b"root:x:0:0:")
        assert "etc/group" in members and members["tmp"].mode == 0o1777
    assert bootstrap.image_config(layer)["config"]["Cmd"] == ["sh"]


@pytest.mark.spec("IMG-BOOT-002")
def test_the_same_binary_gives_the_same_bytes(layer):
    assert bootstrap.busybox_layer() == layer
    assert bootstrap.image_archive(layer) == bootstrap.image_archive(layer)


@pytest.mark.spec("IMG-BOOT-003")
def test_the_archive_is_in_docker_load_format(layer, tmp_path):
    out = tmp_path / "busybox.tar"
    result = subprocess.run([sys.executable, "-m", "minidock.cli.main", "image", "bootstrap", "busybox",
                             "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["busybox:latest"]
        config_bytes = tar.extractfile(manifest[0]["Config"]).read()
        layer_bytes = tar.extractfile(manifest[0]["Layers"][0]).read()
    config = json.loads(config_bytes)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    assert manifest[0]["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    assert bootstrap.image_id(layer) == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert layer_bytes == layer


@pytest.mark.spec("IMG-BOOT-001")
def test_only_busybox_can_be_bootstrapped(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minidock.cli.main", "image", "bootstrap", "alpine",
                             "-o", str(tmp_path / "x.tar")], capture_output=True, text=True)
    assert result.returncode == 1
    assert "only embedded image is 'busybox'" in result.stderr
    assert not (tmp_path / "x.tar").exists()
