"""The engine under load: 50 API clients at once for a minute, beside 50 running containers.

Implements: spec/bench.md HARNESS-BENCH-014, HARNESS-BENCH-015

Issue 5's check: "no error, no leak, the daemon's memory flat". A check, not only a
measurement: the run fails, and `python -m bench` exits 1, if a request failed, if the
daemon's RSS grew by more than 20 % between the start and the end of the load, or if
anything of the containers is left once they are removed and the daemon stopped.

    start a private minidockd (bench/engine_daemon.py), busybox:latest in it
    create and start CONTAINERS containers running `sleep 300` (through the API)
    RSS at start (VmRSS of /proc/PID/status)
    CLIENTS threads, each with its own keep-alive unix-socket connection, for SECONDS:
        GET /_ping, /containers/json, /containers/{id}/json, /containers/{id}/logs, again
    RSS at end
    remove the containers (DELETE ?force=1), stop the daemon, look for what is left:
        mounts under its folder, cgroups named after the containers

The samples are the requests' latencies in microseconds (lower is better, like every
row of the table); the note gives requests/s, errors and the RSS at start and end.
Loopback only: the clients talk to the daemon's unix socket, nothing else.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.engine_daemon import MINIDOCKD, PrivateDaemon, unix_connection
from bench.harness import Benchmark, Contender

CONTAINERS = 50
CLIENTS = 50
SECONDS = 60.0
RSS_GROWTH_LIMIT = 0.20  # the daemon's memory "flat": at most 20 % more at the end than at the start
API = "/v1.41"  # the version the docker CLI asks for


@dataclass
class LoadResult:
    """What one load run saw."""

    clients: int = 0
    containers: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rss_start_kib: int = 0
    rss_end_kib: int = 0
    rss_peak_kib: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rss_growth(self) -> float:
        """(end - start) / start: 0.05 is 5 % more."""
        return (self.rss_end_kib - self.rss_start_kib) / self.rss_start_kib if self.rss_start_kib else 0.0

    def summary(self) -> str:
        """One line for the table's note."""
        if not self.seconds:
            return ""
        return (f"{self.clients} clients, {self.containers} containers: "
                f"{self.requests} requests in {self.seconds:.0f} s, {self.per_second:.0f} req/s, "
                f"{len(self.errors)} errors; daemon RSS {self.rss_start_kib / 1024:.1f} -> "
                f"{self.rss_end_kib / 1024:.1f} MiB ({self.rss_growth:+.1%}, peak {self.rss_peak_kib / 1024:.1f})")

    def problems(self, limit: float = RSS_GROWTH_LIMIT) -> list[str]:
        """Why this run fails the check (none: it passes)."""
        found = []
        if self.errors:
            shown = "; ".join(sorted(set(self.errors))[:3])
            found.append(f"{len(self.errors)} requests failed ({shown})")
        if self.rss_growth > limit:
            found.append(f"the daemon's RSS grew by {self.rss_growth:.1%} (limit {limit:.0%})")
        return found


def request_paths(container_ids: list[str], client: int) -> list[str]:
    """One client's cycle of requests (pure): it reads the containers in turn, starting at its own."""
    container = container_ids[client % len(container_ids)]
    return ["/_ping", f"{API}/containers/json", f"{API}/containers/{container}/json",
            f"{API}/containers/{container}/logs?stdout=1&stderr=1"]


def client_loop(socket_path: str, container_ids: list[str], client: int, stop: threading.Event,
                latencies: list[float], errors: list[str]) -> None:
    """GET the client's paths, over and over on one connection, until ``stop``; reconnect after an error."""
    connection = unix_connection(socket_path, 30.0)
    turn = 0
    try:
        while not stop.is_set():
            paths = request_paths(container_ids, client + turn)
            for path in paths:
                started = time.perf_counter()
                try:
                    connection.request("GET", path)
                    response = connection.getresponse()
                    response.read()
                    if response.status >= 400:
                        errors.append(f"GET {path.split('?')[0]}: HTTP {response.status}")
                except (OSError, ValueError) as error:
                    errors.append(f"GET {path.split('?')[0]}: {type(error).__name__}: {error}")
                    connection.close()
                    connection = unix_connection(socket_path, 30.0)
                    continue
                latencies.append((time.perf_counter() - started) * 1e6)
            turn += 1
    finally:
        connection.close()


def start_containers(daemon: PrivateDaemon, count: int, ids: list[str]) -> None:
    """Create and start ``count`` idle containers through the API, appending each id as soon as it exists."""
    for _ in range(count):
        status, body = daemon.api("POST", f"{API}/containers/create",
                                  {"Image": "busybox:latest", "Cmd": ["sleep", "300"]})
        if status != 201:
            raise RuntimeError(f"create: HTTP {status}: {body[:200].decode(errors='replace')}")
        ids.append(json.loads(body)["Id"])
        status, body = daemon.api("POST", f"{API}/containers/{ids[-1]}/start")
        if status != 204:
            raise RuntimeError(f"start: HTTP {status}: {body[:200].decode(errors='replace')}")


def remove_containers(daemon: PrivateDaemon, ids: list[str]) -> list[str]:
    """DELETE ?force=1 each container; the failures, as words."""
    failures = []
    for container_id in ids:
        try:
            status, body = daemon.api("DELETE", f"{API}/containers/{container_id}?force=1", timeout=60)
        except OSError as error:
            failures.append(f"rm {container_id[:12]}: {error}")
            continue
        if status not in (204, 404):
            failures.append(f"rm {container_id[:12]}: HTTP {status} {body[:100].decode(errors='replace')}")
    return failures


def apply_load(daemon: PrivateDaemon, ids: list[str], clients: int, seconds: float, result: LoadResult) -> list[float]:
    """``clients`` threads for ``seconds``; fills in ``result``; returns every request's latency (µs)."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    threads = [threading.Thread(target=client_loop, name=f"load-client-{n}", daemon=True,
                                args=(daemon.socket_path, ids, n, stop, latencies[n], result.errors))
               for n in range(clients)]
    result.rss_start_kib = result.rss_peak_kib = daemon.rss_kib()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() - started < seconds:
        time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - started))))
        result.rss_peak_kib = max(result.rss_peak_kib, daemon.rss_kib())
    stop.set()
    for thread in threads:
        thread.join(60)
    result.seconds = time.monotonic() - started
    result.rss_end_kib = daemon.rss_kib()
    merged = [latency for client in latencies for latency in client]
    result.requests = len(merged) + len(result.errors)
    return merged


def engine_load(daemon: PrivateDaemon, result: LoadResult, containers: int = CONTAINERS,
                clients: int = CLIENTS, seconds: float = SECONDS) -> Callable[[], list[float]]:
    """A Measure: the whole check, from the daemon's start to what it left; raises if it failed."""

    def measure() -> list[float]:
        ids: list[str] = []
        problems: list[str] = []
        latencies: list[float] = []
        try:
            daemon.start()
            start_containers(daemon, containers, ids)
            latencies = apply_load(daemon, ids, clients, seconds, result)
            problems.extend(result.problems())
        except (RuntimeError, OSError) as error:
            problems.append(str(error))
        finally:
            if daemon.running:
                problems.extend(remove_containers(daemon, ids))
            try:
                daemon.stop(ids)
            except RuntimeError as error:
                problems.append(str(error))
        if problems:
            raise RuntimeError("; ".join(problems))
        return latencies

    return measure


def benchmarks(workdir: Path, seconds: float = SECONDS, containers: int = CONTAINERS,
               clients: int = CLIENTS) -> list[Benchmark]:
    """engine-load: one long run of minidockd under CLIENTS clients beside CONTAINERS containers."""
    daemon = PrivateDaemon()
    result = LoadResult(clients=clients, containers=containers)
    return [
        Benchmark(
            name="engine-load",
            unit="µs",
            rounds=1,
            probe=False,  # a minute of load is not worth doing twice
            check=True,
            finish=daemon.stop,  # already stopped by the run, unless it never got that far
            contenders=[
                Contender("minidock",
                          engine_load(daemon, result, containers, clients, seconds),
                          available=lambda: os.geteuid() == 0 and MINIDOCKD.exists(),
                          missing="needs root and minidockd (make setup)", summary=result.summary),
            ],
        )
    ]
