"""The reusable driver suite (minidock.volumes.testsuite) against both of minidock's drivers,
and the local driver's own options: a tmpfs volume, a bound host directory."""

from __future__ import annotations

import os

import pytest

from minidock.errors import InvalidArgument, MinidockError
from minidock.volumes import LocalDriver, PersistDriver
from minidock.volumes.local import mount_points
from minidock.volumes.testsuite import DriverSuite

pytestmark = pytest.mark.spec("VOL-004")


class TestLocalDriver(DriverSuite):
    def make_driver(self, root):
        return LocalDriver(root)


class TestPersistDriver(DriverSuite):
    def make_driver(self, root):
        return PersistDriver(root)


def test_persist_keeps_the_files_of_a_removed_volume(tmp_path):
    driver = PersistDriver(str(tmp_path / "root"))
    driver.create("logs", {"mountpoint": str(tmp_path / "srv" / "logs")})
    assert driver.path("logs") == str(tmp_path / "srv" / "logs")
    (tmp_path / "srv" / "logs" / "kept").write_text("yes")
    driver.remove("logs")
    assert (tmp_path / "srv" / "logs" / "kept").read_text() == "yes"
    with pytest.raises(InvalidArgument):
        driver.create("bad", {"mountpoint": "relative/path"})
    with pytest.raises(InvalidArgument):
        driver.create("bad", {"colour": "red"})


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.mark.spec("VOL-006")
@pytest.mark.parametrize("options, words", [
    ({"colour": "red"}, 'invalid option: "colour"'),
    ({"type": "tmpfs"}, 'missing required option: "device"'),
    ({"o": "bind", "device": "/tmp"}, 'missing required option: "type"'),
    ({"size": "10m"}, "quota size requested but no quota support"),
])
def test_local_options_are_checked_in_dockers_words(tmp_path, options, words):
    driver = LocalDriver(str(tmp_path))
    with pytest.raises(InvalidArgument) as caught:
        driver.create("vol", options)
    assert caught.value.message == words
    assert driver.list() == []


@needs_root
@pytest.mark.spec("VOL-007")
def test_a_tmpfs_volume_is_mounted_while_held_and_then_gone(tmp_path):
    driver = LocalDriver(str(tmp_path))
    driver.create("fast", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=700"})
    path = driver.mount("fast", "a")
    try:
        assert mount_points(path) == [path]
        driver.mount("fast", "b")
        (tmp_path / "fast" / "_data" / "f").write_text("x")
        driver.unmount("fast", "a")
        assert mount_points(path) == [path]  # b still holds it
        assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    finally:
        driver.unmount("fast", "b")
    assert mount_points(path) == []
    assert os.listdir(path) == []  # a tmpfs volume's data lives as long as its mount
    driver.remove("fast")


@needs_root
@pytest.mark.spec("VOL-007")
def test_a_bound_directory_keeps_its_files_when_its_volume_is_removed(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("keep me")
    driver = LocalDriver(str(tmp_path / "volumes"))
    driver.create("bound", {"type": "none", "o": "bind", "device": str(host)})
    path = driver.mount("bound", "a")
    try:
        assert open(os.path.join(path, "precious")).read() == "keep me"
        (host / "new").write_text("seen")
        assert os.path.exists(os.path.join(path, "new"))
    finally:
        driver.unmount("bound", "a")
    driver.mount("bound", "b")  # removed while mounted (a daemon that died): unmounted first
    driver._refs.clear()
    driver.remove("bound")
    assert sorted(os.listdir(host)) == ["new", "precious"]
    assert mount_points(str(tmp_path)) == []


@needs_root
@pytest.mark.spec("VOL-007")
def test_a_failing_mount_says_so_in_dockers_words(tmp_path):
    driver = LocalDriver(str(tmp_path))
    driver.create("broken", {"type": "nosuchfs", "device": "nothing"})
    with pytest.raises(MinidockError) as caught:
        driver.mount("broken", "a")
    assert caught.value.message.startswith("failed to mount local volume: mount nothing:")
    assert mount_points(str(tmp_path)) == []
    driver.remove("broken")
