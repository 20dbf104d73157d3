"""The agent's wait for a starting task's first health verdict (SWARM-051), on fakes: no engine, no etcd."""

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
