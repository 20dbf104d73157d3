"""Lab 00 on the real repository: start it, check the skeleton, check the solution."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from minidock.lab.cli import main

REPOSITORY = Path(__file__).resolve().parents[2]
MARKERS = Path("minidock/lab/markers.py")


@pytest.mark.spec("LAB-023")
def test_warmup_skeleton_fails_and_solution_passes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    target = tmp_path / "warmup"
    common = ["--root", str(REPOSITORY)]

    assert main([*common, "start", "0", "--dir", str(target)]) == 0
    skeleton = (target / MARKERS).read_text()
    assert "# TODO(lab 00): match the comment against MARKER" in skeleton
    assert "# TODO(lab 00): pair each begin with the next end" in skeleton
    assert "MARKER.fullmatch" not in skeleton
    capsys.readouterr()

    assert main([*common, "check", "0", "--dir", str(target), "--quiet"]) == 1
    out = capsys.readouterr().out
    total_line = next(line for line in out.splitlines() if "total" in line)
    earned, total = total_line.split("│")[-2].strip().split("/")
    assert int(earned) < int(total)

    shutil.copyfile(REPOSITORY / MARKERS, target / MARKERS)  # the solution: the real file
    assert main([*common, "check", "0", "--dir", str(target), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{total}/{total}" in out
