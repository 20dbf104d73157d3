"""Pull and push through the engine: its API, our CLI, the real docker CLI, skopeo.

Each test makes its own small image (`import` of a tar with a random file), so that a
pull really downloads and the shared busybox image is never touched.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import secrets
import stat
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.harness.engine import python_module
from tests.registry.conftest import (OCI_INDEX, digest_of, distribution_server, registry_argv,
                                     registry_server, _stop)
from tests.registry.test_auth import htpasswd  # noqa: F401 - the fixture


def make_image(engine, scratch: Path, name: str) -> str:
    """Import a one-file image called ``name``; return its ID."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        content = secrets.token_bytes(200_000)
        info = tarfile.TarInfo("random.bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    path = scratch / f"{secrets.token_hex(4)}.tar"
    path.write_bytes(data.getvalue())
    return engine.cli("import", str(path), name).stdout.strip()


def image_id(engine, name: str) -> str | None:
    status, _, body = engine.api("GET", f"/v1.41/images/{quote(name, safe='')}/json")
    return json.loads(body)["Id"] if status == 200 else None


def api_pull(engine, name: str, tag: str, headers=None) -> tuple[int, list[dict]]:
    status, _, body = engine.api("POST", f"/v1.41/images/create?fromImage={quote(name, safe='')}&tag={tag}",
                                 headers=headers, timeout=120)
    if status != 200:
        return status, [json.loads(body)]
    return status, [json.loads(line) for line in body.splitlines() if line.strip()]


def remove(engine, *names: str) -> None:
    for name in names:
        engine.api("DELETE", f"/v1.41/images/{quote(name, safe='')}?force=1")


@pytest.fixture
def registry(scratch):
    server = registry_server(scratch)
    try:
        yield server
    finally:
        _stop(server.process)


@pytest.mark.spec("REG-003", "REG-040", "REG-041")
def test_push_then_pull_round_trips_with_the_same_image_id(engine, busybox, registry, scratch):
    name = f"{registry.address}/round/trip:1"
    original = make_image(engine, scratch, name)
    pushed = engine.cli("push", name, timeout=120)
    assert f"The push refers to repository [{registry.address}/round/trip]" in pushed.stdout
    assert "Pushed" in pushed.stdout and "1: digest: sha256:" in pushed.stdout
    remove(engine, name)
    assert image_id(engine, name) is None
    status, lines = api_pull(engine, f"{registry.address}/round/trip", "1")
    assert status == 200, lines
    statuses = [line.get("status", "") for line in lines]
    assert statuses[0] == "Pulling from round/trip" and lines[0]["id"] == "1"
    assert "Pulling fs layer" in statuses and "Pull complete" in statuses
    downloading = [line for line in lines if line.get("status") == "Downloading"]
    assert downloading and downloading[-1]["progressDetail"]["current"] == downloading[-1]["progressDetail"]["total"]
    assert any(s.startswith("Digest: sha256:") for s in statuses)
    assert statuses[-1] == f"Status: Downloaded newer image for {name}"
    assert image_id(engine, name) == original
    again = engine.cli("pull", name, timeout=120)
    assert f"Status: Image is up to date for {name}" in again.stdout
    remove(engine, name)


@pytest.mark.spec("REG-040")
def test_pull_refusals_before_any_line(engine, busybox, registry):
    status, lines = api_pull(engine, "Not_A/Reference!", "latest")
    assert status == 400 and "invalid reference format" in lines[0]["message"]
    status, lines = api_pull(engine, f"{registry.address}/no/such", "latest")
    assert status == 404
    assert lines[0]["message"].startswith(f"manifest for {registry.address}/no/such:latest not found: manifest unknown")
    result = engine.cli("pull", f"{registry.address}/no/such:nope", check=False)
    assert result.returncode == 1 and "Error response from daemon: manifest for" in result.stderr


@pytest.mark.spec("REG-041", "REG-036")
def test_push_skips_what_is_there_mounts_siblings_and_publishes_events(engine, busybox, registry, scratch):
    first, second = f"{registry.address}/events/one:1", f"{registry.address}/events/two:1"
    since = int(time.time()) - 1
    make_image(engine, scratch, first)
    engine.cli("tag", first, second)
    engine.cli("push", first, timeout=120)
    again = engine.cli("push", first, timeout=120).stdout
    assert "Layer already exists" in again
    mounted = engine.cli("push", second, timeout=120).stdout
    assert "Mounted from events/one" in mounted
    remove(engine, first, second)
    assert api_pull(engine, f"{registry.address}/events/two", "1")[0] == 200
    remove(engine, second)
    status, _, body = engine.api("GET", f"/v1.41/events?since={since}&until={int(time.time()) + 1}"
                                        f"&filters={quote(json.dumps({'type': ['image']}))}")
    actions = [(event["Action"], event["Actor"]["Attributes"].get("name")) for event in map(json.loads, body.splitlines())]
    assert ("push", first) in actions and ("pull", second) in actions


@pytest.mark.spec("REG-034")
def test_a_corrupt_blob_in_the_registry_stores_nothing(engine, busybox, registry, scratch):
    name = f"{registry.address}/corrupt/app:1"
    make_image(engine, scratch, name)
    engine.cli("push", name, timeout=120)
    status, _, body = registry.request("GET", "/v2/corrupt/app/manifests/1")
    layer = json.loads(body)["layers"][0]["digest"]
    remove(engine, name)
    data_root = Path(engine.host.removeprefix("unix://")).parent / "data"
    before = set(os.listdir(data_root / "content" / "blobs" / "sha256"))
    blob = registry.root / "data" / "blobs" / "sha256" / layer.removeprefix("sha256:")
    blob.chmod(0o644)
    blob.write_bytes(b"X" + blob.read_bytes()[1:])  # same size, other bytes
    status, lines = api_pull(engine, f"{registry.address}/corrupt/app", "1")
    assert "verification failed" in (lines[-1].get("error") or lines[-1].get("message", ""))
    assert image_id(engine, name) is None
    assert set(os.listdir(data_root / "content" / "blobs" / "sha256")) == before


@pytest.mark.spec("REG-037")
def test_a_pull_of_an_index_fetches_the_hosts_manifest_only(engine, busybox, registry, scratch):
    amd64 = registry.push_image("multi/app", "amd64", layer=secrets.token_bytes(1000))
    arm_layer = secrets.token_bytes(1000)
    arm = registry.push_image("multi/app", "arm64", layer=arm_layer)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.digest, "size": len(arm.manifest),
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64.digest,
         "size": len(amd64.manifest), "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    assert registry.request("PUT", "/v2/multi/app/manifests/both", index, {"Content-Type": OCI_INDEX})[0] == 201
    name = f"{registry.address}/multi/app:both"
    status, lines = api_pull(engine, f"{registry.address}/multi/app", "both")
    assert status == 200 and lines[-1]["status"].startswith("Status: Downloaded newer image"), lines
    inspected = json.loads(engine.api("GET", f"/v1.41/images/{quote(name, safe='')}/json")[2])
    assert inspected["Id"] == digest_of(amd64.config)
    assert f"{registry.address}/multi/app@{digest_of(index)}" in inspected["RepoDigests"]
    data_root = Path(engine.host.removeprefix("unix://")).parent / "data"
    assert not (data_root / "content" / "blobs" / "sha256" / digest_of(arm_layer)[7:]).exists()
    remove(engine, name)


@pytest.mark.spec("REG-032", "REG-042")
def test_login_logout_and_pushing_with_the_stored_credentials(engine, busybox, scratch, htpasswd):  # noqa: F811
    server = registry_server(scratch, "--htpasswd", str(htpasswd))
    env = {**os.environ, "MINIDOCK_CONFIG": str(scratch / "config")}
    cli = [*python_module("minidock.cli.main"), "-H", engine.host]
    try:
        name = f"{server.address}/private/app:1"
        make_image(engine, scratch, name)
        refused = subprocess.run([*cli, "push", name], env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1 and "unauthorized" in refused.stdout + refused.stderr
        wrong = subprocess.run([*cli, "login", "-u", "alice", "--password-stdin", server.address], input="nope\n",
                               env=env, capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1 and not (scratch / "config" / "config.json").exists()
        login = subprocess.run([*cli, "login", "-u", "alice", "--password-stdin", server.address],
                               input="wonderland\n", env=env, capture_output=True, text=True, timeout=60)
        assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
        config = scratch / "config" / "config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert server.address in json.loads(config.read_text())["auths"]
        pushed = subprocess.run([*cli, "push", name], env=env, capture_output=True, text=True, timeout=120)
        assert pushed.returncode == 0 and "digest: sha256:" in pushed.stdout, pushed.stderr
        # `run` of a private image that is not here pulls it with the stored login too
        runnable = f"{server.address}/private/busybox:1"
        engine.cli("tag", busybox, runnable)
        assert subprocess.run([*cli, "push", runnable], env=env, capture_output=True, timeout=120).returncode == 0
        remove(engine, runnable)
        ran = subprocess.run([*cli, "run", "--rm", runnable, "echo", "private and pulled"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0 and "private and pulled" in ran.stdout, ran.stderr
        remove(engine, runnable)
        logout = subprocess.run([*cli, "logout", server.address], env=env, capture_output=True, text=True)
        assert f"Removing login credentials for {server.address}" in logout.stdout
        assert server.address not in json.loads(config.read_text())["auths"]
        remove(engine, name)
    finally:
        _stop(server.process)


@pytest.mark.spec("REG-042")
def test_the_docker_cli_pulls_and_pushes_through_minidockd(engine, busybox, registry, scratch):
    docker = __import__("shutil").which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    env = {**os.environ, "DOCKER_CONFIG": str(scratch / "docker-config")}
    name = f"{registry.address}/docker/cli:1"
    original = make_image(engine, scratch, name)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([docker, "-H", engine.host, *args], env=env, capture_output=True, text=True, timeout=120)

    pushed = run("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert "1: digest: sha256:" in pushed.stdout
    remove(engine, name)
    pulled = run("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Status: Downloaded newer image for {name}" in pulled.stdout
    assert image_id(engine, name) == original
    remove(engine, name)


@pytest.mark.spec("REG-042")
def test_run_of_a_missing_image_pulls_it(engine, busybox, registry):
    name = f"{registry.address}/run/busybox:1"
    engine.cli("tag", busybox, name)
    engine.cli("push", name, timeout=120)
    remove(engine, name)
    result = engine.cli("run", "--rm", name, "echo", "pulled and ran", timeout=120)
    assert "pulled and ran" in result.stdout
    assert f"Unable to find image '{name}' locally" in result.stderr
    remove(engine, name)


@pytest.mark.spec("REG-038")
def test_push_to_and_pull_from_distribution(engine, busybox, scratch):
    server = distribution_server(scratch)
    try:
        name = f"{server.address}/dist/app:1"
        original = make_image(engine, scratch, name)
        assert "digest: sha256:" in engine.cli("push", name, timeout=120).stdout
        remove(engine, name)
        assert "Downloaded newer image" in engine.cli("pull", name, timeout=120).stdout
        assert image_id(engine, name) == original
        remove(engine, name)
    finally:
        _stop(server.process)


@pytest.mark.spec("REG-001")
def test_skopeo_pushes_into_our_registry_and_pulls_back(registry, scratch):
    skopeo = __import__("shutil").which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    archive = scratch / "busybox.tar"
    subprocess.run([*python_module("minidock.cli.main"), "image", "bootstrap", "busybox", "-o", str(archive)],
                   check=True, capture_output=True, timeout=120)
    target = f"docker://{registry.address}/skopeo/busybox:latest"
    subprocess.run([skopeo, "copy", "--dest-tls-verify=false", f"docker-archive:{archive}", target],
                   check=True, capture_output=True, timeout=120)
    inspected = json.loads(subprocess.run([skopeo, "inspect", "--tls-verify=false", "--raw", target],
                                          check=True, capture_output=True, timeout=60).stdout)
    subprocess.run([skopeo, "copy", "--src-tls-verify=false", target, f"dir:{scratch / 'back'}"],
                   check=True, capture_output=True, timeout=120)
    manifest = json.loads((scratch / "back" / "manifest.json").read_text())
    assert manifest == inspected  # the same manifest, so the same config and layers
    for blob in [manifest["config"], *manifest["layers"]]:
        assert digest_of((scratch / "back" / blob["digest"][7:]).read_bytes()) == blob["digest"]


@pytest.mark.spec("REG-042", "REG-032")
def test_the_docker_cli_logs_in_and_pushes_with_credentials(engine, busybox, scratch, htpasswd):  # noqa: F811
    docker = __import__("shutil").which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    server = registry_server(scratch, "--htpasswd", str(htpasswd))
    env = {**os.environ, "DOCKER_CONFIG": str(scratch / "docker-config")}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([docker, "-H", engine.host, *args], env=env, capture_output=True, text=True,
                              timeout=120, input=input)

    try:
        name = f"{server.address}/docker/private:1"
        make_image(engine, scratch, name)
        wrong = run("login", "-u", "alice", "--password-stdin", server.address, input="nope\n")
        assert wrong.returncode != 0
        login = run("login", "-u", "alice", "--password-stdin", server.address, input="wonderland\n")
        assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
        pushed = run("push", name)
        assert pushed.returncode == 0 and "1: digest: sha256:" in pushed.stdout, pushed.stderr + pushed.stdout
        remove(engine, name)
        pulled = run("pull", name)
        assert pulled.returncode == 0 and "Downloaded newer image" in pulled.stdout, pulled.stderr
        remove(engine, name)
    finally:
        _stop(server.process)


@contextlib.contextmanager
def private_daemon(scratch: Path, *flags: str):
    """A minidockd of the test's own, with these flags (mirrors, insecure registries), stopped after."""
    from tests.harness.engine import Engine, spare_network_flags, stop_daemon, wait_for_ping

    root = scratch / f"daemon-{secrets.token_hex(3)}"
    root.mkdir()
    daemon = Engine(kind="minidock", host=f"unix://{root}/d.sock", log_path=root / "log",
                    cli_argv=python_module("minidock.cli.main"))
    argv = [*python_module("minidock.engine.daemon"), "-H", daemon.host, "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), *spare_network_flags(), "--shutdown-timeout", "3", *flags]
    with open(daemon.log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_ping(daemon, process)
        yield daemon
    finally:
        stop_daemon(process)


@pytest.mark.spec("REG-044")
def test_docker_hub_images_come_from_the_mirrors_first(registry, scratch):
    from tests.registry.conftest import free_port

    pushed = registry.push_image("mirrored/app", "1", layer=secrets.token_bytes(2000))
    dead = free_port()  # nothing listens there: the next mirror is tried
    with private_daemon(scratch, "--registry-mirror", f"http://127.0.0.1:{dead}",
                        "--registry-mirror", f"http://{registry.address}/") as daemon:
        # docker.io/mirrored/app: no internet here, so only the mirror can answer
        pulled = daemon.cli("pull", "mirrored/app:1", timeout=120)
        assert "Status: Downloaded newer image for mirrored/app:1" in pulled.stdout
        assert image_id(daemon, "mirrored/app:1") == digest_of(pushed.config)


@pytest.mark.spec("REG-033")
def test_plain_http_only_to_insecure_registries(engine, busybox, registry, scratch):
    import socket

    host = socket.gethostname()
    try:
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            pytest.skip(f"this machine's name {host!r} is not a loopback address")
    except OSError:
        pytest.skip(f"this machine's name {host!r} does not resolve")
    named = f"{host}:{registry.address.rsplit(':', 1)[1]}"  # the registry, by a name that is not "loopback"
    registry.push_image("insecure/app", "1", layer=secrets.token_bytes(2000))
    refused = engine.cli("pull", f"{named}/insecure/app:1", check=False, timeout=120)
    assert refused.returncode == 1 and f"https://{named}/v2/" in refused.stderr
    with private_daemon(scratch, "--insecure-registry", named) as daemon:
        assert "Downloaded newer image" in daemon.cli("pull", f"{named}/insecure/app:1", timeout=120).stdout


@pytest.mark.spec("REG-044")
@pytest.mark.parametrize("url", ["ftp://mirror.example", "mirror.example:5000", "http://"])
def test_a_mirror_that_is_not_a_url_is_refused(tmp_path, url):
    from minidock.engine import config
    from minidock.errors import InvalidArgument

    empty = tmp_path / "daemon.json"
    empty.write_text("{}")
    with pytest.raises(InvalidArgument, match="invalid mirror"):
        config.parse_args(["--config-file", str(empty), "--registry-mirror", url])
    parsed = config.parse_args(["--config-file", str(empty), "--registry-mirror", "https://mirror.example:5000/"])
    assert parsed.registry_mirrors == ("https://mirror.example:5000",)


@pytest.mark.spec("REG-035")
def test_an_interrupted_pull_is_resumed_by_the_daemon(engine, busybox):
    import http.server

    from tests.registry.conftest import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
    from tests.registry.test_client import fake_registry

    layer = secrets.token_bytes(3_000_000)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}]}).encode()
    blobs = {digest_of(config): config, digest_of(layer): layer}
    ranges: list[str | None] = []

    class Registry(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/v2/":
                return self.answer(200, b"{}", {})
            if self.path.endswith("/manifests/1"):
                return self.answer(200, manifest, {"Content-Type": OCI_MANIFEST,
                                                   "Docker-Content-Digest": digest_of(manifest)})
            blob = blobs[self.path.rsplit("/", 1)[1]]
            if blob is layer:
                ranges.append(self.headers.get("Range"))
                if len(ranges) == 1:  # the first download dies a third of the way
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(blob)))
                    self.end_headers()
                    self.wfile.write(blob[:1_000_000])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return None
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    return self.answer(206, blob[start:], {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
            return self.answer(200, blob, {})

    with fake_registry(Registry) as address:
        name = f"{address}/resume/app:1"
        pulled = engine.cli("pull", name, timeout=120)
        assert "Downloaded newer image" in pulled.stdout
        assert ranges == [None, "bytes=1000000-"]
        assert image_id(engine, name) == digest_of(config)
        remove(engine, name)


@pytest.mark.spec("BUILD-017")
def test_a_build_pulls_a_missing_base_and_pull_pulls_it_again(engine, busybox, registry, scratch):
    base = f"{registry.address}/build/base:1"
    status, _, raw = engine.api("POST", f"/v1.41/images/{busybox}/tag?repo={registry.address}/build/base&tag=1")
    assert status == 201, raw
    engine.cli("push", base, timeout=120)
    remove(engine, base)
    folder = scratch / "context"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {base}\nRUN echo built > /built\n")
    built = f"mdpull-{secrets.token_hex(3)}:1"
    try:
        first = engine.cli("build", "-t", built, str(folder), timeout=180)
        assert "Pulling from build/base" in first.stdout and "Successfully tagged" in first.stdout
        assert image_id(engine, base) is not None
        again = engine.cli("build", "--pull", "-t", built, str(folder), timeout=180)
        assert "Image is up to date" in again.stdout  # pulled again, and found the same
        (folder / "Dockerfile.missing").write_text(f"FROM {registry.address}/no/such:1\n")
        missing = engine.cli("build", "-f", "Dockerfile.missing", str(folder), check=False, timeout=120)
        assert missing.returncode != 0 and "pull access denied" in missing.stderr
    finally:
        remove(engine, built, base)


@pytest.mark.spec("REG-033", "REG-044")
def test_daemon_json_names_insecure_registries_and_mirrors(tmp_path):
    from minidock.engine import config
    from minidock.errors import InvalidArgument

    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"insecure-registries": ["registry.lan:5000", "10.20.0.0/16"],
                                "registry-mirrors": ["http://mirror.lan:5000/", "https://mirror.example"]}))
    parsed = config.parse_args(["--config-file", str(path)])
    assert parsed.insecure_registries == ("registry.lan:5000", "10.20.0.0/16")
    assert parsed.registry_mirrors == ("http://mirror.lan:5000", "https://mirror.example")
    path.write_text(json.dumps({"registry-mirrors": ["mirror.lan:5000"]}))
    with pytest.raises(InvalidArgument, match="invalid mirror"):
        config.parse_args(["--config-file", str(path)])


@pytest.mark.spec("REG-003", "REG-040")
def test_a_pull_by_digest(engine, busybox, registry, scratch):
    name = f"{registry.address}/by/digest:1"
    original = make_image(engine, scratch, name)
    engine.cli("push", name, timeout=120)
    digest = registry.request("HEAD", "/v2/by/digest/manifests/1",
                              headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})[1]["Docker-Content-Digest"]
    remove(engine, name)
    pinned = f"{registry.address}/by/digest@{digest}"
    pulled = engine.cli("pull", pinned, timeout=120)
    assert f"Digest: {digest}" in pulled.stdout and "Downloaded newer image" in pulled.stdout
    assert image_id(engine, pinned) == original
    wrong = f"{registry.address}/by/digest@sha256:{'0' * 64}"
    refused = engine.cli("pull", wrong, check=False, timeout=120)
    assert refused.returncode == 1 and "not found" in refused.stderr
    remove(engine, pinned)
