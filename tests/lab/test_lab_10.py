"""Lab 10 on the real repository: the skeleton's compose has no start order and no plan, the real one has both.

Lab 10 cuts the body of `dependency_order()` (a topological sort with cycle detection)
out of `minidock/compose/model.py` and the body of `plan()` (convergence from the config
hash) out of `minidock/compose/project.py`. The first test runs the steps of labs 01-09 on
two pure tests (start, the skeleton imports, the sample fails, the real code earns the
sample's points, reset); the second grades the whole lab, whose last tests bring a project
up and down through the CLI and a daemon of the workspace (root): the skeleton earns
nothing, the real code every point.
"""

from __future__ import annotations

import pytest

from tests.lab.test_labs_01_03 import LabCase, check_lab, grade_whole_lab, needs_root, solved_before

FILES = ("minidock/compose/model.py", "minidock/compose/project.py")

LAB_10 = LabCase(
    number=10,
    files=FILES,
    todos=(
        "# TODO(lab 10): each service after what needs() names (a depth-first search); refuse a cycle and an undefined service",
        "# TODO(lab 10): per service, in order: remove the extras; keep, start or recreate (hash changed) the rest; create the missing",
    ),
    solution=('state[name] = "visiting"', 'actions.append(Action("recreate", service, number, container["Id"]))'),
    solved=solved_before(10),
    modules=("minidock.compose.model", "minidock.compose.project", "minidock.compose", "minidock.cli.compose",
             "minidock.engine.daemon"),
    sample=(
        "tests/compose/test_loader.py::test_dependency_order_and_cycles",
        "tests/compose/test_plan.py::test_unchanged_kept_changed_recreated_stopped_started",
    ),
    points=4,
)


@pytest.mark.spec("LAB-100")
def test_lab_10_compose(tmp_path, capsys):
    check_lab(LAB_10, tmp_path, capsys)


@needs_root
@pytest.mark.spec("LAB-100")
def test_lab_10_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    grade_whole_lab(10, FILES, 12, tmp_path, capsys)
