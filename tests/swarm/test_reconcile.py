"""The pure reconciler and rolling-update planner, with plain records: no cluster, no root."""

from __future__ import annotations

from collections import Counter

import pytest

from minidock.errors import InvalidArgument
from minidock.swarm.model import (Node, Service, Task, TaskState, TaskStateError, UpdateConfig,
                                  parse_constraint, transition)
from minidock.swarm.reconcile import reconcile, schedule

NOW = 1000.0
RUNNING = TaskState.RUNNING


def nodes(count: int = 3, **changes) -> list[Node]:
    made = [Node(id=f"n{i}", hostname=f"host{i}", role="manager" if i == 1 else "worker") for i in range(1, count + 1)]
    return [Node(**{**vars(n), **changes.get(n.id, {})}) for n in made]


def running(service: str, slot: int, node: str, number: int, version: int = 1, **more) -> Task:
    fields = {"state": RUNNING, "created": 1.0, "changed": 1.0, **more}
    return Task(id=f"t{number}", service_id=service, slot=slot, node_id=node, version=version, **fields)


def kinds(actions) -> list[str]:
    return [a.kind for a in actions]


@pytest.mark.spec("SWARM-010", "SWARM-020")
def test_replicas_are_spread_over_the_nodes_and_the_same_inputs_give_the_same_actions():
    service = Service(id="s1", replicas=5)
    actions = reconcile([service], nodes(3), [], NOW)
    assert kinds(actions) == ["create"] * 5
    assert [a.slot for a in actions] == [1, 2, 3, 4, 5]
    assert Counter(a.node_id for a in actions) == {"n1": 2, "n2": 2, "n3": 1}
    assert reconcile([service], nodes(3), [], NOW) == actions


@pytest.mark.spec("SWARM-010")
def test_a_converged_service_needs_nothing():
    service = Service(id="s1", replicas=2)
    tasks = [running("s1", 1, "n1", 1), running("s1", 2, "n2", 2)]
    assert reconcile([service], nodes(2), tasks, NOW) == []


@pytest.mark.spec("SWARM-020")
def test_the_spread_counts_tasks_already_running():
    service = Service(id="s1", replicas=3)
    tasks = [running("s1", 1, "n1", 1), running("s1", 2, "n1", 2)]
    (action,) = reconcile([service], nodes(2), tasks, NOW)
    assert (action.kind, action.slot, action.node_id) == ("create", 3, "n2")


@pytest.mark.spec("SWARM-013")
def test_scale_up_fills_the_missing_slots_and_scale_down_stops_the_highest():
    tasks = [running("s1", slot, f"n{slot}", slot) for slot in (1, 2, 3)]
    up = reconcile([Service(id="s1", replicas=5)], nodes(3), tasks, NOW)
    assert [(a.kind, a.slot) for a in up] == [("create", 4), ("create", 5)]
    down = reconcile([Service(id="s1", replicas=1)], nodes(3), tasks, NOW)
    assert sorted((a.kind, a.task_id, a.desired) for a in down) == [
        ("shutdown", "t2", "shutdown"), ("shutdown", "t3", "shutdown")]


@pytest.mark.spec("SWARM-002", "SWARM-012")
def test_a_failed_task_is_replaced_after_the_restart_delay():
    service = Service(id="s1", replicas=1, restart_delay=5.0)
    failed = Task(id="t1", service_id="s1", slot=1, node_id="n1", state=TaskState.FAILED, changed=NOW - 1, exit_code=1)
    assert reconcile([service], nodes(2), [failed], NOW) == []  # still inside the delay
    actions = reconcile([service], nodes(2), [failed], NOW + 5)
    assert [(a.kind, a.task_id or a.slot) for a in actions] == [("shutdown", "t1"), ("create", 1)]


@pytest.mark.spec("SWARM-012")
@pytest.mark.parametrize("condition, state, replaced", [
    ("any", TaskState.COMPLETE, True), ("on-failure", TaskState.COMPLETE, False),
    ("on-failure", TaskState.FAILED, True), ("none", TaskState.FAILED, False)])
def test_the_restart_condition(condition, state, replaced):
    service = Service(id="s1", replicas=1, restart_condition=condition, restart_delay=0)
    ended = Task(id="t1", service_id="s1", slot=1, node_id="n1", state=state, changed=NOW)
    assert ("create" in kinds(reconcile([service], nodes(1), [ended], NOW))) == replaced


@pytest.mark.spec("SWARM-012")
def test_max_attempts_stops_the_restarts():
    service = Service(id="s1", replicas=1, restart_delay=0, max_attempts=2)
    ended = [Task(id=f"t{i}", service_id="s1", slot=1, node_id="n1", state=TaskState.FAILED, changed=NOW - i)
             for i in (1, 2)]
    assert reconcile([service], nodes(1), ended[:1], NOW) != []
    assert reconcile([service], nodes(1), ended, NOW) == []


@pytest.mark.spec("SWARM-014")
def test_a_constraint_no_node_meets_leaves_the_task_pending_with_a_reason():
    service = Service(id="s1", replicas=1, constraints=(parse_constraint("node.labels.zone==mars"),))
    (action,) = reconcile([service], nodes(3), [], NOW)
    assert (action.kind, action.node_id) == ("create", "")
    assert action.reason == "no suitable node (scheduling constraints not satisfied on 3 nodes)"
    pending = Task(id="t1", service_id="s1", slot=1, state=TaskState.PENDING)
    assert reconcile([service], nodes(3), [pending], NOW) == []  # still nowhere to go, nothing new
    labelled = nodes(3, n3={"labels": {"zone": "mars"}})
    (assign,) = reconcile([service], labelled, [pending], NOW)
    assert (assign.kind, assign.task_id, assign.node_id) == ("assign", "t1", "n3")


@pytest.mark.spec("SWARM-014")
def test_constraints_on_role_hostname_and_inequality():
    managers = Service(id="s1", replicas=2, constraints=(parse_constraint("node.role == manager"),))
    assert {a.node_id for a in reconcile([managers], nodes(3), [], NOW)} == {"n1"}
    not_two = Service(id="s2", replicas=4, constraints=(parse_constraint("node.hostname!=host2"),))
    assert {a.node_id for a in reconcile([not_two], nodes(3), [], NOW)} == {"n1", "n3"}


@pytest.mark.spec("SWARM-014")
@pytest.mark.parametrize("text", ["node.role", "node.role=manager", "color==red", "==x", ""])
def test_a_malformed_constraint_is_refused(text):
    with pytest.raises(InvalidArgument, match="invalid constraint"):
        parse_constraint(text)


@pytest.mark.spec("SWARM-016")
def test_drain_moves_the_tasks_away_and_pause_only_stops_new_ones():
    tasks = [running("s1", 1, "n1", 1), running("s1", 2, "n2", 2)]
    drained = nodes(3, n1={"availability": "drain"})
    actions = reconcile([Service(id="s1", replicas=2)], drained, tasks, NOW)
    assert [(a.kind, a.task_id or a.node_id) for a in actions] == [("shutdown", "t1"), ("create", "n3")]
    assert actions[0].reason == "node is drained"
    paused = nodes(2, n1={"availability": "pause"})
    assert reconcile([Service(id="s1", replicas=2)], paused, tasks, NOW) == []
    assert [a.node_id for a in reconcile([Service(id="s1", replicas=3)], paused, tasks, NOW)] == ["n2"]


@pytest.mark.spec("SWARM-015")
def test_a_down_nodes_tasks_are_rescheduled():
    tasks = [running("s1", 1, "n1", 1), running("s1", 2, "n2", 2)]
    down = nodes(3, n2={"ready": False})
    actions = reconcile([Service(id="s1", replicas=2)], down, tasks, NOW)
    assert [(a.kind, a.task_id or a.node_id) for a in actions] == [("shutdown", "t2"), ("create", "n3")]
    assert actions[0].reason == "node is down"


@pytest.mark.spec("SWARM-015")
def test_no_node_at_all_leaves_tasks_pending():
    (action,) = reconcile([Service(id="s1", replicas=1)], nodes(2, n1={"ready": False}, n2={"ready": False}), [], NOW)
    assert action.node_id == "" and action.reason == "no suitable node (2 nodes not available for new tasks)"


@pytest.mark.spec("SWARM-018")
def test_global_mode_runs_one_task_per_eligible_node():
    service = Service(id="g", global_mode=True)
    actions = reconcile([service], nodes(3, n3={"availability": "drain"}), [], NOW)
    assert [(a.kind, a.slot, a.node_id) for a in actions] == [("create", 0, "n1"), ("create", 0, "n2")]
    tasks = [running("g", 0, "n1", 1), running("g", 0, "n2", 2)]
    assert reconcile([service], nodes(2), tasks, NOW) == []
    gone = reconcile([service], nodes(2, n2={"availability": "drain"}), tasks, NOW)
    assert [(a.kind, a.task_id) for a in gone] == [("shutdown", "t2")]


@pytest.mark.spec("SWARM-019")
def test_a_removed_services_tasks_are_stopped_then_forgotten():
    tasks = [running("gone", 1, "n1", 1),
             Task(id="t2", service_id="gone", slot=2, node_id="n1", state=TaskState.SHUTDOWN, desired="remove")]
    actions = reconcile([], nodes(1), tasks, NOW)
    assert [(a.kind, a.task_id, a.desired) for a in actions] == [("shutdown", "t1", "remove"), ("remove", "t2", "")]


@pytest.mark.spec("SWARM-010")
def test_old_tasks_beyond_the_history_limit_are_forgotten():
    old = [Task(id=f"old{i}", service_id="s1", slot=1, node_id="n1", desired="shutdown",
                state=TaskState.SHUTDOWN, changed=float(i)) for i in range(7)]
    actions = reconcile([Service(id="s1", replicas=1)], nodes(1), [running("s1", 1, "n1", 9), *old], NOW)
    assert [(a.kind, a.task_id) for a in actions] == [("remove", "old0"), ("remove", "old1")]


def updating(order="stop-first", parallelism=2, delay=10.0, failure_action="pause", **more) -> Service:
    config = UpdateConfig(parallelism=parallelism, delay=delay, order=order, failure_action=failure_action, monitor=5)
    return Service(id="s1", replicas=4, version=2, update=config, update_state="updating",
                   update_started=NOW - 100, has_previous=True, **more)


@pytest.mark.spec("SWARM-003")
def test_a_rolling_update_replaces_tasks_in_batches_of_parallelism():
    old = [running("s1", slot, "n1", slot) for slot in (1, 2, 3, 4)]
    actions = reconcile([updating()], nodes(1), old, NOW)
    assert [(a.kind, a.task_id or a.slot) for a in actions] == [
        ("shutdown", "t1"), ("shutdown", "t2"), ("create", 1), ("create", 2)]
    assert all(a.version == 2 for a in actions if a.kind == "create")


@pytest.mark.spec("SWARM-003")
def test_the_next_batch_waits_for_the_last_to_run_and_for_the_delay():
    done = [Task(id=f"t{s}", service_id="s1", slot=s, node_id="n1", desired="shutdown", state=TaskState.SHUTDOWN)
            for s in (1, 2)]
    starting = [Task(id=f"new{s}", service_id="s1", slot=s, node_id="n1", version=2, state=TaskState.STARTING,
                     created=NOW - 2, changed=NOW - 1) for s in (1, 2)]
    rest = [running("s1", slot, "n1", slot) for slot in (3, 4)]
    assert reconcile([updating()], nodes(1), [*done, *starting, *rest], NOW) == []  # batch still starting
    up = [Task(**{**vars(t), "state": RUNNING}) for t in starting]
    assert reconcile([updating()], nodes(1), [*done, *up, *rest], NOW) == []  # inside the 10 s delay
    later = reconcile([updating()], nodes(1), [*done, *up, *rest], NOW + 10)
    assert [(a.kind, a.task_id or a.slot) for a in later] == [
        ("shutdown", "t3"), ("shutdown", "t4"), ("create", 3), ("create", 4)]


@pytest.mark.spec("SWARM-003")
def test_an_update_completes_after_the_monitor_period():
    new = [running("s1", slot, "n1", slot, version=2, created=NOW - 10) for slot in (1, 2, 3, 4)]
    new = [Task(**{**vars(t), "changed": NOW - 2}) for t in new]
    assert reconcile([updating()], nodes(1), new, NOW) == []
    (done,) = reconcile([updating()], nodes(1), new, NOW + 5)
    assert (done.kind, done.reason) == ("completed", "update completed")


@pytest.mark.spec("SWARM-026")
def test_start_first_starts_the_new_task_before_stopping_the_old():
    old = [running("s1", slot, "n1", slot) for slot in (1, 2, 3, 4)]
    actions = reconcile([updating(order="start-first", parallelism=1)], nodes(2), old, NOW)
    assert [(a.kind, a.slot, a.node_id) for a in actions] == [("create", 1, "n2")]
    new = Task(id="new1", service_id="s1", slot=1, node_id="n2", version=2, state=RUNNING,
               created=NOW - 1, changed=NOW - 1)
    actions = reconcile([updating(order="start-first", parallelism=1)], nodes(2), [*old, new], NOW)
    assert [(a.kind, a.task_id) for a in actions] == [("shutdown", "t1")]


@pytest.mark.spec("SWARM-017")
@pytest.mark.parametrize("failure_action, kind", [("pause", "pause"), ("rollback", "rollback")])
def test_a_failed_new_task_pauses_or_rolls_back_the_update(failure_action, kind):
    failed = Task(id="bad", service_id="s1", slot=1, node_id="n1", version=2, state=TaskState.REJECTED,
                  created=NOW - 3, changed=NOW - 2)
    old = [running("s1", slot, "n1", slot) for slot in (2, 3, 4)]
    actions = reconcile([updating(failure_action=failure_action)], nodes(1), [failed, *old], NOW)
    assert actions[0].kind == kind
    assert actions[0].reason.endswith("due to failure or early termination of task bad")
    assert not any(a.kind == "shutdown" and a.task_id in ("t2", "t3", "t4") for a in actions)


@pytest.mark.spec("SWARM-017")
def test_failure_action_continue_goes_on():
    failed = Task(id="bad", service_id="s1", slot=1, node_id="n1", version=2, state=TaskState.FAILED,
                  created=NOW - 3, changed=NOW - 200)
    old = [running("s1", slot, "n1", slot) for slot in (2, 3, 4)]
    actions = reconcile([updating(failure_action="continue", restart_delay=0)], nodes(1), [failed, *old], NOW)
    assert ("shutdown", "t2") in [(a.kind, a.task_id) for a in actions]


@pytest.mark.spec("SWARM-017")
def test_a_rollback_uses_the_rollback_config_and_says_rollback():
    config = UpdateConfig(parallelism=0, delay=0, monitor=0)
    service = Service(id="s1", replicas=2, version=3, rollback=config, update_state="rollback_started",
                      update_started=NOW - 5)
    tasks = [running("s1", 1, "n1", 1, version=2), running("s1", 2, "n1", 2, version=2)]
    actions = reconcile([service], nodes(1), tasks, NOW)
    assert kinds(actions) == ["shutdown", "shutdown", "create", "create"]  # parallelism 0: all at once
    assert actions[0].reason == "rollback in progress"


@pytest.mark.spec("SWARM-011")
def test_the_task_state_machine_never_goes_backwards():
    assert transition(TaskState.ASSIGNED, TaskState.PREPARING) == TaskState.PREPARING
    assert transition(TaskState.RUNNING, TaskState.RUNNING) == TaskState.RUNNING
    for current, wanted in [(TaskState.RUNNING, TaskState.STARTING), (TaskState.FAILED, TaskState.RUNNING),
                            (TaskState.SHUTDOWN, TaskState.RUNNING), (TaskState.NEW, TaskState.RUNNING)]:
        with pytest.raises(TaskStateError, match=f"from {current.value} to {wanted.value}"):
            transition(current, wanted)


@pytest.mark.spec("SWARM-020")
def test_schedule_prefers_the_least_loaded_node():
    load = Counter({"n1": 5, ("s1", "n1"): 0, "n2": 1})
    assert schedule(Service(id="s1"), nodes(3), load) == ("n3", "")


def zoned(*zones: str, key: str = "zone") -> list[Node]:
    """One node per entry: n1 in zones[0], ...; "" is a node without the label."""
    return [Node(id=f"n{i}", labels={key: zone} if zone else {}) for i, zone in enumerate(zones, 1)]


@pytest.mark.spec("SWARM-044")
def test_spread_over_a_labels_values_shares_the_tasks_equally_between_them():
    service = Service(id="s1", replicas=4, preferences=("node.labels.zone",))
    actions = reconcile([service], zoned("east", "east", "east", "west"), [], NOW)
    # two for each zone, however many nodes it has: west's only node takes two
    assert Counter(a.node_id for a in actions) == {"n1": 1, "n2": 1, "n4": 2}
    plain = reconcile([Service(id="s1", replicas=4)], zoned("east", "east", "east", "west"), [], NOW)
    assert Counter(a.node_id for a in plain) == {"n1": 1, "n2": 1, "n3": 1, "n4": 1}


@pytest.mark.spec("SWARM-044")
def test_nodes_without_the_label_are_a_group_of_their_own_and_running_tasks_count():
    service = Service(id="s1", replicas=3, preferences=("node.labels.zone",))
    tasks = [running("s1", 1, "n1", 1), running("s1", 2, "n2", 2)]
    (action,) = reconcile([service], zoned("east", "east", "", ""), tasks, NOW)
    assert (action.slot, action.node_id) == (3, "n3")


@pytest.mark.spec("SWARM-044")
def test_a_second_preference_divides_each_group_again():
    racks = [Node(id=f"n{i}", labels={"zone": zone, "rack": rack})
             for i, (zone, rack) in enumerate([("a", "r1"), ("a", "r1"), ("a", "r2"), ("b", "r3")], 1)]
    service = Service(id="s1", replicas=4, preferences=("node.labels.zone", "node.labels.rack"))
    load: Counter = Counter()
    chosen = [schedule(service, racks, load)[0] for _ in range(4)]
    assert Counter(chosen) == {"n1": 1, "n3": 1, "n4": 2}  # zone a: one per rack; zone b: two


@pytest.mark.spec("SWARM-044", "SWARM-027")
def test_a_placement_preference_is_read_from_the_spec_and_a_bad_one_refused():
    from minidock.swarm.objects import check_service_spec

    def spec(preferences: list) -> dict:
        return {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"},
                                                "Placement": {"Preferences": preferences}}}
    good = check_service_spec(spec([{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]))
    service = Service.from_api({"ID": "s1", "Version": {"Index": 1}, "Spec": good})
    assert service.preferences == ("node.labels.zone",)
    for bad, words in (([{"Spread": {}}], "only spread is supported"), (["spread=zone"], "only spread is supported"),
                       ([{"Spread": {"SpreadDescriptor": "zone"}}], "unknown key 'zone'")):
        with pytest.raises(InvalidArgument, match=words):
            check_service_spec(spec(bad))
