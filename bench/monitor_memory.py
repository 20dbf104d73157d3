"""Monitor memory: what one idle container costs in the process that watches over it.

Implements: spec/bench.md HARNESS-BENCH-010, HARNESS-BENCH-011

minidock-runtime forks one monitor per container (the containerd-shim / conmon role),
which stays until the container exits. This benchmark starts 20 idle containers
(`sleep 3600`, detached: `create` then `start`), reads the PSS of each monitor (the
sum of the Pss lines of /proc/PID/smaps_rollup: its private pages plus its share of
the pages it shares) and reports the samples in KiB, one per container.
Peers, when installed: docker's containerd-shim and podman's conmon, for 20 containers
each (`run -d`); a shim serving several containers counts a share for each. The same
shim, containerd-shim-runc-v2 with runc, is also measured under a private containerd
(bench/containerd.py), which `make setup` installs: docker's row needs a running dockerd,
which this project does not install.

Issue 3's target: the monitor's PSS per container at or below containerd-shim's (the
containerd row, measurable wherever `make setup` ran).
The subject is the engine's row: minidockd's monitors, forked by its runtime fork
server (copy-on-write pages shared with it and with each other), beside docker's
shims forked by containerd. The standalone `minidock-runtime create` row is shown
too: each of its monitors is forked by a command that then exits.

Every container is killed and deleted whatever happens (try/finally), and the run
fails, naming them, if a state directory, a cgroup or a monitor process remains.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bench.bundles import BUSYBOX, MINIDOCK, MINIDOCK_RUNTIME, Bundle, fresh_id
from bench.harness import Benchmark, Contender, Measure, on_path
from bench.isolation import is_root, oci_argv

CONTAINERS = 20
IDLE = ["sleep", "3600"]
CGROUPS = "/sys/fs/cgroup"
CGROUP_PARENT = "minidock-runtime"  # minidock-runtime's cgroup for container ID: minidock-runtime/ID

Command = Callable[..., str]  # command("verb", "arg", ...) -> stdout; raises RuntimeError on failure


# --- pure parts -------------------------------------------------------------------------


def pss_kib(smaps: str) -> int:
    """The PSS in KiB from the text of /proc/PID/smaps_rollup (or smaps): the sum of its Pss lines."""
    return sum(int(line.split()[1]) for line in smaps.splitlines() if line.startswith("Pss:"))


def shares_kib(shim_pids: Sequence[int], pss: Callable[[int], float]) -> list[float]:
    """One sample per container: its shim's PSS, divided among the containers that shim serves."""
    served = Counter(shim_pids)
    measured = {pid: pss(pid) for pid in served}
    return [measured[pid] / served[pid] for pid in shim_pids]


def leftovers(state_root: Path, ids: Iterable[str], monitor_pids: Iterable[int],
              alive: Callable[[int], bool], cgroups: str = CGROUPS) -> list[str]:
    """What minidock-runtime left behind of these containers: state directories, cgroups, monitors."""
    found = []
    for container_id in ids:
        if (state_root / container_id).exists():
            found.append(f"state directory {state_root / container_id}")
        # v1: one hierarchy per controller (cgroups/memory/...); v2: cgroups itself
        for pattern in (f"{cgroups}/*/{CGROUP_PARENT}/{container_id}", f"{cgroups}/{CGROUP_PARENT}/{container_id}"):
            found.extend(f"cgroup {path}" for path in sorted(glob.glob(pattern)))
    found.extend(f"monitor process {pid}" for pid in monitor_pids if alive(pid))
    return found


# --- the machine ------------------------------------------------------------------------


def read_pss_kib(pid: int) -> int:
    """The PSS of a live process in KiB (smaps_rollup since Linux 4.14; smaps before it)."""
    for name in ("smaps_rollup", "smaps"):
        try:
            return pss_kib(Path(f"/proc/{pid}/{name}").read_text())
        except FileNotFoundError:
            continue
    raise RuntimeError(f"process {pid} is gone: no PSS to read")


def alive(pid: int) -> bool:
    """Is the process there, and not a zombie waiting for its parent?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent_pid(pid: int) -> int:
    """The parent of a process (the shim, for a container's init)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def command(*prefix: str, timeout: float = 60) -> Command:
    """A Command running ``prefix + args``; a failure raises RuntimeError with its last line of stderr."""

    def run(*args: str) -> str:
        try:
            completed = subprocess.run([*prefix, *args], stdin=subprocess.DEVNULL, capture_output=True,
                                       text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(args[:1])} timed out after {timeout:.0f}s") from None
        if completed.returncode != 0:
            last_line = (completed.stderr.strip().splitlines() or [""])[-1]
            raise RuntimeError(f"{args[0]}: exit {completed.returncode}: {last_line}".rstrip(": "))
        return completed.stdout

    return run


def wait_gone(pids: Iterable[int], is_alive: Callable[[int], bool] = alive, seconds: float = 10.0) -> None:
    """Wait (a bounded time) until none of the processes is alive."""
    deadline = time.monotonic() + seconds
    pending = [pid for pid in pids if is_alive(pid)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [pid for pid in pending if is_alive(pid)]


def minidock_monitors(bundle: Bundle, state_root: Path, runtime: Command | None = None,
                      count: int = CONTAINERS, is_alive: Callable[[int], bool] = alive,
                      pss: Callable[[int], float] = read_pss_kib, cgroups: str = CGROUPS) -> Measure:
    """A Measure: ``count`` idle minidock-runtime containers, one monitor PSS sample each.

    Keep ``state_root`` and the ids short: the monitor binds ROOT/ID/monitor.sock, and a
    unix socket's path has at most 107 bytes.
    """
    runtime = runtime or command(*oci_argv(str(MINIDOCK_RUNTIME), state_root))

    def measure() -> list[float]:
        ids: list[str] = []
        monitors: dict[str, int] = {}
        samples: list[float] = []
        problems: list[str] = []
        try:
            for _ in range(count):
                container_id = fresh_id("idle")
                ids.append(container_id)  # before create: a half-made container is removed too
                runtime("create", "--bundle", str(bundle.path()), container_id)
                monitors[container_id] = int(json.loads(runtime("state", container_id))["monitor_pid"])
                runtime("start", container_id)
            samples = shares_kib(list(monitors.values()), pss)
        except (RuntimeError, OSError, ValueError, KeyError) as error:
            problems.append(str(error))
        finally:
            # kill, let each monitor record the exit and leave, then delete: nothing may remain
            for container_id in ids:
                _ignore_failure(runtime, "kill", container_id, "KILL")
            wait_gone(monitors.values(), is_alive)
            for container_id in ids:
                _ignore_failure(runtime, "delete", "--force", container_id)
            left = leftovers(state_root, ids, monitors.values(), is_alive, cgroups)
            if left:
                problems.append("left behind: " + ", ".join(left))
        if problems:
            raise RuntimeError("; ".join(problems))
        return samples

    return measure


def _ignore_failure(run: Command, *args: str) -> None:
    """Clean-up steps may find nothing to do (a container that never got created): fine."""
    try:
        run(*args)
    except RuntimeError:
        pass


def engine_shims(engine: str, shim_of: Callable[[Command, str], int], archive: Callable[[], Path],
                 count: int = CONTAINERS) -> Measure:
    """A Measure: ``count`` idle containers of docker or podman, one shim PSS sample each."""
    cli = command(engine)

    def measure() -> list[float]:
        try:  # use the engine's busybox if it has one; never replace it
            cli("image", "inspect", "busybox:latest")
        except RuntimeError:
            cli("load", "-i", str(archive()))
        names: list[str] = []
        try:
            for _ in range(count):
                names.append(fresh_id("idle"))
                cli("run", "-d", "--name", names[-1], "busybox:latest", *IDLE)
            return shares_kib([shim_of(cli, name) for name in names], read_pss_kib)
        finally:
            if names:
                _ignore_failure(cli, "rm", "--force", *names)

    return measure


def engine_monitors(count: int = CONTAINERS) -> tuple[Measure, Callable[[], None]]:
    """A Measure: ``count`` idle containers of a private minidockd, one monitor PSS sample each.

    The engine's monitors are forked by its runtime fork server, as containerd forks
    its shims: this is the row to set beside containerd-shim's. Returns the measure
    and the finish step that stops the daemon (and fails if it left anything behind).
    """
    from bench.engine_daemon import PrivateDaemon  # engine_daemon imports this module

    daemon = PrivateDaemon()
    ran: list[str] = []

    def measure() -> list[float]:
        daemon.start()
        names: list[str] = []
        try:
            for _ in range(count):
                names.append(fresh_id("idle"))
                ran.append(daemon.cli("run", "-d", "--network", "none", "--name", names[-1],
                                      "busybox:latest", *IDLE).strip())
            # init's parent is its monitor, as a docker container's init's is its shim
            monitors = [parent_pid(int(daemon.cli("inspect", "--format", "{{.State.Pid}}", name).strip()))
                        for name in names]
            return shares_kib(monitors, read_pss_kib)
        finally:
            if names:
                _ignore_failure(daemon.cli, "rm", "--force", *names)

    return measure, lambda: daemon.stop(ran)


def podman_conmons(archive: Callable[[], Path], count: int = CONTAINERS) -> tuple[Measure, Callable[[], None]]:
    """A Measure: ``count`` idle podman containers, one conmon PSS sample each, and its finish step.

    podman runs in a store of its own with runc and ulimits of 1024, as in the
    container-run benchmark (bench.container_run.Podman says why: crun refuses this
    hybrid cgroup host, and podman's default ulimits exceed the machine's).
    """
    from bench.container_run import Podman  # container_run imports this module

    podman = Podman(archive)

    def measure() -> list[float]:
        podman.prepare()
        cli = command(*podman.prefix())
        names: list[str] = []
        try:
            for _ in range(count):
                names.append(fresh_id("idle"))
                cli("run", "-d", *podman.run_flags(), "--name", names[-1], "busybox:latest", *IDLE)
            return shares_kib([conmon(cli, name) for name in names], read_pss_kib)
        finally:
            if names:
                _ignore_failure(cli, "rm", "--force", "--time", "0", *names)

    return measure, podman.finish


def containerd_shims(archive: Callable[[], Path], count: int = CONTAINERS) -> tuple[Measure, Callable[[], None]]:
    """A Measure: ``count`` idle containers of a private containerd with runc, one shim PSS sample
    each, and its finish step. The shim is containerd-shim-runc-v2, the one docker's containerd
    starts, so this row measures docker's shim without dockerd (bench.containerd says why)."""
    from bench.containerd import IMAGE, PrivateContainerd  # containerd imports this module

    containerd = PrivateContainerd(archive)

    def measure() -> list[float]:
        containerd.start()
        names: list[str] = []
        try:
            for _ in range(count):
                names.append(fresh_id("idle"))
                containerd.ctr("run", "-d", IMAGE, names[-1], *IDLE)
            tasks = dict(line.split()[:2] for line in containerd.ctr("tasks", "list").splitlines()[1:])
            return shares_kib([parent_pid(int(tasks[name])) for name in names], read_pss_kib)
        finally:
            for name in names:
                _ignore_failure(command(*containerd.prefix()), "tasks", "kill", "--signal", "KILL", name)
                _ignore_failure(command(*containerd.prefix()), "tasks", "delete", "--force", name)
                _ignore_failure(command(*containerd.prefix()), "containers", "delete", name)

    return measure, containerd.stop


def every_step(*steps: Callable[[], None]) -> Callable[[], None]:
    """One finish step that runs each of ``steps``, whatever the others did, and raises for all."""

    def finish() -> None:
        problems = []
        for step in steps:
            try:
                step()
            except RuntimeError as error:
                problems.append(str(error))
        if problems:
            raise RuntimeError("; ".join(problems))

    return finish


def containerd_shim(cli: Command, name: str) -> int:
    """docker: the container's init is a child of its containerd-shim."""
    return parent_pid(int(cli("inspect", "--format", "{{.State.Pid}}", name).strip()))


def conmon(cli: Command, name: str) -> int:
    """podman: the inspect data names the container's conmon."""
    return int(cli("inspect", "--format", "{{.State.ConmonPid}}", name).strip())


def benchmarks(workdir: Path) -> list[Benchmark]:
    """minidock-runtime's monitor, containerd-shim (docker) and conmon (podman), 20 idle containers each."""
    bundle = Bundle(workdir / "busybox-sleep", IDLE)
    archive_path = workdir / "busybox.tar"

    def archive() -> Path:  # for an engine without a busybox image: the same one minidock uses
        if not archive_path.exists():
            command(str(MINIDOCK))("image", "bootstrap", "busybox", "--output", str(archive_path))
        return archive_path

    engine_measure, stop_engine = engine_monitors()
    podman_measure, stop_podman = podman_conmons(archive)
    containerd_measure, stop_containerd = containerd_shims(archive)
    return [
        Benchmark(
            name="monitor-memory",
            subject="minidock (minidockd)",
            unit="KiB",
            rounds=1,  # 20 samples a round; each round starts and removes 20 containers
            target="containerd-shim (containerd)",
            finish=every_step(stop_engine, stop_podman, stop_containerd),
            contenders=[
                Contender("minidock (minidockd)", engine_measure,
                          available=lambda: is_root() and BUSYBOX.exists() and MINIDOCK.exists(),
                          missing="needs root, busybox-static and minidock"),
                # the same monitor, forked by a `minidock-runtime create` command that then exits:
                # nothing shares its pages, so it pays for the whole runtime it was forked from
                Contender("minidock-runtime create", minidock_monitors(bundle, workdir / "state"),
                          available=lambda: is_root() and BUSYBOX.exists() and MINIDOCK_RUNTIME.exists(),
                          missing="needs root, busybox-static and minidock-runtime"),
                Contender("containerd-shim (docker)", engine_shims("docker", containerd_shim, archive),
                          available=on_path("docker")),
                Contender("containerd-shim (containerd)", containerd_measure,
                          available=lambda: is_root() and bool(shutil.which("containerd")) and bool(shutil.which("ctr")),
                          missing="needs root and containerd (make setup installs it)"),
                Contender("conmon (podman)", podman_measure, available=on_path("podman")),
            ],
        )
    ]
