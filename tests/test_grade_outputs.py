"""The output formats (verify/grade/outputs/): Gradescope's, where nothing students see before
the due date depends on a test they cannot see yet, and no submission can make results.json
larger than 1 MiB (issue 10, item 6); the registry; the plain one-line output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from points import TOTAL, points

from verify.grade import Limits, grade_submission
from verify.grade.outputs import write_results
from verify.grade.outputs._fit import document_size, fit
from verify.grade.outputs.gradescope import MAX_BYTES, results_dict
from verify.grade.rubric import load_rubric
from verify.grade.runners.node import NodeRunner
from verify.grade.sandbox import bwrap_unavailable_reason
from verify.grade.scoring import TEST_OUTPUT_BYTES
from verify.grade.text import cut_json, json_size

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
    rubric_ = load_rubric(rubric)
    base = results_dict(grade_submission(CORRECT, seed=11, rubric=rubric_, limits=limits))
    for name, text in variants.items():
        sub = tmp_path / f"{name}.py"
        sub.write_text(text)
        data = results_dict(grade_submission(sub, seed=11, rubric=rubric_, limits=limits))
        assert _visible(data) == _visible(base), name
        assert data["score"] < TOTAL or name == "prints", name
    hidden = next(t for t in data["tests"] if t["tags"][0] == "hidden_network")
    assert "did not finish this part within 1 s" in hidden["output"]
    printed = results_dict(grade_submission(tmp_path / "prints.py", seed=11))
    hidden = next(t for t in printed["tests"] if t["tags"][0] == "hidden_network")
    assert "HIDDEN-BATCH-7" in hidden["output"] and "HIDDEN-BATCH-7" not in _visible(printed)


# ------------------------------------------------------------------------------ size caps

NO_BWRAP = bwrap_unavailable_reason()
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    NO_BWRAP is not None, reason=f"bwrap: {NO_BWRAP}"))]
NO_NODE = NodeRunner().unavailable_reason()


def test_cut_json_cuts_by_the_bytes_of_the_document_and_says_so() -> None:
    assert cut_json("short", 100, "why") == "short"
    text = "\U00020000" * 10_000  # 12 bytes each in JSON
    cut = cut_json(text, 4096, "the limit is 4 KiB")
    assert json_size(cut) <= 4096 < json_size(text)
    assert cut.endswith("more characters not shown; the limit is 4 KiB]")
    assert cut.startswith("\U00020000" * 100)


def test_fit_cuts_the_longest_texts_first() -> None:
    doc = {"output": "a" * 50, "tests": [{"output": "b" * 5000}, {"output": "c" * 300_000}]}
    fields = [(doc, "output")] + [(t, "output") for t in doc["tests"]]
    fit(doc, 100_000, fields, "the document is limited")
    assert document_size(doc) <= 100_000
    assert doc["output"] == "a" * 50 and doc["tests"][0]["output"] == "b" * 5000
    assert "[cut here:" in doc["tests"][1]["output"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", [
    CORPUS / "hostile_huge_error.py", CORPUS / "hostile_forged_flood.py",
    pytest.param(CORPUS.parent / "js" / "hostile_huge_error.js",
                 marks=pytest.mark.skipif(NO_NODE is not None, reason=f"Node: {NO_NODE}"))],
    ids=["huge-error", "forged-flood", "huge-error-js"])
def test_results_json_stays_under_1_mib_and_says_where_it_was_cut(
        mode: str, source: Path, tmp_path: Path) -> None:
    sub = tmp_path / source.name
    shutil.copyfile(source, sub)
    report = grade_submission(sub, seed=7, sandbox=mode, fd_check=False,
                              limits=Limits(wall_s=10.0, cpu_s=8))
    out = tmp_path / "results.json"
    write_results(results_dict(report), out)
    assert out.stat().st_size <= MAX_BYTES
    data = json.loads(out.read_text())
    assert data["score"] < 5
    for t in data["tests"]:
        assert json_size(t["output"]) <= TEST_OUTPUT_BYTES
    if "huge_error" in source.name:
        assert any("[cut here:" in t["output"] and "limited to 32 KiB" in t["output"]
                   for t in data["tests"])


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
    assert line["points"] == gs["score"] and line["max_points"] == 108
    assert line["score"] == pytest.approx(gs["score"] / 108, abs=1e-6) and line["graded"]
    assert line["tests"]["api"] == gs["tests"][0]["score"]
    # The test shown after the due date counts in the points but is not itemised.
    hidden = [t for t in gs["tests"] if t["visibility"] != "visible"]
    assert hidden and all(t["name"] not in line["tests"] for t in hidden)
    assert "hidden_network" not in line["tests"] and line["hidden"] == len(hidden)
    assert line["hidden_max_points"] == sum(t["max_score"] for t in hidden)
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
