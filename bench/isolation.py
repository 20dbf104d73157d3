"""An isolated process: the cost of fresh namespaces, with and without an OCI runtime.

Baseline: `unshare --fork --pid --mount-proc --uts --ipc --net true`, namespaces and
nothing else. Then the OCI runtimes, each running `true` in the same busybox bundle:
runc and crun (if installed and if they work on this machine: crun refuses a
cgroup v1/v2 hybrid, for example) and minidock-runtime once it exists.

The bundle is built in the run's temporary folder from Debian's busybox-static
(/bin/busybox), with `runc spec` writing config.json; no image, no network.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.harness import Benchmark, Contender, on_path

BUSYBOX = Path("/bin/busybox")
MINIDOCK_RUNTIME = Path(sys.executable).with_name("minidock-runtime")
UNSHARE = ["unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "--net", "true"]
_ids = itertools.count()


def is_root() -> bool:
    return os.geteuid() == 0


def build_bundle(workdir: Path) -> Path | None:
    """An OCI bundle whose process is busybox's `true`; None if busybox or runc is missing."""
    if not BUSYBOX.exists() or shutil.which("runc") is None:
        return None
    bundle = workdir / "busybox-bundle"
    (bundle / "rootfs" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, bundle / "rootfs/bin/busybox")
    (bundle / "rootfs/bin/true").symlink_to("busybox")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False  # no tty: we are timing, not talking
    config_path.write_text(json.dumps(config, indent=2))
    return bundle


def oci_run(runtime: str, bundle: Path) -> Callable[[], None]:
    """A callable that runs the bundle once under `runtime` with a fresh container ID."""

    def run() -> None:
        container_id = f"minidock-bench-{os.getpid()}-{next(_ids)}"
        completed = subprocess.run(
            [runtime, "run", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
        )
        if completed.returncode != 0:
            # `run` deletes the container when its process exits; not when it failed early
            subprocess.run([runtime, "delete", "--force", container_id], capture_output=True, check=False)
            last_line = (completed.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            raise RuntimeError(f"exit {completed.returncode}: {last_line}")

    return run


def runtime_built() -> bool:
    """minidock-runtime exists once minidock.runtime.cli does (the entry point is already declared)."""
    return MINIDOCK_RUNTIME.exists() and importlib.util.find_spec("minidock.runtime.cli") is not None


def benchmarks(workdir: Path) -> list[Benchmark]:
    """unshare as the baseline, then runc, crun and minidock-runtime on one bundle."""
    bundle = build_bundle(workdir) if is_root() else None
    no_bundle = "needs root, runc (for `runc spec`) and busybox-static"

    def with_bundle(program: str) -> Callable[[], bool]:
        return lambda: bundle is not None and on_path(program)()

    def runtime(program: str) -> Callable[[], None]:
        return oci_run(program, bundle) if bundle is not None else _never

    return [
        Benchmark(
            name="isolated-process",
            subject="minidock-runtime",
            contenders=[
                Contender("unshare (baseline)", UNSHARE, available=lambda: is_root() and on_path("unshare")(),
                          missing="needs root and util-linux's unshare"),
                Contender("runc", runtime("runc"), available=with_bundle("runc"), missing=no_bundle),
                Contender("crun", runtime("crun"), available=with_bundle("crun"),
                          missing=f"crun not installed, or {no_bundle}"),
                Contender(
                    "minidock-runtime",
                    runtime(str(MINIDOCK_RUNTIME)),
                    available=lambda: bundle is not None and runtime_built(),
                    missing="not built yet (issue 3)" if not runtime_built() else no_bundle,
                ),
            ],
        )
    ]


def _never() -> None:
    raise RuntimeError("no bundle")
