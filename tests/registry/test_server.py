"""The registry server against the OCI distribution spec: minidock's, and distribution's
where the two overlap (the `server` fixture runs a test on both).

Black-box: raw HTTP on loopback. Each test uses repositories of its own.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading

import pytest

from tests.registry.conftest import OCI_INDEX, OCI_MANIFEST, digest_of, error_code, registry_argv


def repo(prefix: str = "t") -> str:
    return f"{prefix}/{secrets.token_hex(4)}"


@pytest.mark.spec("REG-006", "REG-020")
def test_the_api_check_and_blob_heads(server):
    status, headers, _ = server.request("GET", "/v2/")
    assert status == 200 and headers["Docker-Distribution-API-Version"] == "registry/2.0"
    name = repo()
    digest = server.push_blob(name, b"hello blob")
    status, headers, body = server.request("HEAD", f"/v2/{name}/blobs/{digest}")
    assert status == 200 and body == b""
    assert headers["Content-Length"] == "10" and headers["Docker-Content-Digest"] == digest
    status, _, body = server.request("GET", f"/v2/{name}/blobs/{digest}")
    assert (status, body) == (200, b"hello blob")
    unknown = digest_of(b"nobody pushed this")
    status, _, body = server.request("GET", f"/v2/{name}/blobs/{unknown}")
    assert status == 404 and error_code(body) == "BLOB_UNKNOWN"
    assert set(json.loads(body)["errors"][0]) >= {"code", "message"}


@pytest.mark.spec("REG-017")
def test_a_range_of_a_blob(server):
    name, data = repo(), bytes(range(256)) * 4
    digest = server.push_blob(name, data)
    for asked, start, end in [("bytes=10-19", 10, 20), ("bytes=-5", 1019, 1024), ("bytes=1000-", 1000, 1024),
                              ("bytes=1000-5000", 1000, 1024)]:  # an end past the blob is cut to its size
        status, headers, body = server.request("GET", f"/v2/{name}/blobs/{digest}", headers={"Range": asked})
        assert (status, body) == (206, data[start:end]), asked
        assert headers["Content-Range"] == f"bytes {start}-{end - 1}/1024", asked
        assert headers["Content-Length"] == str(end - start), asked
    if server.kind == "distribution":
        return  # its 416 keeps the blob's Content-Length over a shorter text body: http.client reads it as cut
    for asked in ("bytes=1024-", "bytes=20-10", "bytes=x"):  # past the end, backwards, not a range
        status, headers, _ = server.request("GET", f"/v2/{name}/blobs/{digest}", headers={"Range": asked})
        assert status == 416 and headers["Content-Range"] == "bytes */1024", asked


@pytest.mark.spec("REG-045")
def test_a_blob_is_sent_in_copied_blocks_not_by_sendfile(minidock_registry, tmp_path):
    """strace on the registry while it sends a 4 MiB blob: send(2)s carry it, sendfile(2) never runs."""
    if not shutil.which("strace"):
        pytest.skip("needs strace (make deb)")
    name, data = repo(), os.urandom(4 << 20)
    digest = minidock_registry.push_blob(name, data)
    log = tmp_path / "calls"
    tracer = subprocess.Popen(["strace", "-f", "-e", "trace=sendfile,sendto", "-o", str(log),
                               "-p", str(minidock_registry.process.pid)], stderr=subprocess.PIPE, text=True)
    try:
        attached = tracer.stderr.readline()  # "strace: Process N attached with M threads"
        assert "attached" in attached, attached
        status, _, body = minidock_registry.request("GET", f"/v2/{name}/blobs/{digest}")
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    assert (status, body) == (200, data)
    calls = log.read_text()
    assert "sendfile(" not in calls
    # the bytes each sendto(2) was given (its third argument): strace may detach before it prints
    # the result of the last one, "<detached ...>", though the client has every byte by then
    given = sum(int(found) for found in re.findall(r'sendto\(\d+, "(?:[^"\\]|\\.)*"(?:\.\.\.)?, (\d+),', calls))
    assert given >= len(data), calls[-2000:]


@pytest.mark.spec("REG-007")
def test_a_monolithic_upload_in_one_post(server):
    name, data = repo(), os.urandom(3000)
    digest = digest_of(data)
    status, headers, body = server.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data,
                                           {"Content-Type": "application/octet-stream"})
    if server.kind == "distribution":
        # distribution 2.8 ignores ?digest= on POST: the spec lets a registry answer 202 instead
        assert status == 202
        return
    assert status == 201, body
    assert headers["Docker-Content-Digest"] == digest and headers["Location"].endswith(f"/v2/{name}/blobs/{digest}")
    assert server.request("GET", f"/v2/{name}/blobs/{digest}")[2] == data


@pytest.mark.spec("REG-007")
def test_a_monolithic_upload_post_then_put(server):
    name, data = repo(), os.urandom(5000)
    digest = server.push_blob(name, data)  # POST (202 + Location), PUT ?digest= with the body (201)
    assert server.request("GET", f"/v2/{name}/blobs/{digest}")[2] == data


def _location(server, headers) -> str:
    location = headers["Location"]
    return location.split(server.address, 1)[-1] if "://" in location else location


@pytest.mark.spec("REG-008", "REG-009")
def test_a_chunked_upload_and_its_status(server):
    name, data = repo(), os.urandom(10_000)
    status, headers, _ = server.request("POST", f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
    assert status == 202
    location = _location(server, headers)
    for start in range(0, len(data), 4000):
        chunk = data[start:start + 4000]
        status, headers, body = server.request("PATCH", location, chunk, {
            "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(chunk) - 1}"})
        assert status == 202, body
        assert headers["Range"] == f"0-{start + len(chunk) - 1}"
        location = _location(server, headers)
    # where it stands, as a resuming client asks
    status, headers, _ = server.request("GET", location)
    assert status == 204 and headers["Range"] == f"0-{len(data) - 1}"
    # a chunk that does not follow on is refused, and the upload is as it was
    # (distribution 2.8 does not check Content-Range: it would append; v1.1 says 416)
    if server.kind == "minidock":
        status, _, _ = server.request("PATCH", location, b"xx", {"Content-Type": "application/octet-stream",
                                                                  "Content-Range": "5-6"})
        assert status == 416
    separator = "&" if "?" in location else "?"
    status, headers, body = server.request("PUT", f"{location}{separator}digest={digest_of(data)}")
    assert status == 201, body
    assert server.request("GET", f"/v2/{name}/blobs/{digest_of(data)}")[2] == data


@pytest.mark.spec("REG-008")
def test_streamed_patches_finished_by_empty_puts_one_after_another(server):
    """skopeo's way: one PATCH with a chunked (Transfer-Encoding) body, then a PUT with none; twice."""
    for _ in range(2):
        name, pieces = repo(), [os.urandom(n) for n in (32768, 1, 70000, 32768)]
        data = b"".join(pieces)
        status, headers, _ = server.request("POST", f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
        assert status == 202
        status, headers, body = server.request("PATCH", _location(server, headers), iter(pieces),
                                               {"Content-Type": "application/octet-stream"})
        assert status == 202 and headers["Range"] == f"0-{len(data) - 1}", body
        location = _location(server, headers)
        separator = "&" if "?" in location else "?"
        status, _, body = server.request("PUT", f"{location}{separator}digest={digest_of(data)}")
        assert status == 201, body
        assert server.request("GET", f"/v2/{name}/blobs/{digest_of(data)}")[2] == data


@pytest.mark.spec("REG-009")
def test_an_unknown_upload_session(server):
    name = repo()
    server.push_blob(name, b"make the repository")
    status, _, body = server.request("GET", f"/v2/{name}/blobs/uploads/6b1e7f1c-0000-4000-8000-000000000000")
    # distribution 2.8 says BLOB_UPLOAD_INVALID (no upload state in the URL), with the same 404
    assert status == 404 and error_code(body) == ("BLOB_UPLOAD_UNKNOWN" if server.kind == "minidock"
                                                  else "BLOB_UPLOAD_INVALID")


@pytest.mark.spec("REG-004", "REG-002", "REG-020")
def test_a_wrong_digest_is_refused_and_nothing_is_stored(server):
    name, data = repo(), b"the real bytes"
    wrong = digest_of(b"other bytes")
    status, headers, _ = server.request("POST", f"/v2/{name}/blobs/uploads/")
    location = _location(server, headers)
    separator = "&" if "?" in location else "?"
    status, _, body = server.request("PUT", f"{location}{separator}digest={wrong}", data,
                                     {"Content-Type": "application/octet-stream"})
    assert status == 400 and error_code(body) == "DIGEST_INVALID"
    assert server.request("HEAD", f"/v2/{name}/blobs/{wrong}")[0] == 404
    assert server.request("HEAD", f"/v2/{name}/blobs/{digest_of(data)}")[0] == 404


@pytest.mark.spec("REG-004", "REG-005")
def test_nothing_of_a_refused_upload_is_left_on_disk(start_registry):
    server = start_registry()
    name = repo()
    status, headers, _ = server.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest_of(b'x')}", b"y")
    assert status == 400
    blobs = server.root / "data" / "blobs" / "sha256"
    assert os.listdir(blobs) == [] and os.listdir(server.root / "data" / "uploads") == []


@pytest.mark.spec("REG-005")
def test_concurrent_uploads_of_one_blob(server):
    name, data = repo(), os.urandom(1 << 20)
    errors = []

    def push() -> None:
        try:
            server.push_blob(name, data)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert server.request("GET", f"/v2/{name}/blobs/{digest_of(data)}")[2] == data


@pytest.mark.spec("REG-010")
def test_a_cross_repository_mount(server):
    source, target = repo("src"), repo("dst")
    digest = server.push_blob(source, b"shared layer")
    status, headers, _ = server.request("POST", f"/v2/{target}/blobs/uploads/?mount={digest}&from={source}")
    assert status == 201 and headers["Docker-Content-Digest"] == digest
    assert server.request("GET", f"/v2/{target}/blobs/{digest}")[2] == b"shared layer"
    # the source does not have it: an ordinary upload session instead
    missing = digest_of(b"not in the source")
    status, headers, _ = server.request("POST", f"/v2/{target}/blobs/uploads/?mount={missing}&from={source}")
    assert status == 202 and headers["Location"]


@pytest.mark.spec("REG-011")
def test_a_name_that_is_not_a_repository_name(start_registry):
    server = start_registry()
    for name in ("Upper/case", "a/../b", "a//b", "-a"):
        status, _, body = server.request("POST", f"/v2/{name}/blobs/uploads/")
        assert status in (400, 404), name
        if status == 400:
            assert error_code(body) == "NAME_INVALID"
    assert os.listdir(server.root / "data" / "repositories") == []
    assert os.listdir(server.root / "data" / "uploads") == []


@pytest.mark.spec("REG-012")
@pytest.mark.parametrize("media_type", [OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"])
def test_manifests_by_tag_and_by_digest(server, media_type):
    name = repo()
    pushed = server.push_image(name, "v1", media_type=media_type)
    for reference in ("v1", pushed.digest):
        status, headers, body = server.request("GET", f"/v2/{name}/manifests/{reference}",
                                               headers={"Accept": media_type})
        assert status == 200 and body == pushed.manifest
        assert headers["Content-Type"] == media_type and headers["Docker-Content-Digest"] == pushed.digest
    status, headers, body = server.request("HEAD", f"/v2/{name}/manifests/v1", headers={"Accept": media_type})
    assert status == 200 and headers["Docker-Content-Digest"] == pushed.digest
    status, _, body = server.request("GET", f"/v2/{name}/manifests/nope", headers={"Accept": media_type})
    assert status == 404 and error_code(body) == "MANIFEST_UNKNOWN"


@pytest.mark.spec("REG-012")
@pytest.mark.parametrize("media_type", [OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"])
def test_an_index_and_a_manifest_list(server, media_type):
    name = repo()
    docker = "docker" in media_type
    child = server.push_image(name, "amd64", media_type="application/vnd.docker.distribution.manifest.v2+json"
                              if docker else OCI_MANIFEST)
    index = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": [
        {"mediaType": json.loads(child.manifest)["mediaType"], "digest": child.digest, "size": len(child.manifest),
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    status, headers, body = server.request("PUT", f"/v2/{name}/manifests/multi", index, {"Content-Type": media_type})
    assert status == 201, body
    status, headers, body = server.request("GET", f"/v2/{name}/manifests/multi", headers={"Accept": media_type})
    assert status == 200 and body == index and headers["Content-Type"] == media_type


@pytest.mark.spec("REG-012", "REG-002")
def test_a_manifest_pushed_by_digest_must_match_it(server):
    name = repo()
    pushed = server.push_image(name, "v1")
    status, _, body = server.request("PUT", f"/v2/{name}/manifests/{pushed.digest}", pushed.manifest,
                                     {"Content-Type": OCI_MANIFEST})
    assert status == 201, body
    wrong = digest_of(b"something else")
    status, _, body = server.request("PUT", f"/v2/{name}/manifests/{wrong}", pushed.manifest,
                                     {"Content-Type": OCI_MANIFEST})
    assert status == 400 and error_code(body) == "DIGEST_INVALID"


@pytest.mark.spec("REG-014")
def test_a_manifest_naming_a_missing_blob(server):
    name = repo()
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    server.push_blob(name, config)
    missing = b"never pushed"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest_of(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": digest_of(missing), "size": len(missing)}]}).encode()
    status, _, body = server.request("PUT", f"/v2/{name}/manifests/v1", manifest, {"Content-Type": OCI_MANIFEST})
    assert status == 400 and error_code(body) == "MANIFEST_BLOB_UNKNOWN"
    assert server.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})[0] == 404


@pytest.mark.spec("REG-015")
@pytest.mark.parametrize("body", [b"not json", b'{"schemaVersion": 1}', b"[]"])
def test_a_manifest_that_is_not_a_manifest(server, body):
    if server.kind == "distribution" and b"schemaVersion" in body:
        pytest.skip("distribution 2.8 answers a schema 1 manifest without a signature with a 500")
    name = repo()
    server.push_blob(name, b"make the repository")
    status, _, answer = server.request("PUT", f"/v2/{name}/manifests/v1", body, {"Content-Type": OCI_MANIFEST})
    assert status == 400 and error_code(answer) == "MANIFEST_INVALID"


@pytest.mark.spec("REG-015")
def test_a_manifest_of_an_unknown_media_type(start_registry):
    server = start_registry()
    name = repo()
    document = {"schemaVersion": 2, "mediaType": "application/vnd.example.unknown+json", "layers": []}
    status, _, body = server.request("PUT", f"/v2/{name}/manifests/v1", json.dumps(document).encode(),
                                     {"Content-Type": "application/vnd.example.unknown+json"})
    assert status == 400 and error_code(body) == "MANIFEST_INVALID"


@pytest.mark.spec("REG-013")
def test_tags_are_listed_in_order_and_paginated(server):
    name = repo()
    pushed = server.push_image(name, "b")
    for tag in ("c", "a", "d"):
        status, _, _ = server.request("PUT", f"/v2/{name}/manifests/{tag}", pushed.manifest,
                                      {"Content-Type": OCI_MANIFEST})
        assert status == 201
    status, _, body = server.request("GET", f"/v2/{name}/tags/list")
    if server.kind == "distribution":
        # distribution 2.8 lists in directory order; lexical order is v1.1's rule
        assert sorted(json.loads(body)["tags"]) == ["a", "b", "c", "d"]
        return
    assert json.loads(body) == {"name": name, "tags": ["a", "b", "c", "d"]}
    status, headers, body = server.request("GET", f"/v2/{name}/tags/list?n=2")
    assert json.loads(body)["tags"] == ["a", "b"] and 'rel="next"' in headers["Link"]
    status, headers, body = server.request("GET", f"/v2/{name}/tags/list?n=2&last=b")
    assert json.loads(body)["tags"] == ["c", "d"]
    status, _, body = server.request("GET", f"/v2/{repo('none')}/tags/list")
    assert status == 404 and error_code(body) == "NAME_UNKNOWN"


@pytest.mark.spec("REG-013")
def test_the_catalog_is_paginated(start_registry):
    server = start_registry()
    for name in ("c/x", "a/x", "b/x"):
        server.push_blob(name, b"blob of " + name.encode())
    status, _, body = server.request("GET", "/v2/_catalog")
    assert json.loads(body)["repositories"] == ["a/x", "b/x", "c/x"]
    status, headers, body = server.request("GET", "/v2/_catalog?n=1&last=a/x")
    assert json.loads(body)["repositories"] == ["b/x"] and 'rel="next"' in headers["Link"]


@pytest.mark.spec("REG-016")
def test_deleting_a_manifest_and_a_blob(server):
    name = repo()
    pushed = server.push_image(name, "v1")
    status, _, _ = server.request("DELETE", f"/v2/{name}/manifests/{pushed.digest}")
    assert status == 202
    assert server.request("GET", f"/v2/{name}/manifests/{pushed.digest}", headers={"Accept": OCI_MANIFEST})[0] == 404
    layer = digest_of(pushed.layer)
    assert server.request("DELETE", f"/v2/{name}/blobs/{layer}")[0] == 202
    assert server.request("HEAD", f"/v2/{name}/blobs/{layer}")[0] == 404


@pytest.mark.spec("REG-016")
def test_deleting_a_tag_keeps_the_manifest(start_registry):
    server = start_registry()
    name = repo()
    pushed = server.push_image(name, "v1")
    assert server.request("DELETE", f"/v2/{name}/manifests/v1")[0] == 202
    assert server.request("GET", f"/v2/{name}/manifests/v1")[0] == 404
    assert server.request("GET", f"/v2/{name}/manifests/{pushed.digest}")[0] == 200


@pytest.mark.spec("REG-016")
def test_garbage_collection_with_a_dry_run(start_registry):
    import subprocess

    server = start_registry()
    kept = server.push_image("gc/kept", "v1", layer=b"kept layer")
    gone = server.push_image("gc/gone", "v1", layer=b"gone layer")
    assert server.request("DELETE", f"/v2/gc/gone/manifests/{gone.digest}")[0] == 202
    root = str(server.root / "data")
    dry = subprocess.run(registry_argv("gc", "--root", root, "--dry-run"), capture_output=True, text=True, check=True)
    assert f"would delete blob {gone.digest}" in dry.stdout
    assert server.request("HEAD", f"/v2/gc/gone/blobs/{digest_of(gone.layer)}")[0] == 200
    real = subprocess.run(registry_argv("gc", "--root", root), capture_output=True, text=True, check=True)
    assert f"deleted blob {digest_of(gone.layer)}" in real.stdout and kept.digest not in real.stdout
    assert server.request("HEAD", f"/v2/gc/gone/blobs/{digest_of(gone.layer)}")[0] == 404
    assert server.request("GET", f"/v2/gc/kept/blobs/{digest_of(kept.layer)}")[2] == kept.layer
    assert server.request("GET", "/v2/gc/kept/manifests/v1")[0] == 200


@pytest.mark.spec("REG-018")
def test_the_referrers_api(start_registry):
    server = start_registry()
    name = repo()
    image = server.push_image(name, "v1")
    empty = b"{}"
    server.push_blob(name, empty)
    signature = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                            "artifactType": "application/vnd.example.signature",
                            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                       "digest": digest_of(empty), "size": 2},
                            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json",
                                        "digest": digest_of(empty), "size": 2}],
                            "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest,
                                        "size": len(image.manifest)}}).encode()
    status, headers, body = server.request("PUT", f"/v2/{name}/manifests/{digest_of(signature)}", signature,
                                           {"Content-Type": OCI_MANIFEST})
    assert status == 201, body
    assert headers["OCI-Subject"] == image.digest
    status, headers, body = server.request("GET", f"/v2/{name}/referrers/{image.digest}")
    index = json.loads(body)
    assert status == 200 and headers["Content-Type"].startswith(OCI_INDEX)
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == \
        [(digest_of(signature), "application/vnd.example.signature")]
    status, headers, body = server.request("GET", f"/v2/{name}/referrers/{image.digest}?artifactType=other/type")
    assert json.loads(body)["manifests"] == [] and headers["OCI-Filters-Applied"] == "artifactType"
    status, _, body = server.request("GET", f"/v2/{name}/referrers/{digest_of(b'none')}")
    assert status == 200 and json.loads(body)["manifests"] == []


@pytest.mark.spec("REG-004", "REG-009")
def test_a_truncated_upload_stores_nothing_and_resumes(server):
    import socket
    import time

    name, data = repo(), os.urandom(300_000)
    digest = digest_of(data)
    status, headers, _ = server.request("POST", f"/v2/{name}/blobs/uploads/")
    location = _location(server, headers)
    separator = "&" if "?" in location else "?"
    host, port = server.address.split(":")
    # the final PUT promises every byte, sends a third, and the connection dies
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(f"PUT {location}{separator}digest={digest} HTTP/1.1\r\nHost: {server.address}\r\n"
                           f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                           + data[:100_000])
        time.sleep(0.5)
    time.sleep(0.5)
    assert server.request("HEAD", f"/v2/{name}/blobs/{digest}")[0] == 404
    if server.kind == "distribution":
        return  # distribution 2.8 ends the session with the failed PUT: the client starts again
    # the session says what it holds; the rest follows from there
    status, headers, _ = server.request("GET", location)
    assert status == 204
    held = int(headers["Range"].split("-")[1]) + 1 if headers["Range"] != "0-0" else 0
    assert held in (0, 100_000)
    status, headers, body = server.request("PATCH", location, data[held:], {
        "Content-Type": "application/octet-stream", "Content-Range": f"{held}-{len(data) - 1}"})
    assert status == 202, body
    location = _location(server, headers)
    separator = "&" if "?" in location else "?"
    status, _, body = server.request("PUT", f"{location}{separator}digest={digest}")
    assert status == 201, body
    assert server.request("GET", f"/v2/{name}/blobs/{digest}")[2] == data


@pytest.mark.spec("REG-005", "REG-008")
def test_a_second_request_on_a_busy_upload_is_refused(server):
    """Two PATCHes of one session at once: the second is refused, the registry keeps serving,
    and the upload goes on whole once the first is done."""
    import socket
    import time

    name, data = repo(), os.urandom(200_000)
    status, headers, _ = server.request("POST", f"/v2/{name}/blobs/uploads/")
    location = _location(server, headers)
    host, port = server.address.split(":")
    # the first PATCH promises 100 kB and sends half of it, then stalls
    slow = socket.create_connection((host, int(port)), timeout=30)
    second = {"Content-Type": "application/octet-stream", "Content-Range": f"100000-{len(data) - 1}"}
    try:
        slow.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {server.address}\r\n"
                     f"Content-Type: application/octet-stream\r\nContent-Range: 0-99999\r\n"
                     f"Content-Length: 100000\r\n\r\n".encode() + data[:50_000])
        time.sleep(0.3)
        # meanwhile: the registry answers, and a second PATCH of the session is refused
        assert server.request("GET", "/v2/")[0] == 200
        status, _, body = server.request("PATCH", location, data[100_000:], second)
        assert (status, error_code(body)) in ((400, "BLOB_UPLOAD_INVALID"), (404, "BLOB_UPLOAD_INVALID")), body
        slow.sendall(data[50_000:100_000])
        answer = slow.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 202"), answer
    finally:
        slow.close()
    # the session's next address is the first PATCH's Location (distribution's carries its state)
    location = next(line.split(":", 1)[1].strip() for line in answer.splitlines()
                    if line.lower().startswith("location:"))
    location = location.split(server.address, 1)[-1] if "://" in location else location
    status, headers, body = server.request("PATCH", location, data[100_000:], second)
    assert status == 202, body  # sent again once the first is done: it follows on
    location = _location(server, headers)
    separator = "&" if "?" in location else "?"
    status, _, body = server.request("PUT", f"{location}{separator}digest={digest_of(data)}")
    assert status == 201, body
    assert server.request("GET", f"/v2/{name}/blobs/{digest_of(data)}")[2] == data
