"""`minidock lab list|start|check|reset` on a tiny project in a tmp folder (no root)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minidock.lab.catalog import Project, load_catalog, parse_lab
from minidock.lab.grader import Outcome, grade_table, grading_environment, score
from minidock.errors import InvalidArgument


def workspace(root: Path, lab: str = "01-greet") -> Path:
    return root / "labs" / lab / "work"


@pytest.mark.spec("LAB-001", "LAB-002")
def test_start_writes_a_skeleton_of_the_package(fake_project, lab_main, capsys):
    assert lab_main("start", "1") == 0
    copy = workspace(fake_project) / "fakepkg"
    greet = (copy / "greet.py").read_text()
    assert "# TODO(lab 01): return a greeting for name" in greet
    assert "raise NotImplementedError('lab 01: return a greeting for name')" in greet
    assert 'return f"hello, {name}"' not in greet
    # lab 02's region stays solved, markers and all; other files are copied as they are
    assert "# lab 02: begin: return the greeting in capitals\n    return greet(name).upper()" in greet
    assert (copy / "data.txt").read_text() == "not python # lab 01: begin\n"
    assert (copy / "__init__.py").read_bytes() == (fake_project / "fakepkg/__init__.py").read_bytes()
    assert "fakepkg/greet.py" in capsys.readouterr().out


@pytest.mark.spec("LAB-003")
def test_start_refuses_to_overwrite_a_workspace(fake_project, lab_main, capsys):
    assert lab_main("start", "1") == 0
    edited = workspace(fake_project) / "fakepkg/greet.py"
    edited.write_text("# my work\n")
    capsys.readouterr()
    assert lab_main("start", "1") == 1
    assert "already exists" in capsys.readouterr().err
    assert edited.read_text() == "# my work\n"


@pytest.mark.spec("LAB-004")
def test_start_names_the_file_and_line_of_a_bad_marker(fake_project, lab_main, capsys):
    (fake_project / "fakepkg/broken.py").write_text("x = 1\n# lab 01: begin\ny = 2\n")
    assert lab_main("start", "1") == 1
    assert "fakepkg/broken.py:2:" in capsys.readouterr().err
    assert not workspace(fake_project).exists()


@pytest.mark.spec("LAB-006")
def test_start_rejects_a_stub_that_is_not_valid_python(fake_project, lab_main, capsys):
    (fake_project / "fakepkg/table.py").write_text(
        "NAMES = [\n    # lab 01: begin\n    'uts',\n    # lab 01: end\n]\n"
    )
    assert lab_main("start", "1") == 1
    assert "fakepkg/table.py:3:" in capsys.readouterr().err
    assert not workspace(fake_project).exists()


@pytest.mark.spec("LAB-010")
def test_lab_toml_describes_a_lab(fake_project):
    labs = load_catalog(Project(fake_project, "fakepkg"))
    assert [(lab.number, lab.title, lab.topic, lab.slug) for lab in labs] == [
        (1, "Greetings", "greet", "01-greet"),
        (2, "Shouting", "shout", "02-shout"),
    ]
    assert labs[0].tests == ("tests/test_greet.py",)
    assert labs[1].specs == ("FAKE-002",)


@pytest.mark.spec("LAB-010")
@pytest.mark.parametrize(
    "text", ['number = 1\ntitle = "x"\ntopic = "y"\n', 'number = "one"\n', "number = [\n"]
)
def test_a_malformed_lab_toml_is_rejected_naming_the_file(tmp_path, text):
    with pytest.raises(InvalidArgument, match=r"broken/lab\.toml"):
        parse_lab(text, tmp_path / "broken")


@pytest.mark.spec("LAB-011")
def test_points_come_from_the_test_name_then_spec_then_default(fake_project):
    lab = parse_lab(
        'number = 1\ntitle = "t"\ntopic = "t"\ntests = []\ndefault_points = 2\n'
        '[points]\ntest_a = 5\n"test_b[x]" = 7\n"S-1" = 3\n',
        fake_project,
    )
    assert lab.points_for("test_a[case]") == 5
    assert lab.points_for("test_b[x]") == 7
    assert lab.points_for("test_c", ["S-0", "S-1"]) == 3
    assert lab.points_for("test_d", ["S-0"]) == 2


@pytest.mark.spec("LAB-021", "LAB-022")
def test_score_gives_points_only_to_passed_tests(fake_project):
    lab = load_catalog(Project(fake_project, "fakepkg"))[0]
    outcomes = [
        Outcome("t::test_greet_says_hello", "test_greet_says_hello", "passed"),
        Outcome("t::test_other", "test_other", "skipped"),
        Outcome("t::test_third", "test_third", "failed"),
    ]
    grade = score(lab, outcomes)
    assert [(row.earned, row.possible) for row in grade.tests] == [(3, 3), (0, 1), (0, 1)]
    assert (grade.earned, grade.total, grade.complete) == (3, 5, False)
    assert score(lab, outcomes[:1]).complete
    assert not score(lab, outcomes[:1], ["could not collect"]).complete
    assert not score(lab, []).complete
    assert grade_table(grade).row_count == 4  # three tests and the total


@pytest.mark.spec("LAB-020")
def test_the_grading_environment_puts_the_workspace_first(tmp_path):
    project = Project(tmp_path / "repo")
    env = grading_environment(
        project, tmp_path / "ws", tmp_path / "plugin",
        base={"PYTHONPATH": f"{tmp_path / 'repo'}:/elsewhere", "HOME": "/root"},
    )
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "ws"), str(tmp_path / "plugin"), "/elsewhere"]
    assert env["PYTHONSAFEPATH"] == "1"


@pytest.mark.spec("LAB-020", "LAB-021", "LAB-022", "LAB-030")
def test_check_fails_on_the_skeleton_and_passes_on_the_solution(fake_project, lab_main, capsys):
    assert lab_main("list") == 0
    assert "not started" in capsys.readouterr().out

    assert lab_main("start", "1") == 0
    assert lab_main("list") == 0
    assert "│ started " in capsys.readouterr().out

    assert lab_main("check", "1", "--quiet") == 1
    out = capsys.readouterr().out
    assert "test_greet_says_hello" in out and "0/3" in out
    assert "1/5" in out  # the workspace-copy test passes; the greeting does not
    assert lab_main("list") == 0
    assert "started (1/5 points)" in capsys.readouterr().out

    # the student writes the solution: here, the original file
    shutil.copyfile(fake_project / "fakepkg/greet.py", workspace(fake_project) / "fakepkg/greet.py")
    assert lab_main("check", "1", "--quiet") == 0
    out = capsys.readouterr().out
    assert "3/3" in out and "5/5" in out
    assert lab_main("list") == 0
    assert "passed (5/5 points)" in capsys.readouterr().out


@pytest.mark.spec("LAB-012", "LAB-022")
def test_check_runs_only_the_labs_specs_and_a_custom_dir(fake_project, lab_main, tmp_path, capsys):
    target = tmp_path / "elsewhere"
    assert lab_main("start", "2", "--dir", str(target)) == 0
    assert lab_main("check", "2", "--dir", str(target), "--quiet") == 1
    out = capsys.readouterr().out
    assert "test_shout" in out and "0/5" in out
    assert "test_greet_says_hello" not in out
    result = json.loads((target / ".lab-result.json").read_text())
    assert result == {"earned": 0, "total": 5}


@pytest.mark.spec("LAB-022")
def test_check_without_a_workspace_says_how_to_start(fake_project, lab_main, capsys):
    assert lab_main("check", "1") == 1
    assert "minidock lab start 1" in capsys.readouterr().err


@pytest.mark.spec("LAB-031")
def test_reset_asks_first_unless_yes(fake_project, lab_main, monkeypatch, capsys):
    assert lab_main("start", "1") == 0
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert lab_main("reset", "1") == 1
    assert workspace(fake_project).exists()
    monkeypatch.setattr("builtins.input", lambda question: "yes")
    assert lab_main("reset", "1") == 0
    assert not workspace(fake_project).exists()
    assert lab_main("start", "1") == 0
    assert lab_main("reset", "1", "--yes") == 0
    assert not workspace(fake_project).exists()
    assert lab_main("list") == 0
    assert "not started" in capsys.readouterr().out


@pytest.mark.spec("LAB-031")
def test_reset_refuses_a_folder_that_is_not_a_workspace(fake_project, lab_main, tmp_path, capsys):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert lab_main("reset", "1", "--dir", str(precious), "--yes") == 1
    assert (precious / "thesis.tex").exists()
    assert "does not look like a lab workspace" in capsys.readouterr().err


@pytest.mark.spec("LAB-032")
def test_lab_mounts_on_a_parent_cli(fake_project, monkeypatch, capsys):
    from minidock.lab.cli import add_parser

    monkeypatch.setenv("COLUMNS", "200")
    parser = argparse.ArgumentParser(prog="minidock")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lab", "--root", str(fake_project), "--package", "fakepkg", "list"])
    assert args.func(args) == 0
    assert "Greetings" in capsys.readouterr().out


@pytest.mark.spec("LAB-032")
def test_python_dash_m_minidock_lab_runs(fake_project):
    completed = subprocess.run(
        [sys.executable, "-m", "minidock.lab", "--root", str(fake_project), "--package", "fakepkg", "list"],
        capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "Shouting" in completed.stdout


@pytest.mark.spec("LAB-020")
def test_the_pytest_pythonpath_option_keeps_the_workspace_first(fake_project, lab_main, capsys):
    # a project whose pytest config puts its root on sys.path (for `import tests.helpers`)
    (fake_project / "pytest.ini").unlink()
    (fake_project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\nmarkers = ["spec(*ids): spec IDs"]\n'
    )
    assert lab_main("start", "1") == 0
    shutil.copyfile(fake_project / "fakepkg/greet.py", workspace(fake_project) / "fakepkg/greet.py")
    assert lab_main("check", "1", "--quiet") == 0, capsys.readouterr().out


@pytest.mark.spec("LAB-022")
def test_the_grade_table_prints_parametrized_ids(fake_project):
    import io

    from rich.console import Console

    lab = load_catalog(Project(fake_project, "fakepkg"))[0]
    grade = score(lab, [Outcome("t::test_greet_says_hello[/abs]", "test_greet_says_hello", "passed")])
    out = io.StringIO()
    Console(file=out, width=200).print(grade_table(grade))  # rich would read '[/abs]' as a closing tag
    assert "test_greet_says_hello[/abs]" in out.getvalue()
