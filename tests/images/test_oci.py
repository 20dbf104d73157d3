"""The OCI image model: manifests, indexes, configs, platforms, diff_id and chain_id."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from minidock.errors import InvalidArgument, NotFound, NotImplemented
from minidock.images import oci, platforms
from minidock.images.platforms import Platform

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def _manifest(media_type: str | None = oci.OCI_MANIFEST, **changes) -> dict:
    document = {"schemaVersion": 2,
                "config": {"mediaType": oci.OCI_CONFIG, "digest": A, "size": 10},
                "layers": [{"mediaType": oci.OCI_LAYER_GZIP, "digest": B, "size": 20}]}
    if media_type:
        document["mediaType"] = media_type
    document.update(changes)
    return document


def _bytes(document) -> bytes:
    return json.dumps(document).encode()


# -- manifests and indexes -------------------------------------------------------

@pytest.mark.spec("IMG-OCI-001")
def test_an_oci_manifest_is_parsed():
    manifest = oci.parse(_bytes(_manifest()))
    assert isinstance(manifest, oci.Manifest)
    assert manifest.config == oci.Descriptor(oci.OCI_CONFIG, A, 10)
    assert manifest.layers == (oci.Descriptor(oci.OCI_LAYER_GZIP, B, 20),)
    # OCI lets mediaType be left out; the fields tell a manifest from an index
    assert oci.parse(_bytes(_manifest(media_type=None))).media_type == oci.OCI_MANIFEST


@pytest.mark.spec("IMG-OCI-001")
def test_a_docker_v2_schema_2_manifest_is_accepted():
    document = {"schemaVersion": 2, "mediaType": oci.DOCKER_MANIFEST,
                "config": {"mediaType": oci.DOCKER_CONFIG, "digest": A, "size": 1469},
                "layers": [{"mediaType": oci.DOCKER_LAYER_GZIP, "digest": B, "size": 2},
                           {"mediaType": oci.DOCKER_FOREIGN_LAYER_GZIP, "digest": C, "size": 3,
                            "urls": ["https://example.invalid/layer"]}]}
    manifest = oci.parse_manifest(_bytes(document), oci.DOCKER_MANIFEST)
    assert manifest.media_type == oci.DOCKER_MANIFEST
    assert manifest.layers[1].urls == ("https://example.invalid/layer",)
    assert manifest.layers[1].media_type in oci.FOREIGN_LAYER_TYPES


@pytest.mark.spec("IMG-OCI-001")
@pytest.mark.parametrize("media_type, entry_type", [(oci.OCI_INDEX, oci.OCI_MANIFEST),
                                                    (oci.DOCKER_MANIFEST_LIST, oci.DOCKER_MANIFEST)])
def test_an_index_and_a_manifest_list_are_parsed(media_type, entry_type):
    document = {"schemaVersion": 2, "mediaType": media_type, "manifests": [
        {"mediaType": entry_type, "digest": A, "size": 7,
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        {"mediaType": "application/vnd.example.unknown+json", "digest": B, "size": 1}]}
    index = oci.parse_index(_bytes(document))
    assert index.media_type == media_type
    assert index.manifests[0].platform == Platform("linux", "arm", "v7")
    assert len(index.manifests) == 2  # an unknown entry is kept, never chosen


@pytest.mark.spec("IMG-OCI-001")
def test_a_manifest_built_here_parses_back():
    config = oci.descriptor_of(b"{}", oci.OCI_CONFIG)
    layer = oci.descriptor_of(b"layer", oci.OCI_LAYER, annotations={"a": "b"})
    manifest = oci.parse_manifest(oci.manifest_bytes(config, [layer]))
    assert manifest.config == config and manifest.layers == (layer,)
    entry = oci.descriptor_of(b"m", oci.OCI_MANIFEST, platform=Platform("linux", "amd64"))
    assert oci.parse_index(oci.index_bytes([entry])).manifests == (entry,)


_CORRUPT = [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "a JSON object is expected"),
    (b"\xff\xfe", "not JSON"),
    (_bytes(_manifest(schemaVersion=3)), "manifest.schemaVersion"),
    (_bytes(_manifest(schemaVersion="2")), "manifest.schemaVersion"),
    (_bytes({k: v for k, v in _manifest().items() if k != "config"}), "manifest.config: missing"),
    (_bytes(_manifest(config={"mediaType": "application/x-unknown", "digest": A, "size": 1})),
     "manifest.config.mediaType: unknown media type"),
    (_bytes(_manifest(layers=[{"mediaType": "application/x-rar", "digest": B, "size": 1}])),
     r"manifest.layers\[0\].mediaType: unknown layer media type"),
    (_bytes(_manifest(mediaType="application/vnd.example+json")), "manifest.mediaType: unknown media type"),
    (_bytes(_manifest(layers=[{"mediaType": oci.OCI_LAYER, "digest": "sha256:abc", "size": 1}])),
     r"manifest.layers\[0\].digest: invalid checksum digest"),
    (_bytes(_manifest(config={"mediaType": oci.OCI_CONFIG, "digest": A, "size": -1})),
     "manifest.config.size"),
    (_bytes(_manifest(config={"mediaType": oci.OCI_CONFIG, "digest": A, "size": "10"})),
     "manifest.config.size"),
    (_bytes(_manifest(config={"mediaType": oci.OCI_CONFIG, "digest": A, "size": True})),
     "manifest.config.size"),
    (_bytes(_manifest(layers="none")), "manifest.layers"),
    (_bytes(_manifest(annotations={"a": 1})), "manifest.annotations"),
    (_bytes({"schemaVersion": 2, "manifests": [{"mediaType": oci.OCI_MANIFEST, "digest": A, "size": 1,
                                                 "platform": {"os": "linux"}}]}),
     r"index.manifests\[0\].platform.architecture"),
    (_bytes({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": {}}), "index.manifests"),
]


@pytest.mark.spec("IMG-OCI-002")
@pytest.mark.parametrize("data, field", _CORRUPT)
def test_a_bad_manifest_is_refused_naming_the_field(data, field):
    with pytest.raises(InvalidArgument, match=field):
        oci.parse(data)


@pytest.mark.spec("IMG-OCI-002")
def test_a_document_must_be_what_its_descriptor_says():
    with pytest.raises(InvalidArgument, match="its descriptor says"):
        oci.parse(_bytes(_manifest()), oci.OCI_INDEX)
    with pytest.raises(InvalidArgument, match="an image index is expected"):
        oci.parse_index(_bytes(_manifest()))
    with pytest.raises(NotImplemented, match="schema 1"):
        oci.parse(_bytes({"schemaVersion": 1, "name": "busybox"}))


# -- configs ---------------------------------------------------------------------

def _config(**changes) -> dict:
    document = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": [A, B]}}
    document.update(changes)
    return document


@pytest.mark.spec("IMG-OCI-001")
def test_an_image_config_is_parsed():
    config = oci.parse_config(_bytes(_config(variant="v8", architecture="arm64")))
    assert config.diff_ids == (A, B) and config.config == {"Cmd": ["sh"]}
    assert config.platform == Platform("linux", "arm64", "v8")
    assert config.raw["rootfs"]["type"] == "layers"


@pytest.mark.spec("IMG-OCI-002")
@pytest.mark.parametrize("document, field", [
    (_config(os=None), "config.os"),
    (_config(architecture=""), "config.architecture"),
    (_config(rootfs={"type": "tar", "diff_ids": []}), "config.rootfs.type"),
    (_config(rootfs={"type": "layers"}), "config.rootfs.diff_ids"),
    (_config(rootfs={"type": "layers", "diff_ids": [A, "sha256:XYZ"]}), r"config.rootfs.diff_ids\[1\]"),
    (_config(config=["sh"]), "config.config"),
])
def test_a_bad_config_is_refused_naming_the_field(document, field):
    with pytest.raises(InvalidArgument, match=field):
        oci.parse_config(_bytes(document))


@pytest.mark.spec("IMG-OCI-002")
def test_a_config_must_name_one_diff_id_per_layer():
    manifest = oci.parse_manifest(_bytes(_manifest()))
    with pytest.raises(InvalidArgument, match="2 diff_ids for 1 layers"):
        oci.check_image(manifest, oci.parse_config(_bytes(_config())))
    oci.check_image(manifest, oci.parse_config(_bytes(_config(rootfs={"type": "layers", "diff_ids": [A]}))))


# -- platforms -------------------------------------------------------------------

@pytest.mark.spec("IMG-OCI-003")
@pytest.mark.parametrize("machine, expected", [
    ("x86_64", Platform("linux", "amd64")), ("aarch64", Platform("linux", "arm64", "v8")),
    ("armv7l", Platform("linux", "arm", "v7")), ("armv6l", Platform("linux", "arm", "v6")),
    ("i686", Platform("linux", "386")), ("riscv64", Platform("linux", "riscv64")),
])
def test_the_host_platform_uses_go_names(monkeypatch, machine, expected):
    monkeypatch.setattr(platforms._host, "machine", lambda: machine)
    assert platforms.host() == expected


@pytest.mark.spec("IMG-OCI-003")
def test_platform_names_are_normalised():
    assert platforms.parse("linux/arm64") == Platform("linux", "arm64", "v8")
    assert platforms.parse("linux/arm64/8") == Platform("linux", "arm64", "v8")
    assert platforms.parse("linux/x86_64") == Platform("linux", "amd64")
    assert platforms.normalize(Platform("linux", "armhf")) == Platform("linux", "arm", "v7")
    assert str(platforms.parse("linux/arm/v6")) == "linux/arm/v6"
    with pytest.raises(InvalidArgument, match="os/arch"):
        platforms.parse("linux")


def _entries(*names: str) -> list[tuple[str, Platform]]:
    return [(name, platforms.parse(name)) for name in names]


@pytest.mark.spec("IMG-OCI-004")
def test_the_host_platform_is_chosen_from_an_index():
    entries = _entries("linux/arm/v6", "linux/arm64", "linux/amd64", "windows/amd64", "linux/arm/v7")
    assert platforms.choose(entries, Platform("linux", "amd64")) == "linux/amd64"
    assert platforms.choose(entries, Platform("linux", "aarch64")) == "linux/arm64"
    assert platforms.choose(entries, Platform("linux", "arm", "v7")) == "linux/arm/v7"
    # an arm/v7 machine also runs v6 code, when no v7 image is offered
    assert platforms.choose(_entries("linux/arm/v6", "linux/amd64"), Platform("linux", "arm", "v7")) \
        == "linux/arm/v6"
    # an entry without a platform is never chosen
    assert platforms.choose([("none", None)] + _entries("linux/amd64"), Platform("linux", "amd64")) \
        == "linux/amd64"
    host = platforms.host()
    assert platforms.choose(_entries("plan9/mips", str(host))) == str(host)


@pytest.mark.spec("IMG-OCI-004")
def test_no_matching_platform_is_not_found_in_dockers_words():
    with pytest.raises(NotFound, match="no matching manifest for linux/arm64/v8 in the manifest list entries"):
        platforms.choose(_entries("linux/amd64", "linux/arm/v7"), Platform("linux", "arm64"))
    with pytest.raises(NotFound):  # a v6 machine cannot run v7 code
        platforms.choose(_entries("linux/arm/v7"), Platform("linux", "arm", "v6"))


@pytest.mark.spec("IMG-OCI-004")
def test_an_index_chooses_by_its_descriptors_platforms():
    wanted = oci.Descriptor(oci.OCI_MANIFEST, B, 2, platform=Platform("linux", "arm64", "v8"))
    index = oci.Index(oci.OCI_INDEX, (oci.Descriptor(oci.OCI_MANIFEST, A, 1, platform=Platform("linux", "amd64")),
                                      wanted))
    assert platforms.choose(((d, d.platform) for d in index.manifests), Platform("linux", "arm64")) == wanted


# -- diff_id and chain_id --------------------------------------------------------

def _layer_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = 6, 0
        tar.addfile(info, io.BytesIO(b"hello\n"))
    return out.getvalue()


@pytest.mark.spec("IMG-OCI-005")
def test_the_diff_id_is_the_digest_of_the_uncompressed_tar():
    tar = _layer_tar()
    expected = "sha256:" + hashlib.sha256(tar).hexdigest()
    compressed = gzip.compress(tar, mtime=0)
    assert oci.diff_id(oci.OCI_LAYER, io.BytesIO(tar)) == expected
    assert oci.diff_id(oci.OCI_LAYER_GZIP, io.BytesIO(compressed)) == expected
    assert oci.diff_id(oci.DOCKER_LAYER_GZIP, io.BytesIO(compressed)) == expected
    # and the blob's own digest is another thing
    assert "sha256:" + hashlib.sha256(compressed).hexdigest() != expected
    # a known value: the sha256 of an empty tar (two 512-byte zero blocks, padded to 10240)
    assert oci.diff_id(oci.OCI_LAYER, io.BytesIO(bytes(10240))) == \
        "sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652"


@pytest.mark.spec("IMG-OCI-005")
@pytest.mark.parametrize("data", [b"not gzip at all", gzip.compress(_layer_tar(), mtime=0)[:-12]])
def test_corrupt_or_truncated_gzip_is_refused(data):
    with pytest.raises(InvalidArgument, match="corrupt"):
        oci.diff_id(oci.OCI_LAYER_GZIP, io.BytesIO(data))


@pytest.mark.spec("IMG-OCI-005")
def test_zstd_layers_need_the_library():
    try:
        import zstandard
    except ImportError:
        with pytest.raises(NotImplemented, match="zstandard"):
            oci.diff_id(oci.OCI_LAYER_ZSTD, io.BytesIO(b""))
    else:
        tar = _layer_tar()
        compressed = zstandard.ZstdCompressor().compress(tar)
        assert oci.diff_id(oci.OCI_LAYER_ZSTD, io.BytesIO(compressed)) == \
            "sha256:" + hashlib.sha256(tar).hexdigest()
    with pytest.raises(InvalidArgument, match="unknown layer media type"):
        oci.diff_id("application/x-rar", io.BytesIO(b""))


@pytest.mark.spec("IMG-OCI-006")
def test_chain_ids_follow_the_specs_recursion():
    # by hand, straight from config.md: ChainID(L0) = DiffID(L0);
    # ChainID(L0|L1) = sha256(ChainID(L0) + " " + DiffID(L1)), and so on
    first = A
    second = "sha256:" + hashlib.sha256(f"{A} {B}".encode()).hexdigest()
    third = "sha256:" + hashlib.sha256(f"{second} {C}".encode()).hexdigest()
    assert oci.chain_id([A]) == first
    assert oci.chain_id([A, B]) == second
    assert oci.chain_id([A, B, C]) == third
    assert oci.chain_ids([A, B, C]) == [first, second, third]
    # the same layer on another base is another stack
    assert oci.chain_id([B, A]) != oci.chain_id([A, B])
    with pytest.raises(InvalidArgument):
        oci.chain_id([])
    with pytest.raises(InvalidArgument, match="digest"):
        oci.chain_id([A, "sha256:nope"])
