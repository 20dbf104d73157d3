"""The registry server: the OCI distribution API over aiohttp.

Implements: spec/registry.md REG-001 .. REG-024, REG-045
Explained:  chapters/09-registry.md#the-server
Modelled on: distribution/distribution (registry:2) and the OCI distribution spec v1.1
             ("end-1" .. "end-13")

    GET    /v2/                                  API check
    HEAD   /v2/<name>/blobs/<digest>             GET too, with Range (206); the body copied in blocks
    DELETE /v2/<name>/blobs/<digest>             202
    POST   /v2/<name>/blobs/uploads/             202 + Location; ?digest= one request; ?mount=&from=
    PATCH  /v2/<name>/blobs/uploads/<uuid>       a chunk (Content-Range start-end)    202
    PUT    /v2/<name>/blobs/uploads/<uuid>?digest=   the last chunk, verified          201
    GET    /v2/<name>/blobs/uploads/<uuid>       where it is (Range: 0-<last>)        204
    DELETE /v2/<name>/blobs/uploads/<uuid>       cancel                               204
    GET    /v2/<name>/manifests/<reference>      HEAD, PUT (201), DELETE (202)
    GET    /v2/<name>/tags/list?n=&last=         Link: <...>; rel="next"
    GET    /v2/<name>/referrers/<digest>         an image index of the manifests whose subject it is
    GET    /v2/_catalog?n=&last=
    GET    /token?service=&scope=                the token endpoint (with --token-realm)

    make_app(storage, access) -> aiohttp Application
    serve(address, storage, access, ssl_context)   until SIGTERM or SIGINT

Rules: every answer to a client's mistake is a RegistryError (the spec's JSON); the
route table below is data, matched in order, and names the action each route needs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import re
from typing import Awaitable, Callable, Iterator

from aiohttp import web

from minidock.images import digest as digests
from minidock.images import oci
from minidock.registry import auth
from minidock.registry.access import Access
from minidock.registry.errors import RegistryError
from minidock.registry.storage import TAG, Storage, check_digest, check_name

API_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
_NAME = r"(?P<name>[^?]+?)"
_DIGEST = r"(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)"
MANIFEST_MEDIA_TYPES = oci.MANIFEST_TYPES | oci.INDEX_TYPES
MAX_MANIFEST = 4 << 20  # the spec: registries SHOULD accept manifests of at least 4 MiB
BATCH_BYTES = 1 << 20  # an upload's bytes go to the writer thread in batches of about this size
BATCH_CHUNKS = 512  # ... or of this many chunks (writev(2) takes at most IOV_MAX, 1024)
READ_BUFFER = 4 << 20  # aiohttp's body buffer: it stops reading the socket at twice this
BLOB_BLOCK = 1 << 20  # a blob's body is read from its file and written to the socket in blocks of this size


# -- helpers ------------------------------------------------------------------------------------

def _location(request: web.Request, path: str) -> str:
    return path  # relative: the spec allows it, and it survives any proxy in front


def _upload_headers(request: web.Request, name: str, upload) -> dict[str, str]:
    # the spec: Range is inclusive, "0-<last byte>"; distribution says 0-0 for an empty upload
    return {"Location": _location(request, f"/v2/{name}/blobs/uploads/{upload.uuid}"),
            "Range": f"0-{max(upload.size - 1, 0)}", "Docker-Upload-UUID": upload.uuid,
            "Content-Length": "0"}


def _paginate(items: list[str], request: web.Request, path: str) -> tuple[list[str], dict[str, str]]:
    """``n`` and ``last`` as the spec says, with a Link header when more remain."""
    last = request.query.get("last")
    if last:
        items = [item for item in items if item > last]
    headers = {}
    if "n" in request.query:
        try:
            n = int(request.query["n"])
        except ValueError:
            raise RegistryError("UNSUPPORTED", "n must be a number") from None
        if n < len(items):
            items = items[:max(n, 0)]
            if items:
                # [REG-013] where the next page starts
                headers["Link"] = f'<{path}?n={n}&last={items[-1]}>; rel="next"'
    return items, headers


def check_manifest(storage: Storage, name: str, data: bytes, media_type: str) -> tuple[str, dict]:
    """Validate a pushed manifest; every blob and manifest it names must be in ``name``.

    Returns its media type (from the document when the header is vague) and the document.
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise RegistryError("MANIFEST_INVALID", "manifest invalid: not JSON") from None
    if not isinstance(document, dict) or document.get("schemaVersion") != 2:
        raise RegistryError("MANIFEST_INVALID", "manifest invalid: schemaVersion must be 2")
    own = document.get("mediaType")
    kind = own or (media_type if media_type in MANIFEST_MEDIA_TYPES else
                   oci.OCI_INDEX if "manifests" in document else oci.OCI_MANIFEST)
    if kind not in MANIFEST_MEDIA_TYPES or (own and media_type in MANIFEST_MEDIA_TYPES and own != media_type):
        # [REG-015] an unknown or contradictory media type is refused
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: media type {kind!r}")
    try:
        if kind in oci.MANIFEST_TYPES:
            blobs = [oci.parse_descriptor(document.get("config"), "config")]
            layers = document.get("layers")
            if not isinstance(layers, list):
                raise RegistryError("MANIFEST_INVALID", "manifest invalid: layers must be a list")
            blobs += [oci.parse_descriptor(layer, f"layers[{n}]") for n, layer in enumerate(layers)]
            manifests = []
        else:
            entries = document.get("manifests")
            if not isinstance(entries, list):
                raise RegistryError("MANIFEST_INVALID", "manifest invalid: manifests must be a list")
            blobs = []
            manifests = [oci.parse_descriptor(entry, f"manifests[{n}]") for n, entry in enumerate(entries)]
    except RegistryError:
        raise
    except Exception as error:  # InvalidArgument from the OCI model, naming the field
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: {getattr(error, 'message', error)}") from None
    for descriptor in blobs:
        if descriptor.media_type in oci.FOREIGN_LAYER_TYPES or descriptor.urls:
            continue  # non-distributable layers live elsewhere
        if not storage.has_blob(name, descriptor.digest):
            # [REG-014] a manifest is accepted only once every blob it names is here
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": descriptor.digest})
    for descriptor in manifests:
        if not storage.has_manifest(name, descriptor.digest):
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": descriptor.digest})
    return kind, document


# -- handlers -----------------------------------------------------------------------------------

Handler = Callable[[web.Request, Storage, dict], Awaitable[web.StreamResponse]]


async def api_check(request, storage, match) -> web.Response:
    return web.json_response({}, headers=API_HEADER)


def _byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The bytes a blob GET's ``Range`` asks for, as [start, end); None when it has none.

    One range of the forms ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last n bytes),
    an end past the blob cut to its size, as distribution's ``http.ServeContent`` does.
    """
    if "Range" not in request.headers:
        return None
    try:
        asked = request.http_range  # a slice, its stop exclusive; bytes=-n is slice(-n, None)
    except ValueError:  # not one range of bytes
        asked = None
    if asked is not None:
        start = max(size + asked.start, 0) if asked.start < 0 else asked.start
        end = size if asked.stop is None else min(asked.stop, size)
    if asked is None or start >= size:
        # [REG-017] a range the blob cannot satisfy: 416, and the blob's size
        error = RegistryError("RANGE_INVALID", f"invalid range {request.headers['Range']!r} of {size} bytes")
        error.headers = {"Content-Range": f"bytes */{size}"}  # type: ignore[attr-defined]
        raise error
    return start, end


async def get_blob(request, storage, match) -> web.StreamResponse:
    name, digest = match["name"], match["digest"]
    check_digest(digest)
    path = storage.blob_path(name, digest)
    size = storage.content.info(digest).size
    headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
               "Accept-Ranges": "bytes", "ETag": f'"{digest}"', "Content-Length": str(size)}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    wanted = _byte_range(request, size)
    start, end = wanted or (0, size)
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    if wanted is not None:
        # [REG-017] exactly the bytes asked for, and where they sit in the blob
        response.headers.update({"Content-Length": str(end - start), "Content-Range": f"bytes {start}-{end - 1}/{size}"})
    await response.prepare(request)
    await _copy_to(response, path, start, end)
    await response.write_eof()
    return response


async def _copy_to(response: web.StreamResponse, path: str, start: int, end: int) -> None:
    """Send bytes [start, end) of the file at ``path``: read in blocks on a thread, then written.

    Not sendfile(2), though it costs the registry no copy: [REG-045] on loopback, where the
    pulls are measured, a stream handed to sendfile(2) left the receiving socket's buffer at
    its first 128 KiB, so skopeo got segments of half the size, twice as many wake-ups, and
    took 1.1-1.2x distribution's time. Copied blocks, as distribution writes them, let the
    receiver's window grow (chapters/09-registry.md#the-server).
    """
    loop = asyncio.get_running_loop()
    with open(path, "rb") as file:
        file.seek(start)
        while start < end:
            block = await loop.run_in_executor(None, file.read, min(BLOB_BLOCK, end - start))
            if not block:  # the file is shorter than it was: drop the connection, never a short 200
                raise EOFError(f"{path} ended at byte {start}, before {end}")
            await response.write(block)  # waits while the socket's buffer is full
            start += len(block)


async def delete_blob(request, storage, match) -> web.Response:
    check_digest(match["digest"])
    storage.unlink_blob(match["name"], match["digest"])
    return web.Response(status=202, headers={"Content-Length": "0"})


@contextlib.contextmanager
def _writing(upload) -> Iterator[None]:
    """Hold the upload for one request; a second request on it meanwhile is refused.

    Never waited for: the event loop runs every request, so a wait here would stop the
    registry until a stalled client gave up.
    """
    if not upload.lock.acquire(blocking=False):
        # [REG-005] one writer per session, as distribution: the other is told, nothing changes
        raise RegistryError("BLOB_UPLOAD_INVALID", f"upload {upload.uuid} is being written by another request")
    try:
        yield
    finally:
        upload.lock.release()


async def _read_body_into(request: web.Request, storage: Storage, upload) -> None:
    """Append the request's body to the upload as it arrives, hashed on the way.

    The hashing and writing run on a thread of their own (hashlib and writev(2) release
    the GIL), a few batches behind the loop that receives them: the two overlap, and the
    loop stays free for other requests while a large layer comes in. The loop only
    collects the chunks aiohttp gives it; they are never copied into a bigger buffer.
    """
    loop = asyncio.get_running_loop()
    pending: collections.deque = collections.deque()
    batch: list[bytes] = []  # what arrived, handed over ~1 MiB at a time (fewer hand-overs)
    batch_size = 0
    # unbuffered: writev(2) of the batch goes straight to the kernel
    with open(upload.path, "ab", buffering=0) as file, concurrent.futures.ThreadPoolExecutor(1) as writer:
        try:
            while True:
                # readchunk, not readany (iter_any): readany joins every piece the buffer holds
                # into one new bytes, a copy of the whole layer in buffers of megabytes;
                # readchunk hands over the pieces as the HTTP parser cut them
                chunk, _end_of_http_chunk = await request.content.readchunk()
                if not chunk:
                    if request.content.at_eof():  # (an empty body's reader, shared by all, says
                        break                     # "end of chunk" for ever after its first call)
                    continue
                batch.append(chunk)
                batch_size += len(chunk)
                if batch_size >= BATCH_BYTES or len(batch) >= BATCH_CHUNKS:
                    pending.append(loop.run_in_executor(writer, storage.append, upload, batch, file))
                    batch, batch_size = [], 0
                if len(pending) > 8:  # bounded: a slow disk slows the sender, not our memory
                    await pending.popleft()
        finally:
            if batch:  # what came before an error is kept too: the upload resumes from there
                pending.append(loop.run_in_executor(writer, storage.append, upload, batch, file))
            for job in pending:  # in order, one thread: the file and the hash see the same bytes
                await job


async def start_upload(request, storage, match) -> web.Response:
    name = match["name"]
    mount, source = request.query.get("mount"), request.query.get("from")
    if mount and source and match.get("mount_allowed", True):
        check_digest(mount)
        check_name(source)
        if storage.mount(name, mount, source):
            # [REG-010] the blob is linked from the other repository: no bytes move
            return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{mount}",
                                                     "Docker-Content-Digest": mount, "Content-Length": "0"})
        # not there: the spec says to fall back to an ordinary upload session (202)
    upload = storage.start_upload(name)
    digest = request.query.get("digest")
    if digest is not None:
        # [REG-007] the whole blob in one POST
        check_digest(digest)
        with _writing(upload):
            await _read_body_into(request, storage, upload)
            size = await asyncio.to_thread(storage.commit, upload, digest)
        return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                 "Docker-Content-Digest": digest, "Content-Length": "0",
                                                 "X-Minidock-Size": str(size)})
    return web.Response(status=202, headers=_upload_headers(request, name, upload))


def _content_range(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(?:bytes )?(\d+)-(\d+)", value.strip())
    if not match or int(match[2]) < int(match[1]):
        raise RegistryError("RANGE_INVALID", f"invalid Content-Range {value!r}")
    return int(match[1]), int(match[2])


async def patch_upload(request, storage, match) -> web.Response:
    name = match["name"]
    upload = storage.upload(name, match["uuid"])
    with _writing(upload):
        # lab 09: begin: check Content-Range (start where the upload ends: else 416 RANGE_INVALID; its length the body's: else SIZE_INVALID), then append the body
        if "Content-Range" in request.headers:
            start, end = _content_range(request.headers["Content-Range"])
            if start != upload.size:
                # [REG-008] a chunk must start where the upload ends: 416, and the upload as it was
                error = RegistryError("RANGE_INVALID", f"chunk starts at {start}, the upload holds {upload.size} bytes")
                error.headers = _upload_headers(request, name, upload)  # type: ignore[attr-defined]
                raise error
            if request.content_length is not None and request.content_length != end - start + 1:
                raise RegistryError("SIZE_INVALID", "Content-Length does not match Content-Range")
        await _read_body_into(request, storage, upload)
        # lab 09: end
    return web.Response(status=202, headers=_upload_headers(request, name, upload))


async def finish_upload(request, storage, match) -> web.Response:
    name = match["name"]
    upload = storage.upload(name, match["uuid"])
    digest = request.query.get("digest")
    if not digest:
        raise RegistryError("DIGEST_INVALID", "the final PUT needs ?digest=")
    check_digest(digest)
    with _writing(upload):
        if "Content-Range" in request.headers:
            start, _ = _content_range(request.headers["Content-Range"])
            if start != upload.size:
                raise RegistryError("RANGE_INVALID", f"chunk starts at {start}, the upload holds {upload.size} bytes")
        await _read_body_into(request, storage, upload)
        await asyncio.to_thread(storage.commit, upload, digest)  # [REG-004] verified here
    return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                             "Docker-Content-Digest": digest, "Content-Length": "0"})


async def upload_status(request, storage, match) -> web.Response:
    upload = storage.upload(match["name"], match["uuid"])
    # [REG-009] where to resume
    return web.Response(status=204, headers=_upload_headers(request, match["name"], upload))


async def cancel_upload(request, storage, match) -> web.Response:
    upload = storage.upload(match["name"], match["uuid"])
    storage.cancel(upload)
    return web.Response(status=204, headers={"Content-Length": "0"})


async def get_manifest(request, storage, match) -> web.Response:
    data, media_type, digest = await asyncio.to_thread(storage.manifest, match["name"], match["reference"])
    headers = {"Docker-Content-Digest": digest, "Content-Type": media_type, "ETag": f'"{digest}"'}
    if request.method == "HEAD":
        return web.Response(headers={**headers, "Content-Length": str(len(data))})
    return web.Response(body=data, headers=headers)


async def put_manifest(request, storage, match) -> web.Response:
    name, reference = match["name"], match["reference"]
    data = await request.content.read(MAX_MANIFEST + 1)
    if len(data) > MAX_MANIFEST:
        raise RegistryError("SIZE_INVALID", "manifest larger than 4 MiB")
    header_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    media_type, document = check_manifest(storage, name, data, header_type)
    tag = None
    if ":" in reference:
        check_digest(reference)
        if digests.of_bytes(data) != reference:
            # [REG-004] a manifest pushed by digest must be the bytes that digest names
            raise RegistryError("DIGEST_INVALID", detail={"expected": reference, "actual": digests.of_bytes(data)})
    elif TAG.fullmatch(reference):
        tag = reference
    else:
        raise RegistryError("TAG_INVALID", f"invalid tag {reference!r}")
    digest = await asyncio.to_thread(storage.put_manifest, name, data, media_type, tag)
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest,
               "Content-Length": "0"}
    subject = document.get("subject")
    if isinstance(subject, dict) and subject.get("digest"):
        headers["OCI-Subject"] = subject["digest"]  # [REG-018] this registry keeps referrers
    return web.Response(status=201, headers=headers)


async def delete_manifest(request, storage, match) -> web.Response:
    storage.delete_manifest(match["name"], match["reference"])
    return web.Response(status=202, headers={"Content-Length": "0"})


async def list_tags(request, storage, match) -> web.Response:
    name = match["name"]
    tags, headers = _paginate(storage.tags(name), request, f"/v2/{name}/tags/list")
    return web.json_response({"name": name, "tags": tags}, headers=headers)


async def catalog(request, storage, match) -> web.Response:
    names, headers = _paginate(storage.repositories(), request, "/v2/_catalog")
    return web.json_response({"repositories": names}, headers=headers)


async def referrers(request, storage, match) -> web.Response:
    check_digest(match["digest"])
    found = await asyncio.to_thread(storage.referrers, match["name"], match["digest"])
    headers = {}
    wanted = request.query.get("artifactType")
    if wanted:
        found = [entry for entry in found if entry.get("artifactType") == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    # [REG-018] always an image index, empty when nothing refers to it
    return web.json_response({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": found},
                             headers=headers, content_type=oci.OCI_INDEX)


# -- the route table ----------------------------------------------------------------------------

# (method, pattern, handler, action): tried in order; the name is the rest of the path
ROUTES: list[tuple[str, re.Pattern, Handler, str | None]] = [
    (method, re.compile(pattern), handler, action) for method, pattern, handler, action in [
        ("GET", r"/v2/", api_check, None),
        ("GET", r"/v2/_catalog", catalog, "catalog"),
        ("GET", rf"/v2/{_NAME}/tags/list", list_tags, "pull"),
        ("GET", rf"/v2/{_NAME}/referrers/{_DIGEST}", referrers, "pull"),
        ("GET", rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", get_manifest, "pull"),
        ("HEAD", rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", get_manifest, "pull"),
        ("PUT", rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", put_manifest, "push"),
        ("DELETE", rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", delete_manifest, "delete"),
        ("POST", rf"/v2/{_NAME}/blobs/uploads/?", start_upload, "push"),
        ("PATCH", rf"/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", patch_upload, "push"),
        ("PUT", rf"/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", finish_upload, "push"),
        ("GET", rf"/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", upload_status, "push"),
        ("DELETE", rf"/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", cancel_upload, "push"),
        ("GET", rf"/v2/{_NAME}/blobs/{_DIGEST}", get_blob, "pull"),
        ("HEAD", rf"/v2/{_NAME}/blobs/{_DIGEST}", get_blob, "pull"),
        ("DELETE", rf"/v2/{_NAME}/blobs/{_DIGEST}", delete_blob, "delete"),
    ]
]


def route(method: str, path: str) -> tuple[Handler, dict, str | None] | None:
    """The handler for ``method path``, its match, and the action it needs; None if none."""
    for wanted, pattern, handler, action in ROUTES:
        match = pattern.fullmatch(path)
        if match and wanted == method:
            return handler, match.groupdict(), action
    return None


def _scope(match: dict, action: str | None, request: web.Request) -> auth.Scope | None:
    if action is None:
        return None
    if action == "catalog":
        return auth.Scope("registry", "catalog", frozenset({"*"}))
    return auth.Scope("repository", match["name"], frozenset({"pull", "push"} if action == "push" else {action}))


def make_app(storage: Storage, access: Access | None = None) -> web.Application:
    """The registry as an aiohttp application."""
    access = access or Access()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        try:
            found = route(request.method, request.path)
            if found is None:
                if any(pattern.fullmatch(request.path) for _, pattern, _, _ in ROUTES):
                    raise RegistryError("UNSUPPORTED", f"{request.method} is not allowed on {request.path}")
                raise web.HTTPNotFound(text="404 page not found\n")
            handler, match, action = found
            if "name" in match:
                check_name(match["name"])
            access.check(request, _scope(match, action, request))
            if request.method == "POST" and action == "push" and request.query.get("from"):
                # a mount reads the source repository: without pull there, an ordinary upload
                try:
                    access.check(request, auth.Scope("repository", request.query["from"], frozenset({"pull"})))
                    match["mount_allowed"] = True
                except RegistryError:
                    match["mount_allowed"] = False
            response = await handler(request, storage, match)
        except RegistryError as error:
            headers = {**API_HEADER, **getattr(error, "headers", {}), "Content-Type": "application/json"}
            headers.pop("Content-Length", None)
            return web.Response(status=error.status, body=error.body() if request.method != "HEAD" else None,
                                headers=headers)
        response.headers.update(API_HEADER)
        return response

    async def token(request: web.Request) -> web.StreamResponse:
        try:
            return access.token(request)
        except RegistryError as error:
            return web.Response(status=error.status, body=error.body(),
                                headers={**getattr(error, "headers", {}), "Content-Type": "application/json"})

    app = web.Application(client_max_size=0)
    if access.mode == "token":
        app.router.add_route("GET", "/token", token)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
    app.router.add_route("*", "/v2", lambda request: _redirect())
    return app


async def _redirect() -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/v2/")


async def serve(host: str, port: int, app: web.Application, ssl_context=None,
                ready: Callable[[int], None] | None = None) -> None:
    """Serve ``app`` on host:port until SIGTERM or SIGINT; ``ready`` gets the bound port."""
    import signal

    # a bigger body buffer than aiohttp's 64 KiB: fewer pauses of the socket while a layer comes in
    runner = web.AppRunner(app, access_log=None, read_bufsize=READ_BUFFER)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # port 0: the kernel's choice
    if ready is not None:
        ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
