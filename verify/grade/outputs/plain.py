"""Plain output: one JSON line with the points, for platforms that read a grade from standard
output (CodeGrade-style "capture points" steps, CI jobs, shell scripts)::

    {"points": 92.0, "max_points": 100.0, "score": 0.92, "graded": true, "tests": {"api": 4.0, ...}}

``score`` is ``points / max_points`` in [0, 1]; ``tests`` gives each *visible* test id's
points. Tests shown only after the due date (hidden) count in ``points`` but are not itemised:
``hidden`` says how many there are and their ``hidden_max_points``, never how they went (a
platform that shows standard output to students would otherwise show it before the due date;
``points`` is for the platform's grade book). A submission the grader could not grade has
``"graded": false`` and a ``reason``, and no points.
``python -m verify grade FILE --format plain`` prints this line alone on stdout (no table).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..scoring import GradeReport
from ..text import safe_json

__all__ = ["NAME", "error_results", "line", "results_dict"]

NAME = "plain"


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def results_dict(report: GradeReport) -> dict[str, Any]:
    if not report.graded:
        return error_results(report.notes[0] if report.notes else "not graded")
    total = _finite(report.max_score)
    points = _finite(report.score)
    hidden = [t for t in report.tests if t.visibility != "visible"]
    return safe_json({"points": points, "max_points": total,
                      "score": round(min(1.0, max(0.0, points / total)), 6) if total > 0 else 0.0,
                      "graded": True,
                      "tests": {t.id: _finite(t.score) for t in report.tests
                                if t.visibility == "visible"},
                      "hidden": len(hidden),
                      "hidden_max_points": _finite(sum(t.max_score for t in hidden))})


def error_results(message: str) -> dict[str, Any]:
    return safe_json({"points": 0.0, "max_points": 0.0, "score": 0.0, "graded": False,
                      "reason": message, "tests": {}})


def line(data: dict[str, Any]) -> str:
    """The document as the one line printed on stdout."""
    return json.dumps(data, separators=(", ", ": "), allow_nan=False)
