"""Scores: a test's checks into points and feedback, and the report of a whole submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verify.compare import GradientRecord

from . import diagnosis as dg
from .cases import TestCase
from .checking import Check, resolve, shown
from .explain import Finding
from .rubric import Rubric
from .text import cut_json

__all__ = ["MAX_CHARS", "MAX_LINES", "TEST_OUTPUT_BYTES", "GradeReport", "TestResult",
           "checks_header", "compose", "score_test"]

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
    fraction: float | None = None
    """The share of the test's checks that passed (``score = round(max_score * fraction, 4)``):
    what ``rescore`` re-weights. None where nothing was checked (not graded)."""

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


MAX_LINES = 40
"""At most this many lines of feedback per test (about: a line saying what was left out is
added)."""
MAX_CHARS = 4000
"""At most this many characters of feedback per test (about)."""

_LONG_LINE_NOTE = 120
"""Room kept for the note that says a long line was cut (and the least of such a line shown)."""


def score_test(test: TestCase, c: Check, extra: list[str], rubric: Rubric,
               findings: list[tuple[str, Finding]] | None = None) -> TestResult:
    """Points and feedback for one test. ``extra``: lines from outside the test's own checks
    (finite differences of the student's forward, what the hidden child printed); ``findings``:
    causes found after checking (state kept between rounds)."""
    max_score = float(rubric.points.get(test.id, 0.0))
    hide = c.hide
    if c.choices:  # not resolved across the submission (a test scored alone): within it
        resolve([c])
    head: list[str] = []
    if c.fraction is not None:
        fraction = c.fraction
        passed = fraction == 1.0
    else:
        total = len(c.scored) + c.unrun
        good = sum(r.passed for r in c.scored)
        fraction = good / total if total else 0.0
        passed = total > 0 and good == total
        head.append(checks_header(good, total, c.unrun))
    all_findings = list(c.findings) + list(findings or [])
    explained = {f.kind for _, f in all_findings}
    catalogue = [d for d in dict.fromkeys(c.settle()) if d not in
                 {f.tag() for _, f in c.findings}]
    causes = dg.explain([d for d in catalogue if d.split("@")[0] not in explained])
    causes += cause_lines(all_findings, hide)
    known = [] if passed else known_lines(c, all_findings)
    numbers = list(c.numbers) + [shown(r, hide) for r in c.scored
                                 if not r.passed and (r.size or r.note)]
    errors = error_lines(c.errors)
    notes = list(dict.fromkeys(c.convention_notes)) if passed else []
    sections = [head, causes, known, extra, c.lines + notes, errors, numbers]
    diagnoses = list(dict.fromkeys(catalogue + [f.tag() for _, f in all_findings]))
    output = cut_json(compose(sections), TEST_OUTPUT_BYTES,
                      f"the feedback of one test is limited to {TEST_OUTPUT_BYTES >> 10} KiB")
    return TestResult(test.id, test.name, round(max_score * fraction, 4), max_score, passed,
                      output, rubric.visibility_of(test.id),
                      diagnoses=diagnoses, records=list(c.scored), fraction=fraction)


def cause_lines(findings: list[tuple[str, Finding]], hide: bool) -> list[str]:
    """``likely cause (function, in layers[0], layers[1]): ...`` and its evidence, one cause
    per name, in the order found; the evidence of the first place it was found (the layers
    named are that place's), and how many more places it explains."""
    by_name: dict[str, list[tuple[str, Finding]]] = {}
    for where, f in findings:
        by_name.setdefault(f.name, []).append((where, f))
    lines = []
    for items in by_name.values():
        first_where, first = items[0]
        # The layers of the place whose evidence is shown: another place of the test may be
        # another network, whose layers[1] is not this one's.
        layers = sorted({f.layer for w, f in items if w == first_where and f.layer is not None})
        place = first.function + (f", in {', '.join(f'layers[{j}]' for j in layers)}"
                                  if layers else "")
        lines.append(f"likely cause ({place}): {first.cause}")
        evidence = first.evidence_hidden if hide else first.evidence
        if not evidence.startswith(first_where):
            evidence = f"{first_where}: {evidence}"
        places = list(dict.fromkeys(w for w, _ in items))
        more = f" (the same in {len(places) - 1} more place{'s' if len(places) > 2 else ''} " \
               f"of this test)" if len(places) > 1 else ""
        lines.append(f"    evidence: {evidence}{more}")
    return lines


def known_lines(c: Check, findings: list[tuple[str, Finding]]) -> list[str]:
    """What is known of the wrong checks no cause explains, per part: which gradients, which
    rounds, where the error starts, forward or backward. No cause is given."""
    by_part: dict[str, tuple[list[int], list[str], list[str]]] = {}
    for part, k, known in c.known:
        rounds, paths, facts = by_part.setdefault(part.label, ([], [], []))
        if k not in rounds:
            rounds.append(k)
        paths += [p for p in known.paths if p not in paths]
        facts += [f for f in known.facts if f not in facts]
    lines = []
    for label, (rounds, paths, facts) in by_part.items():
        multi = len(rounds) > 1 or rounds != [0]
        when = f" (round{'s' if len(rounds) > 1 else ''} {', '.join(map(str, sorted(rounds)))})" \
            if multi else ""
        what = ", ".join(_PATHS.get(p, p.replace(".weights", ".d_weights")
                                    .replace(".biases", ".d_biases")) for p in paths)
        text = f"not explained by any of the hypotheses tested{when}: {label}: {what}"
        if facts:
            text += "; " + "; ".join(facts)
        lines.append(text)
    return lines


_PATHS = {"weights": "d_weights", "biases": "d_biases", "inputs": "the input gradient",
          "output": "the output", "prediction": "the prediction",
          "d_x": "the gradient MLP.backward returned", "value": "the value"}


def error_lines(errors: list[tuple[str, list[str]]]) -> list[str]:
    """Each part's error; an error the same as an earlier part's is not repeated."""
    lines: list[str] = []
    seen: dict[tuple[str, ...], str] = {}
    for label, block in errors:
        body = tuple(line.removeprefix(label) for line in block)
        if body in seen:
            lines.append(f"{label}: the same error as {seen[body]}")
            continue
        seen[body] = label
        lines += block
    return lines


def compose(sections: list[list[str]], max_lines: int = MAX_LINES,
            max_chars: int = MAX_CHARS) -> str:
    """The sections' lines in order, each line once, within about ``max_lines`` lines and
    ``max_chars`` characters: what does not fit is cut from the end, saying how much. A line
    too long for the room left (an exception message of megabytes) is cut, not left out, where
    enough room is left to show something of it."""
    out: list[str] = []
    seen: set[str] = set()
    chars = 0
    left = 0
    for section in sections:
        for line in section:
            if line in seen and not line[:1].isspace():  # indented: a traceback's own lines
                continue
            seen.add(line)
            if not left and len(out) < max_lines and chars + len(line) + 1 > max_chars:
                room = max_chars - chars - _LONG_LINE_NOTE
                if room >= _LONG_LINE_NOTE:
                    line = (f"{line[:room]} ... [cut here: {len(line) - room} more characters "
                            f"not shown; the feedback of one test is limited to about "
                            f"{max_chars} characters]")
            if left or len(out) >= max_lines or chars + len(line) + 1 > max_chars:
                left += 1
                continue
            out.append(line)
            chars += len(line) + 1
    if left:
        out.append(f"... ({left} more line{'s' if left > 1 else ''} not shown)")
    return "\n".join(out)
