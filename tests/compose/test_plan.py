"""What `up` does to existing containers: the plan, from the listing. Pure."""

from __future__ import annotations

import pytest

from minidock.compose.model import Project, config_hash
from minidock.compose.project import plan


def project(**services) -> Project:
    return Project({"name": "p", "services": services})


def listed(project: Project, service: str, number: int, state: str = "running", stale: bool = False) -> dict:
    return {"Id": f"{service}{number}", "State": state, "Labels": {
        "com.docker.compose.service": service, "com.docker.compose.container-number": str(number),
        "com.docker.compose.config-hash": "old" if stale else config_hash(project.services[service])}}


@pytest.mark.spec("COMPOSE-011")
def test_unchanged_kept_changed_recreated_stopped_started():
    p = project(db={"image": "x"}, web={"image": "y", "depends_on": ["db"]}, worker={"image": "z"})
    observed = [listed(p, "db", 1), listed(p, "web", 1, stale=True), listed(p, "worker", 1, state="exited")]
    actions = [(a.kind, a.service, a.number) for a in plan(p, observed)]
    assert ("keep", "db", 1) in actions and ("recreate", "web", 1) in actions and ("start", "worker", 1) in actions
    assert actions.index(("keep", "db", 1)) < actions.index(("recreate", "web", 1))


@pytest.mark.spec("COMPOSE-011")
def test_scale_up_and_down():
    p = project(web={"image": "y", "deploy": {"replicas": 3}})
    observed = [listed(p, "web", 1), listed(p, "web", 3)]
    assert [(a.kind, a.number) for a in plan(p, observed)] == [("keep", 1), ("keep", 3), ("create", 2)]
    down = [(a.kind, a.number) for a in plan(p, [listed(p, "web", n) for n in (1, 2, 3, 4)], scale={"web": 2})]
    assert down == [("remove", 3), ("remove", 4), ("keep", 1), ("keep", 2)]
    assert [a.kind for a in plan(p, observed, force=True)] == ["recreate", "recreate", "create"]
