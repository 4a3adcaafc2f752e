"""``python -m verify grade``: a sandboxed grading backend for students' backprop code.

Every lesson of the course is an assignment (:mod:`.assignments`: built-ins, or an instructor's
TOML file). A trusted parent draws the cases and computes every expected value with
:mod:`reference_mlp`;
sandboxed runner children load the submission and answer a small JSON
protocol (``PROTOCOL.md``) with plain numbers. See :func:`grade_submission`.
"""

from .assignments import BUILTINS, Assignment, load_assignment
from .grader import GradeReport, TestResult, grade_submission
from .limits import Limits
from .rubric import DEFAULT_POINTS, Rubric, load_rubric
from .sandbox import resolve_mode

__all__ = [
    "BUILTINS",
    "DEFAULT_POINTS",
    "Assignment",
    "GradeReport",
    "Limits",
    "Rubric",
    "TestResult",
    "grade_submission",
    "load_assignment",
    "load_rubric",
    "resolve_mode",
]
