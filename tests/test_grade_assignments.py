"""Assignments as data (verify/grade/assignments.py, kinds.py): lesson 4 is unchanged, built-ins
and instructors' TOML files are validated, listed and graded end to end."""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from verify.grade import grade_submission
from verify.grade.assignments import BUILTINS, builtin, load_assignment
from verify.grade.cases import draw_cases
from verify.grade.rubric import DEFAULT_POINTS, Rubric

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


DRAWN_LAST = {p.id for t in builtin("mlp").tests for p in t.parts if p.drawn_last}
"""Parts added to lesson 4's tests since (the far relu and linear parts), drawn after all
others: they change no earlier part's numbers."""


def _draw_digest(tests: list[Any]) -> str:
    doc = [{"id": t.id, "name": t.name, "kind": t.kind, "hidden": t.hidden,
            "parts": [{"label": p.label, "task": p.case.task(p.task_id)} for p in t.parts
                      if p.task_id not in DRAWN_LAST]}
           for t in tests]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


ADDED_SINCE = ("saturated",)
"""Tests added to lesson 4 since (issue 11), drawn after the others: they change no earlier
test's numbers."""


@pytest.mark.parametrize("seed", sorted(LESSON4_DRAWS))
def test_lesson4_draws_exactly_what_it_drew_before_assignments(seed: int) -> None:
    for tests in (builtin("mlp").draw(seed), draw_cases(seed)):
        assert [t.id for t in tests][-len(ADDED_SINCE):] == list(ADDED_SINCE)
        assert _draw_digest(tests[:-len(ADDED_SINCE)]) == LESSON4_DRAWS[seed]
    assert builtin("lesson4") is builtin("mlp") is load_assignment(None)
    assert builtin("mlp").points == DEFAULT_POINTS
    assert DRAWN_LAST == {f"{tag}_{act}_far" for tag in ("forward", "backward")
                          for act in ("relu", "linear")}


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
    """The golden scores: the 15 tests of before assignments as graded then, the saturated test
    (issue 11) as graded since; the diagnoses of the explanation engine."""
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
        assert assignment.total > 0 and Rubric.of(assignment).total == assignment.total
        ids = [p.task_id for t in tests for p in t.parts]
        assert len(ids) == len(set(ids)), assignment.name


@pytest.mark.parametrize("assignment", ["mlp", "dense-layer"])
@pytest.mark.parametrize("bug", [
    pytest.param(("return np.minimum(np.maximum(z, 0), 6)", None), id="relu6_forward_only"),
    pytest.param(("return np.minimum(np.maximum(z, 0), 6)",
                  "return ((z > 0) & (z < 6)).astype(float)"), id="relu6_both"),
    pytest.param(None, id="linear_clipped_at_50"),
])
def test_an_activation_wrong_only_far_from_zero_loses_points(
        assignment: str, bug: tuple[str, str | None] | None, tmp_path: Path) -> None:
    """Every other test keeps |z| below about 5: a relu clipped at 6 (or a linear clipped at
    50) got full marks until the far-tails parts (|z| up to 800) for relu and linear."""
    path = SUBMISSIONS / "python" / "correct_lesson.py"
    if bug is None:
        sub = _renamed(path, tmp_path / "sub.py", '"linear": (lambda z: z,',
                       '"linear": (lambda z: np.clip(z, -50, 50),')
    else:
        forward, derivative = bug
        sub = _renamed(path, tmp_path / "fwd.py", "return np.maximum(z, 0)", forward)
        if derivative is not None:
            sub = _renamed(sub, tmp_path / "sub.py", "return (z > 0).astype(float)", derivative)
    report = grade_submission(sub, seed=7, assignment=assignment)
    failing = {t.id: t for t in report.tests if not t.passed}
    act = "linear" if bug is None else "relu"
    # The forward test fails; the backward test too where the derivative is wrong as well.
    want = [f"forward_{act}"] + ([f"backward_{act}"] if bug and bug[1] else [])
    assert sorted(failing) == sorted(want), {k: t.output for k, t in failing.items()}
    assert 0 < failing[f"forward_{act}"].score < failing[f"forward_{act}"].max_score
    assert re.search(rf"DenseLayer\(3, 4, '{act}'\) forward, \|z\| up to 800: the output "
                     rf"forward returned: \d+ / 24 mismatched; worst at \(\d, \d\): your value "
                     rf"-?{50 if bug is None else 6}, expected", failing[f"forward_{act}"].output)


# ------------------------------------------------------------------------------ instructors' files

EXAMPLE_TOML = Path(__file__).parents[1] / "docs" / "examples" / "relu-mlp.toml"


def _renamed(source: Path, target: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    return target


@pytest.mark.parametrize("language", ["python", "js"])
def test_an_instructors_assignment_end_to_end(language: str, tmp_path: Path) -> None:
    """The docs' example: a subset of lesson 4, its own point split, a replaced test, tests of
    its own (one hidden) and another name for the loss derivative, graded through the CLI."""
    from verify.grade.cli import main
    from verify.grade.contract import EXAMPLE_PYTHON

    spec = load_assignment(EXAMPLE_TOML)
    if language == "python":
        (tmp_path / "src.py").write_text(EXAMPLE_PYTHON)
        good = _renamed(tmp_path / "src.py", tmp_path / "good.py", "def mse_derivative",
                        "def mse_prime")
        bad = _renamed(SUBMISSIONS / "python" / "buggy_bias_averaged.py", tmp_path / "bad.py",
                       "def mse_derivative", "def mse_prime")
        plain = tmp_path / "src.py"
    else:
        good = _renamed(SUBMISSIONS / "js" / "readme_example.js", tmp_path / "good.js",
                        "mseDerivative", "msePrime")
        bad = _renamed(SUBMISSIONS / "js" / "bug_bias_averaged.js", tmp_path / "bad.js",
                       "mseDerivative", "msePrime")
        plain = SUBMISSIONS / "js" / "readme_example.js"
    out = tmp_path / "results.json"
    assert main([str(good), "--assignment", str(EXAMPLE_TOML), "--results", str(out), "-q",
                 "--seed", "4"]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == spec.total
    assert data["extra_data"]["assignment"] == "relu-mlp"
    assert [(t["tags"][0], t["max_score"]) for t in data["tests"]] == list(spec.points.items())
    assert {t["tags"][0]: t["visibility"] for t in data["tests"]}["hidden_relu"] == "after_due_date"
    assert main([str(bad), "--assignment", str(EXAMPLE_TOML), "--results", str(out), "-q",
                 "--seed", "4"]) == 0
    data = json.loads(out.read_text())
    by_id = {t["tags"][0]: t for t in data["tests"]}
    assert 0 < data["score"] < spec.total
    for tid in ("backward_relu", "network_backward", "deep_relu", "hidden_relu"):
        assert by_id[tid]["score"] < by_id[tid]["max_score"]
        assert "bias_averaged" in {tag.split("@")[0] for tag in by_id[tid]["tags"][1:]}
    assert by_id["forward_relu"]["score"] == spec.points["forward_relu"]
    assert "values of hidden tests are not shown" in by_id["hidden_relu"]["output"]
    # The spelling the file asks for, and no other: mse_derivative is not accepted here.
    report = grade_submission(plain, seed=4, assignment=spec)
    loss = next(t for t in report.tests if t.id == "mse_derivative")
    assert loss.score == 0 and "MissingAPI" in loss.output and "msePrime" in loss.output


def test_an_assignment_file_drawn_for_many_seeds() -> None:
    spec = load_assignment(EXAMPLE_TOML)
    for seed in range(200):
        tests = spec.draw(seed)
        assert [t.id for t in tests] == spec.test_ids


@pytest.mark.parametrize(("text", "message"), [
    ('title = "x"\n', "name: required"),
    ('name = "x"\n', "contract: required when the assignment extends none"),
    ('name = "x"\nextends = "lesson9"\n', "extends: unknown assignment 'lesson9'"),
    ('name = "x"\nextends = "mlp"\ncolour = 1\n', "colour: unknown key"),
    ('name = "x"\nextends = "mlp"\ninclude = ["api", "backward_elu"]\n',
     "include[1]: unknown test id 'backward_elu'"),
    ('name = "x"\nextends = "mlp"\n[points]\nbackward_elu = 1\n',
     "points.backward_elu: unknown test id"),
    ('name = "x"\nextends = "mlp"\n[points]\napi = -2\n', "points.api: must be a number >= 0"),
    ('name = "x"\nextends = "mlp"\n[visibility]\napi = "never"\n',
     "visibility.api: must be one of visible"),
    ('name = "x"\nextends = "mlp"\n[spellings]\nloss = ["l"]\n', "spellings.loss: unknown role"),
    ('name = "x"\nextends = "losses"\n[[tests]]\nid = "t"\npoints = 1\nkind = "layer_backward"\n'
     'activation = "relu"\n',
     "kind 'layer_backward' needs DenseLayer, d_weights, d_biases, which contract "
     "lesson1-losses does not define"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "layer_backward"\n'
     'activation = "elu"\n', "tests[0].activation: expected one of linear, relu, sigmoid, tanh, "
                             "got 'elu'"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "layer_backward"\n',
     "tests[0].activation: required by kind 'layer_backward'"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "layer_backward"\n'
     'activation = "relu"\nsizes = [3]\n', "tests[0].sizes: expected 2 items, got 1"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "layer_backward"\n'
     'activation = "relu"\nbatches = [0]\n', "tests[0].batches[0]: must be >= 1, got 0"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "layer_backward"\n'
     'activation = "relu"\nwidth = 3\n', "tests[0].width: unknown parameter of kind "
                                         "'layer_backward'"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "mlp_backward"\n'
     'sizes = [2, 3, 1]\nactivations = ["relu"]\n',
     "tests[0].activations: expected 2 activations (one per layer of sizes [2, 3, 1]), got 1"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nkind = "warp"\n',
     "tests[0].kind: unknown test kind 'warp'"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\nkind = "mse"\n',
     "tests[0].points: required"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\n[[tests.parts]]\n'
     'kind = "mse"\nshape = [2, 2]\nid = "api"\n', "part id 'api' is also a part of test 'api'"),
    ('name = "x"\nextends = "mlp"\n[[tests]]\nid = "t"\npoints = 1\nshape = [2, 2]\n'
     '[[tests.parts]]\nkind = "mse"\n', "tests[0].shape: a test with parts takes its kinds"),
    ('name = "x"\nextends = "mlp"\n[points]\napi = 0\nforward_linear = 0\nforward_relu = 0\n'
     'forward_sigmoid = 0\nforward_tanh = 0\nmse = 0\nmse_derivative = 0\nbackward_linear = 0\n'
     'backward_relu = 0\nbackward_sigmoid = 0\nbackward_tanh = 0\nnetwork_backward = 0\n'
     'multiple_rounds = 0\nedge_shapes = 0\nhidden_network = 0\nsaturated = 0\n',
     "the points sum to 0"),
    ('name = "x"\n[[tests\n', "invalid TOML"),
], ids=lambda v: v if len(v) < 40 else None)
def test_assignment_files_are_validated_naming_the_bad_key(text: str, message: str,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        load_assignment(path)
    assert str(info.value).startswith(f"assignment {path}: ")


def test_unknown_assignments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown assignment 'lesson7'; the built-in ones are "):
        load_assignment("lesson7")
    with pytest.raises(ValueError, match="does not exist"):
        load_assignment(tmp_path / "missing.toml")


def test_the_cli_lists_assignments_and_refuses_bad_ones(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    from verify.grade.cli import main

    assert main(["assignments"]) == 0
    text = capsys.readouterr().out
    for spec in BUILTINS.values():
        assert f"{spec.name}: {spec.title}" in text
        for t in spec.tests:
            assert re.search(rf"^    {re.escape(t.id)} +{t.points:g}  ", text, re.M), t.id
    assert main(["assignments", str(EXAMPLE_TOML)]) == 0
    text = capsys.readouterr().out
    assert "relu-mlp: Backprop through an MLP (relu only)" in text
    assert "mse_prime | msePrime" in text
    assert main(["assignments", "--kinds"]) == 0
    text = capsys.readouterr().out
    assert "layer_backward:" in text and "activation (str, required; one of linear" in text
    assert main(["assignments", "nope"]) == 2
    assert "unknown assignment 'nope'" in capsys.readouterr().err
    sub = SUBMISSIONS / "python" / "correct_lesson.py"
    assert main([str(sub), "--assignment", "nope"]) == 2
    rubric = tmp_path / "r.toml"
    rubric.write_text("[points]\nbackward_relu = 3\n")
    assert main([str(sub), "--assignment", "losses", "--rubric", str(rubric)]) == 2
    assert "unknown test id 'backward_relu' in points; expected one of api, mse_one_output" \
        in capsys.readouterr().err


def test_a_rubric_of_another_assignment_is_refused() -> None:
    from verify.grade.rubric import load_rubric

    with pytest.raises(ValueError, match="does not fit assignment 'losses'"):
        grade_submission(SUBMISSIONS / "losses" / "python" / "correct_lesson.py",
                         rubric=load_rubric(), assignment="losses")


def test_batch_grades_a_folder_against_an_assignment(tmp_path: Path) -> None:
    import csv

    from verify.grade.cli import main

    folder = tmp_path / "subs"
    folder.mkdir()
    for name, src in (("ann.py", "correct_lesson.py"), ("bob.py", "buggy_mse_summed.py"),
                      ("cat.js", "../js/bug_mse_root.js")):
        (folder / name).write_text((SUBMISSIONS / "losses" / "python" / src).read_text())
    table = tmp_path / "grades.csv"
    assert main([str(folder), "--assignment", "lesson1", "--csv", str(table), "-q",
                 "--seed", "2"]) == 0
    rows = {r["student"]: r for r in csv.DictReader(table.open())}
    assert float(rows["ann"]["score"]) == builtin("losses").total
    assert "mse_summed" in rows["bob"]["diagnoses"] and "mse_root" in rows["cat"]["diagnoses"]
    assert set(builtin("losses").test_ids) <= set(rows["ann"])


# ------------------------------------------------------------------------ bundle, batch, bench


def test_a_bundle_ships_an_instructors_assignment_and_grades_with_it(tmp_path: Path) -> None:
    """Gradescope end to end, short of Docker: the zip's own grader, run as run_autograder runs
    it, grades a submission against the assignment file the zip ships."""
    import os
    import subprocess
    import sys
    import zipfile

    from verify.grade.bundle import build_bundle
    from verify.grade.contract import EXAMPLE_PYTHON

    out = build_bundle(tmp_path / "a.zip", assignment=EXAMPLE_TOML, entry="mlp.py")
    source = tmp_path / "source"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(source)
        run = zf.read("run_autograder").decode()
    assert "--assignment assignment.toml " in run
    assert (source / "assignment.toml").read_text() == EXAMPLE_TOML.read_text()
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "mlp.py").write_text(EXAMPLE_PYTHON.replace("def mse_derivative",
                                                              "def mse_prime"))
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "verify", "grade", "--gradescope", str(submission), "--entry",
         "mlp.py", "--results", str(results), "--secret-file", "grading_secret",
         "--assignment", "assignment.toml", "-q"],
        cwd=source, env={**os.environ, "PYTHONPATH": str(source)}, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    assert data["extra_data"]["assignment"] == "relu-mlp"
    assert data["extra_data"]["seed_source"] == "content+secret"
    assert data["score"] == load_assignment(EXAMPLE_TOML).total
    assert [t["tags"][0] for t in data["tests"]] == load_assignment(EXAMPLE_TOML).test_ids


def test_a_bundle_per_builtin_assignment(tmp_path: Path) -> None:
    import zipfile

    from verify.grade.bundle import build_bundle, main

    for name in BUILTINS:
        with zipfile.ZipFile(build_bundle(tmp_path / f"{name}.zip", assignment=name)) as zf:
            assert f"--assignment {name} " in zf.read("run_autograder").decode()
            assert "assignment.toml" not in zf.namelist()
    bad = tmp_path / "r.toml"
    bad.write_text("[points]\nbackward_relu = 3\n")
    assert main(["--out", str(tmp_path / "x.zip"), "--assignment", "losses", "--rubric",
                 str(bad)]) == 2
    assert main(["--out", str(tmp_path / "y.zip"), "--assignment", "lesson9"]) == 2


def test_batch_and_outputs_for_every_assignment(tmp_path: Path) -> None:
    """A folder per assignment, both languages: every student gets the grade a single run gives,
    and a valid results document per student."""
    from verify.grade.batch import grade_folder
    from verify.grade.outputs import OUTPUTS, write_results

    for name, spec in BUILTINS.items():
        folder = tmp_path / name
        folder.mkdir()
        root = SUBMISSIONS / name if name != "mlp" else SUBMISSIONS
        for language, ext in (("python", ".py"), ("js", ".js")):
            sub = sorted((root / language).glob(f"correct_*{ext}"))[0]
            (folder / f"ok_{language}{ext}").write_text(sub.read_text())
        bug = sorted((root / "js").glob("bug*.js"))[0]
        (folder / "bug_js.js").write_text(bug.read_text())
        result = grade_folder(folder, jobs=2, seed=5, assignment=name, progress=False,
                              fd_check=False)
        assert sorted(result.reports) == ["bug_js", "ok_js", "ok_python"]
        single = grade_submission(folder / "bug_js.js", seed=5, assignment=name, fd_check=False)
        assert single.score == result.reports["bug_js"].score < spec.total
        for student, report in result.reports.items():
            assert report.assignment == name and [t.id for t in report.tests] == spec.test_ids
            ok = student.startswith("ok")
            assert (report.score == spec.total) is ok, (name, student, report.score)
            for fmt, output in OUTPUTS.items():
                data = output.results_dict(report)
                write_results(data, tmp_path / "r.json")
                back = json.loads((tmp_path / "r.json").read_text())
                # PrairieLearn's score is the share of the points, in [0, 1]
                got = {"gradescope": back["score"], "plain": back.get("points"),
                       "prairielearn": back["score"] * spec.total}[fmt]
                assert got == pytest.approx(report.score, abs=1e-9), (fmt, student)


def test_bench_grades_each_assignment_s_example(capsys: pytest.CaptureFixture[str]) -> None:
    from verify.grade.benchmark import main as bench

    assert bench(["--assignment", "lesson2", "--n", "2", "--single", "1", "--sandbox",
                  "rlimits"]) == 0
    out = capsys.readouterr().out
    assert "python example of gradient-descent" in out and "2 / 2 full marks" in out
    assert "worst case" not in out  # lesson 4's hanging submission means nothing here
    assert bench(["--assignment", "nope", "--n", "1"]) == 2


def test_the_docs_examples_are_valid_and_what_the_docs_show(tmp_path: Path) -> None:
    """Every TOML block of docs/assignments.md that defines an assignment loads, and is the
    example file of that name (so the page cannot drift from the tested files)."""
    docs = Path(__file__).parents[1] / "docs"
    blocks = re.findall(r"```toml\n(.*?)```", (docs / "assignments.md").read_text(), re.S)
    examples = {load_assignment(p).name: load_assignment(p) for p in docs.glob("examples/*.toml")}
    shown = []
    for i, block in enumerate(blocks):
        if not re.search(r'^name = "', block, re.M):
            continue
        path = tmp_path / f"block{i}.toml"
        path.write_text(block)
        spec = load_assignment(path)
        assert spec.name in examples, spec.name
        want = examples[spec.name]
        assert (spec.title, spec.contract, spec.points, spec.visibility) == \
            (want.title, want.contract, want.points, want.visibility)
        assert [(t.id, t.name, t.parts) for t in spec.tests] == \
            [(t.id, t.name, t.parts) for t in want.tests]
        shown.append(spec.name)
    assert sorted(shown) == sorted(examples) and len(shown) >= 2


def test_a_course_that_accepts_only_the_lesson_s_loss_convention(tmp_path: Path) -> None:
    spec = load_assignment(Path(__file__).parents[1] / "docs" / "examples"
                           / "losses-lesson-convention.toml")
    lesson = grade_submission(SUBMISSIONS / "losses" / "python" / "correct_lesson.py", seed=3,
                              assignment=spec)
    assert lesson.score == spec.total
    exact = grade_submission(SUBMISSIONS / "losses" / "python" / "correct_exact.py", seed=3,
                             assignment=spec)
    test = next(t for t in exact.tests if t.id == "mse_derivative_several_outputs")
    assert test.score == 0 and exact.score == spec.total - spec.points[test.id]
    assert "divides by the number of elements" in test.output
    assert "this assignment asks for the lesson's convention" in test.output
