"""Batch grading (verify/grade/batch.py): a language this machine cannot run is said loudly
once, its students are NOT GRADED (never 0), and the exit status says so."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from points import TOTAL

from verify.grade.cli import main
from verify.grade.runners.node import NodeRunner

SUBS = Path(__file__).parent / "submissions"


def test_students_in_a_language_that_cannot_run_here_are_not_graded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(NodeRunner, "unavailable_reason",
                        lambda self: "math.js is not installed for the Node runner")
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(SUBS / "python" / "correct_lesson.py", folder / "alice.py")
    shutil.copy(SUBS / "js" / "readme_example.js", folder / "bob.js")
    shutil.copy(SUBS / "js" / "correct_lesson.js", folder / "carol.js")
    table = tmp_path / "grades.csv"
    results = tmp_path / "results"
    assert main([str(folder), "--csv", str(table), "--results-dir", str(results)]) == 3
    out, err = capsys.readouterr()
    assert err.count("CANNOT GRADE 2 js submission(s) on this machine: math.js is not "
                     "installed for the Node runner") == 1
    rows = {r["student"]: r for r in csv.DictReader(table.open())}
    assert rows["alice"]["score"] == f"{TOTAL:g}"
    assert rows["bob"]["score"] == rows["carol"]["score"] == "not graded"
    assert "NOT GRADED" in out and "2 submission(s) NOT GRADED" in err
    assert (results / "bob.json").read_text().count('"graded": false') == 1
