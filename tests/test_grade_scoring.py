"""Scoring (verify/grade/scoring.py, checking.py): unambiguous headers, and a part that could
not be checked counts as every check it would have made."""

from __future__ import annotations

from pathlib import Path

import pytest

from verify.grade import grade_submission
from verify.grade.cases import draw_cases
from verify.grade.checking import Check, check_part, checks_in
from verify.grade.limits import Limits
from verify.grade.scoring import checks_header

CORPUS = Path(__file__).parent / "submissions" / "python"


@pytest.mark.parametrize(("passed", "total", "unrun", "text"), [
    (10, 10, 0, "all 10 checks passed"),
    (1, 1, 0, "the check passed"),
    (9, 10, 0, "9 of 10 checks passed, 1 failed"),
    (0, 7, 7, "0 of 7 checks passed, 7 failed (7 could not be made: see below)"),
], ids=["all", "one", "one-failed", "none-ran"])
def test_the_header_says_what_passed_and_what_failed(passed: int, total: int, unrun: int,
                                                     text: str) -> None:
    assert checks_header(passed, total, unrun) == text


def test_a_part_that_raised_counts_every_check_it_would_have_made() -> None:
    test = next(t for t in draw_cases(3) if t.id == "multiple_rounds")
    mlp, layer = test.parts
    assert checks_in(test, mlp) == 3 * (2 * 2 + 1) and checks_in(test, layer) == 3 * 3
    c = Check()
    error = {"type": "ValueError", "message": "shapes (3,4) and (3,3) not aligned"}
    check_part(test, mlp, {"id": mlp.task_id, "ok": False, "error": error}, c, Limits())
    assert c.unrun == 15 and not c.scored


def test_a_network_that_can_be_built_only_once_loses_what_it_cannot_do() -> None:
    """Every MLP shares one default list: later networks in the process raise. Before, each
    raising part counted as one check against dozens that passed (7.2 / 8 here)."""
    report = grade_submission(CORPUS / "crash_shared_default_list.py", seed=5)
    by_id = {t.id: t for t in report.tests}
    rounds = by_id["multiple_rounds"]
    assert rounds.output.startswith("9 of 24 checks passed, 15 failed (15 could not be made")
    assert rounds.score == pytest.approx(8 * 9 / 24)
    assert by_id["edge_shapes"].score == pytest.approx(8 * 9 / 16)
    assert by_id["network_backward"].passed  # the first network of its process works


def test_failing_feedback_starts_with_what_passed() -> None:
    report = grade_submission(CORPUS / "buggy_transposed_dweights.py", seed=5)
    out = next(t for t in report.tests if t.id == "backward_tanh").output
    assert out.startswith("2 of 3 checks passed, 1 failed")
    assert "FAILED:" not in out


def test_a_fault_in_the_grader_is_never_blamed_on_the_student(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only malformed data from the child is the submission's fault; a bug in the grader's own
    checking code must surface (an internal error for the CLI), not read "corrupted"."""
    from verify.grade import diagnosis

    def broken(case):  # noqa: ANN001, ANN202
        raise ZeroDivisionError("a bug in the grader")

    monkeypatch.setattr(diagnosis, "reference_layer", broken)
    with pytest.raises(ZeroDivisionError, match="a bug in the grader"):
        grade_submission(CORPUS / "correct_snake_exact.py", seed=1)


def test_a_cause_names_the_layers_of_the_place_its_evidence_comes_from() -> None:
    """One cause found in two networks of a test (the last layer of each): the line said 'in
    layers[1], layers[2]' although each network had only one such layer wrong."""
    from verify.grade.explain import Finding
    from verify.grade.scoring import cause_lines

    def found(layer: int) -> Finding:
        return Finding("no_derivative", "DenseLayer.backward", "missing activation derivative",
                       f"dz = d_outputs reproduces your layers[{layer}].d_weights", "(hidden)",
                       (f"layers[{layer}].weights",), layer=layer)

    lines = cause_lines([("MLP 3-3-3-3", found(2)), ("MLP 4-5-2", found(1))], hide=False)
    assert lines[0] == ("likely cause (DenseLayer.backward, in layers[2]): missing activation "
                        "derivative")
    assert lines[1].endswith("(the same in 1 more place of this test)")
