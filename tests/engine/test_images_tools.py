"""What the image tests share: unique names, flat root filesystems, hand-made `docker save` archives.

No tests here: the image tests (tests/engine/test_images_*.py) import these helpers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid


def unique(prefix: str = "mdtest") -> str:
    """A repository name no other test uses: mdtest/<8 hex>."""
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


def tar_of(files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    """An uncompressed tar of ``files`` (name -> content), directories made as needed."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = sorted({name.rsplit("/", 1)[0] for name in files if "/" in name})
        for name in directories:  # listed, with fixed times: the same files give the same layer
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.size else None)
    return out.getvalue()


def rootfs(marker: str) -> bytes:
    """A tiny root filesystem tar that differs per ``marker`` (so each import is a new image)."""
    return tar_of({"etc/marker": marker.encode(), "hello.txt": b"hello\n"})


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_archive(layers: list[bytes], tags: list[str], *, diff_ids: list[str] | None = None,
                   manifest: list | None = None, extra: dict[str, bytes] | None = None,
                   gzip_layers: bool = False, links: list[tarfile.TarInfo] = ()) -> bytes:
    """A `docker save` archive by hand: manifest.json, a config and the layers."""
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05.123456789Z",
        "config": {"Cmd": ["sh"], "Labels": {"made.by": "images_tools"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [sha256(layer) for layer in layers]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"layer {number}"}
                    for number in range(len(layers))],
    }).encode()
    files = {f"{sha256(config)[7:]}.json": config}
    names = []
    for number, layer in enumerate(layers):
        data = gzip.compress(layer, mtime=0) if gzip_layers else layer
        names.append(f"layer{number}/layer.tar")
        files[names[-1]] = data
    document = manifest if manifest is not None else [
        {"Config": f"{sha256(config)[7:]}.json", "RepoTags": tags, "Layers": names}]
    files["manifest.json"] = json.dumps(document).encode()
    files.update(extra or {})
    return tar_of(files, list(links))


def config_id(archive: bytes) -> str:
    """The image ID an archive made by docker_archive() carries."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return sha256(tar.extractfile(manifest[0]["Config"]).read())


def import_image(engine, data: bytes, *flags: str, name: str | None = None) -> str:
    """`import [FLAGS] - [NAME]`; return the new image's ID."""
    result = engine.cli("import", *flags, "-", *([name] if name else []), input=data)
    return result.stdout.decode().strip()
