"""The swarm agent on fakes (no engine, no etcd): its wait for a starting task's first health verdict (SWARM-051), and a pass that reads while a start ends (SWARM-011)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from minidock.swarm.agent import Agent


class FakeStore:
    def __init__(self, desired: str) -> None:
        self.desired = desired

    async def get(self, key: str):
        return SimpleNamespace(value={"DesiredState": self.desired})


class FakeEngine:
    def __init__(self, running: bool, exit_code: int) -> None:
        self.state = {"Running": running, "ExitCode": exit_code, "Health": {"Status": "starting"}}

    def json(self, method: str, path: str, body=None):
        return {"State": self.state}


def verdict(desired: str, running: bool, exit_code: int = 137) -> str:
    agent = Agent.__new__(Agent)  # only what _wait_healthy uses
    agent.store, agent.engine = FakeStore(desired), FakeEngine(running, exit_code)
    return asyncio.run(agent._wait_healthy({"ID": "t1", "Spec": {}}, "c1"))  # noqa: SLF001


@pytest.mark.spec("SWARM-051")
def test_a_stopped_container_of_an_unwanted_task_is_not_a_failure():
    # an update or a rollback replaced the task and stopped its container: not failed (that would
    # pause the rollout), only unwanted
    assert verdict("shutdown", running=False) == "unwanted"


@pytest.mark.spec("SWARM-051")
def test_a_wanted_task_whose_container_exits_while_starting_has_failed():
    assert verdict("running", running=False, exit_code=3) == "task: non-zero exit (3)"


class RacingStore:
    """The store as a start's job leaves it mid-read: the status still says "starting"."""

    async def prefix(self, key: str):
        entries = {"tasks/": [("tasks/t1", {"ID": "t1", "NodeID": "n1", "DesiredState": "running"})],
                   "status/": [("status/t1", {"State": "starting"})]}.get(key, [])
        return [SimpleNamespace(key=k, value=v) for k, v in entries]


@pytest.mark.spec("SWARM-011")
def test_a_start_that_ends_while_the_agent_reads_is_not_taken_for_an_abandoned_one():
    agent = Agent.__new__(Agent)  # only what pass_once uses
    agent.store, agent.node_id, agent.busy = RacingStore(), "n1", {"t1"}  # t1's start is in flight
    spawned = []
    agent._spawn = lambda task_id, job: (spawned.append(task_id), job.close())  # noqa: SLF001

    async def engine(method: str, path: str, body=None):
        agent.busy.discard("t1")  # the start reports "running" and ends while the containers are listed
        return [{"Id": "c1", "State": "running", "Labels": {"com.docker.swarm.task.id": "t1"}}]

    async def sync(*_):
        return None

    agent._engine, agent.networks = engine, SimpleNamespace(sync=sync)  # noqa: SLF001
    asyncio.run(agent.pass_once())
    # before the fix: the stale "starting" and a task no longer busy made an _abandoned job,
    # which removed the running container and failed the task
    assert spawned == []
