"""Lab 06 on the real repository: the skeleton's persist driver fails the driver suite, the real one passes it.

Lab 06 cuts the bodies of `PersistDriver`'s methods out of `minidock/volumes/persist.py`.
The first test runs the steps of labs 01-05 (start, the skeleton imports, a sample fails,
the real code earns the sample's points, reset); the second grades the whole lab, whose
last test starts a daemon from the workspace (root), and shows that the skeleton's daemon
still starts: only the persist driver is missing.
"""

from __future__ import annotations

import pytest

from tests.lab.test_labs_01_03 import LabCase, check_lab, grade_whole_lab, needs_root, solved_before

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
    solved=solved_before(6),
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
    grade_whole_lab(6, (PERSIST,), 24, tmp_path, capsys)
