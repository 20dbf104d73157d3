"""Overlay: TCP between two hosts through VXLAN, against the hosts' own link.

Implements: spec/networking.md NET-111
Explained:  chapters/07-networking.md#overlay-networks

    overlay-throughput   milliseconds per GiB over one TCP connection (iperf3, as bridge-throughput):
        underlay veth        host A's namespace to host B's over the veth pair that joins them
                             (MTU 1500): the link the tunnel runs on, the limit
        minidock overlay     a container on host A to one on host B on an overlay (VXLAN, MTU 1450):
                             veth, bridge, vxlan encapsulation, the underlay, and back
                        target: within 2x of the underlay.

The two hosts are network namespaces joined by a veth pair (192.168.250.1 and .2), each
with a minidockd of its own entered with `nsenter --net`, as tests/networking/test_overlay.py
makes them; the same overlay (VNI 4242, 10.200.0.0/24) on both, a container on each, each
engine told of the other's container through POST /networks/{id}/peers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.engine_daemon import MINIDOCKD, PrivateDaemon
from bench.harness import Benchmark, Contender
from bench.networking import SIZE_MB, UNIT, iperf

NETWORK = "ovbench"
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


class HostDaemon(PrivateDaemon):
    """A minidockd inside a test host's network namespace."""

    def __init__(self, netns: str) -> None:
        super().__init__()
        self.netns = netns

    def start(self) -> None:
        if self.running:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="mdb-ov-", dir="/tmp"))
        argv = ["nsenter", f"--net=/run/netns/{self.netns}", str(MINIDOCKD), "-H", self.host,
                "--data-root", str(self.folder / "data"), "--exec-root", str(self.folder / "exec"),
                "--bridge", "ovbr0", "--bip", "10.249.0.1/24", "--shutdown-timeout", "3"]
        with open(self.folder / "daemon.log", "wb") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.folder, start_new_session=True)
        self._wait_for_ping()
        self.cli("image", "bootstrap", "busybox")


class TwoHosts:
    """Two namespace hosts, a daemon in each, one overlay across them, a container on each."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}"
        self.namespaces = [f"ovb-h1-{tag}", f"ovb-h2-{tag}"]
        self.addresses = ["192.168.250.1", "192.168.250.2"]
        self.links = [f"ovba{tag}", f"ovbb{tag}"]
        self.daemons: list[HostDaemon] = []
        self.ends: list[dict] = []     # per host: the container's id, netns path, address, MAC

    @property
    def made(self) -> bool:
        return bool(self.ends)

    def make(self) -> None:
        def ip(*argv: str) -> None:
            subprocess.run(["ip", *argv], check=True, capture_output=True)

        for netns in self.namespaces:
            ip("netns", "add", netns)
            ip("-n", netns, "link", "set", "lo", "up")
        ip("link", "add", self.links[0], "netns", self.namespaces[0], "type", "veth",
           "peer", "name", self.links[1], "netns", self.namespaces[1])
        for netns, link, address in zip(self.namespaces, self.links, self.addresses):
            ip("-n", netns, "addr", "add", f"{address}/24", "dev", link)
            ip("-n", netns, "link", "set", link, "up")
            daemon = HostDaemon(netns)
            self.daemons.append(daemon)
            daemon.start()
        for n, (daemon, address) in enumerate(zip(self.daemons, self.addresses)):
            daemon.cli("network", "create", "-d", "overlay", "--subnet", "10.200.0.0/24",
                       "-o", f"{VNI_OPTION}=4242", "-o", f"minidock.overlay.vtep={address}", NETWORK)
            container = daemon.cli("run", "-d", "--network", NETWORK, "--ip", f"10.200.0.{n + 2}",
                                   "busybox", "sleep", "3600").strip()
            shown = json.loads(daemon.cli("inspect", container))[0]["NetworkSettings"]
            entry = shown["Networks"][NETWORK]
            self.ends.append({"id": container, "netns": shown["SandboxKey"], "IP": entry["IPAddress"],
                              "MAC": entry["MacAddress"], "VTEP": address})
        for daemon, other in zip(self.daemons, self.ends[::-1]):
            status, raw = daemon.api("POST", f"/v1.41/networks/{NETWORK}/peers",
                                     {"Peers": [{k: other[k] for k in ("IP", "MAC", "VTEP")}]})
            if status != 200:
                raise RuntimeError(f"peers: {status} {raw[:200]!r}")

    def remove(self) -> None:
        for daemon, end in zip(self.daemons, self.ends):
            try:
                daemon.cli("rm", "-f", end["id"])
                daemon.cli("network", "rm", NETWORK)
            except RuntimeError:
                pass  # the daemon's stop takes what is left
        try:
            for daemon in self.daemons:
                daemon.stop([end["id"] for end in self.ends])
        finally:
            for netns in self.namespaces:
                subprocess.run(["ip", "netns", "del", netns], capture_output=True)  # the veth pair with it
            self.daemons, self.ends = [], []

    def underlay(self, size_mb: int) -> list[float]:
        if not self.made:
            self.make()
        return [iperf(f"/run/netns/{self.namespaces[1]}", f"/run/netns/{self.namespaces[0]}",
                      self.addresses[1], size_mb)]

    def overlay(self, size_mb: int) -> list[float]:
        if not self.made:
            self.make()
        return [iperf(self.ends[1]["netns"], self.ends[0]["netns"], self.ends[1]["IP"], size_mb)]


def benchmarks(workdir: Path, size_mb: int = SIZE_MB, rounds: int = 10) -> list[Benchmark]:
    """overlay-throughput between two namespace hosts."""
    hosts = TwoHosts()

    def available() -> bool:
        return (os.geteuid() == 0 and MINIDOCKD.exists() and shutil.which("iperf3") is not None
                and shutil.which("nsenter") is not None)

    missing = "needs root, minidockd and iperf3 (make setup)"
    return [
        Benchmark(name="overlay-throughput", unit=UNIT, rounds=max(3, rounds // 3), subject="minidock overlay",
                  target="underlay veth", target_ratio=2.0, finish=hosts.remove,
                  contenders=[Contender("underlay veth", lambda: hosts.underlay(size_mb), available=available,
                                        missing=missing),
                              Contender("minidock overlay", lambda: hosts.overlay(size_mb), available=available,
                                        missing=missing)]),
    ]
