"""Gradescope's ``results.json``: built from a :class:`GradeReport`, written atomically.

Format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top-level ``score``,
``output``, ``execution_time``, ``tests[]`` each with ``name``, ``score``, ``max_score``,
``status``, ``output``, ``visibility``; ``extra_data`` carries the seed and the sandbox.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .grader import GradeReport

__all__ = ["error_results", "results_dict", "write_results"]


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def results_dict(report: GradeReport) -> dict[str, Any]:
    head = [
        f"Score: {report.score:g} / {report.max_score:g}",
        f"Seed: {report.seed} (weights and inputs are drawn fresh for each grading run)",
        f"Sandbox: {report.sandbox}; language: {report.language}",
    ]
    return {
        "score": _finite(report.score),
        "output": "\n".join(head + [""] + report.notes),
        "output_format": "text",
        "execution_time": round(report.execution_time, 3),
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
        "extra_data": {"seed": report.seed, "sandbox": report.sandbox,
                       "language": report.language, "submission": report.submission},
    }


def error_results(message: str) -> dict[str, Any]:
    """A valid results document for when no grade could be produced at all."""
    return {"score": 0.0, "output": f"The autograder could not grade this submission: {message}",
            "output_format": "text", "execution_time": 0.0, "tests": []}


def write_results(data: dict[str, Any], path: str | Path) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a temp file in the same folder, fsync,
    rename): readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
