"""Health checks: the state machine alone, and containers probed by the engine (also valid against Docker)."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest

from minidock.engine import health

MS = 1_000_000


def _check(**fields) -> dict:
    return {"Test": ["CMD-SHELL", "true"], "Interval": 300 * MS, "Timeout": 2000 * MS, "Retries": 2, **fields}


def _wait_for_health(containers, container_id: str, status: str, seconds: float = 15) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = containers.inspect(container_id)["State"]
        if state.get("Health", {}).get("Status") == status:
            return state["Health"]
        time.sleep(0.1)
    raise AssertionError(f"never {status}: {containers.inspect(container_id)['State']}")


@pytest.mark.spec("ENGINE-HLT-001", "ENGINE-HLT-002")
def test_a_passing_check_makes_it_healthy(engine, containers):
    container_id = containers.create("sleep", "100", Healthcheck=_check(Test=["CMD-SHELL", "echo probing; exit 0"]))
    containers.start(container_id)
    assert containers.inspect(container_id)["State"]["Health"]["Status"] == "starting"
    found = _wait_for_health(containers, container_id, "healthy")
    assert found["FailingStreak"] == 0 and found["Log"][-1]["ExitCode"] == 0
    assert found["Log"][-1]["Output"] == "probing\n"
    status, _, raw = engine.api("GET", "/v1.41/containers/json?filters=" + quote(json.dumps({"id": [container_id]})))
    assert json.loads(raw)[0]["Status"].endswith("(healthy)")


@pytest.mark.spec("ENGINE-HLT-002", "ENGINE-HLT-003")
def test_failures_in_a_row_make_it_unhealthy(engine, containers):
    since = time.time()
    container_id = containers.create("sleep", "100", Healthcheck=_check(Test=["CMD", "false"]))
    containers.start(container_id)
    found = _wait_for_health(containers, container_id, "unhealthy")
    assert found["FailingStreak"] >= 2 and len(found["Log"]) <= 5
    status, _, raw = engine.api("GET", f"/v1.41/events?since={since:.3f}&until={time.time() + 0.5:.3f}&filters="
                                + quote(json.dumps({"container": [container_id]})), timeout=10)
    assert any(json.loads(line)["Action"] == "health_status: unhealthy" for line in raw.splitlines())


@pytest.mark.spec("ENGINE-HLT-001")
def test_a_malformed_check_is_refused(engine, busybox):
    refused = [({"Interval": 5}, "Interval in Healthcheck cannot be less than 1ms"),
               ({"Retries": -1}, "Retries in Healthcheck cannot be negative")]
    if engine.kind == "minidock":
        # Docker 20.10 accepts an unknown Test kind at create and only fails the probes later
        refused.append(({"Test": ["SOMETIMES", "x"]}, "Healthcheck.Test must start with NONE, CMD or CMD-SHELL"))
    for fields, words in refused:
        check = {"Test": ["CMD", "true"], **fields}
        status, _, raw = engine.api("POST", "/v1.41/containers/create",
                                    {"Image": busybox, "Cmd": ["true"], "Healthcheck": check})
        assert status == 400 and words in json.loads(raw)["message"], (fields, raw)


@pytest.mark.spec("ENGINE-HLT-002")
def test_the_state_machine():
    check = health.Check.from_config(_check(StartPeriod=60_000 * MS, Retries=2))
    assert check.argv == ("/bin/sh", "-c", "true") and check.retries == 2
    state = {"Status": "starting", "FailingStreak": 0, "Log": []}
    failed = {"ExitCode": 1, "Output": "", "Start": "", "End": ""}
    passed = {**failed, "ExitCode": 0}
    began = time.time()
    assert health.record(state, failed, check, began) == "starting"  # inside the start period
    assert health.record(state, passed, check, began) == "healthy"
    assert health.record(state, failed, check, began) == "healthy"  # one failure of two allowed
    assert health.record(state, failed, check, began) == "unhealthy"
    for _ in range(6):
        health.record(state, failed, check, began)
    assert len(state["Log"]) == 5
    assert health.Check.from_config({"Test": ["NONE"]}) is None
    with pytest.raises(Exception):
        health.Check.from_config({"Test": ["CMD"]})
