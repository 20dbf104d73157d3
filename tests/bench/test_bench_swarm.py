"""The swarm benchmarks: when a cluster counts as converged, and a tiny failover run that leaves nothing."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bench import swarm
from bench.harness import run_benchmark


def _task(state: str, node: str = "n1") -> dict:
    return {"Status": {"State": state}, "NodeID": node}


@pytest.mark.spec("HARNESS-BENCH-017")
def test_converged_means_every_task_running_and_none_on_the_dead_node():
    assert swarm.converged([_task("running")] * 10, 10)
    assert not swarm.converged([_task("running")] * 9, 10)
    assert not swarm.converged([_task("running")] * 9 + [_task("starting")], 10)
    assert not swarm.converged([_task("running")] * 9 + [_task("running", "dead")], 10, away_from="dead")
    assert swarm.converged([_task("running", "n2")] * 10, 10, away_from="dead")


@pytest.mark.skipif(os.geteuid() != 0, reason="makes namespaces and starts daemons")
@pytest.mark.spec("HARNESS-BENCH-017")
def test_swarm_failover_runs_tiny_and_leaves_nothing(tmp_path):
    replicas, failover = swarm.benchmarks(tmp_path, rounds=1, failover_rounds=1)
    assert [c.name for c in replicas.contenders] == ["minidock", "docker swarm"] and replicas.target == "docker swarm"
    assert (failover.name, failover.target) == ("swarm-failover", "docker swarm")
    # the minidock cluster only (dockerd's is the same code with another daemon, and takes 20 s more)
    _, failover = swarm.benchmarks(tmp_path, rounds=1, failover_rounds=1, peers=False)
    failover = dataclasses.replace(failover, probe=False)  # one run: a failover takes ~7 s and a reset ~10
    folders_before = set(Path("/tmp").glob("mdb-ov-*"))
    [timing] = run_benchmark(failover)
    assert not timing.failed and len(timing.samples) == 1, timing.note
    assert timing.samples[0] > 1000  # the heartbeat's lease (5 s) must run out first
    # Only what this cluster made: the tests beside it (xdist) make namespaces and daemon
    # folders of their own meanwhile (the networking and overlay benchmarks, mdb-ov-* too).
    ours = f"swb251-{os.getpid() % 10000}-"  # the minidock cluster's namespaces (bench/swarm.py, Cluster)
    assert not [name for name in os.listdir("/run/netns") if name.startswith(ours)]
    left = set(Path("/tmp").glob("mdb-ov-*")) - folders_before
    assert not [folder for folder in left if folder.exists() and not _a_daemon_works_in(folder)]


def _a_daemon_works_in(folder: Path) -> bool:
    """Whether a live process has ``folder`` as its working directory (a daemon of another test's)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(folder):
                return True
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return False
