"""Gradescope output (verify/grade/outputs/gradescope.py): nothing students see before the due date
depends on a test they cannot see yet."""

from __future__ import annotations

import json
from pathlib import Path

from points import TOTAL, points

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
    hidden = points("hidden_network")
    assert data["output"].startswith(f"Visible tests: {TOTAL - hidden:g} / {TOTAL - hidden:g} "
                                     f"points\nTests shown after the due date: 1 ({hidden:g} "
                                     f"points)")
    assert f"{TOTAL:g}" not in data["output"]
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
    base = results_dict(grade_submission(CORRECT, seed=11, rubric=load_rubric(rubric), limits=limits))
    for name, text in variants.items():
        sub = tmp_path / f"{name}.py"
        sub.write_text(text)
        data = results_dict(grade_submission(sub, seed=11, rubric=load_rubric(rubric), limits=limits))
        assert _visible(data) == _visible(base), name
        assert data["score"] < TOTAL or name == "prints", name
    hidden = next(t for t in data["tests"] if t["tags"][0] == "hidden_network")
    assert "did not finish this part within 1 s" in hidden["output"]
    printed = results_dict(grade_submission(tmp_path / "prints.py", seed=11))
    hidden = next(t for t in printed["tests"] if t["tags"][0] == "hidden_network")
    assert "HIDDEN-BATCH-7" in hidden["output"] and "HIDDEN-BATCH-7" not in _visible(printed)
