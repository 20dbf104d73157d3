"""Unpacking a layer: a 200 MB gzipped layer tar into an empty directory.

Issue 4's target: minidock within 1.5x of the fastest peer, umoci's `raw unpack`.

The layer (bench/layer_trees.py: a few large files, ~9,000 small ones, directories,
symlinks, hard links; ~210 MB as a tar, ~100 MB gzipped) is made once per run, in the
run's temporary folder, and wrapped in an OCI image layout by minidock's write_layout.
Each contender then unpacks it into a directory of its own; before each run, untimed,
the last run's tree is removed and the disk synced (so that no run pays for writing
back another's files):

    tar -xzf (floor)     GNU tar and gzip: no checks, no whiteouts; the floor
    umoci raw unpack     the layout's image into a rootfs (the target)
    umoci unpack         the same into a bundle, plus the mtree manifest `repack` needs
    minidock             minidock.images.layers.unpack(blob, dest), what the engine runs

Every contender reads the same gzipped bytes; minidock's, from the layout's blob.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bench import layer_trees
from bench.harness import Benchmark, Contender, on_path
from minidock.images import layers

LAYER_BYTES = 200 * 1024 * 1024
TAG = "latest"


class Layer:
    """The benchmark's layer, gzipped, and an OCI layout holding it; made on first use."""

    def __init__(self, directory: Path, size: int) -> None:
        self.directory = directory
        self.size = size
        self.gzipped = directory / "layer.tar.gz"
        self.layout = directory / "layout"
        self.image = f"{self.layout}:{TAG}"  # umoci's --image
        self.blob: Path | None = None  # the layer's blob in the layout, once made

    def make(self) -> Path:
        """Write the layer, gzip it and wrap it in a layout, the first time; return the blob."""
        if self.blob is not None:
            return self.blob
        self.directory.mkdir(parents=True, exist_ok=True)
        plain = self.directory / "layer.tar"
        with open(plain, "wb") as out:
            layer_trees.layer_tar(out, self.size)
        with open(plain, "rb") as tar:
            diff_id = "sha256:" + hashlib.file_digest(tar, "sha256").hexdigest()
        layer_trees.gzip_file(plain, self.gzipped)
        plain.unlink()
        digest = layer_trees.oci_layout(self.gzipped, diff_id, self.layout, TAG)
        self.blob = self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        return self.blob


def benchmarks(workdir: Path, size: int = LAYER_BYTES) -> list[Benchmark]:
    """tar as the floor, umoci raw unpack (the target), umoci unpack and minidock, on one layer."""
    layer = Layer(workdir / "layer", size)

    def reset(dest: Path, make_dest: bool) -> Callable[[], None]:
        """Untimed, before each run: the layer made (once), the last run's tree removed, the disk synced."""

        def run() -> None:
            layer.make()
            if dest.exists():
                shutil.rmtree(dest)
            os.sync()  # so that no run pays for the writing back of another's files
            if make_dest:
                dest.mkdir()

        return run

    def minidock() -> None:
        with open(layer.make(), "rb") as blob:
            layers.unpack(blob, str(workdir / "minidock"))

    umoci = on_path("umoci")
    return [
        Benchmark(
            name="layer-unpack",
            rounds=5,
            target="umoci raw unpack",
            target_ratio=1.5,
            contenders=[
                Contender("tar -xzf (floor)", ["tar", "-xzf", str(layer.gzipped), "-C", str(workdir / "tar")],
                          available=on_path("tar"), reset=reset(workdir / "tar", make_dest=True)),
                Contender("umoci raw unpack", ["umoci", "raw", "unpack", "--image", layer.image, str(workdir / "raw")],
                          available=umoci, missing="umoci not installed (make setup)",
                          reset=reset(workdir / "raw", make_dest=False)),
                Contender("umoci unpack", ["umoci", "unpack", "--image", layer.image, str(workdir / "bundle")],
                          available=lambda: umoci() and os.geteuid() == 0,
                          missing="umoci not installed (make setup), or not root",
                          reset=reset(workdir / "bundle", make_dest=False)),
                Contender("minidock", minidock, reset=reset(workdir / "minidock", make_dest=True)),
            ],
        )
    ]
