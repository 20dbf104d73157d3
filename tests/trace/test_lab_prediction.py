"""Lab 03's prediction: the student writes down the start's syscalls, a real trace judges.

Spec: spec/trace.md TRACE-022. In `minidock lab check 3` the prediction is the workspace's
`trace-prediction.txt` (MINIDOCK_LAB_WORKSPACE, set by the grader); in the suite it is
the answer below, so the test also proves that the answer still matches the runtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a container's start needs root")

PREDICTION = "trace-prediction.txt"
# the calls a prediction must place (the grader's minimum), and one it must not name
REQUIRED = {"unshare", "mount", "pivot_root", "umount2", "sethostname", "seccomp", "capset", "execve"}
ANSWER = """
# the order in which each call first appears in the trace of a default start
prctl
mkdir
write
unshare
clone
mount
mknodat
pivot_root
umount2
sethostname
seccomp
setuid
capset
execve
"""


def prediction() -> list[str]:
    workspace = os.environ.get("MINIDOCK_LAB_WORKSPACE")
    text = ANSWER
    if workspace:
        path = Path(workspace) / PREDICTION
        if not path.exists():
            pytest.fail(f"write your prediction in {path} first: one syscall name a line, in order", pytrace=False)
        text = path.read_text()
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def first_appearances(steps: list[dict]) -> list[str]:
    order: list[str] = []
    for step in steps:
        if step["call"] not in order:
            order.append(step["call"])
    return order


@pytest.mark.spec("TRACE-022")
def test_your_trace_prediction_matches_a_real_start(traced):
    predicted = prediction()
    missing = REQUIRED - set(predicted)
    assert not missing, f"your prediction leaves out {', '.join(sorted(missing))}"
    done = traced.run("true")
    assert done.returncode == 0, done.stderr
    real = first_appearances(json.loads(done.stdout)["steps"])
    unknown = [call for call in predicted if call not in real]
    assert not unknown, f"the real start never calls {', '.join(unknown)} (hint: chroot?)"
    placed = sorted(predicted, key=real.index)
    assert predicted == placed, (f"the order is off: the kernel saw {' -> '.join(placed)}, "
                                 f"you predicted {' -> '.join(predicted)}")
