"""Committing a container: 10,000 small changed files, made into a gzipped layer blob.

Issue 4's target: minidock within 1.5x of the fastest peer, umoci's `repack`.

The image (bench/layer_trees.py's small_files: 10,000 files of 300 B to 4 KiB, 100 a
directory) and the container's changes to it (every one of those files, a line
appended) are made once per run, in the run's temporary folder:

    upper/     what overlayfs leaves in a container's upper directory after those writes:
               the changed files, under their directories (copied up)
    layout/    the image as a one-layer OCI layout, for umoci
    bundle/    `umoci unpack` of that image, the same changes written into its rootfs

Then, each run:

    tar -czf (floor)   GNU tar and gzip of the upper directory: no whiteouts, no digests
    umoci repack       mtree diff of the bundle's rootfs -> a gzipped layer blob, a config,
                       a manifest and a tag in the layout (the target)
    minidock           minidock.images.commit.write_layer(diff.diff_upper(upper)): the layer
                       tar hashed (diff_id) and gzipped into a ContentStore blob (digest,
                       fsync, rename), what `minidock commit` runs

umoci has to find the changes (hashing every file of the rootfs); overlayfs has already
found them for minidock: the two do the same job, the way each engine does it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from bench import layer_trees
from bench.harness import Benchmark, Contender, on_path
from minidock.images import commit, diff
from minidock.images.content import ContentStore

CHANGED_FILES = 10_000
CHANGED_MTIME = layer_trees.MTIME + 3600  # the container wrote an hour after the image was made


class Changes:
    """The image and a container's changes to it, as an upper directory and as a umoci bundle."""

    def __init__(self, directory: Path, count: int) -> None:
        self.directory = directory
        self.count = count
        self.upper = directory / "upper"
        self.layout = directory / "layout"
        self.bundle = directory / "bundle"
        self.changes: list[tuple[str, bytes]] = []  # (path, changed bytes), once made

    def make(self, with_bundle: bool) -> None:
        """Write the upper directory and the layout the first time; the bundle once asked for."""
        if not self.changes:
            self.directory.mkdir(parents=True, exist_ok=True)
            files = layer_trees.small_files(self.count)
            self.changes = [(path, layer_trees.changed(data)) for path, data in files]
            layer_trees.write_tree(self.upper, self.changes, CHANGED_MTIME)
            plain, gzipped = self.directory / "image.tar", self.directory / "image.tar.gz"
            with open(plain, "wb") as out:
                layer_trees.files_tar(out, files)
            with open(plain, "rb") as tar:
                diff_id = "sha256:" + hashlib.file_digest(tar, "sha256").hexdigest()
            layer_trees.gzip_file(plain, gzipped)
            layer_trees.oci_layout(gzipped, diff_id, self.layout, "image")
        if with_bundle and not self.bundle.exists():
            subprocess.run(["umoci", "unpack", "--image", f"{self.layout}:image", str(self.bundle)],
                           stdin=subprocess.DEVNULL, capture_output=True, check=True)
            layer_trees.write_tree(self.bundle / "rootfs", self.changes, CHANGED_MTIME)


def benchmarks(workdir: Path, count: int = CHANGED_FILES) -> list[Benchmark]:
    """tar -czf as the floor, umoci repack (the target) and minidock, on the same changes."""
    changes = Changes(workdir / "changes", count)
    archive = workdir / "upper.tar.gz"
    content = workdir / "content"

    def remove_blobs() -> None:
        """Untimed: an empty store, so every run writes its blob anew (and the disk synced)."""
        changes.make(with_bundle=False)
        shutil.rmtree(content, ignore_errors=True)
        os.sync()

    def minidock() -> None:
        store = ContentStore(str(content))
        commit.write_layer(store, lambda out: diff.diff_upper(str(changes.upper), out), str(content))

    def repack_reset() -> None:
        changes.make(with_bundle=True)
        os.sync()

    def tar_reset() -> None:
        changes.make(with_bundle=False)
        archive.unlink(missing_ok=True)
        os.sync()

    return [
        Benchmark(
            name="commit-10k",
            rounds=5,
            target="umoci repack",
            target_ratio=1.5,
            contenders=[
                Contender("tar -czf (floor)", ["tar", "-czf", str(archive), "-C", str(changes.upper), "."],
                          available=on_path("tar"), reset=tar_reset),
                Contender("umoci repack",
                          ["umoci", "repack", "--no-history", "--image", f"{changes.layout}:committed",
                           str(changes.bundle)],
                          available=lambda: on_path("umoci")() and os.geteuid() == 0,
                          missing="umoci not installed (make setup), or not root", reset=repack_reset),
                Contender("minidock", minidock, reset=remove_blobs),
            ],
        )
    ]
