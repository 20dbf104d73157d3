"""Volumes across a daemon restart (minidock only: the test starts, stops and starts its own daemon)."""

from __future__ import annotations

import http.client
import json
import subprocess

import pytest

from tests.harness.engine import Engine, mounts_under, python_module, spare_network_flags, stop_daemon, wait_for_ping


@pytest.fixture
def daemon(pytestconfig, tmp_path):
    if pytestconfig.getoption("engine") != "minidock":
        pytest.skip("restarts a private minidock daemon")
    engine = Engine(kind="minidock", host=f"unix://{tmp_path}/d.sock", log_path=tmp_path / "daemon.log",
                    cli_argv=python_module("minidock.cli.main"))
    argv = [*python_module("minidock.engine.daemon"), "-H", engine.host, "--data-root", str(tmp_path / "data"),
            "--exec-root", str(tmp_path / "exec"), *spare_network_flags(), "--shutdown-timeout", "2"]
    processes, flags = [], []

    def start() -> Engine:
        with open(engine.log_path, "ab") as log:
            processes.append(subprocess.Popen([*argv, *flags], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        wait_for_ping(engine, processes[-1])
        return engine

    def stop() -> None:
        stop_daemon(processes[-1])

    engine.start, engine.stop, engine.flags, engine.processes = start, stop, flags, processes
    start()
    engine.cli("image", "bootstrap", "busybox", timeout=120)
    yield engine
    if processes[-1].poll() is not None:
        start()
    for container in json.loads(engine.api("GET", "/v1.41/containers/json?all=1")[2]):
        engine.api("DELETE", f"/v1.41/containers/{container['Id']}?force=1&v=1")
    for volume in json.loads(engine.api("GET", "/v1.41/volumes")[2])["Volumes"]:
        engine.api("DELETE", f"/v1.41/volumes/{volume['Name']}")
    if flags:  # a daemon with --live-restore leaves its bridge: one without it takes it away
        stop()
        flags.clear()
        start()
    stop()
    assert mounts_under(tmp_path) == []


@pytest.mark.spec("VOL-020", "VOL-002")
def test_volumes_their_labels_and_data_survive_a_restart(daemon):
    daemon.cli("volume", "create", "--label", "md.restart=1", "-o", "type=tmpfs", "-o", "device=tmpfs", "fast")
    daemon.cli("run", "--name", "writer", "--network", "none", "-v", "kept:/data", "busybox",
               "sh", "-c", "echo before-the-restart > /data/file")
    before = json.loads(daemon.cli("volume", "inspect", "kept", "fast").stdout)
    daemon.stop()
    daemon.start()
    after = json.loads(daemon.cli("volume", "inspect", "kept", "fast").stdout)
    assert after == before
    assert after[1]["Labels"] == {"md.restart": "1"} and after[1]["Options"]["type"] == "tmpfs"
    # the container made before the restart still holds its volume: it is in use, and it finds its data
    in_use = daemon.cli("volume", "rm", "kept", check=False)
    assert in_use.returncode == 1 and "volume is in use" in in_use.stderr
    daemon.cli("start", "writer")
    daemon.cli("wait", "writer")
    out = daemon.cli("run", "--rm", "--network", "none", "-v", "kept:/data", "busybox", "cat", "/data/file").stdout
    assert out == "before-the-restart\n"


@pytest.mark.spec("VOL-020", "VOL-007")
def test_a_tmpfs_volume_is_mounted_once_and_unmounted_after_its_last_user(daemon, tmp_path):
    daemon.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "mem")
    daemon.cli("run", "-d", "--name", "holder", "--network", "none", "-v", "mem:/m", "busybox",
               "sh", "-c", "echo in-memory > /m/f; sleep 300")
    daemon.cli("run", "--rm", "--network", "none", "-v", "mem:/m", "busybox", "true")
    data = json.loads(daemon.cli("volume", "inspect", "mem").stdout)[0]["Mountpoint"]
    assert mounts_under(tmp_path / "data" / "volumes") == [data]  # held by holder, mounted once
    daemon.cli("rm", "-f", "holder")
    assert mounts_under(tmp_path / "data" / "volumes") == []  # the last user gone: unmounted


@pytest.mark.spec("VOL-020", "VOL-007")
def test_a_live_restored_container_keeps_holding_its_tmpfs_volume(daemon, tmp_path):
    daemon.stop()
    daemon.flags.append("--live-restore")
    daemon.start()
    daemon.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "held")
    daemon.cli("run", "-d", "--name", "holder", "--network", "none", "-v", "held:/m", "busybox",
               "sh", "-c", "echo kept-in-memory > /m/f; sleep 300")
    data = json.loads(daemon.cli("volume", "inspect", "held").stdout)[0]["Mountpoint"]
    daemon.stop()  # --live-restore: holder keeps running, its tmpfs stays mounted
    daemon.start()
    assert mounts_under(tmp_path / "data" / "volumes") == [data]
    # a second user comes and goes: the volume stays mounted for holder
    out = daemon.cli("run", "--rm", "--network", "none", "-v", "held:/m", "busybox", "cat", "/m/f").stdout
    assert out == "kept-in-memory\n"
    assert mounts_under(tmp_path / "data" / "volumes") == [data]
    daemon.cli("rm", "-f", "holder")
    assert mounts_under(tmp_path / "data" / "volumes") == []


@pytest.mark.spec("VOL-020")
def test_a_crash_inside_create_leaves_no_anonymous_volume(daemon, monkeypatch):
    daemon.cli("run", "--name", "kept-anon", "--network", "none", "-v", "/kept", "busybox", "true")
    daemon.cli("rm", "kept-anon")  # without -v: its anonymous volume stays, dangling, on purpose
    [kept] = json.loads(daemon.api("GET", "/v1.41/volumes")[2])["Volumes"]
    daemon.stop()
    monkeypatch.setenv("MINIDOCK_CRASH_AT", "create:after-snapshot")
    daemon.start()
    with pytest.raises((OSError, http.client.HTTPException)):  # the daemon dies inside the create
        daemon.api("POST", "/v1.41/containers/create", {"Image": "busybox", "Volumes": {"/lost": {}},
                                                        "HostConfig": {"NetworkMode": "none"}})
    daemon.processes[-1].wait(10)
    monkeypatch.delenv("MINIDOCK_CRASH_AT")
    daemon.start()
    names = daemon.cli("volume", "ls", "-q").stdout.split()
    assert names == [kept["Name"]]  # the lost create's volume is gone, the kept one is not
    assert "removing the anonymous volume" in daemon.log()  # it was made, and the restart took it away
    assert json.loads(daemon.api("GET", "/v1.41/containers/json?all=1")[2]) == []
