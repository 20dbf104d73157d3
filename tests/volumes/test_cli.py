"""The volume verbs and run's volume flags through the engine's own CLI (minidock's, or docker's
with --engine=docker), the real docker CLI against the engine, and the Python docker SDK."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.volumes.conftest import API


@pytest.mark.spec("VOL-001", "VOL-017")
def test_volume_create_ls_inspect_rm_print_what_docker_prints(engine, volumes):
    name = volumes.name()
    tag = secrets.token_hex(4)
    assert engine.cli("volume", "create", "--label", f"md.cli={tag}", "--label", "x=y", name).stdout == f"{name}\n"
    listed = engine.cli("volume", "ls", "--filter", f"label=md.cli={tag}").stdout.splitlines()
    assert listed[0].split() == ["DRIVER", "VOLUME", "NAME"] and listed[1].split() == ["local", name]
    assert listed[0].index("VOLUME NAME") == listed[1].index(name)  # the columns line up
    assert engine.cli("volume", "ls", "-q", "-f", f"label=md.cli={tag}").stdout == f"{name}\n"
    assert engine.cli("volume", "ls", "-q", "-f", f"label=md.cli={tag}", "-f", "dangling=false").stdout == ""
    [document] = json.loads(engine.cli("volume", "inspect", name).stdout)
    assert document["Name"] == name and document["Labels"] == {f"md.cli": tag, "x": "y"}
    assert engine.cli("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", name).stdout == \
        f"{name} local local\n"
    # the generic inspect finds volumes too (after containers and images)
    assert engine.cli("inspect", "-f", "{{.Driver}} {{.Name}}", name).stdout == f"local {name}\n"
    assert json.loads(engine.cli("inspect", "--type", "volume", name).stdout)[0]["Name"] == name
    missing = engine.cli("volume", "inspect", "md-no-such-volume", check=False)
    assert missing.returncode == 1
    assert "get md-no-such-volume: no such volume" in missing.stderr
    removed = engine.cli("volume", "rm", name, "md-no-such-volume", check=False)
    assert removed.returncode == 1 and removed.stdout == f"{name}\n"
    assert "get md-no-such-volume: no such volume" in removed.stderr
    assert engine.cli("volume", "rm", "-f", "md-no-such-volume").returncode == 0


@pytest.mark.spec("VOL-001", "VOL-006")
def test_volume_create_with_driver_options(engine, volumes):
    name = volumes.name()
    engine.cli("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", name)
    [document] = json.loads(engine.cli("volume", "inspect", name).stdout)
    assert document["Options"] == {"device": "tmpfs", "o": "size=1m", "type": "tmpfs"}
    bad = engine.cli("volume", "create", "-o", "colour=red", volumes.name(), check=False)
    assert bad.returncode == 1 and 'invalid option: "colour"' in bad.stderr


@pytest.mark.spec("VOL-017", "VOL-003")
def test_volume_prune_asks_then_removes_and_reports(engine, volumes, containers):
    tag = secrets.token_hex(4)
    unused, used = volumes.create("unused", Labels={"md.cli": tag})["Name"], \
        volumes.create("used", Labels={"md.cli": tag})["Name"]
    containers.create("true", HostConfig={"Binds": [f"{used}:/data"]})
    declined = engine.cli("volume", "prune", "--filter", f"label=md.cli={tag}", input="n\n")
    assert "WARNING! This will remove" in declined.stdout
    assert engine.api("GET", f"{API}/volumes/{unused}")[0] == 200
    pruned = engine.cli("volume", "prune", "-f", "--filter", f"label=md.cli={tag}")
    assert pruned.stdout == f"Deleted Volumes:\n{unused}\n\nTotal reclaimed space: 0B\n"
    in_use = engine.cli("volume", "rm", used, check=False)
    assert in_use.returncode == 1 and f"remove {used}: volume is in use - [" in in_use.stderr


@pytest.mark.spec("VOL-019", "VOL-002", "VOL-014")
def test_run_with_v_mount_and_tmpfs_flags(engine, volumes, tmp_path):
    name = volumes.name()
    (tmp_path / "conf").write_text("from the host\n")
    engine.cli("run", "--rm", "--network", "none", "-v", f"{name}:/data", "busybox",
               "sh", "-c", "echo persisted > /data/file")
    out = engine.cli("run", "--rm", "--network", "none", "--mount", f"source={name},target=/d,readonly",
                     "--mount", f"type=bind,src={tmp_path},dst=/h", "--tmpfs", "/t:size=1m",
                     "busybox", "sh", "-c", "cat /d/file /h/conf; touch /d/x 2>&1; grep ' /t ' /proc/mounts").stdout
    lines = out.splitlines()
    assert lines[:2] == ["persisted", "from the host"]
    assert "Read-only file system" in lines[2] and lines[3].startswith("tmpfs /t tmpfs")


@pytest.mark.spec("VOL-019")
def test_a_bad_mount_flag_exits_125_with_the_docker_clis_words(engine, busybox):
    result = engine.cli("run", "--rm", "--mount", "foo=bar", "busybox", "true", check=False)
    assert result.returncode == 125
    assert "invalid argument \"foo=bar\" for \"--mount\" flag: unexpected key 'foo' in 'foo=bar'" in result.stderr
    missing = engine.cli("run", "--rm", "--mount", "type=bind,src=/md-no-such-dir,dst=/x", "busybox", "true",
                         check=False)
    assert missing.returncode == 125
    assert 'invalid mount config for type "bind": bind source path does not exist: /md-no-such-dir' in missing.stderr


@pytest.mark.spec("VOL-012", "VOL-015")
def test_rm_v_and_volumes_from_on_the_command_line(engine, volumes):
    name = f"md-cli-src-{secrets.token_hex(4)}"
    engine.cli("create", "--name", name, "-v", "/anon", "busybox", "true")
    try:
        [anonymous] = [m["Name"] for m in json.loads(engine.cli("inspect", name).stdout)[0]["Mounts"]]
        volumes.names.append(anonymous)
        out = engine.cli("run", "--rm", "--network", "none", "--volumes-from", f"{name}:ro", "busybox",
                         "sh", "-c", "grep ' /anon ' /proc/mounts").stdout
        assert " ro," in out or " ro " in out
        engine.cli("rm", "-v", name)
        assert engine.api("GET", f"{API}/volumes/{anonymous}")[0] == 404
    finally:
        engine.cli("rm", "-f", "-v", name, check=False)


@pytest.mark.spec("VOL-018")
def test_system_df_has_a_local_volumes_row(engine, volumes):
    volumes.create()
    rows = engine.cli("system", "df").stdout.splitlines()
    [row] = [line for line in rows if line.startswith("Local Volumes")]
    assert int(row.split()[2]) >= 1  # TOTAL


# -- the real docker CLI and the SDK against the engine -----------------------------------


@pytest.mark.spec("VOL-023")
def test_the_docker_cli_manages_volumes_and_runs_with_v(engine, volumes):
    name = volumes.name()
    assert engine.docker_cli("volume", "create", "--label", "md.docker=1", name).stdout == f"{name}\n"
    assert name in engine.docker_cli("volume", "ls", "-q").stdout.split()
    [document] = json.loads(engine.docker_cli("volume", "inspect", name).stdout)
    assert document["Labels"] == {"md.docker": "1"} and document["Driver"] == "local"
    engine.docker_cli("run", "--rm", "--network", "none", "-v", f"{name}:/data", "busybox",
                      "sh", "-c", "echo via-docker > /data/f")
    out = engine.docker_cli("run", "--rm", "--network", "none", "--mount", f"src={name},dst=/d", "busybox",
                            "cat", "/d/f").stdout
    assert out == "via-docker\n"
    assert engine.docker_cli("volume", "rm", name).stdout == f"{name}\n"
    assert engine.api("GET", f"{API}/volumes/{name}")[0] == 404


@pytest.mark.spec("VOL-023")
def test_the_python_sdk_manages_volumes_and_runs_with_them(engine, volumes):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=engine.host, version="auto", timeout=60)
    try:
        name = volumes.name()
        volume = client.volumes.create(name=name, labels={"md.sdk": "1"})
        assert volume.name == name and volume.attrs["Labels"] == {"md.sdk": "1"}
        assert name in [v.name for v in client.volumes.list(filters={"label": "md.sdk=1"})]
        output = client.containers.run("busybox", ["sh", "-c", "echo sdk > /data/f; cat /data/f"], remove=True,
                                       network_mode="none", volumes={name: {"bind": "/data", "mode": "rw"}})
        assert output == b"sdk\n"
        assert client.volumes.get(name).attrs["Mountpoint"] == volume.attrs["Mountpoint"]
        client.volumes.get(name).remove()
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(name)
    finally:
        client.close()


@pytest.mark.spec("VOL-017")
def test_system_prune_volumes_removes_unused_volumes_too(engine, volumes):
    if engine.kind == "docker":
        pytest.skip("system prune would remove every unused volume and container of a shared dockerd")
    unused = volumes.create()["Name"]
    out = engine.cli("system", "prune", "-f", "--volumes").stdout
    assert f"Deleted Volumes:\n" in out and unused in out.split("Deleted Volumes:\n")[1]
    assert engine.api("GET", f"{API}/volumes/{unused}")[0] == 404
