"""The course's built-in assignments on their corpora (tests/submissions/<assignment>/{python,js}):
each correct file gets full marks, each buggy file loses points with its cause (its ``EXPECT:``
line) named, in both languages. Lesson 4 (``mlp``) has its own corpus and tests
(tests/submissions/{python,js}, test_grade_corpus.py, test_grade_js.py).

Each file is graded once, by the one test that checks it (so pytest-xdist never grades a file
twice).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from verify.grade import grade_submission
from verify.grade.assignments import BUILTINS, builtin
from verify.grade.runners.node import NodeRunner

SUBMISSIONS = Path(__file__).parent / "submissions"
COURSE = [name for name in BUILTINS if (SUBMISSIONS / name).is_dir()]
NODE_MISSING = NodeRunner().unavailable_reason()
# CI installs Node and math.js (README); only a developer's machine without them may skip.
needs_node = pytest.mark.skipif(NODE_MISSING is not None and not os.environ.get("CI"),
                                reason=f"Node runner unavailable: {NODE_MISSING}")
SEED = 7


def _files() -> list[object]:
    out: list[object] = []
    for name in COURSE:
        for path in sorted((SUBMISSIONS / name).glob("*/*")):
            if path.suffix not in (".py", ".js", ".mjs"):
                continue
            marks = [needs_node] if path.suffix != ".py" else []
            out.append(pytest.param(name, path, marks=marks,
                                    id=f"{name}/{path.parent.name}/{path.stem}"))
    return out


def _expect(path: Path) -> str:
    match = re.search(r"EXPECT: (\w+)", path.read_text())
    assert match, f"{path} has no EXPECT: line"
    return match.group(1)


def test_every_assignment_has_a_corpus_in_both_languages() -> None:
    assert set(COURSE) == set(BUILTINS) - {"mlp"}  # mlp's corpus: tests/submissions/{python,js}
    for name in COURSE:
        for language, ext, bug in (("python", ".py", "buggy_"), ("js", ".js", "bug_")):
            folder = SUBMISSIONS / name / language
            assert list(folder.glob(f"correct_*{ext}")), f"{folder}: no correct example"
            assert len(list(folder.glob(f"{bug}*{ext}"))) >= 4, f"{folder}: too few buggy files"


@pytest.mark.parametrize(("assignment", "path"), _files())
def test_corpus_file(assignment: str, path: Path) -> None:
    spec = builtin(assignment)
    report = grade_submission(path, seed=SEED, assignment=assignment)
    assert report.assignment == assignment and report.graded
    assert report.language == ("python" if path.suffix == ".py" else "js")
    assert [t.id for t in report.tests] == spec.test_ids
    # A correct or buggy (not hostile) file always answers: "corrupted" would be the grader's
    # own error blamed on the student.
    assert not any("did not produce results" in t.output for t in report.tests)
    for t in report.tests:  # tests not yet visible never show values
        if t.visibility != "visible":
            assert not re.search(r"(your value|expected) -?\d", t.output), \
                t.output
    if path.name.startswith("correct_"):
        failing = {t.id: t.output for t in report.tests if not t.passed}
        assert report.score == report.max_score == spec.total, failing
        return
    expected = _expect(path)
    failing = [t for t in report.tests if not t.passed]
    assert failing and report.score < report.max_score
    if expected == "forward_at_fault":
        assert any("your FORWARD is at fault" in t.output for t in failing)
        assert not any("your BACKWARD is at fault" in t.output for t in failing)
        return
    names = {d.split("@")[0] for t in failing for d in t.diagnoses}
    assert expected in names, {t.id: (t.diagnoses, t.output) for t in failing}
    assert any("likely cause" in t.output for t in failing)
    # Named only where its numbers reproduce the student's: never on a test that passed.
    assert not any(t.diagnoses for t in report.tests if t.passed)


def test_a_missing_name_costs_only_the_tests_that_need_it(tmp_path: Path) -> None:
    source = (SUBMISSIONS / "training" / "python" / "correct_numpy.py").read_text()
    assert source.count("make_batches") == 2
    sub = tmp_path / "no_batches.py"
    sub.write_text(source.replace("make_batches", "_batches"))
    report = grade_submission(sub, seed=SEED, assignment="training", fd_check=False)
    by_id = {t.id: t for t in report.tests}
    assert "make_batches or makeBatches: MISSING" in by_id["api"].output
    assert 0 < by_id["api"].score < by_id["api"].max_score
    assert by_id["batches"].score == 0
    assert "MissingAPI: the submission defines no make_batches or makeBatches" \
        in by_id["batches"].output
    assert all(t.passed for t in report.tests if t.id not in ("api", "batches"))
