"""Pull and push for the engine: the registry client's bytes into (and out of) the image store.

Implements: spec/registry.md REG-034 .. REG-042, REG-044
Explained:  chapters/09-registry.md#from-the-engine
Modelled on: the docker daemon's distribution/pull_v2.go and push_v2.go, and its
             progress messages (pkg/jsonmessage): what `docker pull` prints is theirs

    pull(images, name, credentials, emit, platform) -> image ID
        from Docker Hub's mirrors first (--registry-mirror), then the image's registry;
        manifest (an index: the platform's manifest) -> config -> layers, 3 at a time,
        each skipped if stored, resumed if half downloaded, checked, then named
    push(images, name, credentials, emit) -> {"Tag", "Digest", "Size"}
        layers (HEAD, mount from a sibling repository, or upload), config, then the manifest
    login(credentials, insecure_registries) -> {"Status": "Login Succeeded"}

Rules: a pull stores every blob checked against its digest and the layers against the
config's diff_ids before the name moves (the image service's all-or-nothing); a
partial download is kept under <data-root>/downloads/ so that the next pull resumes it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from typing import Callable
from urllib.parse import urlsplit

from minidock.errors import Forbidden, InvalidArgument, MinidockError, NotFound, Unauthorized
from minidock.images import oci, platforms, reference
from minidock.registry.client import RegistryClient, is_insecure

Emit = Callable[[dict], None]
DOWNLOADS_AT_ONCE = 3  # dockerd's max-concurrent-downloads
UPLOADS_AT_ONCE = 5    # dockerd's max-concurrent-uploads


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n}B"


class _Bar:
    """Docker's progress message for one layer, sent at most every 1% (or 512 kB)."""

    def __init__(self, emit: Emit, layer: str, status: str) -> None:
        self.emit, self.layer, self.status, self.last = emit, layer, status, -1 << 30
        self.lock = threading.Lock()

    def __call__(self, current: int, total: int) -> None:
        with self.lock:
            if current < total and current - self.last < max(total // 100, 512 << 10):
                return
            self.last = current
        width = 50 * current // total if total else 0
        bar = "[" + "=" * max(width - 1, 0) + (">" if width else "") + " " * (50 - width) + "]"
        self.emit({"status": self.status, "progressDetail": {"current": current, "total": total},
                   "progress": f"{bar} {_size(current)}/{_size(total)}", "id": self.layer})


def _client(domain: str, credentials: dict, insecure_registries) -> RegistryClient:
    return RegistryClient(domain, credentials, insecure=is_insecure(domain, insecure_registries))


def login(credentials: dict, insecure_registries=()) -> dict:
    """`POST /auth`: do these credentials open the registry? Docker's answer if so."""
    server = credentials.get("serveraddress") or "docker.io"
    domain = server.removeprefix("https://").removeprefix("http://").split("/")[0]
    if domain == "index.docker.io":
        domain = "docker.io"
    client = _client(domain, credentials, insecure_registries)
    try:
        client.ping()
    except (Unauthorized, Forbidden) as error:
        raise Unauthorized(f"login attempt to {client.scheme or 'https'}://{client.host}/v2/ failed with "
                           f"status: 401 Unauthorized ({error.message})") from None
    return {"Status": "Login Succeeded", "IdentityToken": ""}


def _source(images, parsed: reference.Reference, wanted: str, credentials: dict):
    """The registry to pull from, and the manifest it gave: Docker Hub's mirrors first, then its own.

    dockerd's order: each mirror of --registry-mirror, and the registry itself when no
    mirror has the image (or answers at all). A mirror gets no credentials.
    """
    if parsed.domain == "docker.io":
        for mirror in images.registry_mirrors:
            parts = urlsplit(mirror)
            client = RegistryClient(parts.netloc, {}, insecure=is_insecure(parts.netloc, images.insecure_registries))
            client.scheme = parts.scheme  # [REG-044] the mirror's URL says how to reach it
            try:
                return client, client.get_manifest(parsed.path, wanted)
            except MinidockError:
                continue
    client = _client(parsed.domain, credentials, images.insecure_registries)
    return client, client.get_manifest(parsed.path, wanted)


def pull(images, name: str, credentials: dict, emit: Emit, want: platforms.Platform | None = None) -> str:
    """Pull ``name`` into ``images`` (an ImageService); return the image ID."""
    parsed = reference.parse(name)
    wanted = parsed.digest or parsed.tag or "latest"
    try:
        client, (data, media_type, digest) = _source(images, parsed, wanted, credentials)
    except NotFound as error:
        raise NotFound(f"manifest for {parsed.familiar} not found: {error.message}") from None
    except (Unauthorized, Forbidden) as error:
        # dockerd's words: it cannot tell a private repository from a missing one
        raise NotFound(f"pull access denied for {parsed.familiar_name}, repository does not exist or "
                       f"may require 'minidock login': {error.message}") from None
    top = oci.Descriptor(media_type, digest, len(data))
    emit({"status": f"Pulling from {parsed.path}", "id": wanted})
    blobs: dict[str, bytes] = {digest: data}
    if media_type in oci.INDEX_TYPES:
        # [REG-037] an index: the entry for this host (or --platform), as containerd chooses
        index = oci.parse_index(data, media_type)
        chosen = platforms.choose(((d, d.platform) for d in index.manifests
                                   if d.media_type in oci.MANIFEST_TYPES), want)
        manifest_data, manifest_type, _ = client.get_manifest(parsed.path, chosen.digest)
        if len(manifest_data) != chosen.size:
            raise InvalidArgument(f"manifest {chosen.digest}: {len(manifest_data)} bytes, the index says {chosen.size}")
        blobs[chosen.digest] = manifest_data
        manifest = oci.parse_manifest(manifest_data, chosen.media_type)
    else:
        manifest = oci.parse_manifest(data, media_type)
    name_now = images.store.references().get(str(parsed))
    if name_now is not None and name_now.digest == digest:
        with contextlib.suppress(NotFound, InvalidArgument):
            images.store.load(name_now, want)
            emit({"status": f"Digest: {digest}"})
            emit({"status": f"Status: Image is up to date for {parsed.familiar}"})
            return images.lookup(str(parsed)).id
    downloads = os.path.join(images.root, "downloads")
    os.makedirs(downloads, exist_ok=True)

    def fetch(descriptor: oci.Descriptor, bar: _Bar | None) -> None:
        # [REG-035] named by digest, so an interrupted pull finds its bytes again
        partial = os.path.join(downloads, descriptor.digest.removeprefix("sha256:"))
        client.fetch_blob(parsed.path, descriptor.digest, descriptor.size, partial, bar)
        if bar is not None:
            emit({"status": "Verifying Checksum", "progressDetail": {}, "id": bar.layer})
            emit({"status": "Download complete", "progressDetail": {}, "id": bar.layer})
        if os.path.getsize(partial) != descriptor.size:
            os.unlink(partial)
            raise InvalidArgument(f"blob {descriptor.digest}: wrong size, {descriptor.size} bytes were expected")
        # [REG-034] its digest was checked as it came (fetch_blob): moved into the store, not copied
        images.content.adopt(partial, descriptor.digest, descriptor.size)

    with images._all_or_nothing():
        for blob_digest, blob in blobs.items():
            images.content.write_bytes(blob, blob_digest)
        missing = []
        for layer in manifest.layers:
            if images.content.exists(layer.digest) or layer.media_type in oci.FOREIGN_LAYER_TYPES:
                emit({"status": "Already exists", "progressDetail": {}, "id": short(layer.digest)})
            elif layer.digest not in {m.digest for m in missing}:
                emit({"status": "Pulling fs layer", "progressDetail": {}, "id": short(layer.digest)})
                missing.append(layer)
        if not images.content.exists(manifest.config.digest):
            fetch(manifest.config, None)
        with concurrent.futures.ThreadPoolExecutor(DOWNLOADS_AT_ONCE) as pool:
            jobs = {pool.submit(fetch, layer, _Bar(emit, short(layer.digest), "Downloading")): layer
                    for layer in missing}
            for job in concurrent.futures.as_completed(jobs):
                job.result()  # the first failure stops the pull (the rest finish or fail)
                emit({"status": "Pull complete", "progressDetail": {}, "id": short(jobs[job].digest)})
        images._check_diff_ids(images.store.load(top, want))  # [REG-034] the layers are the config's
        image_id = images.add(top, [str(parsed)])
    images.publish("pull", parsed.familiar, {"name": parsed.familiar})
    emit({"status": f"Digest: {digest}"})
    emit({"status": f"Status: Downloaded newer image for {parsed.familiar}"})
    return image_id


def push(images, name: str, credentials: dict, emit: Emit) -> dict:
    """Push the image ``name`` (with its tag) to its registry; return push's aux object."""
    parsed = reference.parse(name)
    try:
        record = images.lookup(str(parsed))
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {parsed.familiar_name}") from None
    emit({"status": f"The push refers to repository [{parsed.name}]"})
    client = _client(parsed.domain, credentials, images.insecure_registries)
    image = record.image
    # a sibling repository on the same registry that holds the image: mount from it
    siblings = [reference.parse(other) for other in record.names]
    source = next((other.path for other in siblings
                   if other.domain == parsed.domain and other.path != parsed.path), None)
    layers = list(dict.fromkeys(image.manifest.layers))
    for layer in reversed(layers):
        emit({"status": "Preparing", "progressDetail": {}, "id": short(layer.digest)})

    def upload(descriptor: oci.Descriptor, bar: _Bar | None) -> str:
        result = client.upload_blob(parsed.path, descriptor.digest, descriptor.size,
                                    lambda: images.content.open(descriptor.digest), bar, mount_from=source)
        if bar is not None:
            words = {"exists": "Layer already exists", "pushed": "Pushed", "mounted": f"Mounted from {source}"}
            emit({"status": words[result], "progressDetail": {}, "id": bar.layer})
        return result

    with concurrent.futures.ThreadPoolExecutor(UPLOADS_AT_ONCE) as pool:
        jobs = [pool.submit(upload, layer, _Bar(emit, short(layer.digest), "Pushing")) for layer in layers]
        for job in jobs:
            job.result()
    upload(image.manifest.config, None)
    data = images.content.read_descriptor(image.descriptor)
    tag = parsed.tag or "latest"
    digest = client.put_manifest(parsed.path, tag, data, image.descriptor.media_type)
    images.publish("push", parsed.familiar, {"name": parsed.familiar})
    emit({"status": f"{tag}: digest: {digest} size: {len(data)}"})
    return {"Tag": tag, "Digest": digest, "Size": len(data)}
