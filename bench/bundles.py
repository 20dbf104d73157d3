"""The busybox bundle the runtime benchmarks share, and fresh container ids.

    Bundle(directory, args)   made on first use by `minidock image bootstrap busybox --bundle`,
                              its config.json's process changed to run `args`
    with_args(config, args)   that change, on the parsed config (pure)
    fresh_id(prefix)          a container id no other run of this process has used

The bundle is made lazily so that declaring (or listing) the benchmarks costs nothing.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# The venv's entry points, next to the interpreter running the benchmarks.
MINIDOCK = Path(sys.executable).with_name("minidock")
MINIDOCK_RUNTIME = Path(sys.executable).with_name("minidock-runtime")
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static, what the bootstrap image is made of

_ids = itertools.count()


def fresh_id(prefix: str = "minidock-bench") -> str:
    """A new container id each call: prefix-PID-N."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def with_args(config: dict, args: Sequence[str]) -> dict:
    """A copy of an OCI config whose process runs ``args``, without a terminal."""
    changed = copy.deepcopy(config)
    changed["process"]["args"] = list(args)
    changed["process"]["terminal"] = False  # no tty: we are measuring, not talking
    return changed


class Bundle:
    """A busybox OCI bundle running ``args``; path() makes it the first time it is asked for."""

    def __init__(self, directory: Path, args: Sequence[str]) -> None:
        self.directory = directory
        self.args = list(args)
        self._made = False

    def path(self) -> Path:
        """The bundle's directory; raises RuntimeError if it cannot be made."""
        if not self._made:
            completed = subprocess.run(
                [str(MINIDOCK), "image", "bootstrap", "busybox", "--bundle", str(self.directory)],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
            )
            if completed.returncode != 0:
                last_line = (completed.stderr.strip().splitlines() or [""])[-1]
                raise RuntimeError(f"minidock image bootstrap failed: {last_line}")
            config_path = self.directory / "config.json"
            config = with_args(json.loads(config_path.read_text()), self.args)
            config_path.write_text(json.dumps(config, indent=2) + "\n")
            self._made = True
        return self.directory
