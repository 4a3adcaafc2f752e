"""Batch grading (verify/grade/batch.py): a language this machine cannot run is said loudly
once, its students are NOT GRADED (never 0), and the exit status says so; whatever one
student's folder holds, every other student is graded; at course scale, students named from
Gradescope's export, shards that cover everyone once, results written as each student is done,
--resume, and rescore."""

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


# ------------------------------------------------------------------------------ course scale


def _course(root: Path) -> Path:
    """A Gradescope export: submission folders (a single file, a multi-file submission, a
    notebook, a JavaScript file), loose files, and submission_metadata.yml."""
    folder = root / "export"
    folder.mkdir()
    shutil.copy(SUBS / "python" / "correct_lesson.py", folder / "alice.py")
    shutil.copy(SUBS / "python" / "buggy_not_chained.py", folder / "bob.py")
    shutil.copytree(SUBS / "multifile" / "python" / "correct", folder / "submission_11")
    (folder / "submission_12").mkdir()
    shutil.copy(SUBS / "notebooks" / "buggy_missing_activation_derivative.ipynb",
                folder / "submission_12" / "homework.ipynb")
    (folder / "submission_13").mkdir()
    shutil.copy(SUBS / "python" / "buggy_bias_averaged.py", folder / "submission_13" / "mlp.py")
    (folder / "submission_metadata.yml").write_text(
        "submission_11:\n  :submitters:\n  - :name: Carol Jones\n    :sid: '11'\n"
        "    :email: carol@example.edu\n"
        "submission_12:\n  :submitters:\n  - :name: Dan Ray\n    :sid: '12'\n"
        "    :email: dan@example.edu\n  - :name: Eve Ray\n    :sid: '13'\n"
        "    :email: eve@example.edu\n"
        "submission_13:\n  :submitters:\n  - :name: Fay Wu\n    :sid: '14'\n")
    return folder


STUDENTS = {"alice", "bob", "Carol Jones", "Dan Ray + Eve Ray", "Fay Wu"}


def test_a_gradescope_export_is_graded_under_the_students_names(tmp_path: Path) -> None:
    from verify.grade.batch import grade_folder, write_csv

    result = grade_folder(_course(tmp_path), seed=5, progress=False, fd_check=False)
    assert set(result.reports) == STUDENTS and not result.warnings
    scores = {n: r.score for n, r in result.reports.items()}
    assert scores["alice"] == scores["Carol Jones"] == 108  # multi-file: full marks
    diagnoses = {n: {d.split("@")[0] for t in r.tests for d in t.diagnoses}
                 for n, r in result.reports.items()}
    assert diagnoses["Dan Ray + Eve Ray"] == {"missing_activation_derivative"}  # a notebook
    assert diagnoses["Fay Wu"] == {"bias_averaged"} and "not_chained" in diagnoses["bob"]
    write_csv(result, tmp_path / "g.csv")
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert rows["Dan Ray + Eve Ray"]["sid"] == "12;13"
    assert rows["Dan Ray + Eve Ray"]["email"] == "dan@example.edu;eve@example.edu"
    assert rows["alice"]["sid"] == ""


def test_shards_grade_every_student_exactly_once(tmp_path: Path) -> None:
    folder = _course(tmp_path)
    seen: list[str] = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        code = main([str(folder), "--shard", f"{k}/3", "--results-dir", str(out), "--seed", "5",
                     "--no-fd", "-q"])
        assert code == 0
        seen += [p.stem for p in sorted(out.glob("*.json"))]
    assert sorted(seen) == sorted(STUDENTS)  # everyone once, nobody twice


def test_results_are_written_as_each_student_is_done_and_resume_skips_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.grade.batch as batch

    folder = _course(tmp_path)
    out = tmp_path / "results"
    real = batch.grade_submission
    graded: list[tuple[str, int]] = []

    def counting(target, **kwargs):  # noqa: ANN001, ANN003
        graded.append((str(target), len(list(out.glob("*.json")))))
        return real(target, **kwargs)

    monkeypatch.setattr(batch, "grade_submission", counting)
    args = [str(folder), "--results-dir", str(out), "--seed", "5", "--no-fd", "-q",
            "--jobs", "1"]
    assert main(args) == 0
    # One at a time: each student starts with every earlier student's results on disk.
    assert [n for _, n in graded] == list(range(len(STUDENTS)))
    first = {p.name: p.read_text() for p in out.glob("*.json")}
    graded.clear()
    assert main([*args, "--resume"]) == 0
    assert graded == []  # nothing graded again
    assert {p.name: p.read_text() for p in out.glob("*.json")} == first
    # A changed file, another seed, another rubric: graded again (only what changed).
    (folder / "bob.py").write_text((folder / "bob.py").read_text() + "\n# edited\n")
    assert main([*args, "--resume"]) == 0
    assert [Path(t).name for t, _ in graded] == ["bob.py"]
    graded.clear()
    assert main([str(folder), "--results-dir", str(out), "--seed", "6", "--no-fd", "-q",
                 "--resume"]) == 0
    assert len(graded) == len(STUDENTS)


def test_rescore_gives_the_totals_of_a_fresh_run_with_the_new_rubric(tmp_path: Path) -> None:
    folder = _course(tmp_path)
    out = tmp_path / "results"
    assert main([str(folder), "--results-dir", str(out), "--seed", "5", "--no-fd", "-q"]) == 0
    rubric = tmp_path / "new.toml"
    rubric.write_text("[points]\napi = 10\nnetwork_backward = 30\nhidden_network = 1.5\n")
    assert main(["rescore", str(out), "--rubric", str(rubric), "--csv",
                 str(tmp_path / "rescored.csv"), "-q"]) == 0
    assert main([str(folder), "--seed", "5", "--no-fd", "-q", "--rubric", str(rubric), "--csv",
                 str(tmp_path / "fresh.csv")]) == 0

    def rows(name: str) -> dict[str, dict[str, str]]:
        return {r["student"]: r for r in csv.DictReader((tmp_path / name).open())}

    rescored, fresh = rows("rescored.csv"), rows("fresh.csv")
    assert rescored == fresh  # every student's total, every test's points, diagnoses, seed
    assert {r["score"] for r in fresh.values()} != {"100"}
    results = json.loads((out / "bob.json").read_text())
    assert results["score"] == float(fresh["bob"]["score"])
    assert results["tests"][0]["max_score"] == 10
    # The records now carry the new rubric: resuming with it grades nobody again.
    assert main([str(folder), "--results-dir", str(out), "--seed", "5", "--no-fd", "-q",
                 "--rubric", str(rubric), "--resume", "--csv", str(tmp_path / "r2.csv")]) == 0
    assert rows("r2.csv") == fresh


def test_rescore_and_shard_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rescore", str(tmp_path)]) == 2
    assert "no records in" in capsys.readouterr().err
    assert main([str(tmp_path), "--shard", "5/4"]) == 2
    assert "--shard must be K/N with 1 <= K <= N" in capsys.readouterr().err
    assert main([str(tmp_path), "--resume"]) == 2
    assert "--resume needs --results-dir" in capsys.readouterr().err


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
