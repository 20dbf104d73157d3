"""Lab 06 on the real repository: the skeleton's persist driver fails the driver suite, the real one passes it.

Lab 06 cuts the bodies of `PersistDriver`'s methods out of `minidock/volumes/persist.py`.
The first test runs the steps of labs 01-05 (start, the skeleton imports, a sample fails,
the real code earns the sample's points, reset); the second grades the whole lab, whose
last test starts a daemon from the workspace (root), and shows that the skeleton's daemon
still starts: only the persist driver is missing.
"""

from __future__ import annotations

import shutil

import pytest

from minidock.lab.catalog import Project, find_lab
from minidock.lab.cli import main
from minidock.lab.grader import run_check
from tests.lab.test_labs_01_03 import REPOSITORY, LabCase, check_lab, needs_root

PERSIST = "minidock/volumes/persist.py"

LAB_06 = LabCase(
    number=6,
    files=(PERSIST,),
    todos=(
        '# TODO(lab 06): check the name and the options (only "mountpoint", an absolute path), make the '
        "directory, record it",
        "# TODO(lab 06): the registry's names, sorted",
    ),
    solution=("volumes[name] = {\"mountpoint\"", "return sorted(self._load())"),
    solved=(("minidock/namespaces/kinds.py", "flags |= kind.flag"),
            ("minidock/cgroups/plan.py", '("memory.max", _max('),
            ("minidock/runtime/mounts.py", "os.readlink(candidate)"),
            ("minidock/images/layers.py", "sweep(directory)"),
            ("minidock/engine/logs.py", 'struct.pack(">BxxxI"')),
    modules=("minidock.volumes.persist", "minidock.engine.volumes", "minidock.engine.daemon"),
    sample=(
        "tests/volumes/test_driver_suite.py::TestPersistDriver::test_a_mounted_volume_is_not_removed",
        "tests/volumes/test_driver_suite.py::TestPersistDriver::test_list_is_sorted",
    ),
    points=3,
)


@pytest.mark.spec("LAB-060")
def test_lab_06_volumes(tmp_path, capsys):
    check_lab(LAB_06, tmp_path, capsys)


@needs_root
@pytest.mark.spec("LAB-060")
def test_lab_06_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    project = Project(REPOSITORY)
    lab = find_lab(project, 6)
    target = tmp_path / "lab6"
    assert main(["--root", str(REPOSITORY), "start", "6", "--dir", str(target)]) == 0
    capsys.readouterr()
    for solved, earned, outcomes in ((False, 0, {"failed"}), (True, 24, {"passed"})):
        if solved:
            shutil.copyfile(REPOSITORY / PERSIST, target / PERSIST)
        grade = run_check(project, lab, target, show_output=False, timeout=300)
        rows = [(row.test.nodeid, row.test.outcome) for row in grade.tests] + list(grade.problems)
        assert {row.test.outcome for row in grade.tests} == outcomes, rows
        assert (grade.earned, grade.total) == (earned, 24), rows
    assert main(["--root", str(REPOSITORY), "reset", "6", "--dir", str(target), "--yes"]) == 0
