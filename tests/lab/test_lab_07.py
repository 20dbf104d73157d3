"""Lab 07 on the real repository: the skeleton's daemon gives no container an address, the real one does.

Lab 07 cuts `allocate()` (IPAM) out of `minidock/networking/ipam.py`. The grader starts a
daemon from the workspace, so this test needs root: the steps of labs 01-05 (start, the
skeleton imports, a sample fails, the real code earns the sample's points, reset).
"""

from __future__ import annotations

import pytest

from tests.lab.test_labs_01_03 import LabCase, check_lab, needs_root

LAB_07 = LabCase(
    number=7,
    files=("minidock/networking/ipam.py",),
    todos=("# TODO(lab 07): give out wanted (checked) or the first free address of the range",),
    solution=("for address in pool.ip_range.hosts():",),
    solved=(("minidock/namespaces/kinds.py", "flags |= kind.flag"),
            ("minidock/runtime/mounts.py", "os.readlink(candidate)"),
            ("minidock/images/layers.py", "sweep(directory)"),
            ("minidock/engine/logs.py", 'struct.pack(">BxxxI"')),
    modules=("minidock.networking.ipam", "minidock.engine.networks", "minidock.engine.daemon"),
    sample=(
        "tests/networking/test_units.py::test_allocate_gives_the_first_free_address_of_the_range",
        "tests/networking/test_bridge.py::test_static_address_and_no_duplicate",
    ),
    points=4,
)


@needs_root
@pytest.mark.spec("LAB-070")
def test_lab_07_networking(tmp_path, capsys):
    check_lab(LAB_07, tmp_path, capsys)
