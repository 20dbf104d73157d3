"""The persist driver (lab 06's) through the engine: `volume create -d persist`, a container
writes there, `volume rm` forgets the volume and keeps its files. minidock only: Docker has
no such driver built in (it is a plugin there, local-persist)."""

from __future__ import annotations

import json

import pytest

from tests.volumes.conftest import API


@pytest.mark.spec("VOL-004", "VOL-002")
def test_a_persist_volume_keeps_its_files_after_volume_rm(engine, volumes, containers, tmp_path):
    if engine.kind != "minidock":
        pytest.skip("the persist driver is minidock's (local-persist is a plugin for Docker)")
    name = volumes.name()
    where = tmp_path / "kept-here"
    status, _, raw = engine.api("POST", f"{API}/volumes/create",
                                {"Name": name, "Driver": "persist", "DriverOpts": {"mountpoint": str(where)}})
    assert status == 201, raw
    assert json.loads(raw)["Mountpoint"] == str(where) and json.loads(raw)["Driver"] == "persist"
    container, code = containers.run("sh", "-c", "echo persisted > /data/file",
                                     HostConfig={"Binds": [f"{name}:/data"]})
    assert code == 0 and (where / "file").read_text() == "persisted\n"
    status, _, raw = engine.api("DELETE", f"{API}/volumes/{name}")
    assert status == 409 and container in json.loads(raw)["message"]
    engine.api("DELETE", f"{API}/containers/{container}")
    assert engine.api("DELETE", f"{API}/volumes/{name}")[0] == 204
    assert (where / "file").read_text() == "persisted\n"  # forgotten, not deleted
    status, _, raw = engine.api("POST", f"{API}/volumes/create",
                                {"Name": volumes.name(), "Driver": "persist", "DriverOpts": {"colour": "red"}})
    assert status == 400 and "invalid option" in json.loads(raw)["message"]


@pytest.mark.spec("VOL-026")
def test_volume_driver_chooses_the_driver_of_binds_and_anonymous_volumes(engine, volumes, containers):
    if engine.kind != "minidock":
        pytest.skip("the persist driver is minidock's")
    name = volumes.name()
    container = containers.create("true", HostConfig={"Binds": [f"{name}:/data"], "VolumeDriver": "persist"},
                                  Volumes={"/scratch": {}})
    mounts = {m["Destination"]: m for m in containers.inspect(container)["Mounts"]}
    assert mounts["/data"]["Driver"] == mounts["/scratch"]["Driver"] == "persist"
    volumes.names.append(mounts["/scratch"]["Name"])
    assert json.loads(engine.api("GET", f"{API}/volumes/{name}")[2])["Driver"] == "persist"


@pytest.mark.spec("VOL-026")
def test_an_unknown_volume_driver_is_refused_at_create(engine, volumes, busybox):
    name = volumes.name()
    for host in ({"Binds": [f"{name}:/data"], "VolumeDriver": "md-nosuch"},
                 {"Mounts": [{"Type": "volume", "Source": name, "Target": "/data",
                              "VolumeOptions": {"DriverConfig": {"Name": "md-nosuch"}}}]}):
        status, _, raw = engine.api("POST", f"{API}/containers/create", {"Image": busybox, "HostConfig": host},
                                    timeout=120)  # dockerd looks for the plugin for 15 s
        assert status == 404, raw
        assert json.loads(raw)["message"] == \
            f'create {name}: error looking up volume plugin md-nosuch: plugin "md-nosuch" not found'
