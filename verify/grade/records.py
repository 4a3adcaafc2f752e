"""A results folder that remembers: each student's result written as soon as it is graded, what
``--resume`` skips, and what ``rescore`` re-weights without running student code again.

``--results-dir DIR`` holds, per student, the platform's results document (``DIR/<student>.json``,
in ``--format``) and the grader's **record** (``DIR/records/<student>.json``)::

    {"format": "verify-grade-record/1",
     "student": "Alice Smith",
     "base": "<hex>",            # what was graded, and how: see grading_base()
     "rubric": {"digest": "<hex>", "points": {...}, "visibility": {...}, "source": "..."},
     "output_format": "gradescope",
     "grader": "<hex>",          # the grader's own version (a digest of its source)
     "files": [{"name": "mlp.py", "sha256": "<hex>"}, ...],
     "people": [{"name": "Alice Smith", "sid": "100", "email": "..."}],   # Gradescope's export
     "report": {... the whole GradeReport: every test's score, max_score, fraction of its
                checks passed, feedback, diagnoses, visibility; seed, sandbox, notes ...}}

* **Resume.** A student is graded again unless their record's ``base`` and rubric digest are
  what this run would write: the same files (names and content), the same secret (mixed into
  the digest, never stored), ``--seed``, assignment, limits, finite-difference check and grader
  version; and the same rubric. Records of students that were not graded (a language this
  machine could not run) never count as done.
* **Rescore.** A test's score is ``round(points * fraction, 4)``; the record keeps the fraction,
  so a new rubric's points give exactly the scores a fresh run with it would (same seed, same
  checks). Visibility is not re-weighted: it decides which values a test's feedback shows, so a
  rubric that changes it needs a regrade (``rescore`` says so). The record's ``base`` is kept and
  its rubric digest updated, so a later ``--resume`` with the new rubric skips these students.

Records are written atomically, after the results document, so a record exists only for a
student whose results are complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from .assignments import Assignment
from .limits import Limits
from .outputs import output_for, write_results
from .rubric import Rubric
from .scoring import GradeReport, TestResult
from .students import Person, file_stem

__all__ = ["RECORDS", "RECORD_FORMAT", "ResultStore", "grader_version", "grading_base",
           "report_from_json", "report_to_json", "rescore_report", "rubric_digest"]

RECORDS = "records"
"""The sub-folder of a results folder that holds the records."""
RECORD_FORMAT = "verify-grade-record/1"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def grader_version() -> str:
    """A digest of the grader's own source (``verify/``, ``reference_mlp/``, the runners' own
    JavaScript): any change to the code that grades gives a new version."""
    digest = hashlib.sha256(b"verify-grade/version/1\0")
    files = [p for pkg in ("verify", "reference_mlp")
             for p in sorted((_PACKAGE_ROOT / pkg).rglob("*"))
             if p.suffix in (".py", ".js", ".md") and p.is_file()
             and not {"node_modules", "__pycache__", "mathjs_shim"} & set(p.parts)]
    for path in files:
        rel = path.relative_to(_PACKAGE_ROOT).as_posix().encode()
        data = path.read_bytes()
        for part in (rel, data):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()[:32]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def grading_base(files: Iterable[tuple[str, bytes]], *, secret: bytes, seed: int | None,
                 assignment: Assignment, limits: Limits, fd_check: bool) -> str:
    """What a student's result depends on, the rubric aside, as one digest: their files, the
    course's secret, ``--seed``, the assignment, the limits, the finite-difference check and
    the grader's version. The secret enters only as a keyed digest."""
    secret_part = hashlib.sha256(b"verify-grade/resume-secret/1\0" + secret).hexdigest()
    return _digest({
        "format": RECORD_FORMAT,
        "files": sorted((name, hashlib.sha256(data).hexdigest()) for name, data in files),
        "secret": secret_part,
        "seed": seed,
        "assignment": repr(replace(assignment, source="", summary="")),
        "limits": asdict(limits),
        "fd_check": fd_check,
        "grader": grader_version(),
    })


def rubric_digest(rubric: Rubric) -> str:
    return _digest({"points": rubric.points, "visibility": rubric.visibility})


def report_to_json(report: GradeReport) -> dict[str, Any]:
    """Everything of ``report`` but the gradient records (which only the report tables use)."""
    return {
        "submission": report.submission, "seed": report.seed, "sandbox": report.sandbox,
        "language": report.language, "execution_time": report.execution_time,
        "notes": list(report.notes), "student_output": report.student_output,
        "graded": report.graded, "seed_source": report.seed_source,
        "assignment": report.assignment, "isolation": report.isolation,
        "tests": [{"id": t.id, "name": t.name, "score": t.score, "max_score": t.max_score,
                   "passed": t.passed, "output": t.output, "visibility": t.visibility,
                   "diagnoses": list(t.diagnoses), "fraction": t.fraction}
                  for t in report.tests],
    }


def report_from_json(data: dict[str, Any]) -> GradeReport:
    """The report :func:`report_to_json` wrote (KeyError/TypeError/ValueError if malformed)."""
    tests = [TestResult(str(t["id"]), str(t["name"]), float(t["score"]), float(t["max_score"]),
                        bool(t["passed"]), str(t["output"]), str(t["visibility"]),
                        diagnoses=[str(d) for d in t["diagnoses"]],
                        fraction=None if t.get("fraction") is None else float(t["fraction"]))
             for t in data["tests"]]
    return GradeReport(str(data["submission"]), int(data["seed"]), str(data["sandbox"]),
                       str(data["language"]), tests, float(data["execution_time"]),
                       notes=[str(n) for n in data["notes"]],
                       student_output=str(data["student_output"]), graded=bool(data["graded"]),
                       seed_source=str(data["seed_source"]), assignment=str(data["assignment"]),
                       isolation=dict(data.get("isolation") or {}))


def rescore_report(report: GradeReport, rubric: Rubric) -> GradeReport:
    """``report`` with ``rubric``'s points: every score ``round(points * fraction, 4)``, as a
    fresh run with ``rubric`` gives. ValueError when the rubric does not fit the report's tests,
    or changes a test's visibility (that needs a regrade)."""
    ids = [t.id for t in report.tests]
    if set(ids) != set(rubric.points):
        raise ValueError(f"the rubric ({rubric.source}) does not fit assignment "
                         f"{report.assignment!r}: its test ids are {', '.join(rubric.points)}; "
                         f"the results' are {', '.join(ids)}")
    changed = [t.id for t in report.tests if rubric.visibility_of(t.id) != t.visibility]
    if changed:
        raise ValueError(f"the rubric ({rubric.source}) changes the visibility of "
                         f"{', '.join(changed)}: visibility decides which values a test's "
                         f"feedback shows, so it needs a regrade, not a rescore")
    tests = []
    for t in report.tests:
        points = float(rubric.points[t.id])
        score = round(points * t.fraction, 4) if t.fraction is not None and report.graded else 0.0
        tests.append(replace(t, score=score, max_score=points))
    return replace(report, tests=tests)


class ResultStore:
    """A results folder: the platform document and the record of each student, written as
    soon as the student is graded (see the module's docstring)."""

    def __init__(self, folder: str | Path, output_format: str = "gradescope") -> None:
        self.folder = Path(folder)
        self.output: ModuleType = output_for(output_format)
        self.output_format = output_format

    def stem(self, student: str) -> str:
        """The student's file stem: the name itself where it can be one, else the name made
        safe plus a digest of it (so no two students share a file, whichever shard runs)."""
        stem = file_stem(student)
        if stem != student:
            digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()
            stem = f"{stem}-{digest[:8]}"
        return stem

    def results_path(self, student: str) -> Path:
        return self.folder / f"{self.stem(student)}.json"

    def record_path(self, student: str) -> Path:
        return self.folder / RECORDS / f"{self.stem(student)}.json"

    def load(self, student: str, base: str, rubric: Rubric) -> GradeReport | None:
        """The stored report of ``student`` if it is what grading with ``base`` and ``rubric``
        would give (graded, same digests, its results document present); else None."""
        try:
            record = json.loads(self.record_path(student).read_text(encoding="utf-8"))
            if record.get("format") != RECORD_FORMAT or record.get("student") != student \
                    or record.get("base") != base \
                    or record.get("rubric", {}).get("digest") != rubric_digest(rubric) \
                    or not self.results_path(student).is_file():
                return None
            report = report_from_json(record["report"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return report if report.graded else None

    def save(self, student: str, report: GradeReport, *, base: str, rubric: Rubric,
             files: Iterable[tuple[str, bytes]] = (), file_digests: list[Any] | None = None,
             people: Iterable[Person | dict[str, Any]] = ()) -> None:
        """Write ``student``'s results document, then their record (``files``: the graded
        files' names and contents, or ``file_digests`` as a record lists them; ``people``:
        their submitters, from Gradescope's metadata)."""
        write_results(self.output.results_dict(report), self.results_path(student))
        digests = file_digests if file_digests is not None else [
            {"name": n, "sha256": hashlib.sha256(d).hexdigest()} for n, d in files]
        record = {
            "format": RECORD_FORMAT, "student": student, "base": base,
            "rubric": {"digest": rubric_digest(rubric), "points": rubric.points,
                       "visibility": rubric.visibility, "source": rubric.source},
            "output_format": self.output_format, "grader": grader_version(),
            "files": digests,
            "people": [p if isinstance(p, dict) else asdict(p) for p in people],
            "report": report_to_json(report),
        }
        write_results(record, self.record_path(student))

    def records(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every record of the folder (path, parsed JSON), in name order; unreadable ones are
        yielded as ``{}``."""
        for path in sorted((self.folder / RECORDS).glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            yield path, data if isinstance(data, dict) else {}
