"""Volumes in containers, through the API: shared data, read-only, copy-up, anonymous volumes,
bind mounts, tmpfs, --volumes-from, the Mounts list, and bad mount specs. Engine-neutral."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from urllib.parse import quote

import pytest

from tests.volumes.conftest import API, anonymous_volumes


def _message(raw: bytes) -> str:
    return json.loads(raw)["message"]


def _create_status(engine, busybox, host: dict, config: dict | None = None) -> tuple[int, bytes]:
    """POST /containers/create that is expected to fail (a 201 is removed at once)."""
    body = {"Image": busybox, "Cmd": ["true"], **(config or {}), "HostConfig": host}
    status, _, raw = engine.api("POST", f"{API}/containers/create", body)
    if status == 201:
        engine.api("DELETE", f"{API}/containers/{json.loads(raw)['Id']}?force=1&v=1")
    return status, raw


@pytest.mark.spec("VOL-002", "VOL-008")
def test_data_written_by_one_container_is_read_by_the_next(engine, volumes, containers):
    name = volumes.name()  # not created: -v name:/data makes it
    writer, code = containers.run("sh", "-c", "echo from-the-writer > /data/note",
                                  HostConfig={"Binds": [f"{name}:/data"]})
    assert code == 0
    assert engine.api("DELETE", f"{API}/containers/{writer}")[0] == 204
    status, volume = volumes.inspect(name)
    assert status == 200 and volume["Driver"] == "local"
    reader, code = containers.run("cat", "/srv/note", HostConfig={"Mounts": [
        {"Type": "volume", "Source": name, "Target": "/srv"}]})
    assert code == 0 and containers.output(reader) == "from-the-writer\n"


@pytest.mark.spec("VOL-009")
def test_two_containers_share_a_volume_at_once(engine, volumes, containers):
    name = volumes.name()
    binds = {"Binds": [f"{name}:/shared"]}
    first = containers.create("sh", "-c", "echo one > /shared/one; i=0; while [ ! -f /shared/two ] && "
                              "[ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat /shared/two", HostConfig=binds)
    containers.start(first)
    second, code = containers.run("sh", "-c", "i=0; while [ ! -f /shared/one ] && [ $i -lt 100 ]; do sleep 0.1; "
                                  "i=$((i+1)); done; cat /shared/one; echo two > /shared/two", HostConfig=binds)
    assert code == 0 and containers.output(second) == "one\n"
    assert containers.wait(first) == 0 and containers.output(first) == "two\n"


@pytest.mark.spec("VOL-021")
def test_read_only_mounts_refuse_writes(engine, volumes, containers, tmp_path):
    name = volumes.name()
    for host in ({"Binds": [f"{name}:/data:ro"]},
                 {"Mounts": [{"Type": "volume", "Source": name, "Target": "/data", "ReadOnly": True}]},
                 {"Binds": [f"{tmp_path}:/data:ro"]}):
        container, code = containers.run("sh", "-c", "touch /data/x 2>&1; ls /data", HostConfig=host)
        assert code == 0
        assert "Read-only file system" in containers.output(container)
    assert os.listdir(tmp_path) == []
    # --read-only: the root refuses writes, a volume on it does not
    container, code = containers.run("sh", "-c", "touch /data/ok && echo volume-ok; touch /root-x 2>&1",
                                     HostConfig={"Binds": [f"{name}:/data"], "ReadonlyRootfs": True})
    output = containers.output(container)
    assert "volume-ok" in output and "Read-only file system" in output


@pytest.mark.spec("VOL-011")
def test_a_new_volume_over_an_image_directory_starts_with_its_files(engine, volumes, containers):
    name, fresh, full = volumes.name(), volumes.name(), volumes.name()
    stat_cmd = "stat -c '%a %u %g %F' /etc /etc/passwd /etc/group"
    plain, _ = containers.run("sh", "-c", stat_cmd)
    expected = containers.output(plain)
    # copy-up happens when the volume is first mounted over /etc
    _, code = containers.run("true", HostConfig={"Binds": [f"{name}:/etc"]})
    assert code == 0
    seen, code = containers.run("sh", "-c", stat_cmd.replace("/etc", "/v"), HostConfig={"Binds": [f"{name}:/v"]})
    assert code == 0 and containers.output(seen) == expected.replace("/etc", "/v")
    # nocopy: nothing of the image's
    _, code = containers.run("true", HostConfig={"Binds": [f"{fresh}:/etc:nocopy"]})
    seen, _ = containers.run("sh", "-c", "ls /v/passwd 2>&1", HostConfig={"Binds": [f"{fresh}:/v"]})
    assert "No such file" in containers.output(seen)
    # a volume with data is not filled
    _, code = containers.run("sh", "-c", "echo mine > /v/mine", HostConfig={"Binds": [f"{full}:/v"]})
    seen, _ = containers.run("sh", "-c", "ls /etc", HostConfig={"Binds": [f"{full}:/etc"]})
    listed = containers.output(seen).split()
    assert "mine" in listed and "passwd" not in listed


@pytest.fixture
def image_with_a_volume(engine, containers, busybox):
    """busybox committed with `VOLUME /data` and a file there (the image's content to copy up)."""
    container, code = containers.run("sh", "-c", "mkdir -p /data && echo from-the-image > /data/seed && "
                                     "chmod 640 /data/seed && chown 1:2 /data/seed")
    assert code == 0
    repo = f"md-volume-image-{secrets.token_hex(4)}"
    status, _, raw = engine.api("POST", f"{API}/commit?container={container}&repo={repo}&tag=latest&changes="
                                + quote("VOLUME /data"))
    assert status == 201, raw
    yield f"{repo}:latest"
    engine.api("DELETE", f"{API}/images/{repo}:latest?force=1")


@pytest.mark.spec("VOL-010", "VOL-011", "VOL-012")
def test_an_images_volume_is_anonymous_filled_and_removed_with_rm_v(engine, volumes, containers,
                                                                    image_with_a_volume):
    named = volumes.name()
    container = containers.create("sh", "-c", "cat /data/seed; stat -c '%a %u %g' /data/seed",
                                  Image=image_with_a_volume, HostConfig={"Binds": [f"{named}:/named"]})
    inspect = containers.inspect(container)
    assert inspect["Config"]["Volumes"] == {"/data": {}}
    [anonymous] = anonymous_volumes(inspect)
    containers.start(container)
    assert containers.wait(container) == 0
    assert containers.output(container) == "from-the-image\n640 1 2\n"
    assert engine.api("DELETE", f"{API}/containers/{container}?v=1")[0] == 204
    assert volumes.inspect(anonymous)[0] == 404  # rm -v: the anonymous volume went
    assert volumes.inspect(named)[0] == 200      # the named one stays


@pytest.mark.spec("VOL-010", "VOL-012")
def test_anonymous_volumes_stay_without_v_and_go_with_auto_remove(engine, volumes, containers):
    kept = containers.create("true", Volumes={"/scratch": {}})
    [anonymous] = anonymous_volumes(containers.inspect(kept))
    volumes.names.append(anonymous)
    assert engine.api("DELETE", f"{API}/containers/{kept}")[0] == 204
    assert volumes.inspect(anonymous)[0] == 200  # rm without -v keeps it
    auto = containers.create("sleep", "0.2", Volumes={"/scratch": {}}, HostConfig={"AutoRemove": True})
    [gone] = anonymous_volumes(containers.inspect(auto))
    containers.start(auto)
    status, _, _ = engine.api("POST", f"{API}/containers/{auto}/wait?condition=removed")
    assert status in (200, 404)
    for _ in range(50):
        if volumes.inspect(gone)[0] == 404:
            break
        time.sleep(0.1)
    assert volumes.inspect(gone)[0] == 404  # run --rm takes its anonymous volumes


@pytest.mark.spec("VOL-013")
def test_bind_mounts_show_the_host_directory(engine, volumes, containers, tmp_path):
    (tmp_path / "from-host").write_text("hello from the host\n")
    container, code = containers.run("sh", "-c", "cat /h/from-host; echo back > /h/from-container",
                                     HostConfig={"Binds": [f"{tmp_path}:/h"]})
    assert code == 0 and containers.output(container) == "hello from the host\n"
    assert (tmp_path / "from-container").read_text() == "back\n"
    missing = tmp_path / "made" / "by-v"
    _, code = containers.run("true", HostConfig={"Binds": [f"{missing}:/m"]})
    assert code == 0 and missing.is_dir()  # -v makes a missing host directory
    shutil.rmtree(tmp_path / "made")
    container, code = containers.run("cat", "/h/from-host", HostConfig={"Mounts": [
        {"Type": "bind", "Source": str(tmp_path), "Target": "/h"}]})
    assert code == 0 and containers.output(container) == "hello from the host\n"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.mark.spec("VOL-013")
def test_bind_propagation_slave_sees_later_host_mounts(engine, containers, tmp_path):
    private, shared = tmp_path / "private", tmp_path / "shared"
    for directory in (private, shared):
        directory.mkdir()
        _mount("--bind", str(directory), str(directory))
    try:
        _mount("--make-private", str(private))
        _mount("--make-rshared", str(shared))
        # a private source cannot feed a slave: refused at start, in dockerd's words
        refused = containers.create("true", HostConfig={"Mounts": [
            {"Type": "bind", "Source": str(private), "Target": "/p", "BindOptions": {"Propagation": "rslave"}}]})
        status, _, raw = engine.api("POST", f"{API}/containers/{refused}/start")
        assert status == 500 and "is not a shared or slave mount" in _message(raw), raw
        # a shared one does: what the host mounts there later shows in the container
        (shared / "sub").mkdir()
        watcher = containers.create("sh", "-c", "i=0; while ! grep -q ' /p/sub ' /proc/mounts && [ $i -lt 100 ]; "
                                    "do sleep 0.1; i=$((i+1)); done; grep ' /p/sub ' /proc/mounts", HostConfig={
                                        "Mounts": [{"Type": "bind", "Source": str(shared), "Target": "/p",
                                                    "BindOptions": {"Propagation": "rslave"}}]})
        containers.start(watcher)
        _mount("-t", "tmpfs", "md-propagated", str(shared / "sub"))
        assert containers.wait(watcher) == 0
        assert containers.output(watcher).startswith("md-propagated /p/sub tmpfs")
    finally:
        containers.remove_all()
        for point in (shared / "sub", shared, private):
            subprocess.run(["umount", str(point)], capture_output=True)


@pytest.mark.spec("VOL-013", "VOL-008")
def test_a_missing_or_relative_bind_source_is_refused(engine, busybox, tmp_path):
    missing = tmp_path / "does-not-exist"
    status, raw = _create_status(engine, busybox, {"Mounts": [{"Type": "bind", "Source": str(missing), "Target": "/x"}]})
    assert (status, _message(raw)) == (400, f'invalid mount config for type "bind": bind source path does not exist: {missing}')
    assert not missing.exists()
    status, raw = _create_status(engine, busybox, {"Mounts": [{"Type": "bind", "Source": "rel/dir", "Target": "/x"}]})
    assert (status, _message(raw)) == (400, "invalid mount config for type \"bind\": invalid mount path: 'rel/dir' mount path must be absolute")
    status, raw = _create_status(engine, busybox, {"Binds": ["rel/dir:/x"]})
    assert status == 400 and _message(raw).startswith('create rel/dir: "rel/dir" includes invalid characters')


@pytest.mark.spec("VOL-008", "VOL-005", "VOL-022")
@pytest.mark.parametrize("host, words", [
    ({"Binds": ["../etc:/x"]}, 'create ../etc: "../etc" includes invalid characters'),
    ({"Binds": ["md-name:relative"]}, "invalid volume specification: 'md-name:relative': invalid mount config for "
                                      "type \"volume\": invalid mount path: 'relative' mount path must be absolute"),
    ({"Binds": ["md-name:/"]}, "invalid volume specification: 'md-name:/'"),
    ({"Binds": ["md-name:/x:bogus"]}, "invalid mode: bogus"),
    ({"Binds": ["a:b:c:d"]}, "invalid volume specification: 'a:b:c:d'"),
    ({"Binds": ["md-dup-a:/x", "md-dup-b:/x"]}, "Duplicate mount point: /x"),
    ({"Mounts": [{"Type": "bogus", "Target": "/x"}]}, 'invalid mount config for type "bogus": mount type unknown'),
    ({"Mounts": [{"Type": "volume", "Source": "a/b", "Target": "/x"}]}, 'create a/b: "a/b" includes invalid characters'),
    ({"Mounts": [{"Type": "tmpfs", "Source": "x", "Target": "/x"}]},
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    ({"Binds": "md-name:/x"}, "json: cannot unmarshal"),
    ({"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": "yes"}]}, "json: cannot unmarshal"),
])
def test_bad_mount_specs_are_refused_at_create(engine, busybox, host, words):
    status, raw = _create_status(engine, busybox, host)
    for name in ("md-name", "md-dup-a", "md-dup-b"):  # dockerd makes some before it refuses
        engine.api("DELETE", f"{API}/volumes/{name}?force=1")
    # dockerd 20.10 answers a bad Binds entry or a JSON type error with a 500 (untyped errors); minidock: 400
    assert status == 400 or (engine.kind == "docker" and status == 500), raw
    assert _message(raw).startswith(words)


@pytest.mark.spec("VOL-022")
def test_dot_dot_in_a_destination_is_cleaned(engine, volumes, containers):
    name = volumes.name()
    container, code = containers.run("sh", "-c", "echo x > /data/f && ls /data",
                                     HostConfig={"Binds": [f"{name}:/x/../../data"]})
    assert code == 0 and containers.output(container) == "f\n"
    [mount] = containers.inspect(container)["Mounts"]
    assert mount["Destination"] == "/data"


@pytest.mark.spec("VOL-022")
def test_a_destination_through_an_image_symlink_stays_in_the_container(engine, volumes, containers, busybox):
    escape = f"/tmp/md-escape-{secrets.token_hex(4)}"
    maker, code = containers.run("ln", "-s", f"/../../../../..{escape}", "/escape")
    assert code == 0
    repo = f"md-symlink-{secrets.token_hex(4)}"
    status, _, raw = engine.api("POST", f"{API}/commit?container={maker}&repo={repo}&tag=latest")
    assert status == 201, raw
    try:
        container, code = containers.run("sh", "-c", f"echo inside > /escape/file; cat {escape}/file",
                                         Image=f"{repo}:latest", HostConfig={"Binds": [f"{volumes.name()}:/escape"]})
        assert code == 0 and containers.output(container) == "inside\n"
        assert not os.path.exists(escape)  # the host's /tmp was never touched
    finally:
        containers.remove_all()
        engine.api("DELETE", f"{API}/images/{repo}:latest?force=1")


@pytest.mark.spec("VOL-014")
def test_tmpfs_mounts_have_dockers_options_size_and_mode(engine, containers):
    container, code = containers.run("sh", "-c", "grep ' /t ' /proc/mounts; grep ' /u ' /proc/mounts; stat -c %a /u",
                                     HostConfig={"Tmpfs": {"/t": "size=1m"}, "Mounts": [
                                         {"Type": "tmpfs", "Target": "/u",
                                          "TmpfsOptions": {"SizeBytes": 2 << 20, "Mode": 0o1770}}]})
    assert code == 0
    tmpfs_t, tmpfs_u, mode = containers.output(container).splitlines()
    for line, size in ((tmpfs_t, "size=1024k"), (tmpfs_u, "size=2048k")):
        assert line.split()[2] == "tmpfs"
        options = line.split()[3].split(",")
        assert {"nosuid", "nodev", "noexec", size} <= set(options), line
    assert mode == "1770"


@pytest.mark.spec("VOL-015", "VOL-021")
def test_volumes_from_gives_the_other_containers_mounts(engine, volumes, containers, tmp_path):
    name = volumes.name()
    (tmp_path / "host-file").write_text("host\n")
    source, code = containers.run("sh", "-c", "echo shared > /vol/file",
                                  HostConfig={"Binds": [f"{name}:/vol", f"{tmp_path}:/host"]})
    assert code == 0
    reader, code = containers.run("sh", "-c", "cat /vol/file /host/host-file; echo more > /vol/more",
                                  HostConfig={"VolumesFrom": [source]})
    assert code == 0 and containers.output(reader) == "shared\nhost\n"
    read_only, _ = containers.run("sh", "-c", "touch /vol/x 2>&1; touch /host/x 2>&1",
                                  HostConfig={"VolumesFrom": [f"{source}:ro"]})
    assert containers.output(read_only).count("Read-only file system") == 2
    assert sorted(os.listdir(tmp_path)) == ["host-file"]
    status, raw = _create_status(engine, containers.image, {"VolumesFrom": ["md-no-such-container"]})
    assert status in (400, 404) and _message(raw) == "No such container: md-no-such-container"


@pytest.mark.spec("VOL-016")
def test_inspect_and_ps_list_mounts_as_docker_does(engine, volumes, containers, tmp_path):
    name = volumes.name()
    container = containers.create("sleep", "30", Labels={"md.mounts": name}, HostConfig={
        "Binds": [f"{name}:/data", f"{tmp_path}:/host:ro"],
        "Mounts": [{"Type": "bind", "Source": str(tmp_path), "Target": "/prop",
                    "BindOptions": {"Propagation": "rslave"}}]})
    mounts = sorted(containers.inspect(container)["Mounts"], key=lambda m: m["Destination"])
    volume = volumes.inspect(name)[1]
    assert mounts == [
        {"Type": "volume", "Name": name, "Source": volume["Mountpoint"], "Destination": "/data", "Driver": "local",
         "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "bind", "Source": str(tmp_path), "Destination": "/host", "Mode": "ro", "RW": False,
         "Propagation": "rprivate"},
        {"Type": "bind", "Source": str(tmp_path), "Destination": "/prop", "Mode": "", "RW": True,
         "Propagation": "rslave"},
    ]
    status, _, raw = engine.api("GET", f"{API}/containers/json?all=1&filters=" + quote(json.dumps({"label": [f"md.mounts={name}"]})))
    [row] = json.loads(raw)
    assert sorted(row["Mounts"], key=lambda m: m["Destination"]) == mounts


@pytest.mark.spec("VOL-027")
def test_a_volume_inside_another_is_mounted_after_it(engine, volumes, containers):
    outer, inner = volumes.name(), volumes.name()
    container, code = containers.run("sh", "-c", "echo deep > /data/sub/file; ls /data; cat /etc/hostname",
                                      HostConfig={"Binds": [f"{inner}:/data/sub", f"{outer}:/data", f"{volumes.name()}:/etc"]})
    assert code == 0
    listed = containers.output(container).split()
    assert listed[0] == "sub" and listed[1] == containers.inspect(container)["Config"]["Hostname"]
    reader, code = containers.run("cat", "/v/file", HostConfig={"Binds": [f"{inner}:/v"]})
    assert code == 0 and containers.output(reader) == "deep\n"


@pytest.mark.spec("VOL-028")
def test_cp_reaches_into_volumes_and_bind_mounts_and_export_does_not(engine, volumes, containers, tmp_path):
    import io
    import tarfile

    name = volumes.name()
    host, source = tmp_path / "host", tmp_path / "source"
    host.mkdir()
    source.mkdir()
    (host / "host-file").write_text("on the host\n")
    (source / "in.txt").write_text("copied in\n")
    stopped = containers.create("true", HostConfig={"Binds": [f"{name}:/data", f"{host}:/hostdir:ro"]})
    engine.cli("cp", str(source / "in.txt"), f"{stopped}:/data/in.txt")
    engine.cli("cp", f"{stopped}:/hostdir/host-file", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "on the host\n"
    reader, code = containers.run("cat", "/v/in.txt", HostConfig={"Binds": [f"{name}:/v"]})
    assert code == 0 and containers.output(reader) == "copied in\n"  # it went into the volume
    refused = engine.cli("cp", str(source / "in.txt"), f"{stopped}:/hostdir/", check=False)
    assert refused.returncode != 0 and sorted(os.listdir(host)) == ["host-file"]
    running = containers.create("sleep", "30", HostConfig={"Binds": [f"{name}:/data"]})
    containers.start(running)
    engine.cli("cp", f"{running}:/data/in.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "copied in\n"
    status, _, raw = engine.api("GET", f"{API}/containers/{stopped}/export")
    assert status == 200
    names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
    assert not any(n.endswith("in.txt") or n.endswith("host-file") for n in names)
    with open("/proc/self/mountinfo") as mountinfo:
        assert not any(stopped in line or str(host) in line for line in mountinfo)  # nothing left mounted


@pytest.mark.spec("VOL-008", "VOL-007")
def test_a_mount_makes_its_volume_with_the_driver_options_and_labels_given(engine, volumes, containers):
    name = volumes.name()
    container, code = containers.run("sh", "-c", "grep ' /fast ' /proc/mounts", HostConfig={"Mounts": [
        {"Type": "volume", "Source": name, "Target": "/fast",
         "VolumeOptions": {"Labels": {"md.made-by": "mount"},
                           "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs",
                                                                          "o": "size=2m"}}}}]})
    assert code == 0
    assert containers.output(container).split()[2] == "tmpfs" and "size=2048k" in containers.output(container)
    status, volume = volumes.inspect(name)
    assert status == 200 and volume["Labels"] == {"md.made-by": "mount"}
    assert volume["Options"] == {"device": "tmpfs", "o": "size=2m", "type": "tmpfs"}
