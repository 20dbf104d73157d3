"""The volume paths of the Engine API: create, inspect, list with filters, remove, prune,
Docker's words for every refusal. Engine-neutral: the same tests pass against dockerd."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

import pytest

from tests.volumes.conftest import API


def _json(raw: bytes):
    return json.loads(raw) if raw else None


@pytest.mark.spec("VOL-001", "VOL-017")
def test_create_inspect_list_and_remove(engine, volumes):
    name = volumes.name()
    status, _, raw = engine.api("POST", f"{API}/volumes/create",
                                {"Name": name, "Labels": {"md.test": "1", "a": "b"}})
    assert status == 201, raw
    volume = _json(raw)
    assert volume["Name"] == name and volume["Driver"] == "local" and volume["Scope"] == "local"
    assert volume["Labels"] == {"a": "b", "md.test": "1"} and volume["Options"] is None
    assert volume["Mountpoint"].endswith(f"/volumes/{name}/_data") and volume["CreatedAt"]
    # the same name again: the volume as it is, its labels unchanged (Docker's way)
    status, _, raw = engine.api("POST", f"{API}/volumes/create", {"Name": name, "Labels": {"a": "other"}})
    assert status == 201 and _json(raw)["Labels"] == {"a": "b", "md.test": "1"}
    for prefix in (API, ""):  # versioned and unversioned
        status, _, raw = engine.api("GET", f"{prefix}/volumes/{name}")
        assert status == 200 and _json(raw) == volume
    status, _, raw = engine.api("GET", f"{API}/volumes")
    listed = _json(raw)
    assert status == 200 and name in [v["Name"] for v in listed["Volumes"]] and "Warnings" in listed
    status, _, raw = engine.api("DELETE", f"/volumes/{name}")
    assert status == 204, raw
    status, _, raw = engine.api("GET", f"{API}/volumes/{name}")
    assert (status, _json(raw)["message"]) == (404, f"get {name}: no such volume")
    status, _, raw = engine.api("DELETE", f"{API}/volumes/{name}")
    assert (status, _json(raw)["message"]) == (404, f"get {name}: no such volume")
    status, _, _ = engine.api("DELETE", f"{API}/volumes/{name}?force=1")
    assert status == 204  # force forgives a missing volume


@pytest.mark.spec("VOL-001")
def test_a_volume_without_a_name_gets_a_random_one(engine, volumes):
    status, _, raw = engine.api("POST", f"{API}/volumes/create", {})
    assert status == 201, raw
    name = _json(raw)["Name"]
    volumes.names.append(name)
    assert len(name) == 64 and all(c in "0123456789abcdef" for c in name)


@pytest.mark.spec("VOL-005", "VOL-022")
@pytest.mark.parametrize("name", ["a/b", "../etc", ".hidden", "-dash", "sp ace", "x"])
def test_an_invalid_name_is_refused_in_dockers_words(engine, name):
    status, _, raw = engine.api("POST", f"{API}/volumes/create", {"Name": name})
    assert status == 400, raw
    if name == "x":
        words = "volume name is too short, names should be at least two alphanumeric characters"
    else:
        words = (f'"{name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" '
                 "are allowed. If you intended to pass a host directory, use absolute path")
    assert _json(raw)["message"] == f"create {name}: {words}"


@pytest.mark.spec("VOL-006")
def test_an_unknown_driver_is_not_found(engine, volumes):
    name = volumes.name()
    status, _, raw = engine.api("POST", f"{API}/volumes/create", {"Name": name, "Driver": "md-nosuch"},
                                timeout=120)  # dockerd looks for the plugin for 15 s
    assert status == 404, raw
    assert _json(raw)["message"] == f'create {name}: error looking up volume plugin md-nosuch: plugin "md-nosuch" not found'
    assert engine.api("GET", f"{API}/volumes/{name}")[0] == 404


@pytest.mark.spec("VOL-006")
@pytest.mark.parametrize("options, words", [
    ({"colour": "red"}, 'invalid option: "colour"'),
    ({"type": "tmpfs"}, 'missing required option: "device"'),
    ({"device": "/tmp"}, 'missing required option: "type"'),
    ({"size": "10m"}, "quota size requested but no quota support"),
])
def test_bad_local_options_are_refused(engine, volumes, options, words):
    name = volumes.name()
    status, _, raw = engine.api("POST", f"{API}/volumes/create", {"Name": name, "DriverOpts": options})
    assert (status, _json(raw)["message"]) == (400, f"create {name}: {words}")
    assert engine.api("GET", f"{API}/volumes/{name}")[0] == 404


@pytest.mark.spec("VOL-006")
@pytest.mark.parametrize("body, field", [
    ({"Name": 5}, "Name"), ({"Labels": "x"}, "Labels"), ({"DriverOpts": ["a"]}, "DriverOpts"),
    ({"Driver": True}, "Driver"),
])
def test_a_field_of_the_wrong_type_is_a_400_naming_it(engine, body, field):
    status, _, raw = engine.api("POST", f"{API}/volumes/create", body)
    assert status == 400, raw
    message = _json(raw)["message"]
    assert message.startswith("json: cannot unmarshal") and field in message


@pytest.mark.spec("VOL-017")
def test_list_filters_dangling_name_label_and_driver(engine, volumes, containers):
    tag = secrets.token_hex(4)
    used = volumes.create("used", Labels={"md.filter": tag, "role": "used"})["Name"]
    free = volumes.create("free", Labels={"md.filter": tag})["Name"]
    containers.create("true", HostConfig={"Binds": [f"{used}:/data"]})

    def names(filters: dict) -> list[str]:
        query = json.dumps({"label": [f"md.filter={tag}"], **filters})
        status, _, raw = engine.api("GET", f"{API}/volumes?filters={quote(query)}")
        assert status == 200, raw
        return sorted(v["Name"] for v in _json(raw)["Volumes"])

    assert names({}) == sorted([used, free])
    assert names({"dangling": ["true"]}) == [free]
    assert names({"dangling": ["false"]}) == [used]
    assert names({"name": [f"free-{free.rsplit('-', 1)[1]}"]}) == [free]  # a substring of the name
    assert names({"label": [f"md.filter={tag}", "role=used"]}) == [used]
    assert names({"label": [f"md.filter={tag}", "role"]}) == [used]
    assert names({"driver": ["local"]}) == sorted([used, free])
    assert names({"driver": ["md-other"]}) == []
    status, _, raw = engine.api("GET", f'{API}/volumes?filters={quote(json.dumps({"colour": ["red"]}))}')
    assert (status, _json(raw)["message"]) == (400, "Invalid filter 'colour'")
    status, _, raw = engine.api("GET", f'{API}/volumes?filters={quote(json.dumps({"dangling": ["maybe"]}))}')
    assert (status, _json(raw)["message"]) == (400, "Invalid filter 'dangling=[maybe]'")


@pytest.mark.spec("VOL-017", "VOL-003")
def test_prune_removes_unused_volumes_matching_its_labels(engine, volumes, containers):
    tag = secrets.token_hex(4)
    unused = [volumes.create("prune", Labels={"md.prune": tag})["Name"] for _ in range(2)]
    used = volumes.create("kept", Labels={"md.prune": tag})["Name"]
    other = volumes.create("other", Labels={"md.prune": "not-" + tag})["Name"]
    containers.create("true", HostConfig={"Binds": [f"{used}:/data"]})
    status, _, raw = engine.api("POST", f'{API}/volumes/prune?filters={quote(json.dumps({"label": [f"md.prune={tag}"]}))}')
    assert status == 200, raw
    report = _json(raw)
    assert sorted(report["VolumesDeleted"]) == sorted(unused) and report["SpaceReclaimed"] == 0
    for name in unused:
        assert engine.api("GET", f"{API}/volumes/{name}")[0] == 404
    for name in (used, other):
        assert engine.api("GET", f"{API}/volumes/{name}")[0] == 200


@pytest.mark.spec("VOL-003")
def test_a_volume_in_use_is_not_removed_even_with_force(engine, volumes, containers):
    name = volumes.name()
    first, code = containers.run("sh", "-c", "echo kept > /data/file", HostConfig={"Binds": [f"{name}:/data"]})
    assert code == 0
    second = containers.create("true", HostConfig={"Binds": [f"{name}:/other"]})
    for query in ("", "?force=1"):
        status, _, raw = engine.api("DELETE", f"{API}/volumes/{name}{query}")
        assert status == 409, raw
        message = _json(raw)["message"]
        assert message.startswith(f"remove {name}: volume is in use - [")
        assert first in message and second in message
    for container_id in (first, second):
        engine.api("DELETE", f"{API}/containers/{container_id}")
    _, code = containers.run("cat", "/data/file", HostConfig={"Binds": [f"{name}:/data"]})
    assert code == 0  # the refusals left the data


@pytest.mark.spec("VOL-018")
def test_system_df_counts_a_volume_its_size_and_its_users(engine, volumes, containers):
    name = volumes.name()
    _, code = containers.run("sh", "-c", "head -c 3000 /dev/zero > /data/blob", HostConfig={"Binds": [f"{name}:/data"]})
    assert code == 0
    status, _, raw = engine.api("GET", f"{API}/system/df")
    assert status == 200, raw
    volume = next(v for v in _json(raw)["Volumes"] if v["Name"] == name)
    assert volume["UsageData"]["RefCount"] == 1
    assert volume["UsageData"]["Size"] >= 3000


@pytest.mark.spec("VOL-025")
def test_volume_events_create_mount_unmount_destroy(engine, volumes, containers):
    import time

    since = time.time() - 1
    name = volumes.create()["Name"]
    container, code = containers.run("true", HostConfig={"Binds": [f"{name}:/data:ro"]})
    assert code == 0
    engine.api("DELETE", f"{API}/containers/{container}")
    assert engine.api("DELETE", f"{API}/volumes/{name}")[0] == 204
    until = time.time() + 1
    time.sleep(1.1)
    query = quote(json.dumps({"type": ["volume"]}))
    status, _, raw = engine.api("GET", f"{API}/events?since={since:.3f}&until={until:.3f}&filters={query}")
    assert status == 200, raw
    events = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    ours = [(e["Action"], e["Actor"]["Attributes"]) for e in events if e["Actor"]["ID"] == name]
    # a container's get-or-create of its volume is a second "create", as in dockerd
    assert [action for action, _ in ours] == ["create", "create", "mount", "unmount", "destroy"], ours
    assert ours[0][1]["driver"] == "local"
    mount = ours[2][1]
    assert (mount["container"], mount["destination"], mount["driver"], mount["read/write"]) == \
        (container, "/data", "local", "false")
    assert ours[3][1]["container"] == container
