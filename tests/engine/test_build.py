"""Builds through the engine: the CLI's `build` and POST /build, checked by what the image holds.

Each build's context is made here; each image is run to show its files, and inspected
for its config. With --engine=docker the same tests run `docker build` (the classic
builder, as the docker CLI uses it without buildx) against dockerd.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile
import textwrap
from typing import Callable, Iterator

import pytest


@pytest.fixture
def images(engine, busybox) -> Iterator[Callable[[], str]]:
    """A maker of unique image names; every image so named is removed afterwards."""
    made: list[str] = []

    def new() -> str:
        name = f"mdbuild-{secrets.token_hex(4)}:latest"
        made.append(name)
        return name

    yield new
    for name in made:
        engine.api("DELETE", f"/v1.41/images/{name}?force=1")


def context(tmp_path, dockerfile: str, files: dict[str, str | bytes] | None = None) -> str:
    """A context folder: the Dockerfile (dedented) and ``files``."""
    folder = tmp_path / f"ctx-{secrets.token_hex(3)}"
    folder.mkdir()
    (folder / "Dockerfile").write_text(textwrap.dedent(dockerfile).lstrip())
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(folder)


def build(engine, folder: str, *flags: str, check: bool = True):
    env_flags = ()
    return engine.cli("build", *flags, *env_flags, folder, check=check, timeout=180)


def run(engine, image: str, *command: str) -> str:
    return engine.cli("run", "--rm", image, *command, timeout=60).stdout


def config(engine, image: str) -> dict:
    status, _, raw = engine.api("GET", f"/v1.41/images/{image}/json")
    assert status == 200, raw
    return json.loads(raw)["Config"]


@pytest.mark.spec("BUILD-005", "BUILD-003")
def test_a_dockerfile_gives_the_files_and_the_config(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"""
        FROM {busybox}
        ARG GREETING=hi
        ENV APP=/app NAME="my app"
        WORKDIR $APP
        COPY hello.txt ./
        COPY sub /app/sub/
        RUN echo "$GREETING from $NAME" > out.txt
        EXPOSE 8080 53/udp
        LABEL version=1.0 "the.maintainer"="me"
        USER 1000:1000
        VOLUME /data
        STOPSIGNAL SIGINT
        HEALTHCHECK --interval=5s --retries=2 CMD true
        ENTRYPOINT ["sh", "-c"]
        CMD ["cat /app/out.txt; ls -ln /app /app/sub | grep -v total"]
        """, {"hello.txt": "hello\n", "sub/inner.txt": "inner\n"})
    image = images()
    build(engine, folder, "-t", image, "--build-arg", "GREETING=hello")
    lines = run(engine, image).splitlines()
    assert lines[0] == "hello from my app"
    listing = " ".join(lines[1:])
    assert "-rw-r--r--" in listing and "hello.txt" in listing and "inner.txt" in listing
    got = config(engine, image)
    assert got["Env"][-2:] == ["APP=/app", "NAME=my app"]
    assert got["WorkingDir"] == "/app" and got["User"] == "1000:1000" and got["StopSignal"] == "SIGINT"
    assert got["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert got["Labels"] == {"version": "1.0", "the.maintainer": "me"}
    assert got["Volumes"] == {"/data": {}}
    assert got["Entrypoint"] == ["sh", "-c"] and got["Cmd"] == ["cat /app/out.txt; ls -ln /app /app/sub | grep -v total"]
    assert got["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}


@pytest.mark.spec("BUILD-006", "BUILD-011")
def test_multi_stage_builds_only_what_the_target_needs(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"""
        FROM {busybox} AS base
        RUN echo base > /base.txt
        FROM base AS builder
        RUN echo built > /artifact
        FROM {busybox} AS unused
        RUN echo unused-stage-ran
        FROM {busybox}
        COPY --from=builder /artifact /base.txt /out/
        CMD ["cat", "/out/artifact", "/out/base.txt"]
        """)
    image = images()
    result = build(engine, folder, "-t", image)
    # BuildKit and minidock build only what the target needs; dockerd's classic builder builds all
    assert ("unused-stage-ran" in result.stdout) is (engine.kind == "docker")
    assert run(engine, image) == "built\nbase\n"
    target = images()
    build(engine, folder, "-t", target, "--target", "base")
    assert run(engine, target, "cat", "/base.txt") == "base\n"
    missing = build(engine, folder, "--target", "nope", check=False)
    assert missing.returncode != 0 and "nope" in missing.stderr


@pytest.mark.spec("BUILD-010")
def test_the_second_build_comes_from_the_cache(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"""
        FROM {busybox}
        COPY a.txt /a.txt
        RUN date +%s%N > /stamp
        """, {"a.txt": f"one {secrets.token_hex(8)}\n"})  # unique: the engine's cache outlives this test
    first, second, third = images(), images(), images()
    build(engine, folder, "-t", first)
    again = build(engine, folder, "-t", second)
    assert again.stdout.count("Using cache") == 2
    assert config(engine, first) == config(engine, second)
    assert run(engine, first, "cat", "/stamp") == run(engine, second, "cat", "/stamp")
    # a changed file is a miss for its step and every step after it
    changed_text = f"two {secrets.token_hex(8)}\n"
    with open(os.path.join(folder, "a.txt"), "w") as file:
        file.write(changed_text)
    changed = build(engine, folder, "-t", third)
    assert "Using cache" not in changed.stdout
    assert run(engine, third, "cat", "/a.txt") == changed_text
    fresh = build(engine, folder, "--no-cache", "-t", images())  # tagged: removed at the end
    assert "Using cache" not in fresh.stdout


@pytest.mark.spec("BUILD-004")
def test_dockerignore_leaves_files_out(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"""
        FROM {busybox}
        COPY . /ctx/
        CMD ["find", "/ctx", "-type", "f"]
        """, {".dockerignore": "*.log\nsecret/\n!secret/public.txt\n", "app.txt": "a", "debug.log": "x",
              "secret/key": "k", "secret/public.txt": "p"})
    image = images()
    build(engine, folder, "-t", image)
    found = sorted(run(engine, image).split())
    assert "/ctx/app.txt" in found and "/ctx/secret/public.txt" in found
    assert "/ctx/debug.log" not in found and "/ctx/secret/key" not in found


@pytest.mark.spec("BUILD-009")
def test_a_failing_run_stops_the_build_and_tags_nothing(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"""
        FROM {busybox}
        RUN echo before-failing && exit 3
        RUN echo never
        """)
    image = images()
    # dockerd keeps the failed step's container unless told otherwise; minidock's builder
    # always removes it (it has no --force-rm)
    keep_none = ("--force-rm",) if engine.kind != "minidock" else ()
    result = build(engine, folder, "-t", image, *keep_none, check=False)
    assert result.returncode != 0
    assert "before-failing" in result.stdout and "never" not in result.stdout
    assert "returned a non-zero code: 3" in result.stderr
    status, _, _ = engine.api("GET", f"/v1.41/images/{image}/json")
    assert status == 404


@pytest.mark.spec("BUILD-008")
@pytest.mark.parametrize("dockerfile, files, words", [
    ("COPY ../outside /x", {}, "outside"),
    ("COPY missing.txt /x", {}, "missing.txt"),
    ("COPY link /x", {"link": None}, "link"),
])
def test_sources_outside_the_context_are_refused(engine, busybox, images, tmp_path, dockerfile, files, words):
    (tmp_path / "outside").write_text("secret")
    folder = context(tmp_path, f"FROM {busybox}\n{dockerfile}\n")
    if "link" in files:
        os.symlink("../../outside", os.path.join(folder, "link"))
    result = build(engine, folder, "-t", images(), check=False)
    assert result.returncode != 0 and words in result.stderr


@pytest.mark.spec("BUILD-002")
def test_a_bad_dockerfile_is_refused_with_its_line(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"FROM {busybox}\nRUN true\nFROBNICATE now\n")
    result = build(engine, folder, "-t", images(), check=False)
    assert result.returncode != 0
    assert "line 3" in result.stderr and "unknown instruction" in result.stderr.lower()


@pytest.mark.spec("BUILD-007")
def test_add_unpacks_a_local_tar_and_copy_sets_owners(engine, busybox, images, tmp_path):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = b"from the tar\n"
        info = tarfile.TarInfo("pkg/readme")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    folder = context(tmp_path, f"""
        FROM {busybox}
        ADD bundle.tar.gz /opt/
        COPY --chown=1234:5678 owned.txt /owned.txt
        COPY --chown=nobody:nogroup *.md /docs/
        CMD ["sh", "-c", "cat /opt/pkg/readme; stat -c '%u:%g %n' /owned.txt /docs/*"]
        """, {"bundle.tar.gz": archive.getvalue(), "owned.txt": "x", "a.md": "a", "b.md": "b"})
    image = images()
    build(engine, folder, "-t", image)
    assert run(engine, image) == "from the tar\n1234:5678 /owned.txt\n65534:65534 /docs/a.md\n65534:65534 /docs/b.md\n"


@pytest.mark.spec("BUILD-007")
def test_heredocs_and_chmod(engine, busybox, images, tmp_path):
    if engine.kind == "docker":
        pytest.skip("heredocs and --chmod are BuildKit's: dockerd 20.10's classic builder refuses them")
    folder = context(tmp_path, f"""
        FROM {busybox}
        ARG WHO=heredoc
        RUN <<EOF
        echo $WHO-run > /run.txt
        EOF
        COPY --chmod=0750 <<'NOTE' /note.sh
        echo $NOT_EXPANDED
        NOTE
        CMD ["sh", "-c", "cat /run.txt /note.sh; stat -c '%a' /note.sh"]
        """)
    image = images()
    build(engine, folder, "-t", image)
    assert run(engine, image) == "heredoc-run\necho $NOT_EXPANDED\n750\n"


@pytest.mark.spec("BUILD-012")
def test_the_api_streams_steps_and_the_image_id(engine, busybox, images):
    dockerfile = f"FROM {busybox}\nRUN echo streamed\n".encode()
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    image = images()
    status, _, raw = engine.api("POST", f"/v1.41/build?t={image}&rm=1", body.getvalue(),
                                {"Content-Type": "application/x-tar"}, timeout=180)
    assert status == 200, raw
    messages = [json.loads(line) for line in raw.splitlines() if line.strip()]
    text = "".join(m.get("stream", "") for m in messages)
    assert "Step 1/2 : FROM" in text and "streamed" in text
    ids = [m["aux"]["ID"] for m in messages if "aux" in m]
    assert ids and ids[-1].startswith("sha256:")
    status, _, raw = engine.api("GET", f"/v1.41/images/{image}/json")
    assert json.loads(raw)["Id"] == ids[-1]


@pytest.mark.spec("BUILD-012")
def test_a_context_sent_in_many_small_chunks_arrives_whole(engine, busybox, images):
    """The docker CLI streams the context with chunked transfer encoding: pieces of any size,
    their edges nowhere near the tar's blocks. The file copied in must be the file sent."""
    payload = secrets.token_bytes(3 * 2**20 + 12345)
    dockerfile = f"FROM {busybox}\nCOPY blob /blob\n".encode()
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("blob", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    whole = body.getvalue()
    pieces = (whole[at:at + 4093] for at in range(0, len(whole), 4093))  # no Content-Length: chunked
    image = images()
    status, _, raw = engine.api("POST", f"/v1.41/build?t={image}&q=1", pieces,
                                {"Content-Type": "application/x-tar"}, timeout=180)
    assert status == 200 and b"errorDetail" not in raw, raw
    out = run(engine, image, "sh", "-c", "wc -c < /blob; md5sum /blob")
    size, digest = out.split()[0], out.split()[1]
    assert int(size) == len(payload)
    assert digest == hashlib.md5(payload).hexdigest()  # noqa: S324 - a checksum, not security


@pytest.mark.spec("BUILD-013")
def test_an_empty_context_is_refused_for_its_missing_dockerfile(engine):
    status, _, raw = engine.api("POST", "/v1.41/build?t=mdbuild-empty", b"",
                                {"Content-Type": "application/x-tar"}, timeout=60)
    assert status >= 400, raw
    assert "Cannot locate specified Dockerfile: Dockerfile" in json.loads(raw)["message"]


@pytest.mark.spec("BUILD-013")
@pytest.mark.parametrize("query, words", [("t=Bad%20Name", "invalid reference format"),
                                          ("buildargs=%7Bnot-json", "error reading build args")])
def test_bad_build_queries_are_a_400(engine, query, words):
    status, _, raw = engine.api("POST", f"/v1.41/build?{query}", b"", {"Content-Type": "application/x-tar"})
    assert status in (400, 500) and words in json.loads(raw)["message"]


@pytest.mark.spec("BUILD-012")
def test_the_docker_cli_builds_against_the_engine(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"FROM {busybox}\nRUN echo via-docker > /v\nCMD [\"cat\", \"/v\"]\n")
    image = images()
    result = engine.docker_cli("build", "-t", image, folder, timeout=180)
    assert "Successfully tagged" in result.stdout
    assert run(engine, image) == "via-docker\n"


@pytest.mark.spec("BUILD-015")
def test_add_downloads_a_url_and_onbuild_triggers_run_in_the_child(engine, busybox, images, tmp_path):
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "tool.txt").write_text("downloaded\n")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tool.txt"
        parent = images()
        build(engine, context(tmp_path, f"""
            FROM {busybox}
            ADD {url} /opt/
            ONBUILD RUN echo triggered > /onbuild.txt
            """), "-t", parent)
        child = images()
        build(engine, context(tmp_path, f"FROM {parent}\nCMD [\"sh\", \"-c\", \"cat /opt/tool.txt /onbuild.txt; stat -c %a /opt/tool.txt\"]\n"),
              "-t", child)
    finally:
        server.shutdown()
        server.server_close()
    assert run(engine, child) == "downloaded\ntriggered\n600\n"
    assert config(engine, parent)["OnBuild"] == ["RUN echo triggered > /onbuild.txt"]
    assert not config(engine, child).get("OnBuild")


@pytest.mark.spec("BUILD-012")
def test_the_python_sdk_builds(engine, busybox, images, tmp_path):
    docker = pytest.importorskip("docker")
    folder = context(tmp_path, f"FROM {busybox}\nARG V\nRUN echo sdk-$V > /v\n")
    image = images()
    client = docker.DockerClient(base_url=engine.host, version="auto", timeout=120)
    try:
        built, log = client.images.build(path=folder, tag=image, buildargs={"V": "1"}, rm=True)
        assert any("Step 3/3 : RUN echo sdk-$V > /v" in (entry.get("stream") or "") for entry in log)
        assert built.id == client.images.get(image).id
    finally:
        client.close()
    assert run(engine, image, "cat", "/v") == "sdk-1\n"


@pytest.mark.spec("IMG-ENG-017")
def test_removing_a_built_image_removes_its_intermediate_images(engine, busybox, images, tmp_path):
    def parent_of(name: str) -> str:
        status, _, raw = engine.api("GET", f"/v1.41/images/{name}/json")
        assert status == 200, raw
        return json.loads(raw)["Parent"]

    base = json.loads(engine.api("GET", f"/v1.41/images/{busybox}/json")[2])["Id"]
    folder = context(tmp_path, f"FROM {busybox}\nENV A={secrets.token_hex(4)}\nRUN echo x > /x\nCMD [\"true\"]\n")
    image = images()
    build(engine, folder, "-t", image, "--no-cache")
    chain, at = [], parent_of(image)
    while at and at != base:
        chain.append(at)
        at = parent_of(at)
    assert len(chain) == 2 and at == base  # ENV's and RUN's images, on busybox
    status, _, raw = engine.api("DELETE", f"/v1.41/images/{image}")
    assert status == 200, raw
    deleted = {entry["Deleted"] for entry in json.loads(raw) if "Deleted" in entry}
    assert set(chain) <= deleted and base not in deleted
    for intermediate in chain:
        assert engine.api("GET", f"/v1.41/images/{intermediate}/json")[0] == 404


@pytest.mark.spec("IMG-ENG-017")
def test_intermediate_images_are_hidden_and_named_in_history(engine, busybox, images, tmp_path):
    folder = context(tmp_path, f"FROM {busybox}\nENV B={secrets.token_hex(4)}\nRUN echo y > /y\n")
    image = images()
    build(engine, folder, "-t", image, "--no-cache")
    status, _, raw = engine.api("GET", f"/v1.41/images/{image}/json")
    parent = json.loads(raw)["Parent"]
    assert parent.startswith("sha256:")
    shown = {i["Id"] for i in json.loads(engine.api("GET", "/v1.41/images/json")[2])}
    every = {i["Id"] for i in json.loads(engine.api("GET", "/v1.41/images/json?all=1")[2])}
    assert parent in every and parent not in shown
    steps = json.loads(engine.api("GET", f"/v1.41/images/{image}/history")[2])
    assert steps[1]["Id"] == parent  # the ENV step's image, not <missing>


def _tree(engine_cli, image: str) -> list[str]:
    """Every path of an image with its type, mode, owner and content digest (busybox's find/stat/md5sum).

    Left out: what an engine puts in every container rather than in the image (/etc/hosts and
    friends; dockerd's /.dockerenv).
    """
    script = ("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hosts -o -path /etc/hostname "
              "-o -path /etc/resolv.conf -o -path /etc/mtab -o -path /.dockerenv \\) -prune -o -print | sort | while read -r p; do "
              "s=$(stat -c '%F %a %u:%g' \"$p\"); "
              "if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then s=\"$s $(md5sum < \"$p\" | cut -c1-32)\"; fi; "
              "echo \"$p $s\"; done")
    return engine_cli("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout.splitlines()


@pytest.mark.spec("BUILD-014")
def test_the_same_dockerfile_built_by_docker_gives_the_same_image(engine, busybox, images, tmp_path):
    """With MINIDOCK_TEST_DOCKERD naming a dockerd: one Dockerfile built by both, trees and configs compared."""
    import subprocess

    host = os.environ.get("MINIDOCK_TEST_DOCKERD")
    if engine.kind != "minidock" or not host:
        pytest.skip("set MINIDOCK_TEST_DOCKERD to a dockerd's socket (with busybox:latest) to compare builds")
    folder = context(tmp_path, f"""
        FROM {busybox}
        ENV APP=/srv/app
        WORKDIR $APP
        COPY --chown=1000:1000 src/ ./src/
        COPY top.txt /top.txt
        RUN mkdir -p data && echo built > data/out && chmod 640 data/out && ln -s data/out link
        USER 1000
        EXPOSE 8080/udp
        VOLUME ["/srv/app/data"]
        LABEL a=b
        HEALTHCHECK --interval=7s CMD ["true"]
        STOPSIGNAL SIGTERM
        ENTRYPOINT ["sh"]
        CMD ["-c", "cat data/out"]
        """, {"src/a.txt": "a\n", "src/sub/b.txt": "b\n", "top.txt": "top\n"})
    ours, theirs = images(), f"mdbuild-docker-{secrets.token_hex(4)}"

    def docker(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, timeout=300, check=True)

    build(engine, folder, "-t", ours)
    docker("build", "-q", "-t", theirs, folder)
    try:
        assert _tree(engine.cli, ours) == _tree(lambda *a: docker(*a), theirs)
        keys = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                "Healthcheck", "StopSignal")
        mine = config(engine, ours)
        docker_config = json.loads(docker("image", "inspect", theirs).stdout)[0]["Config"]
        assert {k: mine.get(k) for k in keys} == {k: docker_config.get(k) for k in keys}
    finally:
        subprocess.run(["docker", "-H", host, "rmi", "-f", theirs], capture_output=True, timeout=120)
