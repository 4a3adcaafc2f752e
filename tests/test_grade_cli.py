"""`python -m verify grade`: single, batch, Gradescope mode, rubric files, results.json, bundle."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from points import TOTAL

from verify.grade.cli import main
from verify.grade.outputs import write_results
from verify.grade.rubric import DEFAULT_POINTS, load_rubric

CORPUS = Path(__file__).parent / "submissions" / "python"
GOOD = CORPUS / "correct_lesson.py"
BAD = CORPUS / "buggy_bias_averaged.py"


def test_single_submission_writes_results_and_a_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "results.json"
    assert main([str(GOOD), "--results", str(out), "--seed", "5", "--sandbox", "rlimits"]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == TOTAL and data["extra_data"]["seed"] == 5
    assert data["extra_data"]["sandbox"] == "rlimits"
    assert [t["max_score"] for t in data["tests"]] == list(DEFAULT_POINTS.values())
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_due_date"}
    text = capsys.readouterr().out
    assert f"Total: {TOTAL:g} / {TOTAL:g}   seed 5 (given)   sandbox rlimits" in text


def test_seed_reproduces_a_run(tmp_path: Path) -> None:
    outs = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"r{i}.json"
        assert main([str(BAD), "--results", str(out), "--seed", str(seed), "-q"]) == 0
        outs.append(json.loads(out.read_text()))
    tests = [[(t["name"], t["score"], t["output"]) for t in o["tests"]] for o in outs]
    assert tests[0] == tests[1]
    assert tests[0] != tests[2]  # fresh numbers for another seed (the failures show values)
    assert outs[0]["extra_data"]["seed"] == 7 and outs[0]["extra_data"]["seed_source"] == "given"
    assert "seed" not in outs[0]["output"].lower().replace("a seed chosen", "")  # not shown


def test_failing_feedback_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(BAD), "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "likely cause (DenseLayer.backward): bias gradient averaged over the batch instead " \
        "of summed" in text
    assert "d_biases: 4 / 4 mismatched; worst at (0, " in text


def test_batch_folder_with_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(GOOD, subs / "alice.py")
    shutil.copy(BAD, subs / "bob.py")
    (subs / "carol").mkdir()
    shutil.copy(CORPUS / "correct_einsum_loops.py", subs / "carol" / "mlp.py")
    (subs / "dave").mkdir()  # submitted nothing
    (subs / "notes.txt").write_text("not a submission")
    table = tmp_path / "grades.csv"
    rdir = tmp_path / "per-student"
    assert main([str(subs), "--jobs", "2", "--csv", str(table), "--results-dir", str(rdir),
                 "--seed", "3", "-q"]) == 0
    rows = list(csv.DictReader(table.open()))
    scores = {r["student"]: float(r["score"]) for r in rows}
    assert scores["alice"] == scores["carol"] == TOTAL and scores["bob"] < TOTAL
    assert set(scores) == {"alice", "bob", "carol"}
    bob = next(r for r in rows if r["student"] == "bob")
    assert "bias_averaged" in bob["diagnoses"] and bob["seed"] == "3"
    assert float(bob["backward_relu"]) < DEFAULT_POINTS["backward_relu"]
    assert json.loads((rdir / "bob.json").read_text())["score"] == float(bob["score"])
    assert "dave: no submission file (.ipynb, .js, .mjs, .py) in dave" in capsys.readouterr().err


def test_gradescope_mode(tmp_path: Path) -> None:
    sub = tmp_path / "submission"
    sub.mkdir()
    out = tmp_path / "results.json"
    # Nothing submitted: a valid results.json that says so, exit 0.
    assert main(["--gradescope", str(sub), "--results", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == 0 and "no submission file (.ipynb, .js, .mjs, .py)" in data["output"]
    shutil.copy(GOOD, sub / "mlp.py")
    (sub / "helper.py").write_text("x = 1\n")
    assert main(["--gradescope", str(sub), "--entry", "mlp.py", "--results", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["score"] == TOTAL


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "r.toml"
    bad.write_text("[points]\nbackward_relux = 3\n")
    assert main([str(GOOD), "--rubric", str(bad)]) == 2
    assert "unknown test id 'backward_relux' in points" in capsys.readouterr().err
    assert main([str(GOOD), "--jobs", "0"]) == 2


def test_unsupported_file_still_gets_a_valid_grade(tmp_path: Path) -> None:
    sub = tmp_path / "mlp.rb"
    sub.write_text("puts 1")
    out = tmp_path / "results.json"
    assert main([str(sub), "--results", str(out), "-q"]) == 3  # not graded: says so
    data = json.loads(out.read_text())
    assert data["score"] == 0 and "no runner for" in data["tests"][0]["output"]
    assert data["extra_data"]["graded"] is False and data["output"].startswith("NOT GRADED")


def test_sandbox_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sandbox-info"]) == 0
    text = capsys.readouterr().out
    assert "rlimits    usable" in text and "selected: " in text
    assert main(["--sandbox-info", "--sandbox", "rlimits"]) == 0
    assert "selected: rlimits" in capsys.readouterr().out


# ------------------------------------------------------------------------------ rubric


def test_default_rubric_is_the_old_100_plus_the_saturated_test() -> None:
    rubric = load_rubric()
    assert rubric.total == 100 + rubric.points["saturated"] == TOTAL
    assert rubric.visibility_of("hidden_network") == "after_due_date"


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_rubric_override(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rubric{suffix}"
    if suffix == ".toml":
        path.write_text('[points]\napi = 10\nhidden_network = 0\n[visibility]\nmse = "hidden"\n')
    else:
        path.write_text(json.dumps({"points": {"api": 10, "hidden_network": 0},
                                    "visibility": {"mse": "hidden"}}))
    rubric = load_rubric(path)
    assert rubric.points["api"] == 10 and rubric.points["hidden_network"] == 0
    assert rubric.total == TOTAL + 6 - 8 and rubric.hides_values("mse")
    out = tmp_path / "results.json"
    assert main([str(GOOD), "--rubric", str(path), "--results", str(out), "-q"]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == rubric.total  # full marks under the new points
    assert next(t for t in data["tests"] if t["tags"][0] == "mse")["visibility"] == "hidden"


@pytest.mark.parametrize(("text", "message"), [
    ("[points]\napi = -1\n", "points.api must be a number >= 0"),
    ('[points]\napi = "four"\n', "points.api must be a number >= 0"),
    ('[visibility]\napi = "sometimes"\n', "visibility.api must be one of"),
    ("[scores]\napi = 1\n", "unknown section(s) ['scores']"),
    ("[points\n", "invalid TOML"),
])
def test_rubric_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        load_rubric(path)


def test_unreadable_rubric_files_name_the_problem(tmp_path: Path) -> None:
    where = __import__('re').escape(str(tmp_path))
    with pytest.raises(ValueError, match=f"rubric file {where} is not a file"):
        load_rubric(tmp_path)
    path = tmp_path / "r.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError, match="r.json: cannot be read as UTF-8 text"):
        load_rubric(path)


# ------------------------------------------------------------------------------ results.json


def test_results_write_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    write_results({"score": 1.0, "tests": []}, out)
    with pytest.raises(ValueError):
        write_results({"score": float("nan"), "tests": []}, out)
    assert json.loads(out.read_text()) == {"score": 1.0, "tests": []}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


# ------------------------------------------------------------------------------ bundle


def test_bundle(tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    rubric.write_text("[points]\napi = 5\n")
    out = tmp_path / "autograder.zip"
    assert main(["bundle", "--out", str(out), "--entry", "mlp.py", "--rubric", str(rubric)]) == 0
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "rubric.toml",
                "verify/grade/runners/python_runner.py",
                "verify/grade/_launcher.py", "reference_mlp/layers.py"} <= names
        assert not any("__pycache__" in n or "node_modules" in n for n in names)
        mode = zf.getinfo("run_autograder").external_attr >> 16
        assert mode & 0o111
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
    assert "--gradescope /autograder/submission --entry mlp.py" in run
    assert "--rubric rubric.toml" in run and "exit 0" in run
    assert "bubblewrap" in setup and 'chmod -R go-rwx "$SOURCE"' in setup
    assert 'SOURCE="${VERIFY_SETUP_SOURCE:-/autograder/source}"' in setup  # run: test_grade_bundle
    assert "torch" not in setup
    for name, text in (("run_autograder", run), ("setup.sh", setup)):
        script = tmp_path / name
        script.write_text(text)
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert main(["bundle", "--out", str(tmp_path / "x.tar")]) == 2


def test_a_grader_bug_still_leaves_valid_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.grade.batch as batch
    import verify.grade.grader as grader

    real = grader.grade_submission

    def broken(path, **kwargs):  # noqa: ANN001, ANN003
        if Path(path).stem == "bob":
            raise ZeroDivisionError("oops")
        return real(path, **kwargs)

    monkeypatch.setattr(grader, "grade_submission", broken)
    monkeypatch.setattr(batch, "grade_submission", broken)
    sub = tmp_path / "bob.py"
    shutil.copy(GOOD, sub)
    out = tmp_path / "results.json"
    with pytest.raises(ZeroDivisionError):
        main([str(sub), "--results", str(out), "-q"])
    output = json.loads(out.read_text())["output"]
    assert "internal grader error (ZeroDivisionError: oops)" in output
    shutil.copy(GOOD, tmp_path / "alice.py")
    table = tmp_path / "grades.csv"
    assert main([str(tmp_path), "--csv", str(table), "-q", "--seed", "1"]) == 3
    scores = {r["student"]: r["score"] for r in csv.DictReader(table.open())}
    assert scores == {"alice": f"{TOTAL:g}", "bob": "not graded"}


def test_rubric_visibility_hides_values(tmp_path: Path) -> None:
    from verify.grade import grade_submission

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"visibility": {"backward_relu": "after_due_date"}}))
    report = grade_submission(CORPUS / "buggy_missing_activation_derivative.py", seed=2,
                              rubric=load_rubric(path))
    relu = next(t for t in report.tests if t.id == "backward_relu")
    tanh = next(t for t in report.tests if t.id == "backward_tanh")
    assert relu.visibility == "after_due_date" and not relu.passed
    assert "values of hidden tests are not shown" in relu.output
    assert "expected " not in relu.output and "e.g." not in relu.output
    assert "likely cause (DenseLayer.backward): missing activation derivative" in relu.output
    assert "expected " in tanh.output  # visible tests do show values
    assert "e.g." not in tanh.output  # a mismatch is shown once, not again after the verdict


def test_negative_seed_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    assert main([str(GOOD), "--seed", "-1", "--results", str(out), "-q"]) == 2
    assert "--seed must be an integer >= 0, got -1" in capsys.readouterr().err
    assert main([str(tmp_path), "--seed", "-1", "-q"]) == 2  # batch: not a zero per student
    assert not out.exists()


def test_infinite_limits_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(GOOD), "--wall-limit", "inf"]) == 2
    assert "Limits.wall_s must be a positive finite number, got inf" in capsys.readouterr().err


def test_batch_grades_submissions_that_share_a_name(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    shutil.copy(GOOD, subs / "alice" / "mlp.py")
    shutil.copy(GOOD, subs / "alice.py")
    shutil.copy(BAD, subs / "bob.py")
    table = tmp_path / "grades.csv"
    assert main([str(subs), "--csv", str(table), "--seed", "3", "-q", "--no-fd"]) == 0
    rows = {r["student"]: r for r in csv.DictReader(table.open())}
    assert set(rows) == {"alice", "alice.py", "bob"}  # nothing silently dropped
    assert rows["alice.py"]["submission"] == str(subs / "alice.py")
    assert "alice.py: another submission is also named 'alice'" in capsys.readouterr().err


def test_a_symlinked_submission_is_not_followed(tmp_path: Path) -> None:
    # e.g. a cloned repository whose mlp.py links to a file of the grading machine: its lines
    # would come back in a SyntaxError's traceback.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET grader line 4411\n")
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "mlp.py").symlink_to(secret)
    out = tmp_path / "results.json"
    assert main(["--gradescope", str(sub), "--results", str(out), "-q"]) == 3
    data = json.loads(out.read_text())
    assert data["score"] == 0 and data["extra_data"]["graded"] is False
    assert "mlp.py is a symbolic link: submit the file itself" in data["tests"][0]["output"]
    assert "4411" not in json.dumps(data)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "not-a-terminal"])
def test_batch_progress_bar_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               terminal: bool) -> None:
    class Stderr(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(CORPUS / "correct_lesson.py", folder / "alice.py")
    fake = Stderr()
    monkeypatch.setattr(sys, "stderr", fake)
    assert main([str(folder), "--jobs", "1", "--seed", "3"]) == 0
    drawn = "1/1 [" in fake.getvalue() and "submission" in fake.getvalue()
    assert drawn == terminal


@pytest.mark.parametrize("options, needle", [
    (["--csv", "grades.csv"], "--csv applies to a folder"),
    (["--results-dir", "out"], "--results-dir applies to a folder"),
    (["--csv", "g.csv", "--shard", "1/2"], "--csv, --shard apply to a folder"),
], ids=["csv", "results-dir", "csv+shard"])
def test_batch_options_for_one_file_are_usage_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str],
        needle: str) -> None:
    """They used to be ignored with exit 0: no CSV, no folder, and nothing said why."""
    sub = tmp_path / "mlp.py"
    sub.write_text("import numpy as np\n")
    opts = [str(tmp_path / o) if not o.startswith("-") and "/" not in o else o for o in options]
    assert main([str(sub), *opts]) == 2
    assert needle in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("grades.csv", "g.csv", "out"))


def test_results_for_a_folder_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "alice.py").write_text("import numpy as np\n")
    assert main([str(tmp_path / "course"), "--results", str(tmp_path / "r.json")]) == 2
    assert "use --results-dir DIR" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_a_file_no_runner_takes_names_every_extension_and_no_seed_source(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Notebooks were missing from the list, and the summary said the seed was 'given'."""
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0\n")
    assert main([str(other)]) == 3
    out = capsys.readouterr()
    assert "expected a file ending in .ipynb, .js, .mjs, .py" in out.out + out.err
    assert "(given)" not in out.out


def test_a_prairielearn_root_that_does_not_exist_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "grade-typo"
    assert main(["--prairielearn", str(root)]) == 2
    assert "no such folder" in capsys.readouterr().err and not root.exists()
