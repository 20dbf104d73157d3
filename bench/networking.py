"""Networking: what a bridge costs a container's start, and TCP through a bridge vs the loopback.

Implements: spec/networking.md NET-070
Explained:  chapters/07-networking.md#the-network-service

    network-start       `run --rm busybox true` through minidock's CLI, one run a sample:
                        with `--network none` (a namespace with its loopback) and on the
                        default bridge (a namespace, a veth, an address, a route). Issue 8's
                        target: the bridge costs less than docker's (~0.07 s here), so at most
                        1.5x the none run's median.
    bridge-throughput   256 MiB over TCP, one sample a run, the milliseconds busybox's `time`
                        gives for `dd if=/dev/zero bs=1M count=256 | nc ADDRESS PORT` to a
                        `nc -l` that throws it away (its stdin held open by a `sleep`: busybox's
                        nc hangs up when its stdin ends):
        host loopback              both ends on the host, 127.0.0.1 (the limit)
        minidock bridge            both ends in containers on the daemon's default bridge (MTU 1500)
        minidock bridge, MTU 65000 the same on a network made with -o com.docker.network.driver.mtu=65000
                        target: within 20 % of the loopback. Measured here, the default bridge
                        is some 4x slower than the loopback: per packet, each 1500-byte frame
                        crosses the bridge, br_netfilter and conntrack; the loopback's MTU is
                        65536. The MTU row shows what is left at the loopback's packet size.

The same busybox does the work everywhere (the image is the host's busybox-static).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from bench.engine_daemon import MINIDOCK, MINIDOCKD, PrivateDaemon
from bench.harness import Benchmark, Contender
from bench.volume_io import real_ms

SIZE_MB = 256
UNIT = "ms (256 MiB)"
PORT = 5201
JUMBO = "mdbench-mtu"


def sender(address: str, port: int, size_mb: int) -> str:
    """The shell line that sends ``size_mb`` MiB and times itself."""
    return f"time sh -c 'dd if=/dev/zero bs=1M count={size_mb} 2>/dev/null | busybox nc {address} {port}'"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def benchmarks(workdir: Path, size_mb: int = SIZE_MB, rounds: int = 10) -> list[Benchmark]:
    """network-start and bridge-throughput against a private minidockd."""
    daemon = PrivateDaemon()

    def cli(*args: str) -> list[str]:
        daemon.start()  # once; busybox in it
        return [str(MINIDOCK), "-H", daemon.host, *args]

    def run_none() -> None:
        subprocess.run(cli("run", "--rm", "--network", "none", "busybox", "true"), check=True,
                       stdout=subprocess.DEVNULL)

    def run_bridge() -> None:
        subprocess.run(cli("run", "--rm", "busybox", "true"), check=True, stdout=subprocess.DEVNULL)

    def loopback() -> list[float]:
        port = _free_port()
        server = subprocess.Popen(["busybox", "sh", "-c", f"sleep 600 | exec busybox nc -l -p {port} > /dev/null"],
                                  start_new_session=True)
        try:
            time.sleep(0.2)
            done = subprocess.run(["busybox", "sh", "-c", sender("127.0.0.1", port, size_mb)],
                                  capture_output=True, text=True, timeout=300)
        finally:
            os.killpg(server.pid, 9)  # the sleep too
            server.wait()
        return [real_ms(done.stderr)]

    def bridge(network: str = "bridge") -> list[float]:
        if network != "bridge" and network not in daemon.cli("network", "ls", "--format", "{{.Name}}"):
            daemon.cli("network", "create", "-o", "com.docker.network.driver.mtu=65000", network)
        server = subprocess.run(cli("run", "-d", "--network", network, "busybox", "sh", "-c", f"sleep 600 | nc -l -p {PORT} > /dev/null"),
                                check=True, capture_output=True, text=True).stdout.strip()
        try:
            address = subprocess.run(cli("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}",
                                         server),
                                     check=True, capture_output=True, text=True).stdout.strip()
            time.sleep(0.2)
            done = subprocess.run(cli("run", "--rm", "--network", network, "busybox", "sh", "-c",
                                      sender(address, PORT, size_mb)),
                                  capture_output=True, text=True, timeout=300)
        finally:
            subprocess.run(cli("rm", "-f", server), capture_output=True)
        return [real_ms(done.stderr)]

    def finish() -> None:
        if daemon.running:
            subprocess.run(cli("network", "rm", JUMBO), capture_output=True)
            daemon.stop()

    def root() -> bool:
        return os.geteuid() == 0 and MINIDOCKD.exists() and shutil.which("busybox") is not None

    missing = "needs root and minidockd (make setup)"
    return [
        Benchmark(name="network-start", rounds=rounds, subject="minidock bridge",
                  target="minidock --network none", target_ratio=1.5, finish=finish,
                  contenders=[Contender("minidock --network none", run_none, available=root, missing=missing),
                              Contender("minidock bridge", run_bridge, available=root, missing=missing)]),
        Benchmark(name="bridge-throughput", unit=UNIT, rounds=max(3, rounds // 3), subject="minidock bridge",
                  target="host loopback", target_ratio=1.2, finish=finish,
                  contenders=[Contender("host loopback", loopback, available=root, missing=missing),
                              Contender("minidock bridge", bridge, available=root, missing=missing),
                              Contender("minidock bridge, MTU 65000", lambda: bridge(JUMBO), available=root,
                                        missing=missing)]),
    ]
