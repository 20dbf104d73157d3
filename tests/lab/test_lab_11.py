"""Lab 11 on the real repository: the skeleton's reconciler fills no slot and plans no update batch, the real one does.

Lab 11 cuts the body of `_fill()` (one slot: assign, replace after a start-first update,
the restart policy, create) and the batch step of `plan_update()` out of
`minidock/swarm/reconcile.py`. The first test runs the steps of labs 01-10 on two pure
tests (start, the skeleton imports, the sample fails, the real code earns the sample's
points, reset); the second grades the whole lab (pure tests, no root): the skeleton earns
nothing, the real code every point.
"""

from __future__ import annotations

import pytest

from tests.lab.test_labs_01_03 import LabCase, check_lab, grade_whole_lab, solved_before

FILES = ("minidock/swarm/reconcile.py",)

LAB_11 = LabCase(
    number=11,
    files=FILES,
    todos=(
        "# TODO(lab 11): keep one live task in this slot: assign the pending, stop the old once a new one runs, "
        "apply the restart policy, create one when none lives",
        "# TODO(lab 11): the next batch of outdated tasks once the last runs and the delay has passed; "
        "completed after the monitor period",
    ),
    solution=('reason="task ended"', 'reason=f"{word} in progress"'),
    solved=solved_before(11),
    modules=("minidock.swarm.reconcile", "minidock.swarm.manager", "minidock.swarm.node", "minidock.cli.swarm"),
    sample=(
        "tests/swarm/test_reconcile.py::test_replicas_are_spread_over_the_nodes_and_the_same_inputs_give_the_same_actions",
        "tests/swarm/test_reconcile.py::test_a_rolling_update_replaces_tasks_in_batches_of_parallelism",
    ),
    points=3,
)


@pytest.mark.spec("LAB-110")
def test_lab_11_swarm(tmp_path, capsys):
    check_lab(LAB_11, tmp_path, capsys)


@pytest.mark.spec("LAB-110")
def test_lab_11_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    grade_whole_lab(11, FILES, 27, tmp_path, capsys)
