"""Running a container through an engine: the whole path, CLI to exit code, and back.

Implements: spec/bench.md HARNESS-BENCH-013, HARNESS-BENCH-015

    container-run       `run --rm busybox true`, one run a sample
    run-detached-20     20 sequential `run -d busybox sleep 60`, one sample for all 20;
                        they are removed afterwards, untimed (before the next run, and at the end)

Contenders, each with busybox:latest made by `minidock image bootstrap busybox`:

    minidock                     our CLI against a private minidockd (bench/engine_daemon.py)
    docker CLI -> minidockd      the real docker CLI against that same daemon
    docker (dockerd)             docker against a running dockerd ($DOCKER_HOST or
                                 /var/run/docker.sock), the target; skipped, saying "dockerd is
                                 not running on this machine", if no dockerd answers there
    podman                       `podman run`, in a store of its own under the run's folder

Issue 5's targets: minidock's median at most 0.5x docker's (dockerd), and for the 20
detached runs, at most 0.5x docker's total.

Podman gets a private store (--root, --runroot, --tmpdir in a fresh /tmp/mdbp-XXXX: podman
refuses a runroot longer than 50 characters), the cgroupfs manager and a
cgroup parent named after this process, so that everything it makes can be removed and
checked; --network none (its default network would leave a bridge and netfilter rules of
its own on the machine; minidock and dockerd run on their default bridge, so podman's
runs are, if anything, the cheaper ones); runc (crun refuses a cgroup v1/v2 hybrid);
and ulimits of 1024, because podman asks for a million open files, which a machine
without CAP_SYS_RESOURCE in its bounding set refuses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.engine_daemon import MINIDOCK, MINIDOCKD, PrivateDaemon, remove_unless_mounted, unix_connection
from bench.harness import Benchmark, Contender, on_path
from bench.monitor_memory import command

DETACHED = 20
IDLE = ["sleep", "60"]
DOCKERD_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
IMAGE = "busybox:latest"


def dockerd_answers(host: str = DOCKERD_HOST) -> bool:
    """Does a Docker engine answer GET /_ping at ``host`` (a unix socket)?"""
    url = urlsplit(host)
    if url.scheme != "unix":
        return False  # loopback only: we never time an engine on another machine
    connection = unix_connection(url.path, timeout=2)
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class Engine:
    """One way to run a container: a CLI with its global flags, prepared (untimed) before use.

    ``created``: the containers of the detached runs not yet removed.
    """

    prefix: Callable[[], list[str]]  # the CLI and its global flags, valid once prepared
    prepare: Callable[[], None]  # untimed, idempotent: the daemon up, busybox:latest in it
    run_flags: list[str] = field(default_factory=list)
    rm_flags: list[str] = field(default_factory=list)  # podman's --time 0: no 10 s stop before the kill
    created: list[str] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 60) -> str:
        """The engine's CLI with ARGS: its stdout; RuntimeError ("run: exit 125: ...") if it failed."""
        return command(*self.prefix(), timeout=timeout)(*args)

    def run_rm(self) -> None:
        """`run --rm busybox true`: the timed part of container-run."""
        self.cli("run", "--rm", *self.run_flags, IMAGE, "true")

    def run_detached(self, count: int) -> Callable[[], None]:
        """``count`` sequential `run -d busybox sleep 60`: the timed part of run-detached-N."""

        def run() -> None:
            for _ in range(count):
                self.created.append(self.cli("run", "-d", *self.run_flags, IMAGE, *IDLE).strip())

        return run

    def reset(self) -> None:
        """Untimed, before each run: prepared, and the last run's containers removed."""
        self.prepare()
        self.remove_created()

    def remove_created(self) -> None:
        """`rm -f` of the detached runs' containers."""
        if self.created:
            self.cli("rm", "--force", *self.rm_flags, *self.created, timeout=120)
            self.created.clear()


class Podman:
    """podman in a store of its own (made by prepare()), its cgroups under one parent we can remove."""

    def __init__(self, archive: Callable[[], Path]) -> None:
        self.archive = archive
        self.cgroup_parent = f"mdbench-podman-{os.getpid()}"
        self.folder: Path | None = None

    def prefix(self) -> list[str]:
        assert self.folder is not None, "prepare() podman first"
        return ["podman", "--root", str(self.folder / "storage"), "--runroot", str(self.folder / "run"),
                "--tmpdir", str(self.folder / "tmp"), "--cgroup-manager", "cgroupfs"]

    def run_flags(self) -> list[str]:
        runtime = ["--runtime", "runc"] if shutil.which("runc") else []
        return ["--network", "none", *runtime, "--cgroup-parent", f"/{self.cgroup_parent}",
                "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

    def prepare(self) -> None:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="mdbp-", dir="/tmp"))
            command(*self.prefix(), timeout=120)("load", "--quiet", "--input", str(self.archive()))

    def cgroups(self) -> list[str]:
        """Its cgroups, deepest first (v1 hierarchies and v2)."""
        found = []
        for top in [*Path("/sys/fs/cgroup").glob(f"*/{self.cgroup_parent}"),
                    Path("/sys/fs/cgroup") / self.cgroup_parent]:
            found.extend(directory for directory, _, _ in os.walk(top))
        return sorted(found, key=len, reverse=True)

    def finish(self) -> None:
        """Remove its containers, images and store, then its cgroups; raise naming what stays."""
        if self.folder is None:
            return
        problems = []
        try:
            command(*self.prefix(), timeout=120)("system", "reset", "--force")
        except RuntimeError as error:
            problems.append(f"podman system reset: {error}")
        folder, self.folder = self.folder, None
        for cgroup in self.cgroups():
            try:
                os.rmdir(cgroup)
            except OSError as error:
                problems.append(f"cgroup {cgroup}: {error.strerror}")
        problems.extend(remove_unless_mounted(folder))
        if problems:
            raise RuntimeError("podman left behind: " + ", ".join(problems))


class Dockerd:
    """The docker CLI against a running dockerd; busybox:latest loaded if it has none (and removed after)."""

    def __init__(self, archive: Callable[[], Path]) -> None:
        self.archive = archive
        self.checked = False
        self.loaded = False

    def prefix(self) -> list[str]:
        return ["docker", "-H", DOCKERD_HOST]

    def prepare(self) -> None:
        if self.checked:
            return
        try:  # use dockerd's busybox if it has one; never replace it
            command(*self.prefix())("image", "inspect", IMAGE)
        except RuntimeError:
            command(*self.prefix(), timeout=120)("load", "--quiet", "--input", str(self.archive()))
            self.loaded = True
        self.checked = True

    def finish(self) -> None:
        if self.loaded:
            command(*self.prefix())("rmi", IMAGE)
        self.checked = self.loaded = False


def benchmarks(workdir: Path, detached: int = DETACHED, rounds: int = 10,
               detached_rounds: int = 3) -> list[Benchmark]:
    """container-run and run-detached-N: minidock, docker CLI -> minidockd, docker (dockerd), podman."""
    daemon = PrivateDaemon(debug=True)  # its log names the containers of `run --rm`, to check for leftovers
    archive_path = workdir / "busybox.tar"

    def archive() -> Path:  # busybox for podman and dockerd: the same image minidock runs
        if not archive_path.exists():
            command(str(MINIDOCK))("image", "bootstrap", "busybox", "--output", str(archive_path))
        return archive_path

    podman, dockerd = Podman(archive), Dockerd(archive)

    def engines() -> dict[str, Engine]:
        """Fresh engines for one benchmark (each keeps the containers it has to remove)."""
        return {
            "minidock": Engine(lambda: [str(MINIDOCK), "-H", daemon.host], daemon.start),
            "docker CLI -> minidockd": Engine(lambda: ["docker", "-H", daemon.host], daemon.start),
            "docker (dockerd)": Engine(dockerd.prefix, dockerd.prepare),
            "podman": Engine(podman.prefix, podman.prepare, podman.run_flags(), ["--time", "0"]),
        }

    available = {
        "minidock": lambda: os.geteuid() == 0 and MINIDOCKD.exists(),
        "docker CLI -> minidockd": lambda: os.geteuid() == 0 and MINIDOCKD.exists() and on_path("docker")(),
        "docker (dockerd)": lambda: on_path("docker")() and dockerd_answers(),
        "podman": lambda: os.geteuid() == 0 and on_path("podman")(),
    }
    missing = {
        "minidock": "needs root and minidockd (make setup)",
        "docker CLI -> minidockd": "needs root, minidockd and the docker CLI",
        "docker (dockerd)": "dockerd is not running on this machine",
        "podman": "needs root and podman (make setup)",
    }

    def finish(used: dict[str, Engine]) -> Callable[[], None]:
        """After a benchmark: its containers removed, minidockd stopped, podman's store gone."""

        def run() -> None:
            problems = []
            ids = list(used["minidock"].created) + list(used["docker CLI -> minidockd"].created)
            for name, engine in used.items():
                try:
                    engine.remove_created()
                except RuntimeError as error:
                    problems.append(f"{name}: rm: {error}")
            for stop in (lambda: daemon.stop(ids), podman.finish, dockerd.finish):
                try:
                    stop()
                except RuntimeError as error:
                    problems.append(str(error))
            if problems:
                raise RuntimeError("; ".join(problems))

        return run

    def benchmark(name: str, rounds: int, run: Callable[[Engine], Callable[[], None]]) -> Benchmark:
        used = engines()
        return Benchmark(
            name=name, rounds=rounds, target="docker (dockerd)", target_ratio=0.5, finish=finish(used),
            contenders=[Contender(contender, run(engine), available=available[contender], missing=missing[contender],
                                  reset=engine.reset)
                        for contender, engine in used.items()],
        )

    return [
        benchmark("container-run", rounds, lambda engine: engine.run_rm),
        benchmark(f"run-detached-{detached}", detached_rounds, lambda engine: engine.run_detached(detached)),
    ]
