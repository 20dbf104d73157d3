"""Labs 01-03 on the real repository: each skeleton imports and fails, the real code passes.

A lab's whole grading run starts many containers; here each lab is graded on two of its
tests (one pure, one that runs the real runtime where the lab has one), chosen so that the
skeleton fails both. The lab's points table still applies, and each chosen test must carry
one of the lab's spec IDs, so the subset is a sample of what `minidock lab check N` runs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minidock.lab.catalog import Project, find_lab, load_catalog
from minidock.lab.cli import main
from minidock.lab.grader import run_check

REPOSITORY = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the runtime's tests need root")


# A line of each lab's solution, in lab order (lab 01 first): a later lab checks that these stay solved.
SOLUTIONS = (("minidock/namespaces/kinds.py", "flags |= kind.flag"),
             ("minidock/cgroups/plan.py", '("memory.max", _max('),
             ("minidock/runtime/mounts.py", "os.readlink(candidate)"),
             ("minidock/images/layers.py", "sweep(directory)"),
             ("minidock/engine/logs.py", 'struct.pack(">BxxxI"'),
             ("minidock/volumes/persist.py", "return sorted(self._load())"),
             ("minidock/networking/ipam.py", "for address in pool.ip_range.hosts():"),
             ("minidock/build/ignore.py", "verdict = not exception"),
             ("minidock/registry/auth.py", "scope.actions <= have"),
             ("minidock/compose/model.py", 'state[name] = "visiting"'))


def solved_before(number: int) -> tuple[tuple[str, str], ...]:
    """The solution lines of labs 01 .. number-1."""
    return SOLUTIONS[:number - 1]


@dataclasses.dataclass(frozen=True)
class LabCase:
    number: int
    files: tuple[str, ...]     # the files with the lab's regions (the solution: the real ones)
    todos: tuple[str, ...]     # TODO texts the skeleton must show
    solution: tuple[str, ...]  # solution lines the skeleton must not show
    solved: tuple[tuple[str, str], ...]  # (file, line) of earlier labs that must stay solved
    modules: tuple[str, ...]   # what must import from the skeleton
    sample: tuple[str, ...]    # the tests to grade on, as pytest node ids
    points: int                # what the sample is worth by the lab's [points]


LAB_01 = LabCase(
    number=1,
    files=("minidock/namespaces/kinds.py", "minidock/kernel/syscalls.py"),
    todos=(
        "# TODO(lab 01): combine the CLONE_NEW* flags of these kinds into one int",
        "# TODO(lab 01): call libc's unshare(2) with these flags",
        "# TODO(lab 01): call libc's setns(2) on this fd",
        "# TODO(lab 01): call libc's sethostname(2)",
    ),
    solution=("flags |= kind.flag", "_libc.unshare(", "_libc.setns(", "_libc.sethostname("),
    solved=(),
    modules=("minidock.namespaces", "minidock.kernel.syscalls", "minidock.runtime.init"),
    sample=(
        "tests/namespaces/test_kinds.py::test_every_kind_has_its_flag_and_proc_name",
        "tests/runtime/test_run.py::test_own_hostname_pid_1_and_new_namespaces",
    ),
    points=5,
)

LAB_02 = LabCase(
    number=2,
    files=("minidock/cgroups/plan.py",),
    todos=(
        "# TODO(lab 02): plan the v1 memory writes",
        "# TODO(lab 02): plan the v1 pids limit",
        "# TODO(lab 02): plan the v2 memory writes",
        "# TODO(lab 02): plan the v2 pids limit",
        "# TODO(lab 02): turn v1's memory+swap into v2's swap alone",
    ),
    solution=('"memory.limit_in_bytes", str(', '("memory.max", _max(', '("pids.max", _max(',
              "return str(memory_swap - memory_limit)"),
    solved=(("minidock/namespaces/kinds.py", "flags |= kind.flag"),),
    modules=("minidock.cgroups", "minidock.cgroups.plan"),
    sample=(
        "tests/cgroups/test_plan.py::test_plan_v2_writes_every_field_in_order",
        "tests/runtime/test_lifecycle.py::test_an_oom_kill_is_137_and_recorded",
    ),
    points=5,
)

LAB_03 = LabCase(
    number=3,
    files=("minidock/runtime/rootfs.py", "minidock/runtime/mounts.py", "minidock/runtime/init.py",
           "minidock/runtime/security/capabilities.py"),
    todos=(
        "# TODO(lab 03): make every mount of this namespace private",
        "# TODO(lab 03): pivot_root into rootfs",
        "# TODO(lab 03): resolve path component by component under root",
        "# TODO(lab 03): close every descriptor from 3 + keep up",
        "# TODO(lab 03): drop from the bounding set every capability",
        "# TODO(lab 03): capset the effective, permitted and inheritable masks",
    ),
    solution=("sc.MS_REC | sc.MS_PRIVATE", 'sc.pivot_root(".", ".")',
              "sc.MNT_DETACH", "os.readlink(candidate)", "os.closerange(3 + keep",
              "sc.PR_CAPBSET_DROP, number", "sc.capset(to_mask("),
    solved=(("minidock/namespaces/kinds.py", "flags |= kind.flag"),
            ("minidock/cgroups/plan.py", '("memory.max", _max(')),
    modules=("minidock.runtime.rootfs", "minidock.runtime.mounts", "minidock.runtime.init"),
    sample=(
        "tests/runtime/test_mount_logic.py::test_secure_join_never_leaves_the_root",
        "tests/runtime/test_run.py::test_the_root_is_the_rootfs_and_the_host_is_unreachable",
    ),
    points=5,
)


def grade_sample(case: LabCase, workspace: Path):
    """Grade `workspace` on the case's sample, with the lab's points table."""
    project = Project(REPOSITORY)
    lab = find_lab(project, case.number)
    sample = dataclasses.replace(lab, tests=case.sample, specs=())
    return lab, run_check(project, sample, workspace, show_output=False, timeout=120)


def check_lab(case: LabCase, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / f"lab{case.number}"
    common = ["--root", str(REPOSITORY)]
    assert main([*common, "start", str(case.number), "--dir", str(target)]) == 0
    assert sorted(capsys.readouterr().out.split("your TODOs are in:")[1].split()[: len(case.files)]) == \
        sorted(str(target / path) for path in case.files)

    skeleton = "".join((target / path).read_text() for path in case.files)
    for todo in case.todos:
        assert todo in skeleton
    for line in case.solution:
        assert line not in skeleton
    for path, line in case.solved:  # earlier labs stay solved
        assert line in (target / path).read_text()
    imported = subprocess.run(
        [sys.executable, "-P", "-c", f"import {', '.join(case.modules)}"],
        env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True,
    )
    assert imported.returncode == 0, imported.stderr

    lab, grade = grade_sample(case, target)
    assert [row.test.outcome for row in grade.tests] == ["failed", "failed"], grade.problems
    assert grade.earned == 0 < grade.total
    for row in grade.tests:  # the sample is part of what the lab is graded on
        assert set(row.test.specs) & set(lab.specs), row.test.nodeid

    for path in case.files:  # the solution: the real code
        shutil.copyfile(REPOSITORY / path, target / path)
    _, grade = grade_sample(case, target)
    assert grade.complete, [(row.test.nodeid, row.test.outcome) for row in grade.tests] + list(grade.problems)
    assert grade.earned == grade.total == case.points

    assert main([*common, "reset", str(case.number), "--dir", str(target), "--yes"]) == 0
    assert not target.exists()


def grade_whole_lab(number: int, files: tuple[str, ...], total: int, tmp_path: Path,
                    capsys: pytest.CaptureFixture) -> None:
    """Grade all of lab ``number``: its skeleton earns nothing (every test failing), the
    real ``files`` earn all ``total`` points (every test passing); then reset."""
    project = Project(REPOSITORY)
    lab = find_lab(project, number)
    target = tmp_path / f"lab{number}"
    assert main(["--root", str(REPOSITORY), "start", str(number), "--dir", str(target)]) == 0
    capsys.readouterr()
    for solved, earned, outcomes in ((False, 0, {"failed"}), (True, total, {"passed"})):
        if solved:
            for path in files:
                shutil.copyfile(REPOSITORY / path, target / path)
        grade = run_check(project, lab, target, show_output=False, timeout=300)
        rows = [(row.test.nodeid, row.test.outcome) for row in grade.tests] + list(grade.problems)
        assert {row.test.outcome for row in grade.tests} == outcomes, rows
        assert (grade.earned, grade.total) == (earned, total), rows
    assert main(["--root", str(REPOSITORY), "reset", str(number), "--dir", str(target), "--yes"]) == 0


@needs_root
@pytest.mark.spec("LAB-040")
def test_lab_01_namespaces(tmp_path, capsys):
    check_lab(LAB_01, tmp_path, capsys)


@needs_root
@pytest.mark.spec("LAB-041")
def test_lab_02_cgroups(tmp_path, capsys):
    check_lab(LAB_02, tmp_path, capsys)


@needs_root
@pytest.mark.spec("LAB-042")
def test_lab_03_runtime(tmp_path, capsys):
    check_lab(LAB_03, tmp_path, capsys)


@pytest.mark.spec("LAB-043")
def test_every_lab_links_its_chapter_and_spec_and_its_tests_exist():
    labs = load_catalog(Project(REPOSITORY))
    assert [lab.number for lab in labs][:4] == [0, 1, 2, 3]
    for lab in labs:
        if lab.number == 0:
            continue  # the warm-up has no chapter
        readme = (lab.directory / "README.md").read_text()
        links = set(re.findall(r"\]\(([^)#]+)\)", readme))
        chapters = list((REPOSITORY / "chapters").glob(f"{lab.number:02d}-{lab.topic}.md"))
        assert len(chapters) == 1, lab.slug
        assert f"../../chapters/{chapters[0].name}" in links, lab.slug
        assert f"../../spec/{lab.topic}.md" in links, lab.slug
        for link in links - {link for link in links if "://" in link}:
            assert (lab.directory / link).resolve().exists(), f"{lab.slug}: {link}"
        for path in lab.tests:
            assert (REPOSITORY / path.split("::")[0]).exists(), f"{lab.slug}: {path}"
