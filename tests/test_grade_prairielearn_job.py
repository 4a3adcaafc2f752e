"""PrairieLearn external grading (verify/grade/prairielearn_job.py, outputs/prairielearn.py,
docker/prairielearn/): a simulated /grade layout in a temporary folder (no Docker daemon here),
the entrypoint script run for real, and the image's Dockerfile checked against the grader."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verify.grade.bundle import GRADER_REQUIREMENTS
from verify.grade.cli import main
from verify.grade.sandbox import bwrap_unavailable_reason

REPO = Path(__file__).resolve().parents[1]
SUBS = Path(__file__).parent / "submissions"
DOCKER = REPO / "docker" / "prairielearn"
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    bwrap_unavailable_reason() is not None, reason=f"bwrap: {bwrap_unavailable_reason()}"))]


def _job(root: Path, files: list[Path], params: dict | None = None) -> Path:
    """A PrairieLearn job folder: student/ with ``files``, data/data.json with ``params``."""
    (root / "student").mkdir(parents=True)
    for f in files:
        shutil.copy(f, root / "student" / f.name)
    if params is not None:
        (root / "data").mkdir()
        (root / "data" / "data.json").write_text(json.dumps(
            {"params": params, "correct_answers": {}, "submitted_answers": {"_files": []}}))
    return root


def _results(root: Path) -> dict:
    return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.parametrize("mode", MODES)
def test_a_prairielearn_job_correct_and_buggy(mode: str, tmp_path: Path) -> None:
    correct = _job(tmp_path / "a", sorted((SUBS / "multifile" / "python" / "correct").glob("*")))
    assert main(["--prairielearn", str(correct), "--sandbox", mode, "--seed", "7"]) == 0
    data = _results(correct)
    assert data["gradable"] is True and data["score"] == 1.0
    assert all(t["points"] == t["max_points"] for t in data["tests"])
    buggy = _job(tmp_path / "b", [SUBS / "python" / "buggy_not_chained.py"])
    assert main(["--prairielearn", str(buggy), "--sandbox", mode, "--seed", "7"]) == 0
    data = _results(buggy)
    net = next(t for t in data["tests"] if t["description"] == "network_backward")
    assert data["gradable"] is True and 0 < data["score"] < 1
    assert net["points"] < net["max_points"]
    assert "likely cause (MLP.backward): gradients not chained" in net["output"]


def test_the_same_scores_as_the_gradescope_output(tmp_path: Path) -> None:
    sub = SUBS / "python" / "buggy_bias_averaged.py"
    root = _job(tmp_path / "pl", [sub])
    assert main(["--prairielearn", str(root), "--seed", "9", "--no-fd"]) == 0
    gs = tmp_path / "gs.json"
    assert main([str(sub), "--seed", "9", "--no-fd", "--results", str(gs), "-q"]) == 0
    pl, gsd = _results(root), json.loads(gs.read_text())
    assert [(t["name"], t["points"], t["max_points"]) for t in pl["tests"]] == \
        [(t["name"], t["score"], t["max_score"]) for t in gsd["tests"]]
    total = sum(t["max_score"] for t in gsd["tests"])
    assert pl["score"] == pytest.approx(gsd["score"] / total) and pl["score"] < 1


def test_tests_students_may_not_see_yet_show_no_values(tmp_path: Path) -> None:
    """PrairieLearn shows everything at once: after_due_date tests keep their value-free
    feedback; hidden ones show their points only."""
    root = _job(tmp_path, [SUBS / "python" / "buggy_missing_activation_derivative.py"],
                {"verify": {"rubric": {"visibility": {"mse": "hidden"}}}})
    assert main(["--prairielearn", str(root), "--seed", "3", "--no-fd"]) == 0
    data = _results(root)
    by_id = {t["description"]: t for t in data["tests"]}
    later = by_id["hidden_network"]
    assert later["points"] < later["max_points"]
    assert "values of hidden tests are not shown" in later["output"]
    assert "expected" not in later["output"] and "analytic" not in later["output"]
    assert by_id["mse"]["output"] == "" and "not shown" in by_id["mse"]["message"]
    assert "2 tests show no values" in data["message"]
    assert "seed" not in json.dumps(data).lower()


def test_data_json_configures_the_question(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    root = _job(tmp_path, [SUBS / "python" / "correct_lesson.py", SUBS / "python" /
                           "buggy_not_chained.py"],
                {"verify": {"entry": "correct_lesson.py", "rubric": "tests/rubric.toml"}})
    tests.mkdir()
    (tests / "rubric.toml").write_text("[points]\napi = 20\n")
    assert main(["--prairielearn", str(root), "--seed", "1", "--no-fd"]) == 0
    data = _results(root)
    assert data["score"] == 1.0 and data["tests"][0]["max_points"] == 20
    assert data["message"].startswith("124 / 124 points")
    # The command line wins over data.json.
    assert main(["--prairielearn", str(root), "--seed", "1", "--no-fd", "--entry",
                 "buggy_not_chained.py"]) == 0
    assert _results(root)["score"] < 1


def test_what_cannot_be_graded_is_not_gradable(tmp_path: Path) -> None:
    both = _job(tmp_path / "two", [SUBS / "python" / "correct_lesson.py",
                                   SUBS / "python" / "correct_snake_exact.py"])
    assert main(["--prairielearn", str(both), "--no-fd"]) == 0
    data = _results(both)
    assert data["gradable"] is False and data["tests"] == []
    assert "correct_lesson.py, correct_snake_exact.py" in data["format_errors"][0]
    assert "--entry" in data["format_errors"][0]
    empty = _job(tmp_path / "none", [])
    assert main(["--prairielearn", str(empty)]) == 0
    assert _results(empty)["gradable"] is False
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{")
    notebook = _job(tmp_path / "nb", [bad])
    assert main(["--prairielearn", str(notebook)]) == 3
    assert "bad.ipynb is not a notebook nbformat can read" in \
        _results(notebook)["format_errors"][0]


@pytest.mark.parametrize(("data", "why"), [
    ("{oops", "cannot be read as JSON"),
    (json.dumps({"params": {"verify": {"assignment": "no-such-lesson"}}}), "no-such-lesson"),
    (json.dumps({"params": {"verify": {"rubric": {"points": {"nope": 1}}}}}), "nope"),
    (json.dumps({"params": {"verify": {"colour": "red"}}}), "unknown key(s) in params.verify"),
    (json.dumps({"params": {"verify": ["mlp.py"]}}), "params.verify must be an object"),
])
def test_a_configuration_error_is_not_gradable_and_says_why(
        tmp_path: Path, data: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = _job(tmp_path, [SUBS / "python" / "correct_lesson.py"])
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text(data)
    assert main(["--prairielearn", str(root)]) == 2
    result = _results(root)
    assert result["gradable"] is False and why in result["format_errors"][0]
    assert "grader configuration is wrong" in result["format_errors"][0]
    assert why in capsys.readouterr().err


def test_results_stay_under_prairielearns_size_limit() -> None:
    from verify.grade.outputs.prairielearn import MAX_BYTES, results_dict
    from verify.grade.scoring import GradeReport, TestResult

    tests = [TestResult(f"t{i}", f"test {i}", 0.0, 1.0, False, "m" * 9000 + "\n" + "x" * 400_000,
                        "visible") for i in range(6)]
    report = GradeReport("s.py", 1, "bwrap", "python", tests, 1.0, notes=["y" * 900_000])
    data = results_dict(report)
    assert len(json.dumps(data, indent=2).encode()) < MAX_BYTES
    assert "more characters of feedback not shown" in data["tests"][0]["output"]
    assert "more characters of message not shown" in data["tests"][0]["message"]
    assert [t["points"] for t in data["tests"]] == [0.0] * 6


# ------------------------------------------------------------------------------ the image


def _run_grader(root: Path, *args: str, python: str = sys.executable,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DOCKER / "run-grader"), *args], capture_output=True, text=True,
        timeout=120, env={**os.environ, "VERIFY_PL_ROOT": str(root), "VERIFY_PL_PYTHON": python,
                          "PYTHONPATH": str(REPO), **(env or {})})


def test_a_hanging_submission_finishes_inside_prairielearns_30_s(tmp_path: Path) -> None:
    """The image's entrypoint with the default limits (20 s for the whole submission), on the
    worst case: every function loops forever."""
    root = _job(tmp_path, [SUBS / "python" / "hostile_hang_everywhere.py"])
    start = time.monotonic()
    done = _run_grader(root)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    data = _results(root)
    assert data["gradable"] is True and data["score"] < 0.1
    assert elapsed < 30, f"{elapsed:.1f} s"
    assert any("the time limit for the whole submission (20 s)" in t["output"]
               or "within 2 s" in t["output"] for t in data["tests"])


def test_the_entrypoint_always_leaves_valid_results(tmp_path: Path) -> None:
    root = _job(tmp_path / "broken", [SUBS / "python" / "correct_lesson.py"])
    done = _run_grader(root, python="/bin/false")  # the grader cannot even start
    assert done.returncode == 0
    data = _results(root)
    assert data["gradable"] is False and "failed to run" in data["format_errors"][0]
    slow = _job(tmp_path / "slow", [SUBS / "python" / "hostile_hang_everywhere.py"])
    done = _run_grader(slow, env={"VERIFY_PL_TIMEOUT_S": "2"})
    assert done.returncode == 0
    assert _results(slow)["format_errors"] == [
        "The autograder ran out of time (2 s); please tell the course staff."]


def test_the_entrypoint_uses_the_courses_secret_and_passes_options_on(tmp_path: Path) -> None:
    root = _job(tmp_path, [SUBS / "python" / "buggy_bias_averaged.py"])
    assert _run_grader(root, "--no-fd").returncode == 0
    plain = json.dumps(_results(root)["tests"])
    secret = root / "serverFilesCourse" / "verify" / "grading_secret"
    secret.parent.mkdir(parents=True)
    secret.write_text("a" * 64)
    assert _run_grader(root, "--no-fd").returncode == 0
    keyed = json.dumps(_results(root)["tests"])
    assert keyed != plain  # other seeds: other values in the feedback
    assert _run_grader(root, "--no-fd").returncode == 0
    assert json.dumps(_results(root)["tests"]) == keyed  # the same for the same file
    assert os.stat(root).st_mode & 0o077 == 0  # nothing of /grade for the sandbox's uids


def test_the_dockerfile_matches_the_grader() -> None:
    """The image cannot be built here (no Docker daemon): check what can be checked."""
    text = (DOCKER / "Dockerfile").read_text()
    lines = re.sub(r"\\\n\s*", " ", text).splitlines()
    pip = next(ln for ln in lines if "/opt/verify-venv/bin/pip install" in ln)
    args = shlex.split(pip.split("/opt/verify-venv/bin/pip install", 1)[1])
    assert args == ["--no-cache-dir", *GRADER_REQUIREMENTS]
    copies = [ln.split()[1:] for ln in lines if ln.startswith("COPY ")]
    assert copies and all((REPO / src).exists() for src, _ in copies)
    assert ["docker/prairielearn/run-grader", "/usr/local/bin/verify-grade-prairielearn"] in copies
    assert 'CMD ["/usr/local/bin/verify-grade-prairielearn"]' in text
    assert text.startswith("# The PrairieLearn") and "FROM node:20-" in text
    apt = next(ln for ln in lines if "apt-get install" in ln).split()
    assert {"python3", "python3-venv", "bubblewrap", "libseccomp2", "util-linux"} <= set(apt)
    assert os.access(DOCKER / "run-grader", os.X_OK)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "**/node_modules" in ignored and ".git" in ignored and "verify" not in ignored
    assert subprocess.run(["bash", "-n", str(DOCKER / "run-grader")]).returncode == 0


def test_the_docs_info_json_runs_this_image() -> None:
    """docs/platforms/prairielearn.md's info.json: valid JSON, the image's entrypoint, a
    timeout the grader fits in, the secret's folder."""
    page = (REPO / "docs" / "platforms" / "prairielearn.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"^```json\n(.*?)^```", page, re.M | re.S)]
    info = next(b for b in blocks if "externalGradingOptions" in b)
    options = info["externalGradingOptions"]
    assert options["entrypoint"] == "/usr/local/bin/verify-grade-prairielearn"
    assert options["timeout"] >= 30 > 28  # the entrypoint stops everything at 28 s
    assert options["serverFilesCourse"] == ["verify/"] and options["enableNetworking"] is False
    assert info["gradingMethod"] == "External"


@pytest.mark.parametrize("extra", [["alice.py"], ["--format", "gradescope"],
                                   ["--results", "r.json"], ["--results-dir", "out"],
                                   ["--gradescope", "sub"]])
def test_prairielearn_refuses_options_of_other_modes(
        tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    root = _job(tmp_path, [SUBS / "python" / "correct_lesson.py"])
    assert main(["--prairielearn", str(root), *extra]) == 2
    assert "cannot be combined with" in capsys.readouterr().err
    assert not (root / "results").exists()  # nothing graded, nothing written


def test_a_sandbox_that_cannot_hold_grades_nothing_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: where the sandbox is missing a protection, no student code runs and the
    job is not gradable (no points lost), saying why."""
    import verify.grade.sandbox as sandbox

    monkeypatch.setattr(sandbox, "_checked", lambda mode, batch: ["seccomp (test)"])
    started: list[object] = []
    monkeypatch.setattr(sandbox, "_launch", lambda *a, **k: started.append(a))
    root = _job(tmp_path, [SUBS / "python" / "correct_lesson.py"])
    assert main(["--prairielearn", str(root), "--sandbox", "rlimits"]) == 2
    data = _results(root)
    assert data["gradable"] is False and data["tests"] == []
    assert "cannot run submissions safely" in data["format_errors"][0]
    assert started == []  # nothing was run
