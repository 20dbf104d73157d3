"""The image benchmarks (layer-unpack, commit-10k), run tiny: a smoke test, a few seconds.

They check that each benchmark runs, that minidock's contender is measured, and that
the contenders do the same work: the trees unpacked alike, the blob committed holds
every changed file. Their times are not looked at.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import sys
import tarfile
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import commit, layer_trees, layer_unpack  # noqa: E402
from bench.harness import Benchmark, run_benchmark  # noqa: E402


def _timings(benchmark: Benchmark) -> dict:
    return {timing.contender: timing for timing in run_benchmark(benchmark, rounds=1)}


def _tree(root: Path) -> dict[str, tuple]:
    """What an unpacked tree holds: path -> (type and mode, size, link target, mtime, links).

    A directory's mtime is left out: GNU tar sets it when it leaves the directory in the
    archive's order, so a later entry in it (the layer's links come last) changes it again.
    """
    found = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = Path(directory, name)
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                found[str(path.relative_to(root))] = (info.st_mode,)
                continue
            link = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
            found[str(path.relative_to(root))] = (info.st_mode, info.st_size, link, info.st_mtime_ns, info.st_nlink)
    return found


def test_declaring_the_image_benchmarks_makes_nothing(tmp_path):
    declared = layer_unpack.benchmarks(tmp_path) + commit.benchmarks(tmp_path)
    assert {b.name: [c.name for c in b.contenders] for b in declared} == {
        "layer-unpack": ["tar -xzf (floor)", "umoci raw unpack", "umoci unpack", "minidock"],
        "commit-10k": ["tar -czf (floor)", "umoci repack", "minidock"],
    }
    assert {(b.target, b.target_ratio) for b in declared} == {("umoci raw unpack", 1.5), ("umoci repack", 1.5)}
    assert list(tmp_path.iterdir()) == []  # the layer and the trees are made on first use


def test_the_layer_is_the_same_every_time_and_has_the_mix(tmp_path):
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    for path in (first, second):
        with open(path, "wb") as out:
            layer_trees.layer_tar(out, 400_000)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    kinds = {kind: sum(1 for m in members if getattr(m, kind)()) for kind in ("isdir", "isreg", "issym", "islnk")}
    assert all(kinds.values()), kinds
    assert 300_000 < sum(m.size for m in members if m.isreg()) < 500_000


def test_layer_unpack_runs_and_unpacks_what_tar_does(tmp_path):
    [benchmark] = layer_unpack.benchmarks(tmp_path, size=300_000)
    timings = _timings(benchmark)
    assert timings["minidock"].samples and not timings["minidock"].note
    if shutil.which("tar"):
        assert timings["tar -xzf (floor)"].samples, timings["tar -xzf (floor)"].note
        assert _tree(tmp_path / "minidock") == _tree(tmp_path / "tar")
    if shutil.which("umoci") and os.geteuid() == 0:
        assert timings["umoci raw unpack"].samples, timings["umoci raw unpack"].note
        assert _tree(tmp_path / "minidock") == _tree(tmp_path / "raw")


def test_commit_runs_and_its_blob_holds_every_changed_file(tmp_path):
    [benchmark] = commit.benchmarks(tmp_path, count=150)
    timings = _timings(benchmark)
    assert timings["minidock"].samples and not timings["minidock"].note
    [blob] = (tmp_path / "content" / "blobs" / "sha256").iterdir()
    with gzip.open(blob) as plain, tarfile.open(fileobj=plain) as tar:
        changed = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}
    assert changed == {path: layer_trees.changed(data) for path, data in layer_trees.small_files(150)}
    if shutil.which("umoci") and os.geteuid() == 0:
        assert timings["umoci repack"].samples, timings["umoci repack"].note
