"""Fixtures for the tracer's tests: a busybox bundle, and the traced runtime run of it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.runtime.conftest import busybox_bundle  # noqa: F401 - the fixture, shared

RUNTIME = [sys.executable, "-m", "minidock.runtime.cli"]


class Traced:
    """A private copy of the bundle, traced with `minidock-runtime --trace run`."""

    def __init__(self, source: Path, where: Path) -> None:
        self.path = where / "bundle"
        shutil.copytree(source, self.path, symlinks=True)
        self.root = where / "state"
        self.config = json.loads((self.path / "config.json").read_text())
        self.config["process"]["terminal"] = False
        self.id = "trace" + uuid.uuid4().hex[:10]

    def argv(self, *args: str, form: str = "json") -> list[str]:
        """Write config.json with process.args = args; the traced command line."""
        if args:
            self.config["process"]["args"] = list(args)
        (self.path / "config.json").write_text(json.dumps(self.config))
        return [*RUNTIME, "--root", str(self.root), "--trace", "--trace-format", form,
                "run", "--bundle", str(self.path), self.id]

    def run(self, *args: str, form: str = "json", timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args, form=form), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def leftovers(self) -> list[str]:
        """The state directory and cgroups of this container, if any remain."""
        found = [str(p) for p in Path("/sys/fs/cgroup").glob(f"**/{self.id}")]
        if (self.root / self.id).exists():
            found.append(str(self.root / self.id))
        return found


@pytest.fixture
def traced(busybox_bundle, tmp_path) -> Traced:
    return Traced(busybox_bundle, tmp_path)
