"""Scores: a test's checks into points and feedback, and the report of a whole submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verify.compare import GradientRecord

from . import diagnosis as dg
from .cases import TestCase
from .checking import Check, shown
from .rubric import Rubric
from .text import cut_json

__all__ = ["TEST_OUTPUT_BYTES", "GradeReport", "TestResult", "checks_header", "score_test"]

TEST_OUTPUT_BYTES = 32 << 10
"""The most one test's feedback takes in a results document (JSON-escaped bytes); longer
feedback (an exception message of megabytes, say) is cut, saying so."""


@dataclass
class TestResult:
    id: str
    name: str
    score: float
    max_score: float
    passed: bool
    output: str
    visibility: str
    diagnoses: list[str] = field(default_factory=list)
    records: list[GradientRecord] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"


@dataclass
class GradeReport:
    """One graded submission. ``graded`` is False when the grader could not grade it at all
    (a language it cannot run here, not a file): the scores are then not a grade."""

    submission: str
    seed: int
    sandbox: str
    language: str
    tests: list[TestResult]
    execution_time: float
    notes: list[str] = field(default_factory=list)
    student_output: str = ""
    graded: bool = True
    seed_source: str = "given"
    """``given`` (``--seed``), ``content`` (the file alone) or ``content+secret`` (the bundle's)."""
    assignment: str = "mlp"
    """The assignment graded (:mod:`.assignments`)."""
    isolation: dict[str, Any] = field(default_factory=dict)
    """What the submission's children ran under: ``mode``, ``uid`` (outside any namespace) and
    ``protections`` (name -> ``{"active": bool, "how": str}``; see
    :func:`verify.grade.sandbox.protections`). Empty when no child ran."""

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)


def checks_header(passed: int, total: int, unrun: int) -> str:
    """``all 10 checks passed`` / ``7 of 10 checks passed, 3 failed (2 could not be made...)``."""
    if total and passed == total:
        return f"all {total} checks passed" if total > 1 else "the check passed"
    text = f"{passed} of {total} checks passed, {total - passed} failed"
    if unrun:
        text += f" ({unrun} could not be made: see below)"
    return text


def score_test(test: TestCase, c: Check, extra: list[str], rubric: Rubric) -> TestResult:
    max_score = float(rubric.points.get(test.id, 0.0))
    hide = c.hide
    lines: list[str] = []
    if c.fraction is not None:
        fraction = c.fraction
        passed = fraction == 1.0
    else:
        total = len(c.scored) + c.unrun
        good = sum(r.passed for r in c.scored)
        fraction = good / total if total else 0.0
        passed = total > 0 and good == total
        lines.append(checks_header(good, total, c.unrun))
    lines += c.lines
    lines += [shown(r, hide) for r in c.scored if not r.passed and (r.size or r.note)]
    diagnoses = list(dict.fromkeys(c.settle()))
    lines += dg.explain(diagnoses)
    lines += extra
    output = cut_json("\n".join(lines), TEST_OUTPUT_BYTES,
                      f"the feedback of one test is limited to {TEST_OUTPUT_BYTES >> 10} KiB")
    return TestResult(test.id, test.name, round(max_score * fraction, 4), max_score, passed,
                      output, rubric.visibility_of(test.id),
                      diagnoses=diagnoses, records=list(c.scored))
