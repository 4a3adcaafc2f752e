"""The output formats (verify/grade/outputs/): Gradescope's, where nothing students see before
the due date depends on a test they cannot see yet; the registry; the plain one-line output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verify.grade import Limits, grade_submission
from verify.grade.outputs.gradescope import results_dict
from verify.grade.rubric import load_rubric

CORPUS = Path(__file__).parent / "submissions" / "python"
CORRECT = CORPUS / "correct_snake_exact.py"


def _visible(data: dict) -> str:
    """Everything of results.json a student sees before the due date."""
    return json.dumps({"output": data["output"],
                       "tests": [t for t in data["tests"] if t["visibility"] == "visible"]})


def test_the_visible_output_never_gives_the_total(tmp_path: Path) -> None:
    data = results_dict(grade_submission(CORRECT, seed=3))
    assert data["output"].startswith("Visible tests: 92 / 92 points\n"
                                     "Tests shown after the due date: 1 (8 points)")
    assert "100" not in data["output"]
    assert "execution_time" not in data and "seed" not in data["output"].lower().replace(
        "a seed chosen", "")


def test_how_a_hidden_test_went_changes_nothing_students_see_before_the_due_date(
        tmp_path: Path) -> None:
    """A hidden test that fails, prints, or hangs: the visible part of results.json is the same
    as for a correct file (same seed)."""
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[visibility]\nmse = "after_due_date"\n')
    code = CORRECT.read_text()
    variants = {
        "wrong": code + "\n\ndef mse(y_true, y_pred):\n    return 2.0\n",
        "prints": code.replace("def forward(self, x):",
                               "def forward(self, x):\n        if x.shape[0] == 7:\n"
                               "            print('HIDDEN-BATCH-7', x.tolist())"),
        "hangs": code.replace("def forward(self, x):",
                              "def forward(self, x):\n        while x.shape[0] == 7:\n"
                              "            pass"),
    }
    assert all(v != code for v in variants.values())
    limits = Limits(wall_s=8.0, task_s=1.0, cpu_s=8)
    rules = load_rubric(rubric)
    base = results_dict(grade_submission(CORRECT, seed=11, rubric=rules, limits=limits))
    for name, text in variants.items():
        sub = tmp_path / f"{name}.py"
        sub.write_text(text)
        data = results_dict(grade_submission(sub, seed=11, rubric=rules, limits=limits))
        assert _visible(data) == _visible(base), name
        assert data["score"] < 100 or name == "prints", name
    hidden = next(t for t in data["tests"] if t["tags"][0] == "hidden_network")
    assert "did not finish this part within 1 s" in hidden["output"]
    printed = results_dict(grade_submission(tmp_path / "prints.py", seed=11))
    hidden = next(t for t in printed["tests"] if t["tags"][0] == "hidden_network")
    assert "HIDDEN-BATCH-7" in hidden["output"] and "HIDDEN-BATCH-7" not in _visible(printed)


def test_every_platform_is_registered() -> None:
    from verify.grade.outputs import OUTPUTS

    assert sorted(OUTPUTS) == ["gradescope", "plain", "prairielearn"]
    for module in OUTPUTS.values():
        assert callable(module.results_dict) and callable(module.error_results)


def test_plain_output_is_one_json_line_with_the_points(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from verify.grade.cli import main

    buggy = CORPUS / "buggy_bias_averaged.py"
    assert main([str(buggy), "--format", "plain", "--seed", "3", "--no-fd"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # nothing but the line
    line = json.loads(out)
    gs = results_dict(grade_submission(buggy, seed=3, fd_check=False))
    assert line["points"] == gs["score"] and line["max_points"] == 100
    assert line["score"] == pytest.approx(gs["score"] / 100, abs=1e-6) and line["graded"]
    assert line["tests"]["api"] == gs["tests"][0]["score"]
    other = tmp_path / "mlp.rb"
    other.write_text("puts 1")
    assert main([str(other), "--format", "plain"]) == 3
    line = json.loads(capsys.readouterr().out)
    assert line["graded"] is False and line["points"] == 0 and "no runner" in line["reason"]


def test_plain_output_prints_its_line_when_there_is_nothing_to_grade(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from verify.grade.cli import main

    assert main([str(tmp_path / "missing.py"), "--format", "plain"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["graded"] is False and "missing.py was not found" in line["reason"]
    (tmp_path / "empty").mkdir()
    assert main(["--gradescope", str(tmp_path / "empty"), "--format", "plain"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["graded"] is False and "no submission file" in line["reason"]
