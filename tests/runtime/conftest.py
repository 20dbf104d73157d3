"""Fixtures for the runtime's tests: a busybox bundle and a way to run it."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

RUNTIME = [sys.executable, "-m", "minidock.runtime.cli"]


@pytest.fixture(scope="session")
def busybox_bundle(tmp_path_factory) -> Path:
    """A pristine OCI bundle of busybox:latest (made once; copy before changing it)."""
    bundle = tmp_path_factory.mktemp("busybox") / "bundle"
    subprocess.run([sys.executable, "-m", "minidock.cli.main", "image", "bootstrap", "busybox",
                    "--bundle", str(bundle)], check=True, capture_output=True)
    return bundle


class Bundle:
    """A private copy of the busybox bundle whose config.json a test may change."""

    def __init__(self, source: Path, where: Path) -> None:
        self.path = where / "bundle"
        shutil.copytree(source, self.path, symlinks=True)
        self.config = json.loads((self.path / "config.json").read_text())
        self.id = "t" + uuid.uuid4().hex[:12]

    def privileged(self) -> None:
        """Give the config what `docker run --privileged` gives (every capability, no filter)."""
        from minidock.runtime.security import docker_fields, merge

        self.config = merge(self.config, docker_fields(privileged=True))

    def write(self, config: dict | str | None = None) -> None:
        text = config if isinstance(config, str) else json.dumps(config or self.config)
        (self.path / "config.json").write_text(text)

    def run(self, *args: str, config: dict | str | None = None, timeout: float = 60,
            container_id: str | None = None) -> subprocess.CompletedProcess:
        """Write the config, set process.args (if given) and `minidock-runtime run` it."""
        if args:
            self.config = copy.deepcopy(self.config)
            self.config["process"]["args"] = list(args)
        self.write(config)
        return subprocess.run([*RUNTIME, "run", "--bundle", str(self.path), container_id or self.id],
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bundle(busybox_bundle, tmp_path) -> Bundle:
    return Bundle(busybox_bundle, tmp_path)


def cgroup_dirs_named(name: str) -> list[str]:
    """Every directory under /sys/fs/cgroup whose path contains ``name``.

    os.walk skips a directory that goes while it walks (another test's cgroup removed
    meanwhile), where Path.rglob would raise.
    """
    return [os.path.join(parent, child) for parent, children, _ in os.walk("/sys/fs/cgroup")
            for child in children if name in os.path.join(parent, child)]
