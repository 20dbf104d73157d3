"""The pure parts: a container's mount plan (Binds, Mounts, Tmpfs, VolumesFrom), the CLI's
--mount and -v, and copy-up. No daemon, no root (but copy-up's owners)."""

from __future__ import annotations

import argparse
import os
import stat

import pytest

from minidock.cli.run_options import FlagError
from minidock.cli.volume_options import apply, parse_mount as cli_mount
from minidock.errors import InvalidArgument
from minidock.volumes import copy_up
from minidock.volumes.mounts import MountPoint, api_view, oci_entry, parse_bind, parse_mount, plan, tmpfs_entries


@pytest.mark.spec("VOL-008", "VOL-016")
def test_binds_become_volumes_and_bind_mounts_with_dockers_modes():
    named = parse_bind("data:/srv/data")
    assert (named.type, named.name, named.destination, named.mode, named.rw, named.copy_data) == \
        ("volume", "data", "/srv/data", "z", True, True)
    read_only = parse_bind("data:/srv:ro,nocopy")
    assert (read_only.rw, read_only.copy_data, read_only.mode) == (False, False, "ro,nocopy")
    bind = parse_bind("/host/../etc:/x/../y:rw,rshared")
    assert (bind.type, bind.source, bind.destination, bind.propagation, bind.create_source) == \
        ("bind", "/etc", "/y", "rshared", True)
    assert parse_bind("/host:/x").propagation == "rprivate"
    anonymous = parse_bind("/only/a/destination")
    assert (anonymous.type, anonymous.name, anonymous.anonymous, anonymous.mode) == ("volume", "", True, "")


@pytest.mark.spec("VOL-008", "VOL-022")
@pytest.mark.parametrize("spec, words", [
    ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
    (":/x", "invalid volume specification: ':/x'"),
    ("/x:ro", "invalid volume specification: '/x:ro'"),
    ("n:/x:bogus", "invalid mode: bogus"),
    ("n:/x:ro,rw", "invalid mode: ro,rw"),
    ("n:relative", "invalid volume specification: 'n:relative': invalid mount config for type \"volume\": "
                   "invalid mount path: 'relative' mount path must be absolute"),
    ("n:/", "invalid volume specification: 'n:/': invalid mount config for type \"volume\": "
            "invalid specification: destination can't be '/'"),
    ("n:/x/..", "invalid volume specification: 'n:/x/..': invalid mount config for type \"volume\": "
                "invalid specification: destination can't be '/'"),
])
def test_bad_binds_are_refused_in_dockerds_words(spec, words):
    with pytest.raises(InvalidArgument) as caught:
        parse_bind(spec)
    assert caught.value.message == words


@pytest.mark.spec("VOL-008")
@pytest.mark.parametrize("entry, words", [
    ({"Type": "bogus", "Target": "/x"}, 'invalid mount config for type "bogus": mount type unknown'),
    ({"Type": "bind", "Target": "/x"}, 'invalid mount config for type "bind": field Source must not be empty'),
    ({"Type": "bind", "Source": "rel", "Target": "/x"},
     "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
    ({"Type": "bind", "Source": "/tmp", "Target": "/x", "VolumeOptions": {"NoCopy": True}},
     'invalid mount config for type "bind": field VolumeOptions must not be specified'),
    ({"Type": "tmpfs", "Source": "x", "Target": "/x"},
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    ({"Type": "volume", "Target": "/x", "ReadOnly": True},
     'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes'),
    ({"Type": "volume", "Source": "v"}, 'invalid mount config for type "volume": field Target must not be empty'),
    ({"Type": "bind", "Source": "/tmp", "Target": "/x", "BindOptions": {"Propagation": "bogus"}},
     'invalid mount config for type "bind": invalid propagation mode: bogus'),
])
def test_bad_mounts_are_refused_in_dockerds_words(entry, words):
    with pytest.raises(InvalidArgument) as caught:
        parse_mount(entry)
    assert caught.value.message == words


@pytest.mark.spec("VOL-008", "VOL-010", "VOL-015")
def test_the_plan_takes_volumes_from_then_binds_and_mounts_then_config_volumes():
    other = [MountPoint("volume", "/shared", name="s", driver="local", source="/v/s/_data", mode="z"),
             MountPoint("bind", "/conf", source="/etc", propagation="rprivate")]
    host = {"Binds": ["data:/data"], "Mounts": [{"Type": "tmpfs", "Target": "/run/x"}],
            "Tmpfs": {"/tmp": "size=1m"}}
    points = plan({"Volumes": {"/data": {}, "/cache": {}, "/tmp": {}}}, host, [(other, "ro")])
    assert [(p.type, p.destination) for p in points] == [
        ("volume", "/cache"), ("bind", "/conf"), ("volume", "/data"), ("volume", "/shared"), ("tmpfs", "/run/x")]
    shared = next(p for p in points if p.destination == "/shared")
    assert (shared.rw, shared.copy_data) == (False, False)
    assert next(p for p in points if p.destination == "/cache").anonymous
    assert next(p for p in points if p.destination == "/data").name == "data"  # a bind wins over Volumes
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /data"):
        plan({}, {"Binds": ["a:/data"], "Mounts": [{"Type": "volume", "Source": "b", "Target": "/data"}]})


@pytest.mark.spec("VOL-014", "VOL-021")
def test_oci_entries_carry_read_only_propagation_and_tmpfs_defaults():
    assert oci_entry(MountPoint("bind", "/x", source="/h", rw=False, propagation="rslave")) == \
        {"destination": "/x", "type": "bind", "source": "/h", "options": ["rbind", "rslave", "ro"]}
    tmpfs = parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}})
    assert oci_entry(tmpfs)["options"] == ["nosuid", "nodev", "noexec", "size=1048576", "mode=1770"]
    assert tmpfs_entries({"Tmpfs": {"/run": "size=64m,exec"}}) == [
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "size=64m", "exec"]}]


@pytest.mark.spec("VOL-016")
def test_the_api_view_is_dockers_mount_point():
    volume = MountPoint("volume", "/d", name="n", driver="local", source="/v/n/_data", mode="z").to_record()
    assert api_view(volume) == {"Type": "volume", "Name": "n", "Source": "/v/n/_data", "Destination": "/d",
                                "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}
    bind = MountPoint("bind", "/h", source="/host", mode="ro", rw=False, propagation="rprivate").to_record()
    assert api_view(bind) == {"Type": "bind", "Source": "/host", "Destination": "/h", "Mode": "ro", "RW": False,
                              "Propagation": "rprivate"}


# -- the CLI's side ------------------------------------------------------------------------


@pytest.mark.spec("VOL-019")
def test_mount_csv_becomes_the_apis_mount_object():
    assert cli_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True, "BindOptions": {"Propagation": "rslave"}}
    assert cli_mount("source=v,target=/d,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs") == {
        "Type": "volume", "Source": "v", "Target": "/d",
        "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}, "DriverConfig": {"Options": {"type": "tmpfs"}}}}
    assert cli_mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770") == {
        "Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}


@pytest.mark.spec("VOL-019")
@pytest.mark.parametrize("spec, words", [
    ("type=bind", "target is required"),
    ("foo=bar", "unexpected key 'foo' in 'foo=bar'"),
    ("dst", "invalid field 'dst' must be a key=value pair"),
    ("type=bind,src=/a,dst=/b,readonly=maybe", "invalid value for readonly: maybe"),
    ("type=tmpfs,dst=/x,tmpfs-size=abc", "invalid value for tmpfs-size: abc"),
    ("type=tmpfs,dst=/x,tmpfs-mode=9x", "invalid value for tmpfs-mode: 9x"),
    ("type=volume,dst=/x,bind-propagation=rshared", "cannot mix 'bind-*' options with mount type 'volume'"),
])
def test_a_bad_mount_flag_is_refused_in_the_docker_clis_words(spec, words):
    with pytest.raises(FlagError) as caught:
        cli_mount(spec)
    assert caught.value.message == f'invalid argument "{spec}" for "--mount" flag: {words}'


@pytest.mark.spec("VOL-019")
def test_volume_flags_fill_config_volumes_binds_tmpfs_and_volumes_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(volume=["/anon", "data:/d:ro", "./here:/h", "/abs:/a"], mount=[],
                              tmpfs=["/run:size=1m", "/tmp"], volumes_from=["web:ro"], volume_driver=None)
    config, host = {}, {}
    apply(args, config, host)
    assert config == {"Volumes": {"/anon": {}}}
    assert host == {"Binds": ["data:/d:ro", f"{tmp_path}/here:/h", "/abs:/a"],
                    "Tmpfs": {"/run": "size=1m", "/tmp": ""}, "VolumesFrom": ["web:ro"]}
    with pytest.raises(FlagError, match="invalid empty volume spec"):
        apply(argparse.Namespace(volume=[""], mount=[], tmpfs=[], volumes_from=[], volume_driver=None), {}, {})


# -- copy-up -------------------------------------------------------------------------------


@pytest.mark.spec("VOL-011", "VOL-022")
def test_copy_up_keeps_owners_modes_links_and_never_follows_a_symlink(tmp_path):
    source, volume = tmp_path / "image-dir", tmp_path / "volume"
    (source / "sub").mkdir(parents=True)
    volume.mkdir()
    (source / "file").write_text("content")
    if os.geteuid() == 0:
        os.chown(source / "file", 1234, 5678, follow_symlinks=False)
    os.chmod(source / "file", 0o4751)  # after chown, which clears set-id bits
    os.chmod(source / "sub", 0o1777)
    os.chmod(source, 0o750)
    os.symlink("/etc/passwd", source / "link")
    os.link(source / "file", source / "sub" / "hard")
    assert copy_up(str(source), str(volume))
    assert (volume / "file").read_text() == "content"
    assert stat.S_IMODE(os.stat(volume / "file").st_mode) == 0o4751
    assert stat.S_IMODE(os.stat(volume / "sub").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(volume).st_mode) == 0o750  # the top takes the source's mode
    assert os.readlink(volume / "link") == "/etc/passwd" and (volume / "link").is_symlink()
    assert os.stat(volume / "file").st_ino == os.stat(volume / "sub" / "hard").st_ino
    if os.geteuid() == 0:
        assert (os.stat(volume / "file").st_uid, os.stat(volume / "file").st_gid) == (1234, 5678)
    (volume / "file").write_text("changed")
    assert not copy_up(str(source), str(volume))  # a volume with data is never overwritten
    assert (volume / "file").read_text() == "changed"
