"""The distribution client: manifests and blobs to and from any OCI registry.

Implements: spec/registry.md REG-030 .. REG-037
Explained:  chapters/09-registry.md#the-client
Modelled on: distribution's registry/client and the docker daemon's distribution/
             (pull_v2.go, push_v2.go), containerd's remotes/docker (the auth dance)

    RegistryClient(domain, credentials, insecure)
      .ping()                                  GET /v2/, authenticating as asked: `login`
      .get_manifest(name, reference) -> (bytes, media type, digest)   checked against the digest
      .fetch_blob(name, digest, size, path, progress)   resumed with Range, checked at the end
      .blob_size(name, digest) -> size | None  HEAD: is it there already?
      .upload_blob(name, digest, size, open, progress, mount_from) -> "exists" | "mounted" | "pushed"
      .put_manifest(name, reference, data, media_type) -> digest
      .tags(name), .catalog()
    is_insecure(domain, insecure_registries) -> bool

    request ──401 + WWW-Authenticate──▶ Basic: send the credentials
                                        Bearer realm,service,scope: GET realm (Basic) -> token
            ──again, with Authorization──▶ the answer (a second 401 is the user's problem)

Rules: nothing the registry sends is trusted until its digest is checked; an
insecure registry is tried over HTTPS without verification first, then plain HTTP
(Docker's order); everything else is HTTPS with verification. Synchronous, one
connection per request: the engine runs it in threads, several layers at once.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import os
import ssl
import threading
from typing import BinaryIO, Callable
from urllib.parse import urlencode, urlsplit

from minidock.errors import Forbidden, InvalidArgument, MinidockError, NotFound, Unauthorized, Unavailable
from minidock.images import digest as digests
from minidock.images import oci
from minidock.registry import auth

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
ACCEPT = ", ".join([oci.OCI_INDEX, oci.DOCKER_MANIFEST_LIST, oci.OCI_MANIFEST, oci.DOCKER_MANIFEST])
_CHUNK = 1 << 20
_BY_STATUS = {400: InvalidArgument, 401: Unauthorized, 403: Forbidden, 404: NotFound}
Progress = Callable[[int, int], None]


def _hash_file(hasher, path: str, start: int) -> int:
    """Feed ``hasher`` the bytes of ``path`` from offset ``start`` on; return where it ended."""
    with open(path, "rb") as file:
        file.seek(start)
        while chunk := file.read(_CHUNK):
            hasher.update(chunk)
            start += len(chunk)
    return start


def is_insecure(domain: str, insecure_registries: tuple[str, ...] | list[str] = ()) -> bool:
    """Plain HTTP allowed? For the daemon's --insecure-registry entries (names or CIDRs) and loopback."""
    host = urlsplit(f"//{domain}").hostname or domain
    if domain in insecure_registries or host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True  # [REG-033] as Docker: 127.0.0.0/8 is insecure by default
    for entry in insecure_registries:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def registry_error(status: int, body: bytes, what: str = "") -> MinidockError:
    """The registry's error document in Docker's words: ``manifest unknown: manifest unknown``."""
    message = ""
    try:
        errors = json.loads(body)["errors"]
        first = errors[0]
        message = f"{first['code'].lower().replace('_', ' ')}: {first.get('message') or ''}".rstrip(": ")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        message = body.decode(errors="replace").strip()[:200] or f"HTTP {status}"
    if what:
        message = f"{what}: {message}"
    error = _BY_STATUS.get(status, MinidockError)(message)
    error.status = status
    return error


class _Counting:
    """A file's reader that reports how far it got (the push's progress bar)."""

    def __init__(self, file: BinaryIO, total: int, progress: Progress | None, start: int = 0) -> None:
        self.file, self.total, self.progress, self.done = file, total, progress, start

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        self.done += len(chunk)
        if self.progress is not None and chunk:
            self.progress(self.done, self.total)
        return chunk


class RegistryClient:
    """One registry (``domain`` as in a reference: ``127.0.0.1:5000``, ``docker.io``)."""

    def __init__(self, domain: str, credentials: dict | None = None, insecure: bool = False,
                 timeout: float = 60.0) -> None:
        self.domain = domain
        self.host = DOCKER_HUB_ENDPOINT if domain == DOCKER_HUB else domain
        self.credentials = credentials or {}   # {"username", "password"} or {"identitytoken"}
        self.insecure = insecure
        self.timeout = timeout
        self.scheme: str | None = None if insecure else "https"
        self._authorization: dict[str, str] = {}   # scope key -> Authorization header
        self._lock = threading.Lock()

    # -- the wire -----------------------------------------------------------------------------

    def _connection(self, scheme: str, host: str) -> http.client.HTTPConnection:
        if scheme == "http":
            return http.client.HTTPConnection(host, timeout=self.timeout, blocksize=_CHUNK)
        context = ssl.create_default_context()
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(host, timeout=self.timeout, context=context, blocksize=_CHUNK)

    def _send(self, method: str, target: str, headers: dict[str, str], body) -> http.client.HTTPResponse:
        """One request; the scheme of an insecure registry found on the first one."""
        schemes = [self.scheme] if self.scheme else ["https", "http"]
        for scheme in schemes:
            connection = self._connection(scheme, self.host)
            try:
                connection.request(method, target, body=body, headers={"User-Agent": "minidock", **headers})
                response = connection.getresponse()
            except (ssl.SSLError, ConnectionResetError, http.client.BadStatusLine) as error:
                connection.close()
                if scheme == schemes[-1]:
                    raise Unavailable(f"Get \"{scheme}://{self.host}/v2/\": {error}") from None
                continue  # [REG-033] no TLS there: an insecure registry speaks plain HTTP
            except OSError as error:
                connection.close()
                raise Unavailable(f"Get \"{scheme}://{self.host}/v2/\": {error}") from None
            self.scheme = scheme
            response.connection = connection  # type: ignore[attr-defined]
            return response
        raise Unavailable(f"cannot reach {self.host}")

    def _get_url(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        """GET an absolute URL (a token realm, a blob's redirect to a CDN)."""
        parts = urlsplit(url)
        connection = self._connection(parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers={"User-Agent": "minidock", **headers})
            response = connection.getresponse()
        except OSError as error:
            connection.close()
            raise Unavailable(f"Get \"{url}\": {error}") from None
        response.connection = connection  # type: ignore[attr-defined]
        return response

    def request(self, method: str, target: str, scopes: list[str], headers: dict[str, str] | None = None,
                body=None, ok: tuple[int, ...] = (200,), what: str = "") -> http.client.HTTPResponse:
        """Send, answering one authentication challenge; return a response whose status is in ``ok``.

        ``body`` may be bytes or a seekable file (sent again from its start after a 401).
        """
        headers = dict(headers or {})
        key = " ".join(sorted(scopes))
        start = body.tell() if hasattr(body, "tell") else None
        for attempt in (1, 2):
            if key in self._authorization:
                headers["Authorization"] = self._authorization[key]
            response = self._send(method, target, headers, body)
            if response.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = response.getheader("Location", "")
                response.read()
                response.close()
                # blobs may live behind a redirect (a CDN); its URL carries its own permission
                response = self._get_url(location, {k: v for k, v in headers.items() if k != "Authorization"}) \
                    if location.startswith("http") else self._send(method, location, headers, body)
            if response.status == 401 and attempt == 1:
                challenge = response.getheader("WWW-Authenticate", "")
                response.read()
                response.close()
                self._authorization[key] = self._authenticate(challenge, scopes)
                if start is not None:
                    body.seek(start)
                continue
            break
        if response.status not in ok:
            data = response.read() if method != "HEAD" else b""
            response.close()
            raise registry_error(response.status, data, what)
        return response

    def _authenticate(self, challenge: str, scopes: list[str]) -> str:
        """The Authorization header a 401's challenge asks for."""
        kind, params = auth.parse_challenge(challenge)
        user, password = self.credentials.get("username", ""), self.credentials.get("password", "")
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None
        if kind == "basic":
            if basic is None:
                raise Unauthorized("unauthorized: authentication required (log in first: minidock login)")
            return basic  # [REG-031] Basic: the credentials themselves
        if kind != "bearer" or "realm" not in params:
            raise Unauthorized(f"unauthorized: the registry asks for {challenge!r}, which minidock cannot answer")
        # [REG-030] Bearer: a token for exactly these scopes from the realm, with our credentials
        query = [("service", params.get("service", ""))] + [("scope", scope) for scope in scopes or
                                                            ([params["scope"]] if "scope" in params else [])]
        if user:
            query.append(("account", user))
        response = self._get_url(f"{params['realm']}?{urlencode(query)}", {"Authorization": basic} if basic else {})
        data = response.read()
        response.close()
        if response.status != 200:
            raise registry_error(response.status, data, "get token") if response.status != 401 else \
                Unauthorized("unauthorized: incorrect username or password")
        document = json.loads(data)
        return f"Bearer {document.get('token') or document.get('access_token')}"

    # -- the API --------------------------------------------------------------------------------

    def ping(self) -> None:
        """GET /v2/, logging in if asked (what `docker login` checks)."""
        response = self.request("GET", "/v2/", [], what="login")
        response.read()
        response.close()

    def get_manifest(self, name: str, reference: str) -> tuple[bytes, str, str]:
        """The manifest (or index) ``reference`` names; its bytes checked against its digest."""
        response = self.request("GET", f"/v2/{name}/manifests/{reference}", [f"repository:{name}:pull"],
                                {"Accept": ACCEPT})
        data = response.read()
        response.close()
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        actual = digests.of_bytes(data)
        expected = reference if ":" in reference else response.getheader("Docker-Content-Digest") or actual
        if actual != expected:
            # [REG-034] a manifest that is not the bytes its digest names is refused
            raise InvalidArgument(f"manifest verification failed for digest {expected}: the registry sent {actual}")
        if media_type in ("", "application/json", "text/plain"):
            try:
                media_type = json.loads(data).get("mediaType") or oci.OCI_MANIFEST
            except (ValueError, AttributeError):
                pass
        return data, media_type, actual

    def blob_size(self, name: str, digest: str, scopes: list[str] | None = None) -> int | None:
        """HEAD: the blob's size if ``name`` has it, else None."""
        try:
            response = self.request("HEAD", f"/v2/{name}/blobs/{digest}", scopes or [f"repository:{name}:pull"])
        except NotFound:
            return None
        response.read()
        response.close()
        return int(response.getheader("Content-Length") or 0)

    def fetch_blob(self, name: str, digest: str, size: int, path: str,
                   progress: Progress | None = None, attempts: int = 5) -> None:
        """Download a blob to ``path``, resuming a partial file with Range; check its digest.

        The bytes are hashed as they are written (one pass over them); a resumed download
        hashes what the partial file holds first.
        """
        failure: Exception | None = None
        hasher, hashed = hashlib.sha256(), 0
        for _ in range(attempts):
            have = os.path.getsize(path) if os.path.exists(path) else 0
            if hashed < have:
                hashed = _hash_file(hasher, path, hashed)
            if have >= size > 0:
                break
            # [REG-035] what an interrupted download left is kept; ask for the rest
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                response = self.request("GET", f"/v2/{name}/blobs/{digest}", [f"repository:{name}:pull"],
                                        headers, ok=(200, 206))
                if response.status == 200 and have:
                    have, hasher, hashed = 0, hashlib.sha256(), 0  # the registry ignored the Range: start again
                with open(path, "ab" if have else "wb") as out:
                    buffer = memoryview(bytearray(_CHUNK))
                    while count := response.readinto(buffer):
                        chunk = buffer[:count]
                        out.write(chunk)
                        hasher.update(chunk)
                        have = hashed = have + count
                        if progress is not None:
                            progress(have, size)
                response.close()
                if have >= size:
                    break
                failure = Unavailable(f"blob {digest}: the connection ended after {have} of {size} bytes")
            except (OSError, http.client.HTTPException, Unavailable) as error:
                failure = error
        else:
            raise Unavailable(f"downloading {digest} failed: {failure}")
        if hashed < os.path.getsize(path):
            hashed = _hash_file(hasher, path, hashed)
        if f"sha256:{hasher.hexdigest()}" != digest:
            os.unlink(path)
            # [REG-034] a blob that is not what its digest names never reaches the store
            raise InvalidArgument(f"filesystem layer verification failed for digest {digest}")

    def upload_blob(self, name: str, digest: str, size: int, open_blob: Callable[[], BinaryIO],
                    progress: Progress | None = None, mount_from: str | None = None,
                    chunk_size: int | None = None) -> str:
        """Push one blob unless the registry has it: "exists", "mounted" or "pushed"."""
        scopes = [f"repository:{name}:pull,push"] + ([f"repository:{mount_from}:pull"] if mount_from else [])
        if self.blob_size(name, digest, scopes) is not None:
            return "exists"  # [REG-036] HEAD first: no byte sent twice
        if mount_from:
            query = urlencode({"mount": digest, "from": mount_from})
            response = self.request("POST", f"/v2/{name}/blobs/uploads/?{query}", scopes, ok=(201, 202),
                                    body=b"", headers={"Content-Length": "0"})
            response.read()
            response.close()
            if response.status == 201:
                return "mounted"  # [REG-036] linked from the other repository, no bytes sent
        else:
            response = self.request("POST", f"/v2/{name}/blobs/uploads/", scopes, ok=(202,),
                                    body=b"", headers={"Content-Length": "0"})
            response.read()
            response.close()
        location = _target(response.getheader("Location", ""))
        with open_blob() as file:
            sent = 0
            while chunk_size and sent < size:
                # chunked: PATCH with Content-Range, each starting where the last ended
                data = file.read(min(chunk_size, size - sent))
                response = self.request("PATCH", location, scopes, {
                    "Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                    "Content-Range": f"{sent}-{sent + len(data) - 1}"}, body=data, ok=(202,))
                response.read()
                response.close()
                location = _target(response.getheader("Location", location))
                sent += len(data)
                if progress is not None:
                    progress(sent, size)
            separator = "&" if "?" in location else "?"
            body = _Counting(file, size, progress, sent) if sent < size else b""
            response = self.request("PUT", f"{location}{separator}{urlencode({'digest': digest})}", scopes, {
                "Content-Type": "application/octet-stream", "Content-Length": str(size - sent)},
                body=body, ok=(201,))
            response.read()
            response.close()
        return "pushed"

    def put_manifest(self, name: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or its digest; return its digest."""
        response = self.request("PUT", f"/v2/{name}/manifests/{reference}", [f"repository:{name}:pull,push"],
                                {"Content-Type": media_type}, body=data, ok=(201,))
        response.read()
        response.close()
        return response.getheader("Docker-Content-Digest") or digests.of_bytes(data)

    def tags(self, name: str) -> list[str]:
        """Every tag of ``name``, following the Link header's pages."""
        found, target = [], f"/v2/{name}/tags/list"
        while target:
            response = self.request("GET", target, [f"repository:{name}:pull"])
            found += json.loads(response.read()).get("tags") or []
            response.close()
            link = response.getheader("Link", "")
            target = _target(link[link.index("<") + 1:link.index(">")]) if "<" in link else ""
        return found

    def catalog(self) -> list[str]:
        """Every repository, following the Link header's pages."""
        found, target = [], "/v2/_catalog"
        while target:
            response = self.request("GET", target, ["registry:catalog:*"])
            found += json.loads(response.read()).get("repositories") or []
            response.close()
            link = response.getheader("Link", "")
            target = _target(link[link.index("<") + 1:link.index(">")]) if "<" in link else ""
        return found


def _target(location: str) -> str:
    """A Location (absolute or not) as the path and query to send to the same registry."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
