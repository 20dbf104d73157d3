"""Lab 05 on the real repository: the skeleton's daemon cannot frame or select a log, the real one can.

Lab 05 cuts `frame()` (the stdcopy header) and `select()` (what `logs --tail --since
--until` keep) out of `minidock/engine/logs.py`. The grader starts a daemon from the
workspace, so these tests need root. The first runs the steps of labs 01-04 (start, the
skeleton imports, a sample fails, the real code earns the sample's points, reset) on two
API tests; the second grades the whole lab, and shows that the skeleton's daemon still
starts and runs containers: only the way their output leaves it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from minidock.lab.catalog import Project, find_lab
from minidock.lab.cli import main
from minidock.lab.grader import run_check
from tests.lab.test_labs_01_03 import REPOSITORY, LabCase, check_lab, needs_root, solved_before

LOGS = "minidock/engine/logs.py"

LAB_05 = LabCase(
    number=5,
    files=(LOGS,),
    todos=(
        "# TODO(lab 05): return the 8-byte stdcopy header of this stream and length, then the data",
        "# TODO(lab 05): keep the records after since and up to until (0: no bound), then the last tail "
        "of them",
    ),
    solution=('struct.pack(">BxxxI"', "kept = kept[-tail:]"),
    solved=solved_before(5),
    modules=("minidock.engine.logs", "minidock.engine.api.containers", "minidock.engine.daemon"),
    sample=(
        "tests/engine/test_containers_api.py::test_logs_tail_and_timestamps",
        "tests/engine/test_containers_api.py::test_attach_before_start_streams_the_run_after_a_half_close",
    ),
    points=5,
)

# Parses a log with the workspace's logs.py: reading is not part of the lab, framing is.
READ_LOG = """
import sys, tempfile
from minidock.engine import logs
assert logs.__file__.startswith(sys.argv[1]), logs.__file__
with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
    log.write('{"log": "hi\\\\n", "stream": "stdout", "time": "2026-12-01T21:00:00.123Z"}\\n')
records, _ = logs.read(log.name)
print(records[0].stream, records[0].data)
try:
    logs.frame("stdout", b"hi")
except NotImplementedError as error:
    print(error)
"""


@needs_root
@pytest.mark.spec("LAB-050")
def test_lab_05_engine(tmp_path, capsys):
    check_lab(LAB_05, tmp_path, capsys)


@needs_root
@pytest.mark.spec("LAB-050")
def test_lab_05_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    project = Project(REPOSITORY)
    lab = find_lab(project, 5)
    target = tmp_path / "lab5"
    assert main(["--root", str(REPOSITORY), "start", "5", "--dir", str(target)]) == 0
    capsys.readouterr()

    # the skeleton still reads the log: only the frames and the selection are cut out
    read = subprocess.run([sys.executable, "-P", "-c", READ_LOG, str(target)],
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == [
        "stdout b'hi\\n'",
        "lab 05: return the 8-byte stdcopy header of this stream and length, then the data",
    ]

    # the skeleton earns nothing, every test failing; the real logs.py earns every point
    for solved, earned, outcomes in ((False, 0, {"failed"}), (True, 12, {"passed"})):
        if solved:
            shutil.copyfile(REPOSITORY / LOGS, target / LOGS)
        grade = run_check(project, lab, target, show_output=False, timeout=300)
        rows = [(row.test.nodeid, row.test.outcome) for row in grade.tests] + list(grade.problems)
        assert {row.test.outcome for row in grade.tests} == outcomes, rows
        assert (grade.earned, grade.total) == (earned, 12), rows
    assert main(["--root", str(REPOSITORY), "reset", "5", "--dir", str(target), "--yes"]) == 0
