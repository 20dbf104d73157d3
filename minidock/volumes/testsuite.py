"""The reusable volume driver suite: every driver passes the same tests.

Implements: spec/volumes.md VOL-004
Explained:  chapters/06-volumes.md#one-suite-for-every-driver
Modelled on: containerd's snapshots/testsuite (one suite, run against every snapshotter)

    class TestMyDriver(DriverSuite):
        def make_driver(self, root):          # a fresh driver keeping its volumes under root
            return MyDriver(root)

Every `test_*` method below then runs against MyDriver. `make_driver` may be called
twice on one root: a second driver must find the first one's volumes (a daemon
restart). `create_options` gives the options every create passes.

Rules: only the VolumeDriver interface is used (minidock.volumes.driver), errors
are checked by class (NotFound, Conflict, InvalidArgument), never by message; a
test cleans up what it mounted, so a failing driver leaves nothing behind.
This module imports pytest: tests import it, the engine never does.
"""

from __future__ import annotations

import os

import pytest

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.volumes.driver import VolumeDriver


def write(driver: VolumeDriver, name: str, text: str) -> None:
    """Mount ``name``, write ``text`` to its file "file", unmount."""
    path = driver.mount(name, "ref-1")
    try:
        with open(os.path.join(path, "file"), "w") as file:
            file.write(text)
    finally:
        driver.unmount(name, "ref-1")


def read(driver: VolumeDriver, name: str) -> str:
    """Mount ``name``, read its file "file", unmount."""
    path = driver.mount(name, "ref-1")
    try:
        with open(os.path.join(path, "file")) as file:
            return file.read()
    finally:
        driver.unmount(name, "ref-1")


class DriverSuite:
    """Subclass it, define make_driver(root): the suite's tests run on your driver."""

    create_options: dict[str, str] = {}

    def make_driver(self, root: str) -> VolumeDriver:
        raise NotImplementedError("a DriverSuite subclass defines make_driver(root)")

    @pytest.fixture
    def root(self, tmp_path) -> str:
        return str(tmp_path / "volumes")

    @pytest.fixture
    def driver(self, root):
        driver = self.make_driver(root)
        yield driver
        try:  # unmount whatever a failed test left mounted
            for name in driver.list():
                for ref in ("ref-1", "ref-2"):
                    driver.unmount(name, ref)
        except Exception:  # noqa: BLE001 - best effort: the test's own result stands
            pass

    # -- the interface --------------------------------------------------------------------

    def test_the_driver_has_the_interface(self, driver):
        assert isinstance(driver, VolumeDriver)
        assert isinstance(driver.name, str) and driver.name
        assert driver.list() == []  # a new root: no volumes yet

    def test_a_created_volume_is_listed_with_an_empty_directory(self, driver):
        driver.create("data", dict(self.create_options))
        assert "data" in driver.list()
        path = driver.path("data")
        assert os.path.isabs(path) and os.path.isdir(path)

    def test_list_is_sorted(self, driver):
        for name in ("bb", "aa", "cc"):
            driver.create(name, dict(self.create_options))
        assert [n for n in driver.list() if n in ("aa", "bb", "cc")] == ["aa", "bb", "cc"]

    def test_creating_a_volume_again_keeps_its_data(self, driver):
        driver.create("keep", dict(self.create_options))
        write(driver, "keep", "kept")
        driver.create("keep", dict(self.create_options))
        assert read(driver, "keep") == "kept"

    @pytest.mark.parametrize("name", ["a/b", "..", ".", "x", "", "-lead", "sp ace", "../../etc"])
    def test_a_bad_name_is_refused(self, driver, name):
        with pytest.raises(InvalidArgument):
            driver.create(name, dict(self.create_options))
        assert driver.list() == []

    def test_an_unknown_volume_is_not_found(self, driver):
        for call in (lambda: driver.path("nope"), lambda: driver.remove("nope"),
                     lambda: driver.mount("nope", "ref-1")):
            with pytest.raises(NotFound):
                call()

    # -- mount, unmount -------------------------------------------------------------------

    def test_data_written_through_a_mount_is_there_at_the_next(self, driver):
        driver.create("vol", dict(self.create_options))
        path = driver.mount("vol", "ref-1")
        with open(os.path.join(path, "hello"), "w") as file:
            file.write("world")
        second = driver.mount("vol", "ref-2")  # while the first still holds it
        try:
            with open(os.path.join(second, "hello")) as file:
                assert file.read() == "world"
        finally:
            driver.unmount("vol", "ref-2")
            driver.unmount("vol", "ref-1")

    def test_a_mounted_volume_is_not_removed(self, driver):
        driver.create("busy", dict(self.create_options))
        driver.mount("busy", "ref-1")
        driver.mount("busy", "ref-2")
        with pytest.raises(Conflict):
            driver.remove("busy")
        driver.unmount("busy", "ref-1")
        with pytest.raises(Conflict):
            driver.remove("busy")  # ref-2 still holds it
        driver.unmount("busy", "ref-2")
        driver.remove("busy")
        assert "busy" not in driver.list()

    def test_one_ref_mounting_twice_holds_it_once(self, driver):
        driver.create("twice", dict(self.create_options))
        driver.unmount("twice", "ref-2")  # not mounted by ref-2: no harm done
        for _ in range(2):
            driver.mount("twice", "ref-1")
        driver.unmount("twice", "ref-1")
        driver.remove("twice")
        assert "twice" not in driver.list()

    # -- remove, restart ------------------------------------------------------------------

    def test_a_removed_volume_is_gone(self, driver):
        driver.create("gone", dict(self.create_options))
        driver.remove("gone")
        assert "gone" not in driver.list()
        with pytest.raises(NotFound):
            driver.path("gone")
        driver.create("gone", dict(self.create_options))  # the name is free again
        assert "gone" in driver.list()

    def test_a_new_driver_on_the_same_root_finds_the_volumes(self, driver, root):
        driver.create("stays", dict(self.create_options))
        write(driver, "stays", "after the restart")
        again = self.make_driver(root)
        assert "stays" in again.list()
        assert read(again, "stays") == "after the restart"
