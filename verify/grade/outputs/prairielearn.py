"""PrairieLearn's ``results.json`` (external grading): built from a :class:`GradeReport`.

Format (PrairieLearn's external-grading docs): ``gradable``; ``score`` in [0, 1] (the points
earned over the rubric's total: the same points as the Gradescope output); ``message``;
``output``; ``tests[]`` with ``name``, ``description``, ``points``, ``max_points``, ``message``,
``output``. A submission the grader could not grade at all (no submission file, several
candidates, a notebook that cannot be read, a language this machine cannot run) is
``gradable: false`` with ``format_errors``: PrairieLearn then awards and takes no points and
does not count the attempt. The whole document is kept under PrairieLearn's 1 MB limit
(feedback is shortened first, saying so).

PrairieLearn shows results at once (there is no "after the due date"), so every test is listed
with its points, and what the rubric does not show as ``visible`` is shown as Gradescope would
after the due date: tests ``after_due_date``/``after_published`` with their feedback, which never
holds values; ``hidden`` tests with their points alone. Staff details (seed, sandbox, timings)
are not included: PrairieLearn shows the document to students.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..scoring import GradeReport
from ..text import safe_json, truncate

__all__ = ["MAX_BYTES", "NAME", "error_results", "results_dict"]

NAME = "prairielearn"
MAX_BYTES = 1_000_000
"""PrairieLearn's limit on results.json."""
_MARGIN = 20_000


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def _test(t: Any) -> dict[str, Any]:
    if t.visibility == "hidden":
        message, output = "a hidden test: its feedback is not shown", ""
    else:
        first, _, rest = t.output.partition("\n")
        message, output = first, rest
    return {"name": t.name, "description": t.id, "points": _finite(t.score),
            "max_points": _finite(t.max_score), "message": message, "output": output}


def results_dict(report: GradeReport) -> dict[str, Any]:
    if not report.graded:
        reason = report.notes[0] if report.notes else "the submission could not be graded"
        return error_results(reason)
    total = _finite(report.max_score)
    score = min(1.0, max(0.0, _finite(report.score) / total)) if total > 0 else 0.0
    message = f"{report.score:g} / {report.max_score:g} points"
    later = [t for t in report.tests if t.visibility != "visible"]
    if later:
        message += (f" ({len(later)} test{'s' if len(later) != 1 else ''} "
                    f"show{'' if len(later) != 1 else 's'} no values: "
                    f"{', '.join(t.name for t in later)})")
    data = {
        "gradable": True,
        "score": score,
        "message": message,
        "output": "\n\n".join(report.notes),
        "tests": [_test(t) for t in report.tests],
    }
    return _fit(safe_json(data))


def error_results(message: str) -> dict[str, Any]:
    """A valid document for a submission that could not be graded: not gradable, no points
    awarded or taken."""
    text = f"not graded: {message}"
    return safe_json({"gradable": False, "score": 0.0, "format_errors": [text],
                      "message": f"The autograder could not grade this submission: {message}",
                      "tests": []})


def _size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, indent=2, allow_nan=False).encode("utf-8"))


def _fit(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its longest texts shortened until it fits PrairieLearn's limit."""
    limit = 64_000
    while _size(data) > MAX_BYTES - _MARGIN and limit > 200:
        data["output"] = truncate(data["output"], limit, "output")
        for test in data["tests"]:
            test["output"] = truncate(test["output"], limit, "feedback")
            test["message"] = truncate(test["message"], min(limit, 2000), "message")
        limit //= 2
    return data
