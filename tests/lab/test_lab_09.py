"""Lab 09 on the real repository: the skeleton's registry refuses chunks and scopes, the real one passes.

Lab 09 cuts the chunk checks and append of `patch_upload()` out of
`minidock/registry/server.py` and the body of `granted()` (a token's scope check) out of
`minidock/registry/auth.py`. The first test runs the steps of labs 01-08 on a pure test
and a registry test (start, the skeleton imports, the sample fails, the real code earns the
sample's points, reset); the second grades the whole lab: nothing on the skeleton, every
point on the real code. Neither needs root: a registry is an ordinary process.
"""

from __future__ import annotations

import pytest

from tests.lab.test_labs_01_03 import LabCase, check_lab, grade_whole_lab, solved_before

SERVER, AUTH = "minidock/registry/server.py", "minidock/registry/auth.py"

LAB_09 = LabCase(
    number=9,
    files=(SERVER, AUTH),
    todos=(
        "# TODO(lab 09): check Content-Range (start where the upload ends: else 416 RANGE_INVALID; "
        "its length the body's: else SIZE_INVALID), then append the body",
        "# TODO(lab 09): find the access entry of the scope's type and name; True if its actions hold "
        'every action the scope needs ("*": all)',
    ),
    solution=("error.headers = _upload_headers(request, name, upload)", "scope.actions <= have"),
    solved=solved_before(9),
    modules=("minidock.registry.server", "minidock.registry.auth", "minidock.registry.client",
             "minidock.engine.registry_client", "minidock.cli.registry"),
    sample=(
        "tests/registry/test_auth.py::test_a_token_grants_only_the_actions_it_names",
        "tests/registry/test_server.py::test_a_chunked_upload_and_its_status[minidock]",
    ),
    points=7,
)


@pytest.mark.spec("LAB-090")
def test_lab_09_registry(tmp_path, capsys):
    check_lab(LAB_09, tmp_path, capsys)


@pytest.mark.spec("LAB-090")
def test_lab_09_whole_lab_scores_nothing_on_the_skeleton_and_full_on_the_real_code(tmp_path, capsys):
    grade_whole_lab(9, (SERVER, AUTH), 16, tmp_path, capsys)
