"""Networking: what a bridge costs a container's start, and TCP through a bridge vs the loopback.

Implements: spec/networking.md NET-070
Explained:  chapters/07-networking.md#what-a-bridge-costs

    network-start       `run --rm busybox true` through minidock's CLI, one run a sample:
                        with `--network none` (a namespace with its loopback) and on the
                        default bridge (a namespace, a veth, an address, a route). Issue 8's
                        target: the bridge costs less than docker's (~0.07 s here), so at most
                        1.5x the none run's median.
    bridge-throughput   milliseconds per GiB over one TCP connection, one sample a run: iperf3
                        (Debian's, the same binary on every row) sends SIZE MiB to an
                        `iperf3 -s -1`, and the receiver's bytes and seconds give the sample.
        host loopback              both ends on the host, 127.0.0.1, MTU 65536 (the limit)
        veth + bridge by hand      two namespaces, two veth pairs and a bridge made with `ip`
                                   in a third, MTU 1500: what the kernel's path costs, minidock aside
        minidock bridge            both ends in the network namespaces of two containers on the
                                   daemon's default bridge (MTU 1500, Docker's default; its veths
                                   allow BIG TCP's 512 KiB packets, NET-112, the hand-made 64 KiB,
                                   and their host ends steer what they receive over the CPUs, RPS,
                                   NET-113, the hand-made ones receive on the sending CPU)
        minidock bridge, MTU 65000 the same on a network made with -o com.docker.network.driver.mtu=65000
                        target: within 20 % of the loopback.

Each end runs in its container's network namespace (`nsenter --net=` the SandboxKey that
inspect shows): the namespace is all that decides which path the bytes take, and busybox
has no tool that measures the network rather than itself. The earlier version of this
benchmark piped `dd` into busybox's nc, which copies 1 KiB per read and per write: on the
loopback (MSS ~65 KB) the kernel gathers those writes into large segments, on a veth of MTU
1500 every 1448 bytes is a packet of its own, woken and copied one by one, so it measured
busybox at some 4x slower through any bridge, one made by hand included. What is left with
iperf3 is the kernel's: the hand-made bridge was as slow as minidock's, with the same ~60 KB
offloaded packets as the loopback but some 41 segments of 1448 bytes in each, until
minidock's veths allowed 512 KiB packets (BIG TCP) and, on a quiet machine, until their host
ends spread the receive work over the CPUs (RPS); the numbers are in the chapter's "What a
bridge costs". No row pins iperf3 to a CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from bench.engine_daemon import MINIDOCK, MINIDOCKD, PrivateDaemon
from bench.harness import Benchmark, Contender

SIZE_MB = 1024
UNIT = "ms per GiB"
PORT = 5201
JUMBO = "mdbench-mtu"
GiB = 1 << 30


def ms_per_gib(report: str) -> float:
    """The receiver's milliseconds per GiB from `iperf3 -J`'s report."""
    received = json.loads(report)["end"]["sum_received"]
    if not received.get("bytes"):
        raise ValueError("iperf3 received nothing")
    return received["seconds"] * 1000 * GiB / received["bytes"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def iperf(server_netns: str | None, client_netns: str | None, address: str, size_mb: int) -> float:
    """One connection of ``size_mb`` MiB from the client's namespace to the server's (None: the host's)."""
    port = str(PORT if server_netns else _free_port())  # the host's loopback is shared with others
    def inside(netns: str | None, *argv: str) -> list[str]:
        return [*(["nsenter", f"--net={netns}"] if netns else []), "iperf3", *argv]

    server = subprocess.Popen(inside(server_netns, "-s", "-1", "-B", address, "-p", port),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # until the server listens
            done = subprocess.run(inside(client_netns, "-c", address, "-p", port, "-n", f"{size_mb}M", "-J"),
                                  capture_output=True, text=True, timeout=300)
            if done.returncode == 0 and "error" not in json.loads(done.stdout or "{}"):
                return ms_per_gib(done.stdout)
            time.sleep(0.1)  # "unable to connect": not listening yet
        raise RuntimeError(f"iperf3 to {address}: {done.stdout[-300:]}")
    finally:
        server.kill()
        server.wait()


class HandMadeBridge:
    """Two namespaces on a bridge, made with `ip` and nothing else: the kernel's path alone.

    The bridge lives in a third namespace, not the host's: with br_netfilter, bridged frames
    go through the FORWARD chain of the bridge's namespace, and a host where dockerd or a
    minidockd turned forwarding on has that chain's policy at DROP (NET-043), which would
    drop these frames (the same clash as Docker's with libvirt's bridges).
    """

    def __init__(self) -> None:
        tag = f"mdbh{os.getpid() % 10000}"
        self.bridge, self.namespaces, self.hub = tag, [f"{tag}a", f"{tag}b"], f"{tag}h"
        self.addresses = ["10.214.0.2", "10.214.0.3"]

    def make(self) -> None:
        hub = ["ip", "-n", self.hub]
        subprocess.run(["ip", "netns", "add", self.hub], check=True)
        subprocess.run([*hub, "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run([*hub, "link", "set", self.bridge, "up"], check=True)
        for n, (netns, address) in enumerate(zip(self.namespaces, self.addresses)):
            subprocess.run(["ip", "netns", "add", netns], check=True)
            host, peer = f"{self.bridge}h{n}", f"{self.bridge}p{n}"
            subprocess.run([*hub, "link", "add", host, "type", "veth", "peer", "name", peer, "netns", netns],
                           check=True)
            subprocess.run([*hub, "link", "set", host, "master", self.bridge, "up"], check=True)
            subprocess.run(["ip", "-n", netns, "addr", "add", f"{address}/24", "dev", peer], check=True)
            subprocess.run(["ip", "-n", netns, "link", "set", peer, "up"], check=True)

    def remove(self) -> None:
        for netns in (*self.namespaces, self.hub):  # each takes its links along
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)

    def measure(self, size_mb: int) -> list[float]:
        if not os.path.exists(f"/run/netns/{self.namespaces[0]}"):
            self.make()
        return [iperf(*(f"/run/netns/{n}" for n in self.namespaces[::-1]), self.addresses[1], size_mb)]


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
        return [iperf(None, None, "127.0.0.1", size_mb)]

    def bridge(network: str = "bridge") -> list[float]:
        if network != "bridge" and network not in daemon.cli("network", "ls", "--format", "{{.Name}}"):
            daemon.cli("network", "create", "-o", "com.docker.network.driver.mtu=65000", network)
        ends = [subprocess.run(cli("run", "-d", "--network", network, "busybox", "sleep", "600"),
                               check=True, capture_output=True, text=True).stdout.strip() for _ in range(2)]
        try:
            found = subprocess.run(cli("inspect", "-f", "{{.NetworkSettings.SandboxKey}} "
                                       f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}", *ends),
                                   check=True, capture_output=True, text=True).stdout.split()
            (server_netns, address), client_netns = found[0:2], found[2]
            return [iperf(server_netns, client_netns, address, size_mb)]
        finally:
            subprocess.run(cli("rm", "-f", *ends), capture_output=True)

    by_hand = HandMadeBridge()

    def finish() -> None:
        by_hand.remove()
        if daemon.running:
            subprocess.run(cli("network", "rm", JUMBO), capture_output=True)
            daemon.stop()

    def root() -> bool:
        return os.geteuid() == 0 and MINIDOCKD.exists() and shutil.which("busybox") is not None

    def root_and_iperf3() -> bool:
        return root() and shutil.which("iperf3") is not None and shutil.which("nsenter") is not None

    missing = "needs root and minidockd (make setup)"
    no_iperf3 = "needs root, minidockd and iperf3 (make setup)"
    return [
        Benchmark(name="network-start", rounds=rounds, subject="minidock bridge",
                  target="minidock --network none", target_ratio=1.5, finish=finish,
                  contenders=[Contender("minidock --network none", run_none, available=root, missing=missing),
                              Contender("minidock bridge", run_bridge, available=root, missing=missing)]),
        Benchmark(name="bridge-throughput", unit=UNIT, rounds=max(3, rounds // 3), subject="minidock bridge",
                  target="host loopback", target_ratio=1.2, finish=finish,
                  contenders=[Contender("host loopback", loopback, available=root_and_iperf3, missing=no_iperf3),
                              Contender("veth + bridge by hand", lambda: by_hand.measure(size_mb),
                                        available=root_and_iperf3, missing=no_iperf3),
                              Contender("minidock bridge", bridge, available=root_and_iperf3, missing=no_iperf3),
                              Contender("minidock bridge, MTU 65000", lambda: bridge(JUMBO),
                                        available=root_and_iperf3, missing=no_iperf3)]),
    ]
