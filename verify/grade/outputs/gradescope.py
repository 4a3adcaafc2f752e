"""Gradescope's ``results.json``: built from a :class:`GradeReport`, written atomically.

Format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top-level ``score``,
``output``, ``tests[]`` each with ``name``, ``score``, ``max_score``, ``status``, ``output``,
``visibility``; ``extra_data`` (stored, not shown to students) carries the seed, the timings
and the isolation the children ran under (``sandbox``, ``child_uid``, ``protections``: name ->
``{"active", "how"}``, see :func:`verify.grade.sandbox.protections`).

The whole document is kept under :data:`MAX_BYTES` (each test's feedback is already cut to
``scoring.TEST_OUTPUT_BYTES``; what is still too long is cut here, longest text first, saying
so where it was cut).

What students see before the due date never depends on a test they cannot see yet: the
top-level ``output`` gives the score of the *visible* tests only (Gradescope itself hides the
total from students while some tests are hidden: otter-grader#260,
gradescope/autograder_samples#36), and the execution time, which a hanging hidden test would
lengthen, is kept in ``extra_data``. Every string is made storable and printable
(:func:`~verify.grade.text.safe_json`): PostgreSQL's JSON types reject ``\\u0000`` and lone
surrogates.
"""

from __future__ import annotations

import math
from typing import Any

from ..scoring import GradeReport
from ..text import safe_json
from ._fit import fit

__all__ = ["MAX_BYTES", "NAME", "error_results", "results_dict", "visible_summary"]

NAME = "gradescope"
MAX_BYTES = 1 << 20
"""The most a results document takes (bytes as written)."""


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


_SEED_LINES = {
    "content+secret": "Tests are drawn from your file's content: the same file always gets the "
                      "same tests; any change to it draws new ones.",
    "content": "Tests are drawn from your file's content: the same file always gets the same "
               "tests; any change to it draws new ones.",
    "given": "Tests were drawn from a seed chosen by the course staff.",
}


def visible_summary(report: GradeReport) -> list[str]:
    """The score lines a student may see before the due date: visible tests only."""
    visible = [t for t in report.tests if t.visibility == "visible"]
    later = [t for t in report.tests if t.visibility != "visible"]
    score = round(sum(t.score for t in visible), 4)
    top = round(sum(t.max_score for t in visible), 4)
    lines = [f"Visible tests: {score:g} / {top:g} points"]
    if later:
        points = round(sum(t.max_score for t in later), 4)
        lines.append(f"Tests shown after the due date: {len(later)} ({points:g} points); "
                     f"how they went is not shown before then")
    return lines


def results_dict(report: GradeReport) -> dict[str, Any]:
    if not report.graded:
        head = ["NOT GRADED: the autograder could not grade this submission; please contact "
                "the course staff (this is not a score for your work)."]
    else:
        head = visible_summary(report) + [
            _SEED_LINES.get(report.seed_source, _SEED_LINES["given"]),
            f"Sandbox: {report.sandbox}; language: {report.language}",
        ]
    data = {
        "score": _finite(report.score),
        "output": "\n".join(head + [""] + report.notes),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": t.name,
                "number": str(i + 1),
                "score": _finite(t.score),
                "max_score": _finite(t.max_score),
                "status": t.status,
                "output": t.output,
                "output_format": "text",
                "visibility": t.visibility,
                "tags": [t.id] + t.diagnoses,
            }
            for i, t in enumerate(report.tests)
        ],
        "extra_data": {"graded": report.graded, "seed": report.seed,
                       "seed_source": report.seed_source, "sandbox": report.sandbox,
                       "child_uid": report.isolation.get("uid"),
                       "protections": report.isolation.get("protections", {}),
                       "language": report.language, "submission": report.submission,
                       "assignment": report.assignment,
                       "execution_time": round(report.execution_time, 3)},
    }
    data = safe_json(data)
    fields = [(data, "output")] + [(t, "output") for t in data["tests"]]
    return fit(data, MAX_BYTES, fields, f"the results document is limited to {MAX_BYTES >> 20} MiB")


def error_results(message: str) -> dict[str, Any]:
    """A valid results document for when no grade could be produced at all."""
    return safe_json({"score": 0.0,
                      "output": f"NOT GRADED: the autograder could not grade this submission: "
                                f"{message}",
                      "output_format": "text", "tests": [], "extra_data": {"graded": False}})
