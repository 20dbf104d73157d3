"""Events and restart policies, through the Engine API (black-box: also valid against Docker)."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import quote

import pytest


def _collect(engine, query: str, seconds: float) -> list[dict]:
    """GET /events?QUERY until it ends (an `until` in the query) or ``seconds`` pass."""
    status, _, raw = engine.api("GET", f"/v1.41/events?{query}", timeout=seconds + 10)
    assert status == 200, raw
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


@pytest.mark.spec("ENGINE-EVT-001", "ENGINE-EVT-002")
def test_events_stream_the_life_of_a_container(engine, containers):
    since = time.time()
    container_id, code = containers.run("sh", "-c", "exit 2", Labels={"md.events": "yes"})
    engine.api("DELETE", f"/v1.41/containers/{container_id}")
    until = time.time() + 1
    events = _collect(engine, f"since={since:.3f}&until={until:.3f}&filters="
                      + quote(json.dumps({"container": [container_id], "type": ["container"]})), 5)
    actions = [e["Action"] for e in events]
    assert [a for a in actions if a in ("create", "start", "die", "destroy")] == ["create", "start", "die", "destroy"]
    die = next(e for e in events if e["Action"] == "die")
    assert die["Actor"]["ID"] == container_id and die["Actor"]["Attributes"]["exitCode"] == "2"
    assert die["Actor"]["Attributes"]["md.events"] == "yes" and die["Type"] == "container"
    only_die = _collect(engine, f"since={since:.3f}&until={until:.3f}&filters="
                        + quote(json.dumps({"event": ["die"], "label": ["md.events=yes"]})), 5)
    assert [e["Action"] for e in only_die] == ["die"]
    status, _, _ = engine.api("GET", "/v1.41/events?filters=not-json")
    assert status == (400 if engine.kind == "minidock" else 500)  # dockerd 20.10: 500 (ENGINE-EVT-002)


@pytest.mark.spec("ENGINE-EVT-001")
def test_events_arrive_live(engine, containers):
    received = []

    def listen():
        until = time.time() + 4
        received.extend(_collect(engine, f"until={until:.3f}&filters=" + quote(json.dumps({"event": ["create"]})), 6))

    thread = threading.Thread(target=listen)
    thread.start()
    time.sleep(0.8)
    container_id = containers.create("true")
    thread.join(10)
    assert any(e["Actor"]["ID"] == container_id for e in received)


def _wait_for(predicate, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.spec("ENGINE-RST-001")
def test_bad_restart_policies_are_refused(engine, busybox):
    for policy, words in (({"Name": "sometimes"}, b"invalid restart policy"),
                          ({"Name": "always", "MaximumRetryCount": 3}, b"maximum retry count")):
        status, _, raw = engine.api("POST", "/v1.41/containers/create",
                                    {"Image": busybox, "Cmd": ["true"], "HostConfig": {"RestartPolicy": policy}})
        assert status == 400 and words in raw, raw
    status, _, raw = engine.api("POST", "/v1.41/containers/create",
                                {"Image": busybox, "Cmd": ["true"],
                                 "HostConfig": {"RestartPolicy": {"Name": "always"}, "AutoRemove": True}})
    assert status == 400


@pytest.mark.spec("ENGINE-RST-002")
def test_on_failure_restarts_up_to_its_count(containers):
    container_id = containers.create("sh", "-c", "exit 3",
                                     HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    containers.start(container_id)

    def settled():
        info = containers.inspect(container_id)
        return info if info["RestartCount"] == 2 and info["State"]["Status"] == "exited" else None

    info = _wait_for(settled)
    assert info["State"]["ExitCode"] == 3
    time.sleep(1)
    assert containers.inspect(container_id)["RestartCount"] == 2  # and no more
    succeeded = containers.create("true", HostConfig={"RestartPolicy": {"Name": "on-failure"}})
    containers.start(succeeded)
    containers.wait(succeeded)
    time.sleep(0.5)
    assert containers.inspect(succeeded)["RestartCount"] == 0


@pytest.mark.spec("ENGINE-RST-002")
def test_always_restarts_until_stopped_by_hand(engine, containers):
    container_id = containers.create("sh", "-c", "sleep 0.2", HostConfig={"RestartPolicy": {"Name": "always"}})
    containers.start(container_id)
    _wait_for(lambda: containers.inspect(container_id)["RestartCount"] >= 2)
    status, _, _ = engine.api("POST", f"/v1.41/containers/{container_id}/stop?t=1")
    assert status in (204, 304)
    count = containers.inspect(container_id)["RestartCount"]
    time.sleep(1.5)
    info = containers.inspect(container_id)
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == count


@pytest.mark.spec("ENGINE-EVT-001")
def test_minidock_events_prints_docker_lines(engine, containers):
    if engine.kind != "minidock":
        pytest.skip("our CLI")
    since = time.time()
    container_id = containers.create("true", name="md-events-cli")
    result = engine.cli("events", "--since", f"{since:.3f}", "--until", f"{time.time() + 1:.3f}",
                        "-f", "event=create")
    line = next(x for x in result.stdout.splitlines() if container_id in x)
    assert f"container create {container_id} (" in line and "name=md-events-cli" in line and line[:4].isdigit()


@pytest.mark.spec("ENGINE-EVT-004")
def test_image_events(engine, busybox):
    since = time.time()
    status, _, raw = engine.api("POST", f"/v1.41/images/{busybox}/tag?repo=md-events-image&tag=1")
    assert status == 201, raw
    status, _, raw = engine.api("DELETE", "/v1.41/images/md-events-image:1")
    assert status == 200, raw
    image_id = json.loads(engine.api("GET", f"/v1.41/images/{busybox}/json")[2])["Id"]
    events = _collect(engine, f"since={since:.3f}&until={time.time() + 1:.3f}&filters="
                      + quote(json.dumps({"type": ["image"]})), 5)
    seen = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name")) for e in events]
    assert ("tag", image_id, "md-events-image:1") in seen
    assert ("untag", image_id, image_id) in seen  # dockerd's attributes for untag: the ID


@pytest.mark.spec("ENGINE-EVT-005")
def test_commit_and_prune_events(engine, containers):
    since = time.time()
    container_id = containers.create("true", Labels={"md.evt": "commit"})
    status, _, raw = engine.api("POST", f"/v1.41/commit?container={container_id}&repo=md-events-commit&tag=1&comment=c1")
    assert status == 201, raw
    image_id = json.loads(raw)["Id"]
    try:
        status, _, _ = engine.api("POST", "/v1.41/containers/prune?filters="
                                  + quote(json.dumps({"label": ["md.evt=commit"]})))
        assert status == 200
        events = _collect(engine, f"since={since:.3f}&until={time.time() + 1:.3f}&filters="
                          + quote(json.dumps({"type": ["container"]})), 5)
        commit = next(e for e in events if e["Action"] == "commit")
        assert commit["Actor"]["ID"] == container_id
        assert commit["Actor"]["Attributes"]["imageID"] == image_id
        assert commit["Actor"]["Attributes"]["comment"] == "c1"
        assert commit["Actor"]["Attributes"]["imageRef"] == "md-events-commit:1"
        prune = next(e for e in events if e["Action"] == "prune")
        assert "reclaimed" in prune["Actor"]["Attributes"]
    finally:
        engine.api("DELETE", "/v1.41/images/md-events-commit:1?force=1")
