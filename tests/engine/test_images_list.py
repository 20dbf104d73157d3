"""Conformance: listing, inspecting and the history of images, through the API and both CLIs.

Black-box: only engine.api(), engine.cli() and engine.docker_cli(); also passes against Docker.
"""

from __future__ import annotations

import json

import pytest

from tests.engine.test_images_tools import import_image, rootfs, unique


@pytest.fixture(scope="module")
def imported(engine):
    """Two images of our own: one named (with a label), one unnamed (dangling)."""
    name = unique()
    label = name.split("/")[1]
    named = import_image(engine, rootfs(name), "-c", f"LABEL mdtest={label}", "-c", 'CMD ["sh"]',
                         "-m", "first", name=f"{name}:v1")
    dangling = import_image(engine, rootfs(name + "x"), "-c", f"LABEL mdtest={label}")
    yield {"name": name, "label": label, "id": named, "dangling": dangling}
    engine.cli("rmi", "-f", named, dangling, check=False)


def _list(engine, filters: dict | None = None) -> list[dict]:
    query = "?filters=" + json.dumps(filters) if filters else ""
    status, _, body = engine.api("GET", "/v1.41/images/json" + query.replace(" ", ""))
    assert status == 200, body
    return json.loads(body)


@pytest.mark.spec("IMG-ENG-005")
def test_the_list_has_docker_fields_and_shows_an_unnamed_image_as_none(engine, busybox, imported):
    images = {image["Id"]: image for image in _list(engine)}
    named = images[imported["id"]]
    assert named["RepoTags"] == [f"{imported['name']}:v1"]
    assert isinstance(named["Created"], int) and named["Created"] > 1_600_000_000
    assert named["Size"] > 0 and named["Labels"] == {"mdtest": imported["label"]}
    assert images[imported["dangling"]]["RepoTags"] in (["<none>:<none>"], [])
    assert "busybox:latest" in [tag for image in images.values() for tag in image["RepoTags"] or []]


@pytest.mark.spec("IMG-ENG-005")
def test_filters_dangling_reference_label_before_since(engine, busybox, imported):
    label = {"label": [f"mdtest={imported['label']}"]}
    assert {i["Id"] for i in _list(engine, label)} == {imported["id"], imported["dangling"]}
    assert [i["Id"] for i in _list(engine, {**label, "dangling": ["true"]})] == [imported["dangling"]]
    assert [i["Id"] for i in _list(engine, {**label, "dangling": ["false"]})] == [imported["id"]]
    # the older form of the filters parameter, a map of value -> true
    assert [i["Id"] for i in _list(engine, {"label": {f"mdtest={imported['label']}": True},
                                            "dangling": {"false": True}})] == [imported["id"]]
    by_reference = _list(engine, {"reference": [imported["name"]]})
    assert [i["Id"] for i in by_reference] == [imported["id"]]
    assert [i["Id"] for i in _list(engine, {"reference": ["mdtest/*:v1"]}) if i["Id"] == imported["id"]]
    assert _list(engine, {"reference": ["mdtest/*:v2"], **label}) == []
    older = {i["Id"] for i in _list(engine, {"before": [imported["id"]]})}
    assert imported["id"] not in older and busybox_id(engine) in older
    assert busybox_id(engine) not in {i["Id"] for i in _list(engine, {"since": [busybox]})}
    status, _, body = engine.api("GET", '/v1.41/images/json?filters={"colour":["red"]}')
    assert status == 400 and b"invalid filter" in body.lower()


def busybox_id(engine) -> str:
    status, _, body = engine.api("GET", "/v1.41/images/busybox:latest/json")
    assert status == 200
    return json.loads(body)["Id"]


@pytest.mark.spec("IMG-ENG-004")
def test_the_cli_prints_docker_columns_and_formats(engine, busybox, imported):
    out = engine.cli("images").stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = next(line for line in out if line.startswith(imported["name"] + " "))
    assert row.split()[1:3] == ["v1", imported["id"].removeprefix("sha256:")[:12]]
    quiet = engine.cli("images", "-q", "--filter", f"label=mdtest={imported['label']}").stdout.split()
    assert sorted(quiet) == sorted(i.removeprefix("sha256:")[:12] for i in (imported["id"], imported["dangling"]))
    full = engine.cli("images", "-q", "--no-trunc", imported["name"]).stdout.split()
    assert full == [imported["id"]]
    formatted = engine.cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", imported["name"]).stdout
    assert formatted.strip() == f"{imported['name']}:v1 {imported['id'][7:19]}"
    table = engine.cli("images", "--format", "table {{.Repository}}\\t{{.Tag}}", imported["name"]).stdout
    assert table.splitlines()[0].split() == ["REPOSITORY", "TAG"]
    digests = engine.cli("images", "--digests", imported["name"]).stdout.splitlines()
    assert digests[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]


@pytest.mark.spec("IMG-ENG-004")
def test_the_real_docker_cli_lists_inspects_and_tags(engine, busybox, imported):
    listed = engine.docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert f"{imported['name']}:v1" in listed and "busybox:latest" in listed
    found = engine.docker_cli("image", "inspect", "--format", "{{.Id}}", f"{imported['name']}:v1").stdout
    assert found.strip() == imported["id"]
    engine.docker_cli("tag", f"{imported['name']}:v1", f"{imported['name']}:docker")
    out = engine.docker_cli("rmi", f"{imported['name']}:docker").stdout
    assert f"Untagged: {imported['name']}:docker" in out
    failed = engine.docker_cli("image", "inspect", "mdtest/no-such-image:1", check=False)
    assert failed.returncode != 0 and "No such image" in failed.stderr


@pytest.mark.spec("IMG-ENG-002")
def test_inspect_by_name_id_and_prefix(engine, busybox, imported):
    for name in (f"{imported['name']}:v1", imported["id"], imported["id"][7:19]):
        status, _, body = engine.api("GET", f"/v1.41/images/{name}/json")
        assert status == 200, (name, body)
        image = json.loads(body)
        assert image["Id"] == imported["id"]
    assert image["RepoTags"] == [f"{imported['name']}:v1"]
    assert image["Config"]["Cmd"] == ["sh"] and image["Comment"] == "first"
    assert image["Os"] == "linux" and image["Architecture"]
    assert len(image["RootFS"]["Layers"]) == 1 and image["RootFS"]["Type"] == "layers"
    # the layer unpacked: dockerd counts the bytes of its files, minidock those of its tar
    files = len(imported["name"].encode()) + len(b"hello\n")  # what rootfs() holds
    assert files <= image["Size"] <= len(rootfs(imported["name"]))
    if engine.kind == "minidock":
        assert image["GraphDriver"]["Name"] in ("overlay2", "vfs")
        assert image["RepoDigests"] and image["RepoDigests"][0].startswith(imported["name"] + "@sha256:")
    out = engine.cli("image", "inspect", "--format", "{{.Id}} {{index .RepoTags 0}} {{json .Config.Cmd}}",
                     f"{imported['name']}:v1").stdout
    assert out.strip() == f'{imported["id"]} {imported["name"]}:v1 ["sh"]'


@pytest.mark.spec("IMG-ENG-016")
def test_history_is_newest_first_with_the_top_named(engine, busybox, imported):
    status, _, body = engine.api("GET", f"/v1.41/images/{imported['name']}:v1/history")
    assert status == 200, body
    steps = json.loads(body)
    assert steps[0]["Id"] == imported["id"] and steps[0]["Tags"] == [f"{imported['name']}:v1"]
    assert steps[0]["Size"] > 0 and steps[0]["Comment"] == "first"
    out = engine.cli("history", f"{imported['name']}:v1").stdout.splitlines()
    assert out[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"]
    assert out[1].startswith(imported["id"][7:19])
    assert engine.cli("history", "-q", imported["name"] + ":v1").stdout.split() == [imported["id"][7:19]]


@pytest.mark.spec("IMG-ENG-008")
@pytest.mark.parametrize("method, path", [
    ("GET", "/images/{}/json"), ("GET", "/images/{}/history"), ("DELETE", "/images/{}"),
    ("POST", "/images/{}/tag?repo=mdtest/other&tag=1"), ("GET", "/images/{}/get"),
])
def test_unknown_and_invalid_names_everywhere(engine, method, path):
    # dockerd 20.10's save route has words of its own: 404 "reference does not exist", and a
    # 500 for an invalid name (spec IMG-ENG-008); its inspect says "no such image: NAME: " first
    dockerd_save = engine.kind == "docker" and path.endswith("/get")
    status, _, body = engine.api(method, "/v1.41" + path.format("mdtest/no-such-image:1"))
    assert status == 404, body
    unknown = "reference does not exist" if dockerd_save else "No such image: mdtest/no-such-image:1"
    message = json.loads(body)["message"]
    assert message.startswith(unknown) if engine.kind == "minidock" else unknown in message
    status, _, body = engine.api(method, "/v1.41" + path.format("Not-Lower:1"))
    assert status == 400 or (dockerd_save and status == 500), body
    assert "invalid reference format" in json.loads(body)["message"]
