"""Hosts for the swarm tests: network namespaces on one bridge, each with its own minidockd.

    Hosts(count) as hosts:           hosts.nodes[i] is a Host: .engine (tests.harness.engine.Engine),
                                     .address, .netns; hosts.kill(i) stops everything in its netns
    every name starts with "sw" and an index claimed with a flock, so parallel sessions never meet

Layout: a hub namespace swI-hub holds the bridge; host k is the namespace swI-k with eth0 =
10.219.I.k/24 on that bridge, its own daemon (own data root, exec root, socket, bridge and
subnet inside its namespace), started with `nsenter --net` (not `ip netns exec`, which
remounts /sys and hides the cgroups). A manager's etcd and the swarm node process are
children of that daemon, in the same namespace. Teardown stops the daemons, then kills
whatever is left in each namespace, then deletes the namespaces and the files.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.swarm import netns_pids  # the swarm benchmark's cluster finds a host's processes the same way
from tests.harness.engine import (Engine, LOCK_DIR, python_module, remove_tree, stop_daemon, wait_for_ping)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Host:
    index: int
    netns: str
    address: str
    root: Path
    engine: Engine
    process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        # a UTS namespace of its own too, so that each host has its own hostname (node ls shows it)
        return ["nsenter", f"--net=/run/netns/{self.netns}", "unshare", "--uts", "sh", "-c",
                'hostname "$0" && exec "$@"', self.netns, *python_module("minidock.engine.daemon"),
                "-H", self.engine.host, "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--bridge", "swb0",
                "--bip", f"10.220.{self.index}.1/24", "--shutdown-timeout", "2"]

    def start(self) -> None:
        with open(self.engine.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        wait_for_ping(self.engine, self.process)

    def cli(self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None):
        return self.engine.cli(*args, check=check, timeout=timeout, input=input)


class Hosts:
    """``count`` hosts on one bridge, each with a daemon and busybox."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.lock = None
        self.index = 0
        self.nodes: list[Host] = []
        self.root = Path(tempfile.mkdtemp(prefix="minidock-swarm-"))

    def _claim(self) -> None:
        LOCK_DIR.mkdir(exist_ok=True)
        for index in range(1, 200):
            lock = open(LOCK_DIR / f"sw{index}", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            if Path(f"/run/netns/sw{index}-hub").exists():
                lock.close()  # left by a killed session: not ours
                continue
            self.lock, self.index = lock, index
            return
        raise RuntimeError("no free swarm test index")

    def __enter__(self) -> "Hosts":
        self._claim()
        try:
            hub = f"sw{self.index}-hub"
            _ip("netns", "add", hub)
            _ip("-n", hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", hub, "link", "set", "br0", "up")
            for k in range(1, self.count + 1):
                name = f"sw{self.index}-{k}"
                _ip("netns", "add", name)
                _ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{k}", "netns", hub)
                _ip("-n", hub, "link", "set", f"p{k}", "master", "br0", "up")
                _ip("-n", name, "addr", "add", f"10.219.{self.index}.{k}/24", "dev", "eth0")
                _ip("-n", name, "link", "set", "eth0", "up")
                _ip("-n", name, "link", "set", "lo", "up")
                root = self.root / f"h{k}"
                root.mkdir()
                engine = Engine(kind="minidock", host=f"unix://{root}/minidock.sock", log_path=root / "daemon.log",
                                cli_argv=python_module("minidock.cli.main"))
                self.nodes.append(Host(k, name, f"10.219.{self.index}.{k}", root, engine))
            with concurrent.futures.ThreadPoolExecutor(self.count) as pool:
                list(pool.map(self._boot, self.nodes))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def _boot(host: Host) -> None:
        host.start()
        host.cli("image", "bootstrap", "busybox")

    def crash(self, host: Host) -> None:
        """The host's swarm node dies at once (SIGKILL; its etcd member dies with it), no goodbye.

        The daemon and its containers stay: teardown stops them as usual.
        """
        for pid in netns_pids(host.netns):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as file:
                    if b"minidock.swarm.node" in file.read():
                        os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass

    def stop(self, host: Host) -> None:
        """The host's daemon stops (and with it its swarm node and containers)."""
        if host.process is not None:
            stop_daemon(host.process)

    def __exit__(self, *exc_info) -> None:
        for host in self.nodes:
            if host.process is not None:
                stop_daemon(host.process)
        deadline = time.monotonic() + 10
        for host in self.nodes:
            while netns_pids(host.netns) and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in netns_pids(host.netns):  # a container or an etcd the daemon did not stop
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.2)
        for host in self.nodes:
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
            remove_tree(host.root)
        if self.index:
            subprocess.run(["ip", "netns", "del", f"sw{self.index}-hub"], capture_output=True)
        remove_tree(self.root)
        if self.lock is not None:
            self.lock.close()
