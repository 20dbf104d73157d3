"""Lab 08 on the real repository: the skeleton's .dockerignore matcher fails the table, the real one passes.

Lab 08 cuts `_regex()` (a pattern as a regular expression) and the body of
`Ignore.excluded()` out of `minidock/build/ignore.py`. The first test runs the steps of
labs 01-07 on two pure tests of the table (start, the skeleton imports, the sample fails,
the real code earns the sample's points, reset); the second grades the whole lab, whose
last test builds an image through the CLI and a daemon of the workspace (root): the
skeleton earns nothing, the real code every point.
"""

from __future__ import annotations

import pytest

from tests.lab.test_labs_01_03 import LabCase, check_lab, grade_whole_lab, needs_root, solved_before

IGNORE = "minidock/build/ignore.py"

LAB_08 = LabCase(
    number=8,
    files=(IGNORE,),
    todos=(
        "# TODO(lab 08): the pattern as a regex over the whole path (* and ? stay in one name, ** crosses them)",
        "# TODO(lab 08): the last rule matching the path or a directory above it decides (! keeps it)",
    ),
    solution=('out += "(.*/)?"', "verdict = not exception"),
    solved=solved_before(8),
    modules=("minidock.build.ignore", "minidock.build", "minidock.engine.build", "minidock.cli.build",
             "minidock.engine.daemon"),
    sample=(
        "tests/build/test_ignore.py::test_documented_patterns[x.pyc-True]",
        "tests/build/test_ignore.py::test_the_last_matching_pattern_wins",
    ),
    points=3,
)


@pytest.mark.spec("LAB-080")
def test_lab_08_build(tmp_path, capsys):
    check_lab(LAB_08, tmp_path, capsys)


@needs_root
@pytest.mark.spec("LAB-080")
def test_lab_08_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    grade_whole_lab(8, (IGNORE,), 23, tmp_path, capsys)
