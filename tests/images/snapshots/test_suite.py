"""One suite, every snapshotter (containerd's snapshots/testsuite): the same rules for overlay and copy."""

from __future__ import annotations

import io
import os
import pathlib
import tarfile

import pytest

from minidock.errors import Conflict, InvalidArgument, NotFound
from minidock.images import layers
from minidock.images.snapshots import Info, Kind, OverlaySnapshotter
from tests.images.snapshots.conftest import DRIVERS, mounted
from tests.images.snapshots.trees import describe, names


def _write(root: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as file:
            file.write(text)


def _layer(snapshotter, key: str, parent: str | None, files: dict[str, str]) -> None:
    """prepare, write ``files``, commit as ``key``: one committed layer."""
    with mounted(snapshotter.prepare(f"{key}-active", parent)) as root:
        _write(root, files)
    snapshotter.commit(key, f"{key}-active")


def _read(root: str) -> dict[str, str]:
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path) as file:
                found[os.path.relpath(path, root)] = file.read()
    return found


@pytest.mark.spec("IMG-SNAP-001", "IMG-SNAP-003")
def test_a_chain_of_committed_layers_shows_through(snapshotter):
    _layer(snapshotter, "base", None, {"etc/os-release": "one", "bin/sh": "sh"})
    _layer(snapshotter, "mid", "base", {"etc/os-release": "two", "usr/lib/a": "a"})
    _layer(snapshotter, "top", "mid", {"app/main": "main"})
    mounts = snapshotter.prepare("container", "top")
    assert snapshotter.mounts("container") == mounts
    with mounted(mounts) as root:
        assert _read(root) == {"etc/os-release": "two", "bin/sh": "sh", "usr/lib/a": "a",
                               "app/main": "main"}
    assert snapshotter.stat("top") == Info("top", Kind.COMMITTED, "mid")
    assert snapshotter.stat("container") == Info("container", Kind.ACTIVE, "top")
    with pytest.raises(NotFound):
        snapshotter.stat("top-active")  # committed under its new name


@pytest.mark.spec("IMG-SNAP-001")
def test_prepare_mounts_nothing_itself(snapshotter):
    def ours() -> list[str]:  # other tests mount at the same time: look at our root only
        return [line for line in open("/proc/self/mountinfo") if snapshotter.root in line]
    _layer(snapshotter, "base", None, {"a": "a"})
    snapshotter.prepare("c", "base")
    snapshotter.view("v", "base")
    assert ours() == []


@pytest.mark.spec("IMG-SNAP-002")
def test_writes_in_an_active_snapshot_leave_the_parent_and_siblings_alone(snapshotter):
    _layer(snapshotter, "base", None, {"etc/passwd": "root", "etc/motd": "hello"})
    with mounted(snapshotter.prepare("one", "base")) as one, mounted(snapshotter.prepare("two", "base")) as two:
        _write(one, {"etc/passwd": "changed", "new": "n"})
        os.unlink(os.path.join(one, "etc/motd"))
        assert _read(two) == {"etc/passwd": "root", "etc/motd": "hello"}
    with mounted(snapshotter.view("look", "base")) as root:
        assert _read(root) == {"etc/passwd": "root", "etc/motd": "hello"}


@pytest.mark.spec("IMG-SNAP-004")
def test_a_view_is_read_only(snapshotter):
    _layer(snapshotter, "base", None, {"a": "a"})
    _layer(snapshotter, "top", "base", {"b": "b"})
    for key, parent in (("v1", "base"), ("v2", "top"), ("v0", None)):
        with mounted(snapshotter.view(key, parent)) as root:
            with pytest.raises(OSError) as raised:
                _write(root, {"x": "x"})
            assert raised.value.errno == 30  # EROFS
        assert snapshotter.stat(key).kind is Kind.VIEW
    with mounted(snapshotter.mounts("v2")) as root:
        assert _read(root) == {"a": "a", "b": "b"}


@pytest.mark.spec("IMG-SNAP-005")
def test_only_a_committed_snapshot_can_be_a_parent(snapshotter):
    snapshotter.prepare("active")
    snapshotter.view("view")
    with pytest.raises(InvalidArgument, match="active; parent needs a committed snapshot"):
        snapshotter.prepare("child", "active")
    with pytest.raises(InvalidArgument, match="view; parent needs a committed"):
        snapshotter.view("child", "view")
    with pytest.raises(NotFound, match="parent snapshot 'nothing' does not exist"):
        snapshotter.prepare("child", "nothing")
    assert [info.key for info in snapshotter.walk()] == ["active", "view"]


@pytest.mark.spec("IMG-SNAP-003")
def test_only_an_active_snapshot_can_be_committed(snapshotter):
    _layer(snapshotter, "base", None, {"a": "a"})
    snapshotter.view("view", "base")
    with pytest.raises(InvalidArgument, match="commit needs a active"):
        snapshotter.commit("frozen", "view")
    with pytest.raises(InvalidArgument, match="mounts needs"):
        snapshotter.mounts("base")


@pytest.mark.spec("IMG-SNAP-006")
def test_a_key_in_use_is_a_conflict(snapshotter):
    snapshotter.prepare("a")
    snapshotter.prepare("b")
    with pytest.raises(Conflict, match="'a' already exists"):
        snapshotter.prepare("a")
    with pytest.raises(Conflict, match="'a' already exists"):
        snapshotter.view("a")
    with pytest.raises(Conflict, match="'a' already exists"):
        snapshotter.commit("a", "b")
    with pytest.raises(InvalidArgument):
        snapshotter.prepare("")


@pytest.mark.spec("IMG-SNAP-007")
def test_remove_refuses_a_parent_and_cleans_up_the_rest(snapshotter):
    _layer(snapshotter, "base", None, {"a": "a"})
    snapshotter.prepare("child", "base")
    with pytest.raises(Conflict, match="has children \\(child\\)"):
        snapshotter.remove("base")
    snapshotter.remove("child")
    snapshotter.remove("base")
    assert snapshotter.walk() == []
    assert os.listdir(os.path.join(snapshotter.root, "snapshots")) == []


@pytest.mark.spec("IMG-SNAP-008")
@pytest.mark.parametrize("call", ["stat", "mounts", "remove", "commit", "diff"])
def test_an_unknown_key_is_not_found(snapshotter, call):
    arguments = {"commit": ("name", "ghost"), "diff": ("ghost", io.BytesIO())}.get(call, ("ghost",))
    with pytest.raises(NotFound, match="snapshot 'ghost' does not exist"):
        getattr(snapshotter, call)(*arguments)


@pytest.mark.spec("IMG-SNAP-009")
def test_state_survives_a_new_snapshotter_on_the_same_root(snapshotter):
    _layer(snapshotter, "base", None, {"a": "a"})
    snapshotter.prepare("c", "base")
    again = type(snapshotter)(snapshotter.root)
    assert again.walk() == snapshotter.walk()
    assert again.mounts("c") == snapshotter.mounts("c")
    with mounted(again.mounts("c")) as root:
        assert _read(root) == {"a": "a"}


@pytest.mark.spec("IMG-SNAP-012")
def test_the_diff_of_an_active_snapshot_holds_its_changes_and_whiteouts(snapshotter):
    _layer(snapshotter, "base", None, {"etc/passwd": "root", "etc/motd": "hi", "var/cache/a": "a"})
    with mounted(snapshotter.prepare("c", "base")) as root:
        _write(root, {"etc/passwd": "changed", "new": "n"})
        os.unlink(os.path.join(root, "etc/motd"))
    out = io.BytesIO()
    snapshotter.diff("c", out)
    assert names(out) == ["etc", "etc/.wh.motd", "etc/passwd", "new"]
    with pytest.raises(InvalidArgument, match="diff needs a active"):
        snapshotter.diff("base", io.BytesIO())


@pytest.mark.spec("IMG-SNAP-012", "IMG-DIFF-003")
def test_commit_by_diff_round_trips_through_apply(snapshotter, tmp_path):
    """A container's changes, as a layer, applied on its image, give the container's tree."""
    from tests.images.test_diff import _change_everything, base_layer
    with mounted(snapshotter.prepare("base-active")) as root:
        layers.apply(base_layer(), root)
    snapshotter.commit("base", "base-active")
    with mounted(snapshotter.prepare("c", "base")) as root:
        overlay = isinstance(snapshotter, OverlaySnapshotter)  # see _change_everything
        _change_everything(pathlib.Path(root), lower_hard_links=not overlay)
        expected = describe(root)
    out = io.BytesIO()
    snapshotter.diff("c", out)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    layers.apply(base_layer(), str(fresh))
    out.seek(0)
    layers.apply(out, str(fresh))
    assert describe(str(fresh)) == expected
    if isinstance(snapshotter, OverlaySnapshotter):  # rm -rf var/cache; mkdir var/cache
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
            assert "var/cache/.wh..wh..opq" in tar.getnames()


def test_the_suite_covers_every_driver():
    assert sorted(DRIVERS) == ["copy", "overlay"]
