"""Compose: `up -d` and `down` of a 5-service project, minidock compose and docker-compose 1.29.

Implements: spec/compose.md COMPOSE-016 (measured here, not asserted: see the spec line)

    compose-up      `up -d` of PROJECT below, from nothing: a network, a volume, 5 containers
                    created and started; the project taken down (untimed) before each run
    compose-down    `down -v` of it, brought up (untimed) before each run

    PROJECT: 5 busybox services waiting for SIGTERM, one user-defined network, one
    named volume (mounted by `db`), depends_on between them; no build, no ports

Contenders: `minidock compose` against a private minidockd (bench/engine_daemon.py),
Debian's docker-compose 1.29 against that same daemon, and docker-compose 1.29 against a
running dockerd ($DOCKER_HOST or /var/run/docker.sock; the target, skipped when none
answers). Each uses a project name of its own, so that the two on one daemon never see
each other's containers. Issue 11's target: at or below docker-compose's time against
dockerd. At the end every contender's project is taken down, and what carries one of the
benchmark's project labels on either engine is a left-over that fails the row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from bench.container_run import DOCKERD_HOST, Dockerd, dockerd_answers
from bench.engine_daemon import MINIDOCK, MINIDOCKD, PrivateDaemon
from bench.harness import Benchmark, Contender, on_path
from bench.monitor_memory import command

# `sleep` as PID 1 ignores SIGTERM (no handler, and the kernel drops default-action signals
# to a namespace's init), so every `down` would wait out its 10 s; a shell that traps TERM
# ends at once, as a real service does. `version:` keeps docker-compose 1.29 on the v3 format.
PROJECT = """version: "3.8"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    volumes: ["data:/data"]
    networks: [back]
  cache:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    networks: [back]
  api:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    depends_on: [db, cache]
    networks: [back]
  worker:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    depends_on: [db]
    networks: [back]
  web:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    depends_on: [api]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
"""
SERVICES = 5
COMPOSE_V1 = "docker-compose"
TARGET = "docker-compose (dockerd)"


def project_name(contender: str) -> str:
    """A project name per contender and per run of `python -m bench` (compose's name rules)."""
    slug = {"minidock": "md", "docker-compose -> minidockd": "dcmd", TARGET: "dcdd"}[contender]
    return f"mdbench{os.getpid()}{slug}"


def benchmarks(workdir: Path, rounds: int = 5) -> list[Benchmark]:
    """compose-up and compose-down: minidock, docker-compose -> minidockd, docker-compose (dockerd)."""
    daemon = PrivateDaemon(debug=True)  # its log names every container, to check their cgroups are gone
    archive_path = workdir / "busybox.tar"
    project_file = workdir / "compose.yaml"

    def archive() -> Path:  # busybox for dockerd: the same image minidock runs
        if not archive_path.exists():
            command(str(MINIDOCK))("image", "bootstrap", "busybox", "--output", str(archive_path))
        return archive_path

    dockerd = Dockerd(archive)

    def prefix(contender: str) -> list[str]:
        """The compose command line of a contender, up to the verb."""
        files = ["-f", str(project_file), "-p", project_name(contender)]
        if contender == "minidock":
            return [str(MINIDOCK), "-H", daemon.host, "compose", *files]
        host = daemon.host if contender == "docker-compose -> minidockd" else DOCKERD_HOST
        return [COMPOSE_V1, "-H", host, *files]

    def prepare(contender: str) -> None:
        """Untimed: the engine up with busybox:latest, the project file written."""
        if contender == TARGET:
            dockerd.prepare()
        else:
            daemon.start()
        if not project_file.exists():
            project_file.write_text(PROJECT)

    def verb(contender: str, *args: str) -> Callable[[], None]:
        def run() -> None:
            prepare(contender)
            command(*prefix(contender), timeout=300)(*args)

        return run

    contenders = ("minidock", "docker-compose -> minidockd", TARGET)
    available = {
        "minidock": lambda: os.geteuid() == 0 and MINIDOCKD.exists(),
        "docker-compose -> minidockd": lambda: os.geteuid() == 0 and MINIDOCKD.exists() and on_path(COMPOSE_V1)(),
        TARGET: lambda: on_path(COMPOSE_V1)() and on_path("docker")() and dockerd_answers(),
    }
    missing = {
        "minidock": "needs root and minidockd (make setup)",
        "docker-compose -> minidockd": "needs root, minidockd and docker-compose (make setup)",
        TARGET: "dockerd is not running on this machine (or no docker-compose)",
    }
    used: set[str] = set()  # contenders whose engine was prepared: their projects are taken down at the end

    def tracked(contender: str, run: Callable[[], None]) -> Callable[[], None]:
        def go() -> None:
            used.add(contender)
            run()

        return go

    def leftovers_on_minidockd(names: list[str]) -> list[str]:
        found = []
        for collection in ("containers/json?all=1&", "networks?", "volumes?"):
            for name in names:
                filters = quote(json.dumps({"label": [f"com.docker.compose.project={name}"]}))
                status, body = daemon.api("GET", f"/v1.41/{collection}filters={filters}")
                listed = json.loads(body) if status == 200 else []
                if isinstance(listed, dict):  # GET /volumes: {"Volumes": [...]}
                    listed = listed.get("Volumes") or []
                found += [f"{name}: {collection.split('?')[0].split('/')[0]} {item.get('Name') or item.get('Names')}"
                          for item in listed]
        return found

    def leftovers_on_dockerd(name: str) -> list[str]:
        found = []
        for kind in (["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]):
            listed = command(*dockerd.prefix())(*kind, "--filter", f"label=com.docker.compose.project={name}")
            found += [f"{name}: {kind[0]} {line}" for line in listed.split()]
        return found

    def finish() -> None:
        """Every project taken down, nothing of them left on either engine; minidockd stopped."""
        problems = []
        for contender in sorted(used):
            try:
                command(*prefix(contender), timeout=300)("down", "-v")
            except RuntimeError as error:
                problems.append(f"{contender}: down: {error}")
        if daemon.running:
            problems += leftovers_on_minidockd([project_name(c) for c in contenders if c != TARGET])
        if TARGET in used:
            try:
                problems += leftovers_on_dockerd(project_name(TARGET))
                dockerd.finish()
            except RuntimeError as error:
                problems.append(f"dockerd: {error}")
        used.clear()
        try:
            daemon.stop([])
        except RuntimeError as error:
            problems.append(str(error))
        if problems:
            raise RuntimeError("; ".join(problems))

    def benchmark(name: str, timed: tuple[str, ...], untimed: tuple[str, ...]) -> Benchmark:
        return Benchmark(
            name=name, rounds=rounds, target=TARGET, target_ratio=1.0, finish=finish,
            contenders=[Contender(contender, tracked(contender, verb(contender, *timed)),
                                  available=available[contender], missing=missing[contender],
                                  reset=tracked(contender, verb(contender, *untimed)))
                        for contender in contenders],
        )

    return [benchmark("compose-up", ("up", "-d"), ("down", "-v")),
            benchmark("compose-down", ("down", "-v"), ("up", "-d"))]
