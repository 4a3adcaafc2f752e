"""Batch grading (verify/grade/batch.py): a language this machine cannot run is said loudly
once, its students are NOT GRADED (never 0), and the exit status says so; whatever one
student's folder holds, every other student is graded."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from points import TOTAL

from verify.grade.cli import main
from verify.grade.isolation import remove_tree
from verify.grade.runners.node import NodeRunner

SUBS = Path(__file__).parent / "submissions"


def test_students_in_a_language_that_cannot_run_here_are_not_graded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
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


def test_any_folder_layout_grades_every_other_student(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10, item 5: a file name that is not UTF-8 once cut the CSV at that student (exit 1,
    no results.json for anyone); 1,300 nested folders crashed the batch (RecursionError). Now
    the first is graded and shown escaped, the second gets NOT GRADED saying why, an oversized
    file too, and everyone else is graded."""
    folder = tmp_path / "subs"
    folder.mkdir()
    correct = (SUBS / "python" / "correct_lesson.py").read_text()
    (folder / "alice.py").write_text(correct)
    (folder / os.fsdecode(b"b\xffob.py")).write_text(correct)
    (folder / "huge.py").write_text(correct + "#" * (5 << 20))
    deep = folder / "dave"
    deep.mkdir()
    (deep / "mlp.py").write_text(correct)
    level = deep
    try:
        for _ in range(1300):
            level = level / "d"
            level.mkdir()
        table, results = tmp_path / "grades.csv", tmp_path / "results"
        code = main([str(folder), "--jobs", "2", "--sandbox", "rlimits", "--no-fd", "--csv",
                     str(table), "--results-dir", str(results)])
    finally:
        remove_tree(deep)  # pytest's own clean-up would recurse
    out, err = capsys.readouterr()
    assert code == 3  # some students NOT GRADED
    rows = {r["student"]: r for r in csv.DictReader(table.open(encoding="utf-8"))}
    assert rows["alice"]["score"] == rows["b\\udcffob"]["score"] == f"{TOTAL:g}"
    assert rows["dave"]["score"] == rows["huge"]["score"] == "not graded"
    assert "dave: NOT GRADED: dave is nested more than 16 folders deep" in err
    dave = json.loads((results / "dave.json").read_text())
    assert "nested more than 16 folders deep; submit only your code" in dave["output"]
    assert "the largest file graded is 4 MiB" in (results / "huge.json").read_text()
    assert json.loads((results / "b\\udcffob.json").read_text())["score"] == TOTAL
    assert "b\\udcffob" in out
