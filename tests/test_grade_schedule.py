"""Running the tasks (verify/grade/schedule.py): per-part and load time limits enforced from
outside the sandbox, a fresh child after a hang or crash, and one deadline for everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from points import TOTAL

from verify.grade import Limits, grade_submission
from verify.grade.sandbox import bwrap_unavailable_reason

CORPUS = Path(__file__).parent / "submissions" / "python"
NO_BWRAP = bwrap_unavailable_reason()
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    NO_BWRAP is not None, reason=f"bwrap: {NO_BWRAP}"))]


@pytest.mark.parametrize("mode", MODES)
def test_a_submission_that_hangs_everywhere_ends_at_the_deadline(mode: str) -> None:
    """The worst case: with the defaults (20 s) it takes about 20.5 s (the README's bench);
    here the same bound with a short deadline."""
    limits = Limits(wall_s=4.0, task_s=0.5, load_s=2.0, cpu_s=4)
    report = grade_submission(CORPUS / "hostile_hang_everywhere.py", seed=1, sandbox=mode,
                              limits=limits)
    assert report.execution_time < limits.wall_s + 1.5
    by_id = {t.id: t for t in report.tests}
    assert by_id["api"].passed  # constructing a layer does not hang
    assert report.score == by_id["api"].score
    # Each test stops at its part's limit, or at the submission's: not reached, or (on a loaded
    # machine) reached while a fresh child was still loading the file.
    for test in report.tests[1:]:
        assert "did not finish this part within 0.5 s" in test.output \
            or "not run: the time limit for the whole submission (4 s)" in test.output \
            or "did not finish within the 4 s time limit for the whole submission" \
            in test.output, test.output


@pytest.mark.parametrize("mode", MODES)
def test_printing_past_the_output_limit_is_dropped_not_fatal(mode: str) -> None:
    report = grade_submission(CORPUS / "hostile_print_at_import.py", seed=1, sandbox=mode)
    assert report.score == TOTAL
    assert any("more than the output limit of 1024 KiB; the rest" in n for n in report.notes)
    printed = "your program printed (first lines):\nepoch     0"
    assert any(n.startswith(printed) for n in report.notes)


def test_a_part_that_ends_the_process_costs_that_part_only(tmp_path: Path) -> None:
    code = (CORPUS / "correct_snake_exact.py").read_text()
    sub = tmp_path / "exits.py"
    sub.write_text(code + '''

import os as _os
_mse = mse


def mse(y_true, y_pred):
    if y_true.shape == (4, 3):
        _os._exit(0)
    return _mse(y_true, y_pred)
''')
    report = grade_submission(sub, seed=1)
    by_id = {t.id: t for t in report.tests}
    assert "the process ended without answering" in by_id["mse"].output
    assert "the parts after it ran in a fresh process" in by_id["mse"].output
    assert by_id["mse"].score == pytest.approx(2.5)  # one of its two parts
    assert report.score == pytest.approx(TOTAL - 2.5)
