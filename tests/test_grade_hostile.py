"""Hostile submissions: each is contained within its limits, with a clear message, a valid
results.json, no points it did not earn, and nothing left running - in both sandboxes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from points import FORWARD, LOSSES, TOTAL, points
from procs import marked_copy, survivors

from verify.grade import Limits, grade_submission
from verify.grade.outputs import write_results
from verify.grade.outputs.gradescope import results_dict
from verify.grade.rubric import DEFAULT_POINTS
from verify.grade.sandbox import bwrap_unavailable_reason

CORPUS = Path(__file__).parent / "submissions" / "python"
FAST = Limits(wall_s=10.0, cpu_s=5, memory_mb=1024)  # the hanging cases set their own
NO_BWRAP = bwrap_unavailable_reason()
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    NO_BWRAP is not None, reason=f"bwrap: {NO_BWRAP}"))]
MARKER = f"4242.{os.getpid():07d}"
"""The detached grandchild's argument, this process's own: another checkout's tests may be
grading the same file at this moment, and its processes are not this test's survivors."""


def _survivors(marker: str = MARKER) -> list[int]:
    return survivors(marker)


def _remarked(name: str, corpus_marker: str, marker: str, tmp_path: Path) -> Path:
    """A copy of hostile_<name>.py whose detached process carries ``marker``."""
    return marked_copy(CORPUS / f"hostile_{name}.py", corpus_marker, marker, tmp_path / "sub")


def _grade(name: str, mode: str, tmp_path: Path, limits: Limits = FAST, source: Path | None = None):
    report = grade_submission(source or CORPUS / f"hostile_{name}.py", seed=99, sandbox=mode,
                              limits=limits)
    out = tmp_path / "results.json"
    write_results(results_dict(report), out)
    data = json.loads(out.read_text())  # always valid JSON
    assert set(data) >= {"score", "output", "tests", "extra_data"}
    assert "execution_time" in data["extra_data"]
    assert len(data["tests"]) == len(report.tests) == len(DEFAULT_POINTS)
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] in ("passed", "failed")
    return report, data


def _outputs(report) -> str:  # noqa: ANN001
    return "\n".join(t.output for t in report.tests)


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_in_backward_zeroes_only_the_backward_tests(mode: str,
                                                                  tmp_path: Path) -> None:
    # 1 s per part: correct parts need milliseconds, but a CI worker beside another one may
    # stall a child for a few hundred.
    limits = Limits(wall_s=8.0, task_s=1.0, cpu_s=8)
    report, data = _grade("busy_loop", mode, tmp_path, limits)
    by_id = {t.id: t for t in report.tests}
    assert all(by_id[f"forward_{a}"].passed for a in ("linear", "relu", "sigmoid", "tanh"))
    assert by_id["api"].passed and by_id["mse"].passed and by_id["mse_derivative"].passed
    assert by_id["backward_relu"].score == 0
    assert "your code did not finish this part within 1 s" in by_id["backward_linear"].output
    for test in report.tests:  # every hanging part says why it has no result
        if not test.passed:  # (reloading after a hang may outlast what is left, under load)
            assert "did not finish this part within 1 s" in test.output \
                or "loading your file did not finish within" in test.output \
                or "not run: the time limit for the whole submission (8 s)" in test.output
    assert data["score"] == points("api", *FORWARD, *LOSSES)
    assert report.execution_time < limits.wall_s + 4  # the last child stopped, cleaned up


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_at_import(mode: str, tmp_path: Path) -> None:
    report, data = _grade("busy_import", mode, tmp_path, Limits(wall_s=2.0, cpu_s=2))
    assert data["score"] == 0
    assert "loading your file did not finish within the 2 s time limit for the whole " \
        "submission" in _outputs(report) or "CPU-time limit" in _outputs(report)
    assert report.execution_time < 4
    report, data = _grade("busy_import", mode, tmp_path, Limits(wall_s=8.0, load_s=1.0, cpu_s=8))
    assert "loading your file did not finish within 1 s (the time limit for loading it)" \
        in _outputs(report)
    assert report.execution_time < 4


@pytest.mark.parametrize("mode", MODES)
def test_memory_hog_hits_the_memory_limit(mode: str, tmp_path: Path) -> None:
    report, data = _grade("memory_hog", mode, tmp_path,
                          Limits(wall_s=8.0, cpu_s=8, memory_mb=512))
    assert data["score"] == 0
    assert "MemoryError" in _outputs(report) and "memory limit is 512 MiB" in _outputs(report)


def test_numpy_memory_hog_fails_only_where_it_allocates(tmp_path: Path) -> None:
    report, data = _grade("memory_hog_numpy", "rlimits", tmp_path)
    by_id = {t.id: t for t in report.tests}
    assert by_id["mse"].passed and by_id["mse_derivative"].passed
    assert not by_id["forward_relu"].passed
    assert "Unable to allocate" in by_id["forward_relu"].output


@pytest.mark.parametrize("mode", MODES)
def test_segfault_is_reported_and_other_tests_survive(mode: str, tmp_path: Path) -> None:
    # Every backward part crashes its child: a dozen fresh children, ~0.3 s each, 4 s in all
    # on an idle machine (CI's 3.10 run once needed more than 6).
    report, data = _grade("segfault", mode, tmp_path, Limits(wall_s=30.0, cpu_s=3))
    by_id = {t.id: t for t in report.tests}
    assert "SIGSEGV" in by_id["backward_tanh"].output
    assert by_id["forward_tanh"].passed and data["score"] == points("api", *FORWARD, *LOSSES)


@pytest.mark.parametrize("mode", MODES)
def test_os_exit_at_import(mode: str, tmp_path: Path) -> None:
    report, data = _grade("os_exit", mode, tmp_path)
    assert data["score"] == 0
    assert "while loading your file, the process ended without answering" in _outputs(report)


@pytest.mark.parametrize(("name", "message"), [
    ("system_exit", "SystemExit: while loading the submission: SystemExit(3) raised"),
    ("syntax_error", "SyntaxError: while loading the submission: expected ':'"),
    ("import_error", "ModuleNotFoundError: while loading the submission: No module named 'torch'"),
])
def test_load_failures_are_named(name: str, message: str, tmp_path: Path) -> None:
    report, data = _grade(name, "rlimits", tmp_path)
    assert data["score"] == 0
    assert message in report.tests[0].output


def test_nan_results_fail_with_the_values_shown(tmp_path: Path) -> None:
    report, data = _grade("nan_results", "rlimits", tmp_path)
    by_id = {t.id: t for t in report.tests}
    for test_id in ("forward_relu", "mse", "mse_derivative", "backward_tanh", "network_backward"):
        assert by_id[test_id].score == 0, by_id[test_id].output
    assert "your value nan" in by_id["forward_relu"].output
    assert "your value inf" in by_id["backward_tanh"].output


def test_wrong_types_are_bad_results(tmp_path: Path) -> None:
    report, data = _grade("wrong_types", "rlimits", tmp_path)
    by_id = {t.id: t for t in report.tests}
    assert data["score"] == by_id["api"].score == points("api")  # only the API test
    out = _outputs(report)
    assert ("BadResult: round 0: forward(inputs): expected a numeric matrix of shape (5, 4), "
            "got str") in out
    assert "BadResult: mse(y_true, y_pred): expected a single number, got list" in out
    assert "BadResult: mse_derivative(y_true, y_pred): expected a numeric matrix" in out
    assert "cannot be converted (RuntimeError: no array for you)" in out


@pytest.mark.parametrize("mode", MODES)
def test_output_flood_is_capped(mode: str, tmp_path: Path) -> None:
    """A forward that prints without end: the output past the limit is dropped (never fatal),
    the forward is stopped by the per-part limit, and the other tests still count."""
    report, data = _grade("output_flood", mode, tmp_path, Limits(wall_s=6.0, task_s=0.5, cpu_s=6))
    by_id = {t.id: t for t in report.tests}
    assert by_id["mse"].passed and by_id["mse_derivative"].passed
    assert not by_id["forward_relu"].passed
    assert "did not finish this part within 0.5 s" in by_id["forward_linear"].output
    assert "more than the output limit of 1024 KiB; the rest" in data["output"]
    assert len(json.dumps(data)) < 200_000


@pytest.mark.parametrize("mode", MODES)
def test_detached_processes_do_not_survive(mode: str, tmp_path: Path) -> None:
    assert not _survivors(), "a process with this test's marker is already running"
    report, data = _grade("detached_child", mode, tmp_path,
                          source=_remarked("detached_child", "4242.4242", MARKER, tmp_path))
    # The submission is otherwise correct, and its threads do not hang it.
    assert data["score"] == TOTAL
    assert not _survivors()


def test_reading_the_grader_fails_in_bwrap(tmp_path: Path) -> None:
    if NO_BWRAP is not None:
        pytest.skip(f"bwrap: {NO_BWRAP}")
    report, data = _grade("read_grader", "bwrap", tmp_path,
                          source=_aimed_at_this_checkout(tmp_path))
    assert "REACHED: nothing" in "\n".join(report.notes)
    assert data["score"] < 30


def _aimed_at_this_checkout(tmp_path: Path) -> Path:
    """The corpus file names /work/main; aim it at wherever this checkout really is, so that
    "nothing reached" cannot come from a path that does not exist."""
    repo = Path(__file__).resolve().parents[1]
    text = (CORPUS / "hostile_read_grader.py").read_text().replace("/work/main", str(repo))
    assert str(repo / "reference_mlp" / "layers.py") in text
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "hostile_read_grader.py"
    path.write_text(text)
    return path


def test_reading_the_grader_in_the_fallback(tmp_path: Path) -> None:
    """Without namespaces, Landlock hides the grader's files (where the kernel has it; without
    it the grader refuses unless its files are root-only, docs/sandbox.md); the import path and
    the working directory never lead to them."""
    report, data = _grade("read_grader", "rlimits", tmp_path,
                          source=_aimed_at_this_checkout(tmp_path))
    notes = "\n".join(report.notes)
    assert "import reference_mlp" not in notes and "import verify" not in notes
    assert "walk " not in notes
    if report.isolation["protections"]["files"]["active"]:
        assert "REACHED: nothing" in notes
    assert data["score"] < 30


@pytest.mark.parametrize("mode", MODES)
def test_monkeypatching_numpy_changes_nothing(mode: str, tmp_path: Path) -> None:
    report, data = _grade("monkeypatch_numpy", mode, tmp_path)
    names = {d.split("@")[0] for t in report.tests for d in t.diagnoses}
    assert "missing_activation_derivative" in names
    assert data["score"] < 60


@pytest.mark.parametrize("mode", MODES)
def test_tampering_with_the_result_channel_earns_nothing(mode: str, tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "results.json").write_text('{"original": true}')
    report, data = _grade("tamper_results", mode, tmp_path)
    # Lines it wrote on the channel are ignored (a result is taken only for the part running);
    # what it earns is what its own (correct) code computes.
    assert data["score"] == TOTAL
    assert ("wrote lines of its own to the grader's result channel; they were ignored"
            in data["output"])
    if mode == "bwrap":  # the grader's /tmp is not even visible
        assert json.loads((decoy / "results.json").read_text()) == {"original": True}


@pytest.mark.parametrize("mode", MODES)
def test_killing_the_supervisor_is_out_of_reach_and_leaves_nothing(mode: str,
                                                                   tmp_path: Path) -> None:
    # The launcher is outside the child's PID namespace (bwrap), or another uid's (root grader),
    # or outside its Landlock domain (an ordinary user: tests/test_grade_isolation.py).
    # The detached grandchild's argument, this process's; not 5353.*, which the isolation tests
    # use with 4 digits (a substring of this one).
    marker = f"5352.{os.getpid():07d}"
    assert not _survivors(marker), "a process with this test's marker is already running"
    report, data = _grade("kill_launcher", mode, tmp_path,
                          source=_remarked("kill_launcher", "5353.5353", marker, tmp_path))
    assert not _survivors(marker)
    assert data["score"] == TOTAL, _outputs(report)


def test_replacing_the_output_log_shows_nothing_of_the_grader(tmp_path: Path) -> None:
    # The child cannot write to its parent folder (another uid's, and Landlock), where a grader
    # might keep a log of its output; the grader reads a pipe it opened, never a file there.
    secret = tmp_path / "grader-secret.txt"
    secret.write_text("GRADER-SECRET-7731\n")
    sub = tmp_path / "sub" / "swap_log.py"
    sub.parent.mkdir()
    sub.write_text(
        "import os\n"
        "try:\n"
        "    os.unlink('../output.log')\n"
        f"    os.symlink({str(secret)!r}, '../output.log')\n"
        "except OSError:\n"
        "    pass\n"
        "print('my own output')\n")
    report = grade_submission(sub, seed=99, sandbox="rlimits", limits=FAST, fd_check=False)
    shown = (report.student_output + "\n".join(report.notes)
             + "\n".join(t.output for t in report.tests))
    assert "my own output" in report.student_output
    assert "GRADER-SECRET-7731" not in shown


def test_a_gradient_of_the_wrong_type_names_the_shape_expected(tmp_path: Path) -> None:
    text = (CORPUS.parent / "python" / "correct_snake_exact.py").read_text()
    old = "self.d_weights = np.dot(self.inputs.T, dz)"
    assert old in text
    sub = tmp_path / "string_d_weights.py"
    sub.write_text(text.replace(old, "self.d_weights = 'oops'"))
    report = grade_submission(sub, seed=99, sandbox="rlimits", limits=FAST, fd_check=False)
    by_id = {t.id: t for t in report.tests}
    assert ("BadResult: round 0: d_weights: expected a numeric matrix of shape (3, 4), got str"
            in by_id["backward_relu"].output), by_id["backward_relu"].output
    assert ("BadResult: round 0: layers[0].d_weights: expected a numeric matrix of shape (3, 3), "
            "got str" in by_id["network_backward"].output), by_id["network_backward"].output


@pytest.mark.parametrize("mode", MODES)
def test_a_tree_thousands_of_levels_deep_is_removed(mode: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10, item 5: it crashed the clean-up (RecursionError), the correct submission got
    "internal grader error" and the tree stayed in /tmp."""
    # Only this grading's own work directories: another worker may be grading the same file
    # (tests/test_grade_isolation.py) at this moment, and its live tree is not a leftover.
    made: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def recording(*args: Any, **kwargs: Any) -> str:
        path = mkdtemp(*args, **kwargs)
        made.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    report, data = _grade("deep_tree", mode, tmp_path)
    monkeypatch.undo()
    assert report.graded and data["score"] == TOTAL
    # (The interpreter copy, verify-grade-runtime-*, lives until the grader's process exits.)
    work = [p for p in made if p.name.startswith("verify-grade-")
            and not p.name.startswith("verify-grade-runtime-")]
    assert work, "the grader made no work directory with tempfile.mkdtemp: this test sees nothing"
    assert not [p for p in work if p.exists()]
