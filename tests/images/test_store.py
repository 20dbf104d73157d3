"""The image store (names over the content store) and OCI image layouts, checked by skopeo and umoci."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from minidock.errors import InvalidArgument, NotFound
from minidock.images import bootstrap, oci
from minidock.images.content import ContentStore
from minidock.images.layout import read_layout, write_layout
from minidock.images.platforms import Platform
from minidock.images.store import ImageStore, add_image


def _config(layers: list[bytes], architecture: str = "amd64") -> dict:
    return {"architecture": architecture, "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [oci.descriptor_of(d, oci.OCI_LAYER).digest
                                                      for d in layers]}}


@pytest.fixture
def images(tmp_path) -> ImageStore:
    return ImageStore(ContentStore(str(tmp_path / "content")), str(tmp_path / "images"))


@pytest.mark.spec("IMG-STORE-007")
def test_a_name_points_at_a_complete_image(images):
    layers = [b"layer one", b"layer two"]
    manifest = add_image(images.content, _config(layers), layers)
    assert str(images.tag("busybox", manifest)) == "docker.io/library/busybox:latest"
    image = images.image("docker.io/library/busybox:latest", Platform("linux", "amd64"))
    assert image.descriptor == manifest and image.config.config["Cmd"] == ["sh"]
    assert [d.size for d in image.manifest.layers] == [9, 9]
    assert list(images.references()) == ["docker.io/library/busybox:latest"]
    # untagged, its blobs are garbage
    images.untag("busybox:latest")
    with pytest.raises(NotFound, match="No such image: busybox:latest"):
        images.image("busybox")
    assert len(images.gc()) == 4 and list(images.content.walk()) == []


@pytest.mark.spec("IMG-STORE-007")
def test_an_index_resolves_to_the_hosts_manifest(images):
    amd, arm = [b"amd64 layer"], [b"arm64 layer"]
    entries = [oci.Descriptor(d.media_type, d.digest, d.size, platform=platform)
               for d, platform in ((add_image(images.content, _config(amd), amd), Platform("linux", "amd64")),
                                   (add_image(images.content, _config(arm, "arm64"), arm),
                                    Platform("linux", "arm64", "v8")))]
    index = oci.index_bytes(entries)
    images.content.write_bytes(index)
    images.tag("team/app:v1", oci.descriptor_of(index, oci.OCI_INDEX))
    assert images.image("team/app:v1", Platform("linux", "arm64")).config.architecture == "arm64"
    assert images.image("team/app:v1", Platform("linux", "amd64")).descriptor == entries[0]
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        images.image("team/app:v1", Platform("linux", "s390x"))


@pytest.mark.spec("IMG-STORE-007")
@pytest.mark.parametrize("missing", ["config", "layer", "manifest"])
def test_a_manifest_referencing_a_missing_blob_is_not_tagged(images, missing):
    layers = [b"the layer"]
    descriptor = add_image(images.content, _config(layers), layers)
    manifest = oci.parse_manifest(images.content.read(descriptor.digest))
    gone = {"config": manifest.config, "layer": manifest.layers[0], "manifest": descriptor}[missing]
    images.content.delete(gone.digest)
    with pytest.raises(NotFound, match="missing blob " + gone.digest):
        images.tag("busybox", descriptor)
    assert images.references() == {}


# -- OCI image layout ------------------------------------------------------------

@pytest.fixture(scope="module")
def busybox_layer() -> bytes:
    return bootstrap.busybox_layer()


def _busybox(images: ImageStore, layer: bytes) -> oci.Descriptor:
    manifest = add_image(images.content, bootstrap.image_config(layer), [layer])
    images.tag("busybox:latest", manifest)
    return manifest


@pytest.mark.spec("IMG-STORE-008")
def test_a_layout_round_trips(images, busybox_layer, tmp_path):
    manifest = _busybox(images, busybox_layer)
    layout = str(tmp_path / "layout")
    write_layout(images.content, images.references(), layout)
    with open(os.path.join(layout, "oci-layout")) as file:
        assert json.load(file) == {"imageLayoutVersion": "1.0.0"}
    entry = oci.parse_index(open(os.path.join(layout, "index.json"), "rb").read()).manifests[0]
    assert entry.digest == manifest.digest
    assert entry.annotations["org.opencontainers.image.ref.name"] == "latest"

    other = ImageStore(ContentStore(str(tmp_path / "other")), str(tmp_path / "other-images"))
    names = read_layout(layout, other.content)
    assert names == {"docker.io/library/busybox:latest": manifest}
    other.tag("busybox", manifest)
    assert other.image("busybox").config.diff_ids == images.image("busybox").config.diff_ids


@pytest.mark.spec("IMG-STORE-008")
def test_a_layout_with_a_bad_blob_is_refused(images, tmp_path):
    layers = [b"a layer"]
    manifest = add_image(images.content, _config(layers), layers)
    layout = str(tmp_path / "layout")
    write_layout(images.content, {"app:v1": manifest}, layout)
    layer = os.path.join(layout, "blobs", "sha256", oci.descriptor_of(layers[0], oci.OCI_LAYER).digest[7:])
    with open(layer, "wb") as file:
        file.write(b"a layer, tampered with")
    fresh = ContentStore(str(tmp_path / "fresh"))
    with pytest.raises(InvalidArgument, match="wrong size"):
        read_layout(layout, fresh)
    os.unlink(layer)
    with pytest.raises(NotFound, match="is missing"):
        read_layout(layout, fresh)
    with pytest.raises(InvalidArgument, match="not an OCI image layout"):
        read_layout(str(tmp_path), fresh)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


@pytest.mark.spec("IMG-STORE-008")
def test_skopeo_reads_our_layout_and_we_read_skopeos(images, busybox_layer, tmp_path):
    skopeo = _tool("skopeo")
    manifest = _busybox(images, busybox_layer)
    layout = str(tmp_path / "layout")
    write_layout(images.content, images.references(), layout)
    inspected = subprocess.run([skopeo, "inspect", f"oci:{layout}:latest"],
                               capture_output=True, text=True, timeout=30)
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert info["Digest"] == manifest.digest and info["Os"] == "linux"
    assert info["Layers"] == [oci.descriptor_of(busybox_layer, oci.OCI_LAYER).digest]

    copied = str(tmp_path / "copied")
    result = subprocess.run([skopeo, "copy", f"oci:{layout}:latest", f"oci:{copied}:copy"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    other = ImageStore(ContentStore(str(tmp_path / "other")), str(tmp_path / "other-images"))
    names = read_layout(copied, other.content)
    other.tag("copied:latest", names["copy"])
    assert other.image("copied").config.diff_ids == images.image("busybox").config.diff_ids


@pytest.mark.spec("IMG-STORE-008")
def test_umoci_reads_our_layout(images, busybox_layer, tmp_path):
    umoci = _tool("umoci")
    _busybox(images, busybox_layer)
    layout = str(tmp_path / "layout")
    write_layout(images.content, images.references(), layout)
    result = subprocess.run([umoci, "stat", "--image", f"{layout}:latest", "--json"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "minidock image bootstrap busybox" in result.stdout
