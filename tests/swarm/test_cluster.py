"""A real swarm: five hosts (network namespaces), each with its own minidockd; three managers, two workers.

One cluster for the whole module (it takes ~15 s to make); the tests run in the order of the
file, each leaving the cluster as it found it, and the last ones kill a worker and the leader.
Everything goes through the CLI or the Engine API of one of the hosts: black-box.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import threading
import time
from urllib.parse import quote

import pytest

from tests.swarm.hosts import Host, Hosts

pytestmark = pytest.mark.root  # one worker runs them all: tests/conftest.py ONE_WORKER_MODULES
NOT_MANAGER = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect "
               "this node to swarm and try again.")
SLEEPER = ["--stop-grace-period", "1s", "--restart-delay", "1s", "-d", "busybox", "sleep", "600"]


def wait_for(check, timeout: float = 30.0, what: str = "the cluster", describe=None):
    """Poll ``check()`` until it returns something true; return it, or fail saying what never happened.

    ``describe``: called on failure, for what the cluster looked like then.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    seen = f"; {describe()!r}" if describe else ""
    pytest.fail(f"{what}: not within {timeout:g} s (last: {last!r}{seen})")


def api(host: Host, method: str, path: str, body=None):
    status, _, raw = host.engine.api(method, f"/v1.41{path}", body)
    assert status < 400, f"{method} {path}: {status} {raw[:300]!r}"
    return json.loads(raw) if raw else None


def tasks(host: Host, service: str, desired: str = "running") -> list[dict]:
    filters = quote(json.dumps({"service": [service], "desired-state": [desired]}))
    return api(host, "GET", f"/tasks?filters={filters}")


def running(host: Host, service: str) -> list[dict]:
    return [t for t in tasks(host, service) if t["Status"]["State"] == "running"]


def converged(host: Host, service: str, count: int) -> list[dict]:
    """The running tasks of ``service`` once there are exactly ``count`` and none is on its way."""
    live = tasks(host, service)
    if len(live) == count and all(t["Status"]["State"] == "running" for t in live):
        return live
    return []


def host_of(swarm: Hosts, asker: Host, node_id: str) -> Host:
    """The host a node ID stands for (by its address)."""
    address = api(asker, "GET", f"/nodes/{node_id}")["Status"]["Addr"]
    return next(h for h in swarm.nodes if h.address == address)


def leader(host: Host) -> dict | None:
    try:
        nodes = api(host, "GET", "/nodes")
    except AssertionError:
        return None
    leaders = [n for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")]
    return leaders[0] if len(leaders) == 1 else None


@pytest.fixture(scope="module")
def swarm():
    """Five hosts: h1 inits, h2 and h3 join as managers, h4 and h5 as workers."""
    with Hosts(5) as hosts:
        yield hosts


@pytest.fixture(autouse=True)
def no_service_left(swarm):
    """After each test, the services it left removed: a test that fails stops before its own
    `service rm`, and its service would fail the tests after it (they count services)."""
    yield
    for host in swarm.nodes:
        try:
            left = api(host, "GET", "/services")
        except Exception:  # noqa: BLE001 - not a manager (yet, or any more), or not running
            continue
        for service in left:
            api(host, "DELETE", f"/services/{service['ID']}")
        wait_for(lambda: not api(host, "GET", "/tasks?filters=" + quote(json.dumps({"desired-state": ["running"]}))),
                 what="the left services' tasks gone")
        return


@pytest.mark.spec("SWARM-023")
def test_before_init_the_swarm_paths_answer_503(swarm):
    first = swarm.nodes[0]
    for path in ("/swarm", "/nodes", "/services", "/tasks"):
        status, _, raw = first.engine.api("GET", f"/v1.41{path}")
        assert (status, json.loads(raw)["message"]) == (503, NOT_MANAGER)
    result = first.cli("service", "ls", check=False)
    assert result.returncode == 1 and result.stderr == f"Error response from daemon: {NOT_MANAGER}\n"


@pytest.mark.spec("SWARM-001", "SWARM-021", "SWARM-023")
def test_three_managers_and_two_workers_form_one_cluster(swarm):
    h1, h2, h3, h4, h5 = swarm.nodes
    out = h1.cli("swarm", "init", "--advertise-addr", h1.address).stdout
    assert out.startswith("Swarm initialized: current node (") and f"{h1.address}:2377" in out
    again = h1.cli("swarm", "init", "--advertise-addr", h1.address, check=False)
    assert "This node is already part of a swarm." in again.stderr
    worker = h1.cli("swarm", "join-token", "-q", "worker").stdout.strip()
    manager = h1.cli("swarm", "join-token", "-q", "manager").stdout.strip()
    assert worker.startswith("SWMTKN-1-") and worker != manager
    # [SWARM-021] a token of the right form but not this cluster's, and one of no form at all
    forged = worker[:-25] + "x" * 25
    bad = h4.cli("swarm", "join", "--token", forged, f"{h1.address}:2377", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("A valid join token is necessary to join this cluster")
    nonsense = h4.cli("swarm", "join", "--token", "nope", f"{h1.address}:2377", check=False)
    assert nonsense.returncode == 1 and nonsense.stderr.strip().endswith("invalid join token")
    assert len(api(h1, "GET", "/nodes")) == 1  # refused joins left nothing behind
    for host in (h2, h3):
        assert h2.cli is not None
        out = host.cli("swarm", "join", "--token", manager, f"{h1.address}:2377").stdout
        assert out == "This node joined a swarm as a manager.\n"
    for host in (h4, h5):
        assert host.cli("swarm", "join", "--token", worker, f"{h1.address}:2377").stdout == \
            "This node joined a swarm as a worker.\n"
    nodes = wait_for(lambda: [n for n in api(h3, "GET", "/nodes") if n["Status"]["State"] == "ready"]
                     if len(api(h3, "GET", "/nodes")) == 5 else [], what="five ready nodes")
    assert len(nodes) == 5
    table = h2.cli("node", "ls").stdout.splitlines()
    assert table[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER", "STATUS", "ENGINE", "VERSION"]
    assert sum("Leader" in line for line in table) == 1
    assert sum("Reachable" in line for line in table) == 2
    assert {line.split()[1 if "*" not in line else 2] for line in table[1:]} == {h.netns for h in swarm.nodes}
    # [SWARM-023] a worker shows no cluster state
    status, _, raw = h4.engine.api("GET", "/v1.41/nodes")
    assert status == 503 and "Worker nodes can't be used to view or modify cluster state" in json.loads(raw)["message"]


@pytest.mark.spec("SWARM-024")
def test_the_docker_cli_lists_nodes_and_services(swarm):
    h1 = swarm.nodes[0]
    nodes = h1.engine.docker_cli("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}").stdout
    assert sorted(nodes.split("\n")[:-1])[0].startswith(f"{swarm.nodes[0].netns} Ready")
    assert len(nodes.splitlines()) == 5
    marked = [line for line in h1.engine.docker_cli("node", "ls").stdout.splitlines() if " * " in line]
    assert len(marked) == 1 and swarm.nodes[0].netns in marked[0]  # /info's Swarm.NodeID: this node
    assert h1.engine.docker_cli("info", "--format", "{{.Swarm.LocalNodeState}}").stdout == "active\n"
    token = h1.engine.docker_cli("swarm", "join-token", "worker").stdout
    assert f"docker swarm join --token SWMTKN-1-" in token and f"{h1.address}:2377" in token
    h1.cli("service", "create", "--name", "cli", "--replicas", "2", *SLEEPER)
    wait_for(lambda: converged(h1, "cli", 2), what="cli: 2 running")
    listed = h1.engine.docker_cli("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}").stdout
    assert listed == "cli replicated 2/2 busybox\n"
    ps = h1.engine.docker_cli("service", "ps", "--format", "{{.Name}} {{.CurrentState}}", "cli").stdout
    assert sorted(line.split()[:2] for line in ps.splitlines()) == [["cli.1", "Running"], ["cli.2", "Running"]]
    update = h1.engine.docker_cli("service", "update", "--update-monitor", "1s", "--env-add", "X=1", "cli").stdout
    assert update.rstrip().endswith("verify: Service cli converged") and "Detected task failure" not in update
    docker = pytest.importorskip("docker")  # and the Python SDK
    sdk = docker.DockerClient(base_url=h1.engine.host, version="1.41")
    try:
        assert [s.name for s in sdk.services.list()] == ["cli"]
        assert len(sdk.nodes.list()) == 5
        assert len(sdk.services.get("cli").tasks(filters={"desired-state": "running"})) == 2
    finally:
        sdk.close()
    h1.cli("service", "rm", "cli")


@pytest.mark.spec("SWARM-002", "SWARM-013", "SWARM-020", "SWARM-019")
def test_replicas_are_spread_scaled_and_removed(swarm):
    h1 = swarm.nodes[0]
    h1.cli("service", "create", "--name", "web", "--replicas", "5", *SLEEPER)
    live = wait_for(lambda: converged(h1, "web", 5), what="web: 5 running")
    assert len({t["NodeID"] for t in live}) == 5  # [SWARM-020] one on each node
    assert h1.cli("service", "scale", "web=8", "-d").stdout == "web scaled to 8\n"
    live = wait_for(lambda: converged(h1, "web", 8), what="web: 8 running")
    assert sorted(t["Slot"] for t in live) == list(range(1, 9))
    h1.cli("service", "scale", "web=3", "-d")
    live = wait_for(lambda: converged(h1, "web", 3), what="web: 3 running")
    assert sorted(t["Slot"] for t in live) == [1, 2, 3]  # [SWARM-013] the highest slots went
    ls = h1.cli("service", "ls").stdout.splitlines()
    assert ls[1].split()[1:5] == ["web", "replicated", "3/3", "busybox"]
    # [SWARM-019] rm: every task's container, on every host, goes
    assert h1.cli("service", "rm", "web").stdout == "web\n"
    for host in swarm.nodes:
        wait_for(lambda: not host.cli("ps", "-aq", "--filter", "label=com.docker.swarm.service.name=web").stdout,
                 what=f"web's containers gone from {host.netns}")
    assert api(h1, "GET", "/tasks") == [] or wait_for(lambda: api(h1, "GET", "/tasks") == [], what="no tasks")


@pytest.mark.spec("SWARM-018")
def test_a_global_service_runs_one_task_on_each_node(swarm):
    h1 = swarm.nodes[0]
    h1.cli("service", "create", "--name", "everywhere", "--mode", "global", *SLEEPER)
    live = wait_for(lambda: converged(h1, "everywhere", 5), what="one task on each of the five nodes")
    assert len({t["NodeID"] for t in live}) == 5 and {t["Slot"] for t in live} == {0}
    ls = h1.cli("service", "ls").stdout.splitlines()[1].split()
    assert ls[1:4] == ["everywhere", "global", "5/5"]
    h1.cli("service", "rm", "everywhere")


@pytest.mark.spec("SWARM-002", "SWARM-012")
def test_a_task_whose_container_dies_is_replaced(swarm):
    h1 = swarm.nodes[0]
    h1.cli("service", "create", "--name", "phoenix", "--replicas", "1", "--limit-memory", "64m",
           "--mount", "type=volume,source=phoenix-data,target=/data", *SLEEPER)
    (task,) = wait_for(lambda: converged(h1, "phoenix", 1), what="phoenix running")
    host = host_of(swarm, h1, task["NodeID"])
    inspected = json.loads(host.cli("inspect", task["Status"]["ContainerStatus"]["ContainerID"]).stdout)[0]
    assert inspected["HostConfig"]["Memory"] == 64 << 20
    assert [(m["Type"], m.get("Name"), m["Destination"]) for m in inspected["Mounts"]] == \
        [("volume", "phoenix-data", "/data")]
    host.cli("kill", task["Status"]["ContainerStatus"]["ContainerID"])
    (new,) = wait_for(lambda: [t for t in converged(h1, "phoenix", 1) if t["ID"] != task["ID"]], what="a new task")
    assert new["Slot"] == task["Slot"]
    old = api(h1, "GET", f"/tasks/{task['ID']}")
    assert (old["DesiredState"], old["Status"]["State"], old["Status"]["Err"]) == \
        ("shutdown", "failed", "task: non-zero exit (137)")
    h1.cli("service", "rm", "phoenix")
    wait_for(lambda: not host.cli("ps", "-aq", "--filter", "label=com.docker.swarm.service.name=phoenix").stdout,
             what="phoenix's containers gone")
    host.cli("volume", "rm", "phoenix-data")


@pytest.mark.spec("SWARM-016", "SWARM-029")
def test_drain_moves_the_tasks_away(swarm):
    h1, h5 = swarm.nodes[0], swarm.nodes[4]
    h1.cli("service", "create", "--name", "movers", "--replicas", "5", *SLEEPER)
    wait_for(lambda: converged(h1, "movers", 5), what="movers: 5 running")
    assert h1.cli("node", "update", "--availability", "drain", h5.netns).stdout == f"{h5.netns}\n"
    node = api(h1, "GET", f"/nodes/{h5.netns}")
    assert node["Spec"]["Availability"] == "drain"
    live = wait_for(lambda: [t for t in converged(h1, "movers", 5) if t["NodeID"] != node["ID"]] == converged(h1, "movers", 5)
                    and converged(h1, "movers", 5), what="movers off the drained node")
    assert all(t["NodeID"] != node["ID"] for t in live)
    h1.cli("node", "update", "--availability", "active", h5.netns)
    unknown = h1.cli("node", "update", "--availability", "drain", "no-such-node", check=False)
    assert unknown.returncode == 1 and unknown.stderr == "Error response from daemon: node no-such-node not found\n"
    h1.cli("service", "rm", "movers")


@pytest.mark.spec("SWARM-014", "SWARM-027")
def test_a_constraint_no_node_meets_leaves_the_task_pending_with_a_reason(swarm):
    h1, h4 = swarm.nodes[0], swarm.nodes[3]
    h1.cli("service", "create", "--name", "mars", "--constraint", "node.labels.zone==mars", *SLEEPER)
    (task,) = wait_for(lambda: tasks(h1, "mars"), what="a task for mars")
    assert task["Status"]["State"] == "pending"
    assert task["Status"]["Err"] == "no suitable node (scheduling constraints not satisfied on 5 nodes)"
    ps = h1.cli("service", "ps", "--no-trunc", "mars").stdout
    assert "Pending" in ps and '"no suitable node (scheduling constraints not satisfied on 5 nodes)"' in ps
    h1.cli("node", "update", "--label-add", "zone=mars", h4.netns)
    (task,) = wait_for(lambda: converged(h1, "mars", 1), what="mars placed once a node fits")
    assert task["NodeID"] == api(h1, "GET", f"/nodes/{h4.netns}")["ID"]
    h1.cli("service", "rm", "mars")
    # [SWARM-027] bad input changes nothing
    for args, words in ((["--constraint", "zone=mars"], "invalid constraint"),
                        (["--name", "bad_name!"], "name must be valid as a DNS name component"),
                        (["--mode", "sometimes"], "invalid replicated mode")):
        bad = h1.cli("service", "create", *args, *SLEEPER, check=False)
        assert bad.returncode == 1 and words in bad.stderr
    h1.cli("service", "create", "--name", "twice", *SLEEPER)
    twice = h1.cli("service", "create", "--name", "twice", *SLEEPER, check=False)
    assert "name conflicts with an existing object: service twice already exists" in twice.stderr
    status, _, raw = h1.engine.api("POST", "/v1.41/services/create", {"Name": "noimage", "TaskTemplate": {}})
    assert status == 400 and json.loads(raw)["message"].endswith("ContainerSpec: image reference must be provided")
    scale = h1.cli("service", "scale", "twice=many", check=False)
    assert scale.returncode == 1 and "invalid replicas value many" in scale.stderr
    missing = h1.cli("service", "inspect", "nothing", check=False)
    assert missing.stderr == "Error response from daemon: service nothing not found\n"
    h1.cli("service", "rm", "twice")
    assert [s["Spec"]["Name"] for s in api(h1, "GET", "/services")] == []


@pytest.mark.spec("SWARM-044")
def test_placement_preferences_spread_the_tasks_over_a_labels_values(swarm):
    h1 = swarm.nodes[0]
    for host, dc in zip(swarm.nodes[:4], ("east", "east", "east", "west")):  # the fifth has no dc label
        h1.cli("node", "update", "--label-add", f"dc={dc}", host.netns)
    bad = h1.cli("service", "create", "--placement-pref", "pack=node.labels.dc", *SLEEPER, check=False)
    assert bad.returncode == 1 and "unsupported placement preference pack (only spread is supported)" in bad.stderr
    unknown = h1.cli("service", "create", "--placement-pref", "spread=dc", *SLEEPER, check=False)
    assert unknown.returncode == 1 and "unknown key 'dc'" in unknown.stderr
    h1.cli("service", "create", "--name", "spread", "--replicas", "6", "--placement-pref", "spread=node.labels.dc",
           *SLEEPER)
    live = wait_for(lambda: converged(h1, "spread", 6), what="spread: 6 running")
    dc = {n["ID"]: n["Spec"]["Labels"].get("dc", "") for n in api(h1, "GET", "/nodes")}
    assert sorted(dc[t["NodeID"]] for t in live) == ["", "", "east", "east", "west", "west"]  # two for each value
    shown = h1.engine.docker_cli("service", "inspect", "--format", "{{json .Spec.TaskTemplate.Placement}}", "spread")
    assert json.loads(shown.stdout)["Preferences"] == [{"Spread": {"SpreadDescriptor": "node.labels.dc"}}]
    h1.cli("service", "update", "-d", "--placement-pref-rm", "spread=node.labels.dc",
           "--placement-pref-add", "spread=node.labels.rack", "spread")
    assert api(h1, "GET", "/services/spread")["Spec"]["TaskTemplate"]["Placement"]["Preferences"] == \
        [{"Spread": {"SpreadDescriptor": "node.labels.rack"}}]
    h1.cli("service", "rm", "spread")


@pytest.mark.spec("SWARM-003", "SWARM-025", "SWARM-017")
def test_rolling_update_in_batches_a_missing_image_pauses_and_rollback(swarm):
    h1 = swarm.nodes[0]
    h1.cli("service", "create", "--name", "roll", "--replicas", "4", "--update-parallelism", "2",
           "--update-delay", "2s", "--update-monitor", "1s", *SLEEPER)
    before = {t["ID"] for t in wait_for(lambda: converged(h1, "roll", 4), what="roll: 4 running")}
    started = time.monotonic()
    h1.cli("service", "update", "--env-add", "VERSION=2", "-d", "roll")
    status = wait_for(lambda: (api(h1, "GET", "/services/roll").get("UpdateStatus") or {}).get("State") == "completed",
                      timeout=120, what="the update completed")
    assert status and time.monotonic() - started >= 2  # two batches, the delay between them
    new = converged(h1, "roll", 4)
    assert not before & {t["ID"] for t in new}
    created = sorted(time.mktime(time.strptime(t["CreatedAt"][:19], "%Y-%m-%dT%H:%M:%S")) +
                     float("0." + t["CreatedAt"][20:26]) for t in new)
    # [SWARM-003] two batches of two, the second at least the delay after the first
    assert created[1] - created[0] < 1 and created[3] - created[2] < 1 and created[2] - created[1] >= 2
    # [SWARM-025] an image no node has: the new tasks are rejected, the update pauses
    h1.cli("service", "update", "--image", "nosuchimage:1", "-d", "roll")
    service = wait_for(lambda: (api(h1, "GET", "/services/roll").get("UpdateStatus") or {}).get("State") == "paused"
                       and api(h1, "GET", "/services/roll"), timeout=60, what="the update paused")
    assert "update paused due to failure or early termination of task" in service["UpdateStatus"]["Message"]
    rejected = [t for t in api(h1, "GET", f"/tasks?filters={quote(json.dumps({'service': ['roll']}))}")
                if t["Status"]["State"] == "rejected"]
    assert rejected and rejected[0]["Status"]["Err"] == "No such image: nosuchimage:1"
    assert len(running(h1, "roll")) >= 2  # the batch that failed stopped two; the others run on
    # [SWARM-017] service rollback: back to the previous spec
    assert h1.cli("service", "rollback", "roll").stdout == "roll\n"
    wait_for(lambda: (api(h1, "GET", "/services/roll").get("UpdateStatus") or {}).get("State") == "rollback_completed",
             timeout=120, what="the rollback completed")
    live = converged(h1, "roll", 4)
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in live} == {"busybox"}
    # failure action rollback: the update goes back by itself
    h1.cli("service", "update", "--image", "nosuchimage:2", "--update-failure-action", "rollback", "-d", "roll")
    wait_for(lambda: (api(h1, "GET", "/services/roll").get("UpdateStatus") or {}).get("State") == "rollback_completed"
             and api(h1, "GET", "/services/roll")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox",
             timeout=120, what="the automatic rollback")
    wait_for(lambda: converged(h1, "roll", 4), what="roll: 4 running again")
    h1.cli("service", "rm", "roll")


@pytest.mark.spec("SWARM-051", "SWARM-017")
def test_a_health_check_gates_running_fails_a_sick_task_and_rolls_an_update_back(swarm):
    h1 = swarm.nodes[0]
    checked = ["--health-cmd", "test ! -e /tmp/sick", "--health-interval", "2s", "--health-retries", "1"]
    h1.cli("service", "create", "--name", "checked", "--replicas", "2", *checked, "--stop-grace-period", "1s",
           "--restart-delay", "1s", "-d", "busybox", "sleep", "600")
    assert api(h1, "GET", "/services/checked")["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == \
        {"Test": ["CMD-SHELL", "test ! -e /tmp/sick"], "Interval": 2 * 10**9, "Retries": 1}

    def starting_with_a_live_container():
        for task in tasks(h1, "checked"):
            container = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
            if task["Status"]["State"] == "starting" and container:
                state = json.loads(host_of(swarm, h1, task["NodeID"]).cli("inspect", container).stdout)[0]["State"]
                if state["Running"]:
                    return state
        return None

    # its container runs, but the task is starting until the first check passes (after the 2 s interval)
    assert wait_for(starting_with_a_live_container, what="a task starting with its container running")
    live = wait_for(lambda: converged(h1, "checked", 2), what="checked: 2 running")
    # a running task whose check starts failing: its container stopped, the task failed, and replaced
    sick = live[0]
    host_of(swarm, h1, sick["NodeID"]).cli("exec", sick["Status"]["ContainerStatus"]["ContainerID"],
                                           "touch", "/tmp/sick")
    failed = wait_for(lambda: (lambda t: t if t["Status"]["State"] == "failed" else None)(
        api(h1, "GET", f"/tasks/{sick['ID']}")), what="the sick task failed")
    assert failed["Status"]["Err"] == "task: non-zero exit (137): dockerexec: unhealthy container"
    wait_for(lambda: [t for t in converged(h1, "checked", 2) if t["ID"] != sick["ID"]] == converged(h1, "checked", 2)
             and converged(h1, "checked", 2), what="the sick task replaced")
    # an update whose new tasks fail their health check (the docker CLI's this time): rolled back by itself
    h1.engine.docker_cli("service", "update", "--health-cmd", "false", "--update-failure-action", "rollback",
                         "--update-monitor", "2s", "-d", "checked")
    # a slow machine: the failure seen (a health interval, the kill), then two tasks rolled back one at
    # a time, each running only once its first check passes, then the 5 s monitor period
    wait_for(lambda: (api(h1, "GET", "/services/checked").get("UpdateStatus") or {}).get("State")
             == "rollback_completed", timeout=120, what="the update rolled back",
             describe=lambda: (api(h1, "GET", "/services/checked").get("UpdateStatus"),
                               [(t.get("Slot"), t["Status"]["State"], t["DesiredState"]) for t in
                                api(h1, "GET", "/tasks?filters=" + quote(json.dumps({"service": ["checked"]})))]))
    live = wait_for(lambda: converged(h1, "checked", 2), what="checked: 2 running again")
    assert {tuple(t["Spec"]["ContainerSpec"]["Healthcheck"]["Test"]) for t in live} == \
        {("CMD-SHELL", "test ! -e /tmp/sick")}
    unhealthy = [t for t in api(h1, "GET", f"/tasks?filters={quote(json.dumps({'service': ['checked']}))}")
                 if t["Spec"]["ContainerSpec"]["Healthcheck"]["Test"] == ["CMD-SHELL", "false"]]
    assert unhealthy and {t["Status"]["Err"] for t in unhealthy if t["Status"]["State"] == "failed"} == \
        {"task: non-zero exit (137): dockerexec: unhealthy container"}
    h1.cli("service", "rm", "checked")


@pytest.mark.spec("SWARM-028")
def test_a_secret_is_a_file_on_tmpfs_in_the_services_tasks_only(swarm):
    h1 = swarm.nodes[0]
    secret_id = h1.cli("secret", "create", "db_password", "-", input="s3cr3t-value\n").stdout.strip()
    assert h1.cli("secret", "ls").stdout.splitlines()[1].split()[:2] == [secret_id, "db_password"]
    assert "Data" not in api(h1, "GET", "/secrets/db_password")  # the data never leaves the cluster's store
    missing = h1.cli("service", "create", "--secret", "nosuch", *SLEEPER, check=False)
    assert missing.returncode == 1 and "secret nosuch not found" in missing.stderr
    h1.cli("service", "create", "--name", "vault", "--replicas", "2", "--secret", "db_password", *SLEEPER)
    live = wait_for(lambda: converged(h1, "vault", 2), what="vault: 2 running")
    for task in live:
        host = host_of(swarm, h1, task["NodeID"])
        container = task["Status"]["ContainerStatus"]["ContainerID"]
        assert host.cli("exec", container, "cat", "/run/secrets/db_password").stdout == "s3cr3t-value\n"
        on_tmpfs_only(host, container, "/run/secrets", "s3cr3t-value")
        # readable only by the service's tasks
        other = host.cli("run", "--rm", "busybox", "cat", "/run/secrets/db_password", check=False)
        assert other.returncode != 0
    removed_after_its_service(h1, "secret", "db_password", "vault")


def on_tmpfs_only(host: Host, container: str, directory: str, value: str) -> None:
    """The task's files are on a tmpfs at ``directory``, and ``value`` nowhere on the worker's disk
    (not in its data root, not in its exec root)."""
    mounts = host.cli("exec", container, "cat", "/proc/mounts").stdout.splitlines()
    assert any(line.split()[1:3] == [directory, "tmpfs"] for line in mounts), mounts
    found = subprocess.run(["grep", "-rlF", "--devices=skip", value, str(host.root)], capture_output=True, text=True)
    assert found.stdout == "", found.stdout


def removed_after_its_service(h1: Host, kind: str, name: str, service: str) -> None:
    """A secret or config is refused removal while ``service`` uses it, then removed."""
    in_use = h1.cli(kind, "rm", name, check=False)
    assert f"{kind} '{name}' is in use by the following service: {service}" in in_use.stderr
    h1.cli("service", "rm", service)
    assert h1.cli(kind, "rm", name).stdout == f"{name}\n"
    assert api(h1, "GET", f"/{kind}s") == []


@pytest.mark.spec("SWARM-040")
def test_configs_are_stored_listed_updated_and_refused_in_swarmkits_words(swarm):
    h1 = swarm.nodes[0]
    config_id = h1.cli("config", "create", "-l", "tier=web", "app.conf", "-",
                       input="listen=8123-cfg\n").stdout.strip()
    assert h1.cli("config", "ls").stdout.splitlines()[0].split() == ["ID", "NAME", "CREATED", "UPDATED"]
    # the docker CLI too: create, ls with a filter, inspect (a config's data is not secret: it is shown)
    h1.engine.docker_cli("config", "create", "other", "-", input="x=1\n")
    listed = h1.engine.docker_cli("config", "ls", "--filter", "label=tier=web", "--format", "{{.ID}} {{.Name}}")
    assert listed.stdout == f"{config_id} app.conf\n"
    shown = json.loads(h1.engine.docker_cli("config", "inspect", "app.conf").stdout)[0]
    assert base64.b64decode(shown["Spec"]["Data"]) == b"listen=8123-cfg\n"
    assert shown["Spec"]["Labels"] == {"tier": "web"}
    assert [c["Spec"]["Name"] for c in api(h1, "GET", "/configs?filters=" + quote('{"name":["app"]}'))] == ["app.conf"]
    # the labels may change, the data never
    version = shown["Version"]["Index"]
    api(h1, "POST", f"/configs/{config_id}/update?version={version}", {"Name": "app.conf", "Labels": {"tier": "db"}})
    assert api(h1, "GET", "/configs/app.conf")["Spec"]["Labels"] == {"tier": "db"}
    status, _, raw = h1.engine.api("POST", f"/v1.41/configs/{config_id}/update?version={version + 100}",
                                   {"Name": "app.conf", "Data": "eD0yCg==", "Labels": {}})
    assert status == 400 and json.loads(raw)["message"].endswith("only updates to Labels are allowed")
    # bad input changes nothing
    twice = h1.cli("config", "create", "app.conf", "-", input="y\n", check=False)
    assert twice.stderr == ("Error response from daemon: rpc error: code = AlreadyExists desc = config app.conf "
                            "already exists\n")
    big = h1.cli("config", "create", "big", "-", input="x" * (1000 * 1024), check=False)
    assert big.returncode == 1 and "config data must be larger than 0 and less than 1024000 bytes" in big.stderr
    missing = h1.cli("config", "inspect", "nosuch", check=False)
    assert missing.returncode == 1 and missing.stderr == "Error response from daemon: config nosuch not found\n"
    assert h1.engine.docker_cli("config", "rm", "other").stdout == "other\n"
    assert [c["Spec"]["Name"] for c in api(h1, "GET", "/configs")] == ["app.conf"]


@pytest.mark.spec("SWARM-041", "SWARM-040")
def test_a_config_is_a_file_at_its_target_on_tmpfs(swarm):
    h1 = swarm.nodes[0]
    unknown = h1.cli("service", "create", "--name", "cfg", "--config", "nosuch", *SLEEPER, check=False)
    assert unknown.returncode == 1 and "config nosuch not found" in unknown.stderr
    assert api(h1, "GET", "/services") == []
    h1.cli("service", "create", "--name", "cfg", "--config", "app.conf", *SLEEPER)
    wait_for(lambda: converged(h1, "cfg", 1), what="cfg running")
    h1.cli("service", "update", "--update-monitor", "1s", "--config-add",
           "source=app.conf,target=/etc/app/app.conf,mode=0440,uid=1000,gid=100", "cfg")
    (task,) = wait_for(lambda: converged(h1, "cfg", 1), what="cfg updated")
    host = host_of(swarm, h1, task["NodeID"])
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    # Docker's default target: /NAME
    assert host.cli("exec", container, "cat", "/app.conf").stdout == "listen=8123-cfg\n"
    assert host.cli("exec", container, "stat", "-L", "-c", "%a %u %g", "/app.conf", "/etc/app/app.conf").stdout == \
        "444 0 0\n440 1000 100\n"
    on_tmpfs_only(host, container, "/run/configs", "listen=8123-cfg")
    removed_after_its_service(h1, "config", "app.conf", "cfg")


@pytest.mark.spec("SWARM-042", "SWARM-043")
def test_an_overlay_made_on_a_manager_is_the_clusters(swarm):
    h1, h2, h4 = swarm.nodes[0], swarm.nodes[1], swarm.nodes[3]
    network_id = h1.cli("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.30.0.0/24",
                        "backend").stdout.strip()
    # every manager lists it, scope swarm; the docker CLI too
    listed = [line.split() for line in h2.cli("network", "ls").stdout.splitlines() if " backend " in line]
    assert listed == [[network_id[:12], "backend", "overlay", "swarm"]]
    docker = h2.engine.docker_cli("network", "ls", "--filter", "name=backend", "--format", "{{.Name}} {{.Scope}}")
    assert docker.stdout == "backend swarm\n"
    shown = json.loads(h2.cli("network", "inspect", "backend").stdout)[0]
    assert (shown["Attachable"], shown["IPAM"]["Config"][0]["Subnet"]) == (True, "10.30.0.0/24")
    # bad input changes nothing
    again = h1.cli("network", "create", "-d", "overlay", "backend", check=False)
    assert again.stderr == "Error response from daemon: network with name backend already exists\n"
    overlap = h1.cli("network", "create", "-d", "overlay", "--subnet", "10.30.0.0/16", "wide", check=False)
    assert overlap.stderr == "Error response from daemon: Pool overlaps with other one on this address space\n"
    internal = h1.cli("network", "create", "-d", "overlay", "--internal", "inside", check=False)
    assert internal.returncode == 1 and "no --ipv6 and no --internal" in internal.stderr
    worker = h4.cli("network", "create", "-d", "overlay", "fromworker", check=False)
    assert "Cannot create a multi-host network from a worker node." in worker.stderr
    # a service's tasks join it at addresses of its subnet (the docker CLI names the network by its ID)
    h1.engine.docker_cli("service", "create", "--name", "onbackend", "--network", "backend", *SLEEPER)
    (task,) = wait_for(lambda: converged(h1, "onbackend", 1), what="onbackend running")
    assert task["NetworksAttachments"][0]["Addresses"] == ["10.30.0.2/24"]
    # [SWARM-043] a standalone container on it, on another host, at an address the managers gave
    task_host = host_of(swarm, h1, task["NodeID"])
    other = next(host for host in swarm.nodes[1:4] if host is not task_host)
    other.cli("run", "-d", "--name", "standalone", "--network", "backend", "busybox", "sleep", "600")
    networks = json.loads(other.cli("inspect", "standalone").stdout)[0]["NetworkSettings"]["Networks"]
    assert networks["backend"]["IPAddress"] == "10.30.0.199"  # from the top of the tasks' range
    wait_for(lambda: other.cli("exec", "standalone", "ping", "-c", "1", "-W", "1", "10.30.0.2",
                               check=False).returncode == 0, what="the standalone container reaching the task")
    wait_for(lambda: task_host.cli("exec", task["Status"]["ContainerStatus"]["ContainerID"], "ping", "-c", "1", "-W",
                                   "1", "10.30.0.199", check=False).returncode == 0,
             what="the task reaching the standalone container")
    other.cli("rm", "-f", "standalone")
    h1.cli("network", "create", "-d", "overlay", "closed")
    closed = other.cli("run", "--rm", "--network", "closed", "busybox", "true", check=False)
    assert closed.returncode != 0 and "network closed not manually attachable" in closed.stderr
    h1.cli("network", "rm", "closed")
    in_use = h1.cli("network", "rm", "backend", check=False)
    assert in_use.returncode == 1
    assert in_use.stderr == (f"Error response from daemon: rpc error: code = FailedPrecondition desc = network "
                             f"{network_id} is in use by service {api(h1, 'GET', '/services/onbackend')['ID']}\n")
    h1.cli("service", "rm", "onbackend")
    assert h1.cli("network", "rm", "backend").stdout == "backend\n"
    for host in swarm.nodes[:4]:  # the engines' copies go too
        wait_for(lambda: "backend" not in host.cli("network", "ls").stdout, what=f"backend gone from {host.netns}")


@pytest.mark.spec("SWARM-052")
def test_network_connect_puts_an_existing_container_on_an_attachable_overlay(swarm):
    h1 = swarm.nodes[0]
    h1.cli("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.31.0.0/24", "joinme")
    h1.cli("network", "create", "-d", "overlay", "shut")
    h1.cli("service", "create", "--name", "onjoinme", "--network", "joinme", *SLEEPER)
    (task,) = wait_for(lambda: converged(h1, "onjoinme", 1), what="onjoinme running")
    task_host = host_of(swarm, h1, task["NodeID"])
    worker = next(host for host in swarm.nodes[3:] if host is not task_host)
    task_container = task["Status"]["ContainerStatus"]["ContainerID"]

    def peers() -> set[str]:
        return {p["IP"] for p in api(task_host, "GET", "/networks/joinme/peers")["Peers"]}

    def networks(container: str) -> dict:
        return json.loads(worker.cli("inspect", container).stdout)[0]["NetworkSettings"]["Networks"]

    worker.cli("run", "-d", "--name", "joiner", "busybox", "sleep", "600")  # on the default bridge
    worker.cli("network", "connect", "joinme", "joiner")
    assert networks("joiner")["joinme"]["IPAddress"] == "10.31.0.199"  # the managers' address, as for run
    worker.cli("exec", "joiner", "ping", "-c", "1", "-W", "3", "10.31.0.2")
    wait_for(lambda: "10.31.0.199" in peers(), what="the joiner a peer on the task's host")
    task_host.cli("exec", task_container, "ping", "-c", "1", "-W", "3", "10.31.0.199")
    # the docker CLI, a container only created: it has its address when it starts
    worker.engine.docker_cli("create", "--name", "later", "busybox", "sleep", "600")
    worker.engine.docker_cli("network", "connect", "joinme", "later")
    worker.cli("start", "later")
    assert networks("later")["joinme"]["IPAddress"] == "10.31.0.198"
    # bad input changes nothing: a network made without --attachable, a container already on it
    shut = worker.engine.docker_cli("network", "connect", "shut", "joiner", check=False)
    assert shut.stderr == ("Error response from daemon: Could not attach to network shut: rpc error: code = "
                           "PermissionDenied desc = network shut not manually attachable\n")
    again = worker.cli("network", "connect", "joinme", "joiner", check=False)
    assert again.stderr == "Error response from daemon: endpoint with name joiner already exists in network joinme\n"
    assert set(networks("joiner")) == {"bridge", "joinme"}
    # disconnect: the address leaves the container, the cluster (a new claim gets it) and the peers
    worker.cli("network", "disconnect", "joinme", "joiner")
    assert set(networks("joiner")) == {"bridge"}
    wait_for(lambda: "10.31.0.199" not in peers() and "10.31.0.198" in peers(), what="the joiner's peer gone")
    worker.cli("network", "connect", "joinme", "joiner")
    assert networks("joiner")["joinme"]["IPAddress"] == "10.31.0.199"
    worker.cli("rm", "-f", "joiner", "later")
    h1.cli("service", "rm", "onjoinme")
    h1.cli("network", "rm", "shut")
    wait_for(lambda: h1.cli("network", "rm", "joinme", check=False).returncode == 0, what="joinme removed")


@pytest.mark.spec("SWARM-054")
def test_networks_made_at_once_on_three_managers_get_different_vnis_and_subnets(swarm):
    managers = swarm.nodes[:3]
    names = [f"atonce{n}" for n in range(len(managers))]
    start = threading.Barrier(len(managers))
    answers: dict[str, int] = {}

    def create(host: Host, name: str) -> None:
        start.wait()
        answers[name] = host.engine.api("POST", "/v1.41/networks/create", {"Name": name, "Driver": "overlay"})[0]

    threads = [threading.Thread(target=create, args=pair) for pair in zip(managers, names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == {name: 201 for name in names}
    shown = [api(managers[0], "GET", f"/networks/{name}") for name in names]
    assert len({s["Options"]["com.docker.network.driver.overlay.vxlanid_list"] for s in shown}) == len(names)
    assert len({s["IPAM"]["Config"][0]["Subnet"] for s in shown}) == len(names)
    for name in names:
        managers[0].cli("network", "rm", name)


@pytest.mark.spec("SWARM-055")
def test_an_overlay_with_a_standalone_container_on_it_is_not_removed(swarm):
    h1, h2, worker = swarm.nodes[0], swarm.nodes[1], swarm.nodes[4]
    network_id = h1.cli("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.32.0.0/24",
                        "occupied").stdout.strip()
    worker.cli("run", "-d", "--name", "occupant", "--network", "occupied", "busybox", "sleep", "600")
    worker.cli("run", "-d", "--name", "visitor", "busybox", "sleep", "600")
    worker.cli("network", "connect", "occupied", "visitor")

    def refused_for(host: Host) -> str:
        answer = host.cli("network", "rm", "occupied", check=False)
        assert answer.returncode == 1 and "occupied" in host.cli("network", "ls").stdout
        return answer.stderr

    in_use = (f"Error response from daemon: rpc error: code = FailedPrecondition desc = network {network_id} "
              f"is in use by task ")
    by_visitor = refused_for(h2)  # each container is a network attachment task in swarmkit; one is named
    assert by_visitor.startswith(in_use)
    worker.cli("network", "disconnect", "occupied", "visitor")  # its claim given back at once
    by_occupant = refused_for(h1)
    assert by_occupant.startswith(in_use) and by_occupant != by_visitor
    worker.cli("rm", "-f", "occupant")  # its claim given back at once too
    assert h1.cli("network", "rm", "occupied").stdout == "occupied\n"
    worker.cli("rm", "-f", "visitor")


@pytest.mark.spec("SWARM-053")
def test_a_network_made_right_after_one_is_removed_takes_its_vni_and_works_on_its_nodes(swarm):
    h1, workers = swarm.nodes[0], swarm.nodes[3:]
    on_workers = ["--mode", "global", "--constraint", "node.role==worker"]

    def networks(host: Host) -> set[str]:
        return {line.split()[1] for line in host.cli("network", "ls").stdout.splitlines()[1:]}

    def vxlan_id_and_subnet(name: str) -> tuple[str, str]:
        shown = json.loads(h1.cli("network", "inspect", name).stdout)[0]
        return shown["Options"]["com.docker.network.driver.overlay.vxlanid_list"], shown["IPAM"]["Config"][0]["Subnet"]

    h1.cli("network", "create", "-d", "overlay", "first")
    taken = vxlan_id_and_subnet("first")
    # a task on each worker, whose container outlives its service by 8 s (sleep, PID 1, ignores SIGTERM)
    h1.cli("service", "create", "--name", "onfirst", *on_workers, "--network", "first",
           "--stop-grace-period", "8s", "-d", "busybox", "sleep", "600")
    wait_for(lambda: converged(h1, "onfirst", len(workers)), what="onfirst on each worker")
    h1.cli("service", "rm", "onfirst")
    h1.cli("network", "rm", "first")
    h1.cli("network", "create", "-d", "overlay", "second")
    assert vxlan_id_and_subnet("second") == taken  # the removed network's VNI and subnet, at once
    assert all("first" in networks(host) for host in workers)  # while their engines still have its copy
    h1.cli("service", "create", "--name", "onsecond", *on_workers, "--network", "second", *SLEEPER)
    live = wait_for(lambda: converged(h1, "onsecond", len(workers)), what="onsecond on each worker")
    # each engine replaced its stale copy (its container still in its grace period) rather than collide
    assert not any("first" in networks(host) for host in workers)
    for task, other in zip(live, live[1:] + live[:1]):  # each worker's task reaches the other's
        address = other["NetworksAttachments"][0]["Addresses"][0].split("/")[0]
        host, container = host_of(swarm, h1, task["NodeID"]), task["Status"]["ContainerStatus"]["ContainerID"]
        wait_for(lambda: host.cli("exec", container, "ping", "-c", "1", "-W", "1", address,
                                  check=False).returncode == 0, what=f"{host.netns} reaching {address}")
    h1.cli("service", "rm", "onsecond")
    h1.cli("network", "rm", "second")  # the next test's network takes this VNI in turn, its copies still here


@pytest.mark.spec("SWARM-004", "SWARM-031")
def test_tasks_reach_each_other_over_the_overlay_by_name_and_through_every_nodes_port(swarm):
    h1 = swarm.nodes[0]
    server = ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
    h1.cli("service", "create", "--name", "hello", "--replicas", "2", "--network", "appnet", "--publish", "8080:80",
           "--stop-grace-period", "1s", "-d", "busybox", *server)
    h1.cli("service", "create", "--name", "client", "--network", "appnet", *SLEEPER)
    servers = wait_for(lambda: converged(h1, "hello", 2), what="hello: 2 running")
    (client,) = wait_for(lambda: converged(h1, "client", 1), what="client running")
    assert client["NodeID"] not in {s["NodeID"] for s in servers}  # spread: the client is on a third host
    host = host_of(swarm, h1, client["NodeID"])
    container = client["Status"]["ContainerStatus"]["ContainerID"]
    names = set()
    for task in servers:  # [SWARM-004] across hosts, over VXLAN, at the addresses the managers chose
        address = task["NetworksAttachments"][0]["Addresses"][0].split("/")[0]
        host.cli("exec", container, "ping", "-c", "1", "-W", "3", address)
        names.add(host_of(swarm, h1, task["NodeID"]).cli(
            "exec", task["Status"]["ContainerStatus"]["ContainerID"], "hostname").stdout.strip())
    # [SWARM-031] the service's name is its VIP, balanced over its tasks. busybox-static's wget and nc
    # crash in glibc's static getaddrinfo in a container: its nslookup asks the embedded DNS, nc -w the VIP.
    (vip,) = [v["Addr"].split("/")[0] for v in api(h1, "GET", "/services/hello")["Endpoint"]["VirtualIPs"]
              if v["NetworkID"] == api(h1, "GET", "/services/client")["Endpoint"]["VirtualIPs"][0]["NetworkID"]]
    assert f"Address: {vip}" in host.cli("exec", container, "nslookup", "hello").stdout
    request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {} {}"

    def fetch(*argv: str) -> str:
        lines = subprocess.run(argv, capture_output=True, text=True).stdout.strip().splitlines()
        return lines[-1] if lines else ""

    answers = wait_for(lambda: {fetch(*host.engine.cli_argv, "-H", host.engine.host, "exec", container, "sh", "-c",
                                      request.format(vip, 80)) for _ in range(4)} == names,
                       what="the VIP answering from both tasks")
    assert answers
    # the routing mesh: the published port answers on every live node, whether a task runs there or not
    busybox = shutil.which("busybox") or "busybox"
    for target in swarm.nodes[:4]:
        got = wait_for(lambda: fetch("nsenter", f"--net=/run/netns/{h1.netns}", busybox, "sh", "-c",
                                     request.format(target.address, 8080).replace("nc ", f"{busybox} nc ")),
                       what=f"port 8080 on {target.netns}")
        assert got in names
    h1.cli("service", "rm", "hello", "client")


@pytest.mark.spec("SWARM-030")
def test_service_logs_gather_every_tasks_lines_from_their_nodes(swarm):
    h1 = swarm.nodes[0]
    h1.cli("service", "create", "--name", "talker", "--replicas", "3", "--stop-grace-period", "1s", "-d",
           "busybox", "sh", "-c", "echo hello from $(hostname); exec sleep 600")
    live = wait_for(lambda: converged(h1, "talker", 3), what="talker: 3 running")
    out = wait_for(lambda: (lambda text: text if text.count("hello from") == 3 else "")(
        h1.cli("service", "logs", "talker").stdout), what="three tasks' lines")
    hosts = {n["ID"]: n["Description"]["Hostname"] for n in api(h1, "GET", "/nodes")}
    assert sorted(line.split(" | ")[0].rstrip() for line in out.splitlines()) == sorted(
        f"talker.{t['Slot']}.{t['ID'][:12]}@{hosts[t['NodeID']]}" for t in live)
    docker = h1.engine.docker_cli("service", "logs", "talker", check=False)
    assert docker.stdout.count("| hello from") == 3, docker.stderr
    h1.cli("service", "rm", "talker")


class Follower:
    """A `service logs -f` running in the background; its output lines gathered as they come."""

    def __init__(self, argv: list[str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.process.stdout.readline, "")),
                                       daemon=True)
        self.reader.start()

    def seen(self, words: str) -> list[str]:
        return [line for line in list(self.lines) if words in line]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(10)
        self.reader.join(5)
        return code


@pytest.mark.spec("SWARM-050")
def test_service_logs_follow_streams_lines_and_later_tasks_until_the_service_goes(swarm):
    h1 = swarm.nodes[0]
    ticker = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"
    h1.cli("service", "create", "--name", "ticker", "--replicas", "2", "--stop-grace-period", "1s",
           "--restart-delay", "1s", "-d", "busybox", "sh", "-c", ticker)
    live = wait_for(lambda: converged(h1, "ticker", 2), what="ticker: 2 running")
    time.sleep(1)  # a few lines each before the stream begins: --tail 1 shows the last of them only
    ours = Follower([*h1.engine.cli_argv, "-H", h1.engine.host, "service", "logs", "-f", "--tail", "1", "ticker"])
    theirs = Follower([shutil.which("docker") or "docker", "-H", h1.engine.host, "service", "logs", "-f", "ticker"])
    try:
        for task in live:  # lines written after the stream began, prefixed with their task and node
            prefix = f"ticker.{task['Slot']}.{task['ID'][:12]}@"
            wait_for(lambda: len([l for l in ours.seen(prefix) if "tick" in l]) >= 4, what=f"{prefix} followed")
            wait_for(lambda: len(theirs.seen(prefix)) >= 4, what=f"{prefix} followed by the docker CLI")
            assert "| tick 0\n" not in ours.seen(prefix)[0] and "| tick 0\n" in theirs.seen(prefix)[0]  # --tail 1
        h1.cli("service", "scale", "ticker=3", "-d")
        (third,) = wait_for(lambda: [t for t in running(h1, "ticker") if t["Slot"] == 3], what="a third task")
        # a task that started after the stream began: all its lines, from its first
        wait_for(lambda: ours.seen(f"ticker.3.{third['ID'][:12]}@") and theirs.seen(f"ticker.3.{third['ID'][:12]}@"),
                 what="the third task's lines in both streams")
        assert "| tick 0" in ours.seen(f"ticker.3.{third['ID'][:12]}@")[0]
        # a replaced task: its successor's lines come too
        host = host_of(swarm, h1, live[0]["NodeID"])
        host.cli("kill", live[0]["Status"]["ContainerStatus"]["ContainerID"])
        (new,) = wait_for(lambda: [t for t in running(h1, "ticker") if t["Slot"] == live[0]["Slot"]
                                   and t["ID"] != live[0]["ID"]], what="the killed task replaced")
        wait_for(lambda: ours.seen(f"ticker.{new['Slot']}.{new['ID'][:12]}@"), what="the new task's lines")
        assert theirs.stop() in (0, 130, -signal.SIGINT)  # the client may leave whenever it likes
        assert ours.process.poll() is None
        # the service removed: the stream ends, and the CLI with it
        h1.cli("service", "rm", "ticker")
        assert ours.process.wait(15) == 0
    finally:
        ours.stop()
        theirs.stop()
        if h1.cli("service", "inspect", "ticker", check=False).returncode == 0:
            h1.cli("service", "rm", "ticker")
    missing = h1.cli("service", "logs", "-f", "nosuch", check=False)
    assert missing.returncode == 1 and missing.stderr == "Error response from daemon: service nosuch not found\n"


@pytest.mark.spec("SWARM-015", "SWARM-002")
def test_a_dead_workers_tasks_run_elsewhere(swarm, capsys):
    h1, h5 = swarm.nodes[0], swarm.nodes[4]
    started = time.monotonic()
    h1.cli("service", "create", "--name", "bench", "--replicas", "10", *SLEEPER)
    wait_for(lambda: converged(h1, "bench", 10), timeout=60, what="bench: 10 running")
    create_to_running = time.monotonic() - started
    dead = api(h1, "GET", f"/nodes/{h5.netns}")["ID"]
    assert any(t["NodeID"] == dead for t in running(h1, "bench"))
    died = time.monotonic()
    swarm.stop(h5)  # its daemon (and swarm node, and containers) stops: no more heartbeats
    wait_for(lambda: api(h1, "GET", f"/nodes/{dead}")["Status"]["State"] == "down", what="the node marked down")
    marked = time.monotonic() - died
    live = wait_for(lambda: [t for t in converged(h1, "bench", 10) if t["NodeID"] != dead] == converged(h1, "bench", 10)
                    and converged(h1, "bench", 10), timeout=60, what="bench rescheduled")
    rescheduled = time.monotonic() - died
    assert all(t["NodeID"] != dead for t in live)
    assert "Down" in h1.cli("node", "ls").stdout
    with capsys.disabled():
        print(f"\n[swarm bench] service create --replicas 10 -> all running: {create_to_running:.1f} s; "
              f"worker stopped -> marked down: {marked:.1f} s, -> its tasks running elsewhere: {rescheduled:.1f} s")
    h1.cli("service", "rm", "bench")


@pytest.mark.spec("SWARM-029")
def test_promote_demote_and_remove_nodes(swarm):
    h1, h4, h5 = swarm.nodes[0], swarm.nodes[3], swarm.nodes[4]
    busy = h1.cli("node", "rm", h4.netns, check=False)
    assert busy.returncode == 1 and "is not down and can't be removed" in busy.stderr
    assert h1.cli("node", "rm", h5.netns).stdout == f"{h5.netns}\n"  # down since the test above
    assert len(api(h1, "GET", "/nodes")) == 4
    assert h1.cli("node", "promote", h4.netns).stdout == f"Node {h4.netns} promoted to a manager in the swarm.\n"
    wait_for(lambda: h4.engine.api("GET", "/v1.41/nodes")[0] == 200, what="the promoted node answering /nodes")
    assert (api(h4, "GET", f"/nodes/{h4.netns}").get("ManagerStatus") or {}).get("Reachability") == "reachable"
    assert h1.cli("node", "demote", h4.netns).stdout == f"Manager {h4.netns} demoted in the swarm.\n"
    wait_for(lambda: h4.engine.api("GET", "/v1.41/nodes")[0] == 503, what="the demoted node refusing /nodes")
    assert "ManagerStatus" not in api(h1, "GET", f"/nodes/{h4.netns}")


@pytest.mark.spec("SWARM-032")
def test_a_restarted_engine_takes_its_place_again(swarm):
    h1, h2, h4 = swarm.nodes[0], swarm.nodes[1], swarm.nodes[3]
    for host in (h4, h2):  # a worker, then a manager (its etcd member comes back with its data)
        node = api(h1, "GET", f"/nodes/{host.netns}")["ID"]
        swarm.stop(host)
        wait_for(lambda: api(h1, "GET", f"/nodes/{node}")["Status"]["State"] == "down", what=f"{host.netns} down")
        host.start()
        wait_for(lambda: api(h1, "GET", f"/nodes/{node}")["Status"]["State"] == "ready", what=f"{host.netns} back")
        assert host.cli("swarm", "join-token", "-q", "worker", check=False).returncode == (0 if host is h2 else 1)
    assert wait_for(lambda: api(h2, "GET", f"/nodes/{h2.netns}").get("ManagerStatus", {}).get("Reachability")
                    == "reachable", what="the restarted manager reachable")


@pytest.mark.spec("SWARM-033")
def test_a_node_leaves_and_joins_again(swarm):
    h1, h4 = swarm.nodes[0], swarm.nodes[3]
    h1.cli("service", "create", "--name", "stay", "--mode", "global", *SLEEPER)
    wait_for(lambda: any(t["NodeID"] == api(h1, "GET", f"/nodes/{h4.netns}")["ID"] for t in converged(h1, "stay", 4)
                         or converged(h1, "stay", 5)), what="a task on the worker")
    old = api(h1, "GET", f"/nodes/{h4.netns}")["ID"]
    manager = h1.cli("swarm", "leave", check=False)
    assert manager.returncode == 1 and "Use `--force` to ignore this message." in manager.stderr
    assert h4.cli("swarm", "leave").stdout == "Node left the swarm.\n"
    assert h4.cli("ps", "-aq", "--filter", "label=com.docker.swarm.task.id").stdout == ""  # its tasks' containers went
    status, _, raw = h4.engine.api("GET", "/v1.41/swarm")
    assert status == 503 and json.loads(raw)["message"] == NOT_MANAGER
    wait_for(lambda: api(h1, "GET", f"/nodes/{old}")["Status"]["State"] == "down", what="the node that left, down")
    token = h1.cli("swarm", "join-token", "-q", "worker").stdout.strip()
    assert h4.cli("swarm", "join", "--token", token, f"{h1.address}:2377").stdout == \
        "This node joined a swarm as a worker.\n"
    assert h1.cli("node", "rm", old).stdout == f"{old}\n"
    new = api(h1, "GET", f"/nodes/{h4.netns}")["ID"]
    assert new != old
    wait_for(lambda: any(t["NodeID"] == new for t in tasks(h1, "stay")
                         if t["Status"]["State"] == "running"), what="the global service back on the node")
    h1.cli("service", "rm", "stay")


@pytest.mark.spec("SWARM-022", "SWARM-001")
def test_the_leader_dies_and_another_manager_takes_over(swarm):
    h1, h2, h3 = swarm.nodes[:3]
    h2.cli("service", "create", "--name", "survivor", "--replicas", "3", *SLEEPER)
    wait_for(lambda: converged(h2, "survivor", 3), what="survivor: 3 running")
    old = leader(h2)
    old_host = next(h for h in (h1, h2, h3) if h.address == old["Status"]["Addr"])
    asker = h3 if old_host is not h3 else h2
    swarm.crash(old_host)  # SIGKILL: its etcd member dies with it, its lease is left to expire
    new = wait_for(lambda: (lambda found: found if found and found["ID"] != old["ID"] else None)(leader(asker)),
                   timeout=30, what="a new leader")
    assert new["Spec"]["Role"] == "manager"
    assert [s["Spec"]["Name"] for s in api(asker, "GET", "/services")] == ["survivor"]
    old_id = old["ID"]
    live = wait_for(lambda: [t for t in converged(asker, "survivor", 3) if t["NodeID"] != old_id]
                    == converged(asker, "survivor", 3) and converged(asker, "survivor", 3),
                    timeout=45, what="survivor's tasks off the dead leader")
    assert len(live) == 3
