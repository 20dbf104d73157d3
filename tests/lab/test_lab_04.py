"""Lab 04 on the real repository: the skeleton cannot apply a whiteout, the real code can.

Lab 04 cuts the two whiteout regions out of `minidock/images/layers.py`: the deletion a
`.wh.NAME` entry makes, and `_hide_lower()`, which makes a directory opaque. The first test
runs the same steps as labs 01-03 (start, the skeleton imports, a sample fails, the real
code earns the sample's points, reset) on two pure tests, so it needs no root. The second
grades the whole lab, the snapshot round trips included, and shows that the skeleton still
applies a layer that holds no whiteout: only the cut-out part is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minidock.lab.catalog import Project, find_lab
from minidock.lab.cli import main
from minidock.lab.grader import run_check
from tests.lab.test_labs_01_03 import REPOSITORY, LabCase, check_lab, solved_before

LAYERS = "minidock/images/layers.py"

LAB_04 = LabCase(
    number=4,
    files=(LAYERS,),
    todos=(
        "# TODO(lab 04): delete the lower content this .wh. whiteout names, unless this layer wrote it",
        "# TODO(lab 04): remove everything under directory but what this layer wrote and the "
        "directories above it",
    ),
    solution=("_remove(os.path.join(dest, hidden))", "sweep(directory)"),
    solved=solved_before(4),
    modules=("minidock.images.layers", "minidock.images.diff", "minidock.images.snapshots"),
    sample=(
        "tests/images/test_layers.py::test_whiteouts_delete_lower_files_directories_and_symlinks",
        "tests/images/test_layers.py::test_an_opaque_directory_hides_its_lower_contents_whatever_the_order"
        "[marker-last]",
    ),
    points=5,
)

# Applies the busybox layer (no whiteouts) with the workspace's layers.py, and lists /bin/sh.
APPLY_BUSYBOX = """
import io, os, sys, tempfile
from minidock.images import bootstrap, layers
assert layers.__file__.startswith(sys.argv[1]), layers.__file__
dest = tempfile.mkdtemp()
layers.apply(io.BytesIO(bootstrap.busybox_layer()), dest)
print(os.readlink(os.path.join(dest, "bin/sh")))
"""


@pytest.mark.spec("LAB-044")
def test_lab_04_images(tmp_path, capsys):
    check_lab(LAB_04, tmp_path, capsys)


@pytest.mark.spec("LAB-044")
@pytest.mark.skipif(os.geteuid() != 0, reason="the snapshot round trips mount overlays: needs root")
def test_lab_04_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    project = Project(REPOSITORY)
    lab = find_lab(project, 4)
    target = tmp_path / "lab4"
    assert main(["--root", str(REPOSITORY), "start", "4", "--dir", str(target)]) == 0
    capsys.readouterr()

    # the skeleton still applies a layer without whiteouts: only the whiteouts are cut out
    applied = subprocess.run([sys.executable, "-P", "-c", APPLY_BUSYBOX, str(target)],
                             env={**os.environ, "PYTHONPATH": str(target)},
                             capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "busybox"

    grade = run_check(project, lab, target, show_output=False, timeout=300)
    assert grade.tests and grade.earned == 0 < grade.total, \
        [(row.test.nodeid, row.test.outcome) for row in grade.tests]
    assert {row.test.outcome for row in grade.tests} == {"failed"}

    shutil.copyfile(REPOSITORY / LAYERS, target / LAYERS)
    grade = run_check(project, lab, target, show_output=False, timeout=300)
    assert grade.complete, [(row.test.nodeid, row.test.outcome) for row in grade.tests] + \
        list(grade.problems)
    assert grade.earned == grade.total == 13
    assert main(["--root", str(REPOSITORY), "reset", "4", "--dir", str(target), "--yes"]) == 0
