"""Assignments as data (verify/grade/assignments.py, kinds.py): lesson 4 is unchanged, built-ins
and instructors' TOML files are validated, listed and graded end to end."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from verify.grade import grade_submission
from verify.grade.assignments import BUILTINS, builtin, load_assignment
from verify.grade.cases import draw_cases
from verify.grade.rubric import DEFAULT_POINTS

SUBMISSIONS = Path(__file__).parent / "submissions"
GOLDEN = Path(__file__).parent / "golden" / "lesson4-scores.json"

# sha256 of lesson 4's drawn tests (ids, names, kinds, labels and every task sent to the child),
# computed at commit 01b6bab, before assignments existed: stored seeds keep their numbers.
LESSON4_DRAWS = {
    0: "1990519226273dbacc8a62c6917cd12a7b2180de4586937d8c9a84c57d14f902",
    1: "1585a45bf0408a11023b8d9011f826ebefb81c79020a4a62a0440314b02351eb",
    7: "86807e5085beb6d8e09b3dcbf7c05b5b51f632d53f18c3d834ea4686bef379a4",
    12: "ea83ebb9a9b5bc8c26ce85c7d65ebf3d2e632319b98fa6afec7624f51abf8a03",
    2024: "462680fa001efa7f46e39a5e8fe10136111dbebb3a516d8fb9bb258240fe06fb",
    2**32 - 1: "7f719358aaf1475f5936472f3a4b1cb8be0d80929307d5e9b0a2870dc08b87aa",
}


def _draw_digest(tests: list[Any]) -> str:
    doc = [{"id": t.id, "name": t.name, "kind": t.kind, "hidden": t.hidden,
            "parts": [{"label": p.label, "task": p.case.task(p.task_id)} for p in t.parts]}
           for t in tests]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("seed", sorted(LESSON4_DRAWS))
def test_lesson4_draws_exactly_what_it_drew_before_assignments(seed: int) -> None:
    assert _draw_digest(builtin("mlp").draw(seed)) == LESSON4_DRAWS[seed]
    assert _draw_digest(draw_cases(seed)) == LESSON4_DRAWS[seed]
    assert builtin("lesson4") is builtin("mlp") is load_assignment(None)
    assert builtin("mlp").points == DEFAULT_POINTS


@pytest.fixture(scope="module")
def lesson4_now() -> dict[str, Any]:
    golden = json.loads(GOLDEN.read_text())
    files = [SUBMISSIONS / name for name in golden["scores"]]

    def one(path: Path) -> tuple[str, Any]:
        rep = grade_submission(path, seed=golden["seed"], fd_check=False)
        return f"{path.parent.name}/{path.name}", rep

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, files))


def test_lesson4_scores_are_what_they_were_before_assignments(lesson4_now: dict[str, Any]) -> None:
    golden = json.loads(GOLDEN.read_text())["scores"]
    assert len(golden) >= 30 and {n.split("/")[0] for n in golden} == {"python", "js"}
    for name, want in golden.items():
        rep = lesson4_now[name]
        assert rep.assignment == "mlp"
        got = {"score": rep.score, "tests": {t.id: t.score for t in rep.tests},
               "diagnoses": {t.id: sorted(t.diagnoses) for t in rep.tests if t.diagnoses}}
        want = {**want, "diagnoses": {k: sorted(v) for k, v in want["diagnoses"].items()}}
        assert got == want, name


def test_every_builtin_draws_every_test_it_lists() -> None:
    assert "mlp" in BUILTINS
    for assignment in BUILTINS.values():
        tests = assignment.draw(3)
        assert [t.id for t in tests] == assignment.test_ids
        assert assignment.total == 100, assignment.name
        ids = [p.task_id for t in tests for p in t.parts]
        assert len(ids) == len(set(ids)), assignment.name
