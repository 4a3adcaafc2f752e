"""The results folder's records (verify/grade/records.py): what --resume compares, what rescore
re-weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from verify.grade import Limits, grade_submission
from verify.grade.assignments import load_assignment
from verify.grade.records import (
    ResultStore,
    grader_version,
    grading_base,
    report_from_json,
    report_to_json,
    rescore_report,
)
from verify.grade.rubric import Rubric, load_rubric

CORPUS = Path(__file__).parent / "submissions" / "python"
MLP = load_assignment("mlp")
FILES = [("mlp.py", b"print(1)\n")]


def _base(**changes: object) -> str:
    kwargs: dict = {"secret": b"s" * 32, "seed": None, "assignment": MLP, "limits": Limits(),
                    "fd_check": True}
    files = changes.pop("files", FILES)
    kwargs.update(changes)
    return grading_base(files, **kwargs)  # type: ignore[arg-type]


def test_the_base_changes_with_everything_a_result_depends_on() -> None:
    base = _base()
    assert base == _base()  # deterministic
    variants = [_base(files=[("mlp.py", b"print(2)\n")]),
                _base(files=[("other.py", b"print(1)\n")]),
                _base(files=[*FILES, ("helper.py", b"")]),
                _base(secret=b"t" * 32), _base(seed=3),
                _base(assignment=load_assignment("losses")),
                _base(limits=Limits(wall_s=19)), _base(fd_check=False)]
    assert len({base, *variants}) == len(variants) + 1
    assert "s" * 32 not in base and len(grader_version()) == 32


def test_a_report_survives_the_record_exactly() -> None:
    report = grade_submission(CORPUS / "buggy_bias_averaged.py", seed=4, fd_check=False)
    back = report_from_json(json.loads(json.dumps(report_to_json(report))))
    strip = [replace(t, records=[]) for t in report.tests]
    assert back == replace(report, tests=strip)
    assert all(t.fraction is not None for t in back.tests)


def test_rescore_is_a_fresh_run_with_the_new_points(tmp_path: Path) -> None:
    rubric_file = tmp_path / "r.toml"
    rubric_file.write_text("[points]\napi = 11\nbackward_relu = 2.5\nhidden_network = 0\n")
    new = load_rubric(rubric_file, MLP)
    old = grade_submission(CORPUS / "buggy_bias_averaged.py", seed=4, fd_check=False)
    fresh = grade_submission(CORPUS / "buggy_bias_averaged.py", seed=4, fd_check=False,
                             rubric=new)
    rescored = rescore_report(old, new)
    assert [(t.id, t.score, t.max_score) for t in rescored.tests] == \
        [(t.id, t.score, t.max_score) for t in fresh.tests]
    assert rescored.score == fresh.score != old.score


def test_rescore_refuses_what_only_a_regrade_can_do(tmp_path: Path) -> None:
    report = grade_submission(CORPUS / "correct_lesson.py", seed=4, fd_check=False)
    shown = tmp_path / "v.toml"
    shown.write_text('[visibility]\nhidden_network = "visible"\n')
    with pytest.raises(ValueError, match="changes the visibility of hidden_network: .* needs a "
                                         "regrade"):
        rescore_report(report, load_rubric(shown, MLP))
    with pytest.raises(ValueError, match="does not fit assignment 'mlp'"):
        rescore_report(report, Rubric.of(load_assignment("losses")))


def test_the_store_keeps_only_what_matches(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "gradescope")
    report = grade_submission(CORPUS / "correct_lesson.py", seed=4, fd_check=False)
    rubric = Rubric.of(MLP)
    store.save("Alice Smith", report, base="b1", rubric=rubric, files=FILES)
    assert (tmp_path / "Alice Smith.json").is_file()
    assert json.loads((tmp_path / "Alice Smith.json").read_text())["score"] == 108
    kept = store.load("Alice Smith", "b1", rubric)
    assert kept is not None and kept.score == 108
    assert store.load("Alice Smith", "b2", rubric) is None
    assert store.load("Alice Smith", "b1", replace(rubric, points={**rubric.points,
                                                                    "api": 9.0})) is None
    assert store.load("Bob", "b1", rubric) is None
    (tmp_path / "Alice Smith.json").unlink()  # a record without its results: graded again
    assert store.load("Alice Smith", "b1", rubric) is None
    (tmp_path / "records" / "Alice Smith.json").write_text("{not json")
    assert store.load("Alice Smith", "b1", rubric) is None


def test_names_that_cannot_be_file_names_get_a_digest(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert store.results_path("alice") == tmp_path / "alice.json"
    odd = store.results_path("../x/y")
    assert odd.parent == tmp_path and odd.name.startswith("_x_y-")
    assert store.results_path("../x/y") != store.results_path("../x_y")
