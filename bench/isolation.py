"""An isolated process: the cost of fresh namespaces, with and without an OCI runtime.

Implements: spec/bench.md HARNESS-BENCH-009

Baseline: `unshare --fork --pid --mount-proc --uts --ipc --net true`, namespaces and
nothing else. Then the OCI runtimes, each running `true` in the same busybox bundle:
runc and crun (if installed and if they work on this machine: crun refuses a
cgroup v1/v2 hybrid, for example) and minidock-runtime.

Issue 3's target: `minidock-runtime run` at or below runc's median wall time.

The bundle is made in the run's temporary folder by `minidock image bootstrap busybox
--bundle` (from Debian's busybox-static, no network), its process changed to `true`.
Each runtime keeps its state under its own `--root` in that folder, so a run never
meets the host's containers (or another runtime's), and each run uses a fresh id.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from bench.bundles import BUSYBOX, MINIDOCK, MINIDOCK_RUNTIME, Bundle, fresh_id
from bench.harness import Benchmark, Contender, on_path

UNSHARE = ["unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "--net", "true"]


def is_root() -> bool:
    return os.geteuid() == 0


def oci_argv(runtime: str, state_root: Path, *verb: str) -> list[str]:
    """`runtime --root STATE_ROOT VERB ...`: runc's global option, which minidock-runtime shares."""
    return [runtime, "--root", str(state_root), *verb]


def oci_run(runtime: str, state_root: Path, bundle: Bundle) -> Callable[[], None]:
    """A callable that runs the bundle once under ``runtime`` with a fresh container id."""

    def run() -> None:
        container_id = fresh_id()
        state_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        completed = subprocess.run(
            oci_argv(runtime, state_root, "run", "--bundle", str(bundle.path()), container_id),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
        )
        if completed.returncode != 0:
            # `run` deletes the container when its process exits; not when it failed early
            subprocess.run(oci_argv(runtime, state_root, "delete", "--force", container_id),
                           capture_output=True, check=False)
            last_line = (completed.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            raise RuntimeError(f"exit {completed.returncode}: {last_line}")

    return run


def benchmarks(workdir: Path) -> list[Benchmark]:
    """unshare as the baseline, then runc, crun and minidock-runtime on one bundle."""
    bundle = Bundle(workdir / "busybox-true", ["true"])
    needs = "needs root and busybox-static"

    def can_run(program: str) -> Callable[[], bool]:
        return lambda: is_root() and BUSYBOX.exists() and MINIDOCK.exists() and on_path(program)()

    def runtime(program: str) -> Callable[[], None]:
        return oci_run(program, workdir / f"{Path(program).name}-state", bundle)

    return [
        Benchmark(
            name="isolated-process",
            subject="minidock-runtime",
            target="runc",
            contenders=[
                Contender("unshare (baseline)", UNSHARE, available=lambda: is_root() and on_path("unshare")(),
                          missing="needs root and util-linux's unshare"),
                Contender("runc", runtime("runc"), available=can_run("runc"), missing=f"runc not installed, or {needs}"),
                Contender("crun", runtime("crun"), available=can_run("crun"), missing=f"crun not installed, or {needs}"),
                Contender("minidock-runtime", runtime(str(MINIDOCK_RUNTIME)),
                          available=can_run(str(MINIDOCK_RUNTIME)), missing=f"{MINIDOCK_RUNTIME} not found, or {needs}"),
            ],
        )
    ]
