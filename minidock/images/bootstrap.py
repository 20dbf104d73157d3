"""The embedded images: busybox:latest from the host's busybox-static, debian from its mirror.

Implements: spec/images.md IMG-BOOT-001 .. IMG-BOOT-004
Explained:  chapters/04-images.md#the-embedded-image

    busybox_layer(busybox) -> bytes     a layer tar: /bin/busybox, its applet links, /etc
    image_archive(layer, tag) -> bytes  an archive `docker load` accepts (docker-save format)
    debian_mirror() -> URL              the Debian mirror the host's apt sources name
    debian_archive(rootfs, out, tag, suite, mirror) -> image ID
                                        debootstrap --variant=minbase, then the same archive

Rules: busybox needs no network, and the same busybox binary always gives the
same bytes (fixed mtimes, owners and order), so the same image ID on every
machine. debian needs debootstrap and a reachable mirror, and says which is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import time

from minidock.errors import NotFound, Unavailable

HOST_BUSYBOX = "/bin/busybox"
_EPOCH = 0  # every entry's mtime: reproducible layers
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "riscv64": "riscv64"}
_ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": "minidock\n",
}


def _add(tar: tarfile.TarFile, name: str, kind: bytes, mode: int,
         data: bytes = b"", linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, _EPOCH, linkname
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data else None)


def applets(busybox: str = HOST_BUSYBOX) -> list[str]:
    """Return the applet names this busybox binary provides (`busybox --list`)."""
    try:
        out = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise NotFound(f"{busybox} not found: install Debian's busybox-static (make setup does)") from None
    return sorted(set(out.split()) - {"busybox"})


def busybox_layer(busybox: str = HOST_BUSYBOX) -> bytes:
    """Return an uncompressed layer tar holding a minimal busybox root filesystem."""
    with open(busybox, "rb") as file:
        binary = file.read()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "var"):
            _add(tar, directory, tarfile.DIRTYPE, 0o755)
        _add(tar, "tmp", tarfile.DIRTYPE, 0o1777)
        _add(tar, "bin/busybox", tarfile.REGTYPE, 0o755, binary)
        for applet in applets(busybox):
            _add(tar, f"bin/{applet}", tarfile.SYMTYPE, 0o777, linkname="busybox")
        for name, text in _ETC.items():
            _add(tar, name, tarfile.REGTYPE, 0o644, text.encode())
    return out.getvalue()


def image_config(layer: bytes, diff_id: str | None = None) -> dict:
    """Return the image config (OCI image-spec config) for a one-layer image."""
    diff_id = diff_id or "sha256:" + hashlib.sha256(layer).hexdigest()
    return {
        "architecture": _GOARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": "minidock image bootstrap busybox (from the host's busybox-static)"}],
    }


def image_archive(layer: bytes, tag: str = "busybox:latest") -> bytes:
    """Return a docker-save archive (manifest.json, config, layer) for ``layer`` tagged ``tag``."""
    config = json.dumps(image_config(layer), sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    layer_dir = hashlib.sha256(layer).hexdigest()
    repository, _, version = tag.rpartition(":")
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [tag],
                 "Layers": [f"{layer_dir}/layer.tar"]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, layer_dir, tarfile.DIRTYPE, 0o755)
        _add(tar, f"{layer_dir}/layer.tar", tarfile.REGTYPE, 0o644, layer)
        _add(tar, f"{config_hex}.json", tarfile.REGTYPE, 0o644, config)
        _add(tar, "manifest.json", tarfile.REGTYPE, 0o644, json.dumps(manifest).encode())
        _add(tar, "repositories", tarfile.REGTYPE, 0o644,
             json.dumps({repository: {version: layer_dir}}).encode())
    return out.getvalue()


def image_id(archive_layer: bytes) -> str:
    """Return the image ID (sha256 of the config) the archive for this layer carries."""
    config = json.dumps(image_config(archive_layer), sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(config).hexdigest()


# -- debian ------------------------------------------------------------------------------------

SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")


def debian_mirror(sources: tuple[str, ...] = SOURCES) -> str:
    """The first Debian archive (not -security) the host's apt sources name, one-line or deb822."""
    files = []
    for path in sources:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, name) for name in os.listdir(path)
                            if name.endswith((".list", ".sources")))
        elif os.path.exists(path):
            files.append(path)
    for path in files:
        with open(path) as file:
            text = file.read()
        urls = re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE) + \
            re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", text, re.MULTILINE)
        for url in urls:
            if "debian" in url and "security" not in url:
                return url
    raise NotFound("no Debian mirror in the host's apt sources (" + ", ".join(sources) + "): "
                   "pass one with --mirror URL")


def debian_archive(rootfs: str, out: str, tag: str, suite: str, mirror: str) -> str:
    """debootstrap a minimal Debian into ``rootfs``, write it as an image archive to ``out``."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise NotFound("debootstrap is not installed: `apt-get install debootstrap` (as root), "
                       "then run this again")
    result = subprocess.run([debootstrap, "--variant=minbase", suite, rootfs, mirror],
                            capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"debootstrap {suite} from {mirror} failed (is the mirror reachable?): "
                          + " | ".join(last))
    layer_path = out + ".layer"
    hasher = hashlib.sha256()
    with open(layer_path, "wb") as file, tarfile.open(fileobj=file, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, entry), arcname=entry)
    with open(layer_path, "rb") as file:
        while chunk := file.read(1 << 20):
            hasher.update(chunk)
    diff_id = "sha256:" + hasher.hexdigest()
    config = image_config(b"", diff_id)
    config["config"]["Cmd"] = ["bash"]
    config["created"] = config["history"][0]["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config["history"][0]["created_by"] = f"minidock image bootstrap debian (debootstrap {suite} {mirror})"
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(layer_path, arcname="layer.tar")
        _add(tar, f"{config_hex}.json", tarfile.REGTYPE, 0o644, config_bytes)
        _add(tar, "manifest.json", tarfile.REGTYPE, 0o644, json.dumps(manifest).encode())
    os.unlink(layer_path)
    return f"sha256:{config_hex}"
