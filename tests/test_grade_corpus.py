"""The submission corpus: correct ones get full marks in every style, buggy ones lose points
with the right diagnosis (named from their numbers alone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from points import TOTAL

from verify.grade import grade_submission
from verify.grade.sandbox import bwrap_unavailable_reason

CORPUS = Path(__file__).parent / "submissions" / "python"
CORRECT = sorted(CORPUS.glob("correct_*.py"))
BUGGY = sorted(CORPUS.glob("buggy_*.py"))
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    bwrap_unavailable_reason() is not None, reason=f"bwrap: {bwrap_unavailable_reason()}"))]


def _expect(path: Path) -> str:
    match = re.search(r"EXPECT: (\w+)", path.read_text())
    assert match, f"{path.name} has no EXPECT: line"
    return match.group(1)


def test_corpus_is_there() -> None:
    assert len(CORRECT) >= 4 and len(BUGGY) >= 12


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", CORRECT, ids=lambda p: p.stem)
def test_correct_submissions_get_full_marks(path: Path, mode: str) -> None:
    report = grade_submission(path, seed=20261128, sandbox=mode)
    failing = {t.id: t.output for t in report.tests if not t.passed}
    assert report.score == report.max_score == TOTAL, failing
    assert report.sandbox == mode


def test_correct_submission_full_marks_for_other_seeds() -> None:
    for seed in (0, 1, 2**32 - 1):
        report = grade_submission(CORPUS / "correct_einsum_loops.py", seed=seed)
        assert report.score == TOTAL, [t.output for t in report.tests if not t.passed]


@pytest.mark.parametrize("seed", [10, 900, 1006, 1332], ids=lambda s: f"seed{s}")
def test_a_correct_float32_file_keeps_full_marks_where_its_sums_cancel(seed: int) -> None:
    """The saturated test's rows reach |z| = 800 beside ordinary rows, so ``x.T @ dz`` sums
    terms of hundreds to results of about 0.1: float32 rounding (about 1e-5 there) beyond
    ``1e-5 + 1e-4 |expected|``. These seeds (of 84 in 0-999) cost this correct file points and
    told it "your BACKWARD is at fault"; the allowance for float32 rounding of what was summed
    (verify.rounding.dense_rounding_bounds) keeps it at full marks."""
    report = grade_submission(CORPUS / "correct_float32_matmul.py", seed=seed)
    failing = {t.id: t.output for t in report.tests if not t.passed}
    assert report.score == TOTAL, failing
    assert not any("at fault" in t.output for t in report.tests)


@pytest.mark.parametrize("seed", [0, 4], ids=lambda s: f"seed{s}")
def test_the_float32_allowance_does_not_hide_a_clipped_activation(seed: int,
                                                                   tmp_path: Path) -> None:
    """Clipping z "for stability" (tanh at 8, sigmoid at 16) leaves a derivative of about 4e-7
    where a float32 one is exactly 0. A first version of the allowance allowed 2 u of every
    such derivative, times 6, times inputs of hundreds: this file got 108 / 108. Where a float32
    output is exactly at its limit the allowance is now the derivative itself."""
    text = (CORPUS / "correct_float32_matmul.py").read_text()
    for old, new in (("_sigmoid(self.z)", "_sigmoid(np.clip(self.z, -16, 16))"),
                     ("np.tanh(self.z)", "np.tanh(np.clip(self.z, -8, 8))")):
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "clipped.py").write_text(text)
    report = grade_submission(tmp_path / "clipped.py", seed=seed)
    failing = [t.id for t in report.tests if not t.passed]
    assert failing == ["saturated"] and report.score < TOTAL


def test_lesson_loss_convention_is_explained_without_deduction() -> None:
    report = grade_submission(CORPUS / "correct_lesson.py", seed=3)
    test = next(t for t in report.tests if t.id == "mse_derivative")
    assert test.score == test.max_score
    assert "divides by the batch size" in test.output and "no deduction" in test.output
    exact = grade_submission(CORPUS / "correct_snake_exact.py", seed=3)
    assert "no deduction" not in next(t for t in exact.tests if t.id == "mse_derivative").output


@pytest.mark.parametrize("path", BUGGY, ids=lambda p: p.stem)
def test_buggy_submissions_lose_points_with_the_right_diagnosis(path: Path) -> None:
    expected = _expect(path)
    report = grade_submission(path, seed=7)
    assert report.score < report.max_score
    failing = [t for t in report.tests if not t.passed]
    assert failing
    if expected == "forward_at_fault":
        assert any("your FORWARD is at fault" in t.output for t in failing)
        assert not any("your BACKWARD is at fault" in t.output for t in failing)
        return
    names = {d.split("@")[0] for t in failing for d in t.diagnoses}
    assert expected in names, {t.id: t.diagnoses for t in failing}
    # A buggy (not hostile) submission always answers: a "corrupted" verdict here would be the
    # grader's own error blamed on the student.
    assert not any("did not produce results" in t.output for t in report.tests)
    # The feedback names the place and the values, and says the backward is at fault.
    assert any("likely cause" in t.output for t in failing)
    if expected not in ("missing_batch_division", "missing_factor_2", "wrong_sign",
                        "weights_changed"):
        assert any("your BACKWARD is at fault" in t.output for t in failing)
        assert any(re.search(r"\d+ / \d+ mismatched; worst at \(\d+, \d+\): your value \S+, "
                             r"expected \S+ \(allowed|shape \(\d+, \d+\) does not match the "
                             r"expected \(\d+, \d+\)", t.output)
                   for t in failing)


def test_buggy_diagnosis_is_specific() -> None:
    """A single bug is named alone, not with every bug that coincides on one number (the file
    also returns the gradient MLP.backward was given, a second mistake, named on its own)."""
    report = grade_submission(CORPUS / "buggy_not_chained.py", seed=11)
    net = next(t for t in report.tests if t.id == "network_backward")
    assert net.diagnoses == ["not_chained", "mlp_return:upstream"], net.diagnoses
    report = grade_submission(CORPUS / "buggy_bias_averaged.py", seed=11)
    layer = next(t for t in report.tests if t.id == "backward_relu")
    assert layer.diagnoses == ["bias_averaged"]
    assert layer.score == pytest.approx(layer.max_score * 2 / 3, abs=1e-3)


def test_hidden_test_never_shows_values() -> None:
    report = grade_submission(CORPUS / "buggy_missing_activation_derivative.py", seed=5)
    hidden = next(t for t in report.tests if t.id == "hidden_network")
    assert hidden.visibility == "after_due_date" and not hidden.passed
    assert "mismatched" in hidden.output and "values of hidden tests are not shown" in hidden.output
    assert "expected" not in hidden.output and "numerical " not in hidden.output
    assert "likely cause" in hidden.output


def test_readme_example_gets_full_marks(tmp_path: Path) -> None:
    from verify.grade.contract import EXAMPLE_PYTHON

    sub = tmp_path / "mlp.py"
    sub.write_text(EXAMPLE_PYTHON)
    report = grade_submission(sub, seed=12)
    assert report.score == TOTAL, [t.output for t in report.tests if not t.passed]


def test_stale_inputs_are_named_per_layer_of_a_network() -> None:
    report = grade_submission(CORPUS / "buggy_stale_inputs.py", seed=7)
    rounds = next(t for t in report.tests if t.id == "multiple_rounds")
    assert {"stale_inputs@0", "stale_inputs@1"} <= set(rounds.diagnoses), rounds.diagnoses
