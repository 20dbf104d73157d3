"""Swarm: how long three engines take to run ten replicas, and to replace a dead worker's tasks.

Implements: spec/bench.md HARNESS-BENCH-017 (issue 12's two timings)
Explained:  chapters/11-swarm.md#heartbeats-leases

    swarm-replicas-10   ms from POST /services/create (10 replicas of `busybox sleep 600`) to
                        all ten tasks running, as the manager's GET /tasks says
    swarm-failover      ms from a worker's death to its tasks running on the other two nodes:
                        every process of the worker's namespace is stopped at once (SIGSTOP:
                        its daemon, its swarm node, its containers; a power cut, as the cluster
                        sees it), then the manager is asked every 50 ms until ten tasks run and
                        none on that worker
        minidock              three minidockd: one manager (with its etcd), two workers
        docker swarm          three dockerd 20.10 (Debian's) in swarm mode, one manager, two
                              workers: the target

Each contender has a cluster of its own: a hub namespace with a bridge, three host namespaces
on it (192.168.251.1-3 for minidock, .252. for docker), each host's daemon entered with
`nsenter --net`, with its own socket, data root and exec root in /tmp. dockerd also gets its
own containerd (started by itself), a cgroup parent of its own, no iptables and no bridge,
and DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: busybox is loaded from minidock's archive and
never pulled (the namespaces have no route out anyway). dockerd is not in make's
DEB_PACKAGES: installing docker.io starts the host's own dockerd, whose iptables rules
(FORWARD's policy DROP) would change every other test's network; without it the docker swarm
rows say so and minidock's are measured alone.

The clusters are made at their first run (the untimed probe) and removed by each benchmark's
finish(): the stopped worker continued, every host leaves the swarm, the daemons stop, the namespaces go;
then a process left in a namespace, a mount under a daemon's folder, or a cgroup of a
container (minidock's runtime parent, dockerd's cgroup parent) fails the row, named.
Both timings are the clusters' own: the API is asked directly, no CLI start-up in them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from bench.engine_daemon import CGROUPS, MINIDOCK, MINIDOCKD, PrivateDaemon, leftovers
from bench.harness import Benchmark, Contender, stop_process
from bench.monitor_memory import command
from bench.overlay import HostDaemon

REPLICAS = 10
IMAGE = "busybox:latest"
CONVERGE_TIMEOUT = 120.0  # seconds a cluster has to converge before the run fails
POLL = 0.05               # seconds between two looks at the manager's /tasks


def netns_pids(name: str) -> list[int]:
    """The processes whose network namespace is /run/netns/NAME."""
    try:
        wanted = os.stat(f"/run/netns/{name}").st_ino
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == wanted:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def signal_all(netns: str, signum: int) -> None:
    for pid in netns_pids(netns):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def converged(tasks: list[dict], count: int, away_from: str = "") -> bool:
    """Exactly ``count`` tasks meant to run, all running, none on node ``away_from`` (pure)."""
    return (len(tasks) == count and all(t["Status"]["State"] == "running" for t in tasks)
            and all(t.get("NodeID") != away_from for t in tasks))


class DockerHost(PrivateDaemon):
    """A dockerd inside a host's network namespace, with its own roots, containerd and cgroup parent."""

    def __init__(self, netns: str, archive: Callable[[], Path], cgroup_parent: str) -> None:
        super().__init__()
        self.netns, self.archive, self.cgroup_parent = netns, archive, cgroup_parent

    def start(self) -> None:
        if self.running:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="mdb-sd-", dir="/tmp"))
        argv = ["nsenter", f"--net=/run/netns/{self.netns}", shutil.which("dockerd") or "dockerd",
                "-H", self.host, "--data-root", str(self.folder / "data"), "--exec-root", str(self.folder / "exec"),
                "--pidfile", str(self.folder / "d.pid"), "--cgroup-parent", self.cgroup_parent,
                "--bridge", "none", "--iptables=false", "--ip6tables=false"]
        with open(self.folder / "daemon.log", "wb") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.folder, start_new_session=True,
                                            env={**os.environ, "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"})
        self._wait_for_ping()
        command("docker", "-H", self.host, timeout=120)("load", "--quiet", "--input", str(self.archive()))

    def stop(self, container_ids=()) -> None:
        """Stop dockerd (and its containerd); raise RuntimeError naming a mount or cgroup it left."""
        if self.folder is None:
            return
        if self.running:
            stop_process(self.process, 30)
        self.process = None
        found = leftovers(Path("/proc/self/mountinfo").read_text(), str(self.folder), [], [])
        folder, self.folder = self.folder, None
        if found:
            raise RuntimeError(f"left behind (in {folder}): " + ", ".join(found))
        shutil.rmtree(folder, ignore_errors=True)


class Cluster:
    """Three namespace hosts on one bridge, a daemon in each: host 1 manages, hosts 2 and 3 work."""

    def __init__(self, make_host: Callable[[str], PrivateDaemon], subnet: int, name: str) -> None:
        tag = os.getpid() % 10000
        self.make_host, self.name = make_host, name
        self.hub = f"swb{subnet}-{tag}-hub"
        self.namespaces = [f"swb{subnet}-{tag}-{k}" for k in (1, 2, 3)]
        self.addresses = [f"192.168.{subnet}.{k}" for k in (1, 2, 3)]
        self.hosts: list[PrivateDaemon] = []
        self.victim = ""          # the node ID of the worker that dies (host 3)
        self.stopped = False      # its processes are stopped now
        self.containers: set[str] = set()  # every task container seen: their cgroups must go
        self.made = False

    # ------------------------------------------------------------------ the cluster
    def make(self) -> None:
        if self.made:
            return
        self.made = True  # from here on, finish() has something to remove

        def ip(*argv: str) -> None:
            subprocess.run(["ip", *argv], check=True, capture_output=True)

        ip("netns", "add", self.hub)
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "link", "set", "br0", "up")
        for k, (netns, address) in enumerate(zip(self.namespaces, self.addresses), start=1):
            ip("netns", "add", netns)
            ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{k}", "netns", self.hub)
            ip("-n", self.hub, "link", "set", f"p{k}", "master", "br0", "up")
            ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
            ip("-n", netns, "link", "set", "lo", "up")
            self.hosts.append(self.make_host(netns))
            self.hosts[-1].start()
        manager = self.addresses[0]
        self.call(0, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": manager})
        token = self.call(0, "GET", "/swarm")["JoinTokens"]["Worker"]
        for k in (1, 2):
            self.call(k, "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": self.addresses[k],
                                                 "RemoteAddrs": [f"{manager}:2377"], "JoinToken": token})
        self.wait(lambda: len([n for n in self.call(0, "GET", "/nodes") if n["Status"]["State"] == "ready"]) == 3,
                  "three ready nodes")
        self.victim = self.call(2, "GET", "/info")["Swarm"]["NodeID"]

    def call(self, k: int, method: str, path: str, body: dict | None = None):
        """One Engine API request to host ``k``; its decoded answer, RuntimeError on an error status."""
        status, raw = self.hosts[k].api(method, f"/v1.41{path}", body)
        if status >= 400:
            raise RuntimeError(f"{self.name}: {method} {path}: {status} {raw[:200]!r}")
        return json.loads(raw) if raw.strip() else None

    def wait(self, check: Callable[[], bool], what: str, timeout: float = CONVERGE_TIMEOUT, every: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(every)
        raise RuntimeError(f"{self.name}: not within {timeout:g} s: {what}")

    def tasks(self, service: str) -> list[dict]:
        filters = urllib.parse.quote(json.dumps({"service": [service], "desired-state": ["running"]}))
        found = self.call(0, "GET", f"/tasks?filters={filters}")
        self.containers.update(c for t in found if (c := (t["Status"].get("ContainerStatus") or {}).get("ContainerID")))
        return found

    def create(self, service: str) -> None:
        spec = {"Name": service, "Mode": {"Replicated": {"Replicas": REPLICAS}},
                "TaskTemplate": {"ContainerSpec": {"Image": IMAGE, "Args": ["sleep", "600"],
                                                   "StopGracePeriod": 10**9},
                                 "RestartPolicy": {"Condition": "any", "Delay": 10**9}}}
        self.call(0, "POST", "/services/create", spec)

    def clear(self) -> None:
        """No service, no task container on any host: the state every run starts from."""
        self.wake()
        for service in self.call(0, "GET", "/services"):
            self.call(0, "DELETE", f"/services/{service['ID']}")
        wanted = urllib.parse.quote(json.dumps({"label": ["com.docker.swarm.service.id"]}))
        self.wait(lambda: not any(self.call(k, "GET", f"/containers/json?all=1&filters={wanted}") for k in range(3)),
                  "every task container removed")

    def wake(self) -> None:
        """The dead worker continues, and is ready again."""
        if self.stopped:
            signal_all(self.namespaces[2], signal.SIGCONT)
            self.stopped = False
            self.wait(lambda: self.call(0, "GET", f"/nodes/{self.victim}")["Status"]["State"] == "ready",
                      "the stopped worker ready again")

    # ------------------------------------------------------------------ the runs
    def before_replicas(self) -> None:
        self.make()
        self.clear()

    def replicas(self) -> None:
        """Timed: create the service, wait for ten running tasks."""
        self.create("bench-replicas")
        self.wait(lambda: converged(self.tasks("bench-replicas"), REPLICAS), "ten running tasks", every=POLL)

    def before_failover(self) -> None:
        self.make()
        self.clear()
        self.create("bench-failover")
        self.wait(lambda: converged(found := self.tasks("bench-failover"), REPLICAS)
                  and any(t["NodeID"] == self.victim for t in found), "ten running tasks, some on the worker")

    def failover(self) -> None:
        """Timed: every process of the worker's namespace stops; wait for its tasks elsewhere."""
        signal_all(self.namespaces[2], signal.SIGSTOP)
        self.stopped = True
        self.wait(lambda: converged(self.tasks("bench-failover"), REPLICAS, away_from=self.victim),
                  "ten running tasks off the dead worker", every=POLL)

    # ------------------------------------------------------------------ the end
    def remove(self) -> list[str]:
        """Leave, stop, delete; return what was left behind (empty: nothing)."""
        problems: list[str] = []
        if not self.made:
            return problems
        try:
            self.clear()  # the tasks first: a node that leaves has its tasks moved to the others
        except (RuntimeError, OSError) as error:
            problems.append(f"{self.name}: {error}")
        for k in (2, 1, 0):  # workers first; the manager, the last one, with force
            try:
                if k < len(self.hosts) and self.hosts[k].running:
                    self.call(k, "POST", "/swarm/leave?force=1")
            except (RuntimeError, OSError) as error:
                problems.append(f"swarm leave on host {k + 1}: {error}")
        for host in self.hosts:
            try:
                host.stop(self.containers)
            except RuntimeError as error:
                problems.append(f"{self.name}: {error}")
        for netns in self.namespaces:
            deadline = time.monotonic() + 10
            while netns_pids(netns) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = netns_pids(netns)
            if left:
                signal_all(netns, signal.SIGKILL)
                problems.append(f"{self.name}: processes left in {netns}: {left}")
        time.sleep(0.2)
        for netns in [*self.namespaces, self.hub]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)  # its veths with it
            if Path(f"/run/netns/{netns}").exists():
                problems.append(f"{self.name}: namespace {netns} left")
        self.hosts, self.made = [], False
        return problems


def docker_cgroups(parent: str) -> list[str]:
    """dockerd's cgroup parent in every hierarchy: removed when empty, named when not."""
    return sorted(str(path) for path in [*CGROUPS.glob(f"*/{parent}"), CGROUPS / parent] if path.is_dir())


def benchmarks(workdir: Path, rounds: int = 5, failover_rounds: int = 3, peers: bool = True) -> list[Benchmark]:
    """swarm-replicas-10 and swarm-failover: minidock's cluster and docker swarm's, side by side."""
    archive_path = workdir / "busybox.tar"

    def archive() -> Path:
        if not archive_path.exists():
            command(str(MINIDOCK))("image", "bootstrap", "busybox", "--output", str(archive_path))
        return archive_path

    parent = f"swbench{os.getpid() % 10000}"
    clusters = {"minidock": Cluster(HostDaemon, 251, "minidock"),
                "docker swarm": Cluster(lambda netns: DockerHost(netns, archive, parent), 252, "docker swarm")}
    if not peers:
        del clusters["docker swarm"]
    def finish() -> None:
        """After each benchmark: remove the clusters (the next benchmark makes them again), check what is left."""
        problems = [problem for cluster in clusters.values() for problem in cluster.remove()]
        for path in docker_cgroups(parent):
            try:
                os.rmdir(path)
            except OSError:
                problems.append(f"docker swarm: cgroup {path} not empty")
        if problems:
            raise RuntimeError("left behind: " + "; ".join(problems))

    def available(name: str) -> Callable[[], bool]:
        needs = {"minidock": [str(MINIDOCKD), "nsenter"], "docker swarm": ["dockerd", "docker", "nsenter"]}[name]
        return lambda: os.geteuid() == 0 and all(shutil.which(program) for program in needs)

    missing = {"minidock": "needs root and minidockd (make setup)",
               "docker swarm": "needs root, dockerd (Debian's docker.io) and the docker CLI"}

    def contenders(run: str, before: str) -> list[Contender]:
        return [Contender(name, getattr(cluster, run), available=available(name), missing=missing[name],
                          reset=getattr(cluster, before)) for name, cluster in clusters.items()]

    target = "docker swarm" if peers else None
    return [
        Benchmark(name="swarm-replicas-10", contenders=contenders("replicas", "before_replicas"), rounds=rounds,
                  target=target, finish=finish),
        Benchmark(name="swarm-failover", contenders=contenders("failover", "before_failover"),
                  rounds=failover_rounds, target=target, finish=finish),
    ]
