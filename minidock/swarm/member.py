"""A manager's etcd member: the Raft replica of the cluster store that runs beside each manager.

Implements: spec/swarm.md SWARM-001, SWARM-022
Explained:  chapters/11-swarm.md#the-store
Modelled on: swarmkit's manager/state/raft (there in-process; here Debian's etcd-server)

    etcd_argv(name, data_dir, address, cluster, fresh) -> argv      pure
    Member(name, data_dir, address).start(cluster, fresh) / wait_ready() / stop()

Ports, on the node's own address: 2379 for clients (the agents and managers), 2380 for
the peers (Raft). The member dies with the swarm node process that started it
(PR_SET_PDEATHSIG), so that killing a manager kills its replica as a dead machine would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import aiohttp

from minidock.errors import Unavailable
from minidock.kernel.syscalls import PR_SET_PDEATHSIG, prctl

CLIENT_PORT = 2379
PEER_PORT = 2380


def client_url(address: str) -> str:
    return f"http://{address}:{CLIENT_PORT}"


def peer_url(address: str) -> str:
    return f"http://{address}:{PEER_PORT}"


def etcd_argv(name: str, data_dir: str, address: str, cluster: str, fresh: bool) -> list[str]:
    """etcd's command line for a member called ``name`` on ``address``.

    ``cluster`` is etcd's --initial-cluster (name=peer-url,...); ``fresh`` says whether it
    starts a new cluster (swarm init) or joins one that exists (a manager joining). Both
    are read only on the member's first start: after that its data dir knows the cluster.
    """
    return ["etcd", "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", f"{client_url(address)},http://127.0.0.1:{CLIENT_PORT}",
            "--advertise-client-urls", client_url(address),
            "--listen-peer-urls", peer_url(address),
            "--initial-advertise-peer-urls", peer_url(address),
            "--initial-cluster", cluster,
            "--initial-cluster-state", "new" if fresh else "existing",
            # Raft's clocks: a heartbeat every 100 ms, an election after 1 s of silence (etcd's defaults)
            "--heartbeat-interval", "100", "--election-timeout", "1000",
            "--logger", "zap", "--log-outputs", "stderr"]


class Member:
    """One etcd process, child of this swarm node."""

    def __init__(self, name: str, data_dir: str, address: str) -> None:
        self.name, self.data_dir, self.address = name, data_dir, address
        self.process: subprocess.Popen | None = None

    def start(self, cluster: str = "", fresh: bool = True) -> None:
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        cluster = cluster or f"{self.name}={peer_url(self.address)}"
        log = open(os.path.join(os.path.dirname(self.data_dir), "etcd.log"), "ab")
        self.process = subprocess.Popen(etcd_argv(self.name, os.path.join(self.data_dir, "data"), self.address,
                                                  cluster, fresh),
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                        preexec_fn=lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
        log.close()

    async def wait_ready(self, timeout: float = 20.0) -> None:
        """Return once the member answers on its own client URL (healthy or still waiting for a quorum)."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise Unavailable(f"etcd exited with {self.process.returncode}: see {self.data_dir}/../etcd.log")
                try:
                    async with session.get(f"{client_url(self.address)}/health"):
                        return
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise Unavailable(f"etcd did not answer within {timeout:g} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
