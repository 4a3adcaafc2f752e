"""The Node runner (issue 6): the course's math.js submissions graded like Python ones.

Two levels: the grader end to end (``grade_submission`` on the corpus in
``tests/submissions/js``: correct ones in several styles get full marks, buggy ones lose points
with the right diagnosis, hostile ones are contained with a valid results.json and nothing left
running), and the runner alone (``node node_runner.js`` started directly with the protocol's
fd 3, for conversions and protocol details).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from points import LOSSES, TOTAL, points
from procs import marked_copy, survivors

from verify.grade import Limits, grade_submission
from verify.grade.cases import draw_cases
from verify.grade.outputs import write_results
from verify.grade.outputs.gradescope import results_dict
from verify.grade.rubric import DEFAULT_POINTS
from verify.grade.runners import RUNNERS, runner_for
from verify.grade.runners.node import JS_DIR, NodeRunner
from verify.grade.sandbox import bwrap_unavailable_reason

CORPUS = Path(__file__).parent / "submissions" / "js"
NODE_MISSING = NodeRunner().unavailable_reason()
# CI installs Node and math.js (README); only a developer's machine without them may skip.
pytestmark = pytest.mark.skipif(NODE_MISSING is not None and not os.environ.get("CI"),
                                reason=f"Node runner unavailable: {NODE_MISSING}")
NO_BWRAP = bwrap_unavailable_reason()
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    NO_BWRAP is not None, reason=f"bwrap: {NO_BWRAP}"))]
SANDBOX = "bwrap" if NO_BWRAP is None else "rlimits"
HOSTILE = Limits(wall_s=8.0, cpu_s=8, memory_mb=256)


_survivors = survivors  # marker: a corpus file name, unique per test


def _grade(name: str, tmp_path: Path, *, mode: str = SANDBOX, limits: Limits = Limits(),
           fd_check: bool = True, source: Path | None = None):
    # A copy under a name unique to this test, so that the survivors check below cannot see
    # another test (under pytest-xdist) grading the same file.
    source = source or CORPUS / name
    unique = f"{source.stem}_{mode}_{os.getpid()}{source.suffix}"
    shutil.copyfile(source, tmp_path / unique)
    report = grade_submission(tmp_path / unique, seed=2024, sandbox=mode, limits=limits,
                              fd_check=fd_check)
    out = tmp_path / "results.json"
    write_results(results_dict(report), out)
    data = json.loads(out.read_text())  # always valid JSON
    assert set(data) >= {"score", "output", "tests", "extra_data"}
    assert "execution_time" in data["extra_data"]
    assert len(data["tests"]) == len(report.tests) == len(DEFAULT_POINTS)
    assert report.language == "js"
    assert not _survivors(unique), f"a process of {name} survived the grading"
    return report, data


def _by_id(report) -> dict[str, Any]:  # noqa: ANN001
    return {t.id: t for t in report.tests}


def _outputs(report) -> str:  # noqa: ANN001
    return "\n".join(t.output for t in report.tests)


def _names(test) -> set[str]:  # noqa: ANN001
    return {d.split("@")[0] for d in test.diagnoses}


# ------------------------------------------------------------------------------ registry


def test_the_node_runner_is_registered_for_js_and_mjs() -> None:
    assert isinstance(RUNNERS[".js"], NodeRunner) and isinstance(RUNNERS[".mjs"], NodeRunner)
    assert runner_for("alice.MJS").name == "js"
    runner = NodeRunner()
    assert runner.memory_limit == "self"  # an address-space rlimit breaks V8's start-up
    argv = runner.command("/opt/verify", "/sandbox/alice.js", Limits(memory_mb=300, wall_s=7))
    assert argv[-1] == "/sandbox/alice.js" and "/opt/verify/runner/node_runner.js" in argv
    assert "--memory-mb=300" in argv and "--wall-s=7" in argv
    if runner.prlimit:
        assert argv[:2] == [runner.prlimit, f"--data={300 << 20}"]
    assert [m.target for m in runner.mounts()][0] == "runner"


def test_missing_node_is_a_clear_result_not_a_crash(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("VERIFY_NODE", str(tmp_path / "no-such-node"))
    runner = NodeRunner()
    reason = runner.unavailable_reason()
    assert reason is not None and "does not run" in reason and "npm ci" in reason
    monkeypatch.setitem(RUNNERS, ".js", runner)
    report = grade_submission(CORPUS / "correct_lesson.js", seed=1, sandbox="rlimits")
    assert report.score == 0 and len(report.tests) == len(DEFAULT_POINTS)
    assert all("not graded" in t.output and "npm ci" in t.output for t in report.tests)


def test_the_mathjs_shim_matches_the_installed_mathjs() -> None:
    """mathjs_shim/ is generated: rerun gen_mathjs_shim.js after changing mathjs. Both faces must
    offer every name of the full math.js build, from the one instance the runner uses."""
    script = """
    const full = require('mathjs');
    const shim = require('./mathjs_shim');
    import('./mathjs_shim/index.mjs').then((esm) => {
      const valid = (n) => { try { new Function(`'use strict'; let ${n};`); return true; }
                             catch (e) { return false; } };
      console.log(JSON.stringify({
        version: shim.version, fullVersion: require('mathjs/package.json').version,
        cjsMissing: Object.keys(full).filter((n) => !(n in shim)),
        esmMissing: Object.keys(full).filter((n) => valid(n) && !(n in esm)),
        sameInstance: esm.default === shim && esm.matrix === shim.matrix,
        all: Object.keys(esm.all).length === Object.keys(full.all).length,
      }));
    });
    """
    out = json.loads(subprocess.run(["node", "-e", script], cwd=JS_DIR, capture_output=True,
                                    text=True, check=True).stdout)
    assert out["cjsMissing"] == [] and out["esmMissing"] == []
    assert out["sameInstance"] and out["all"]
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/mathjs"]["version"]
    assert out["version"] == out["fullVersion"] == version
    for face in ("index.cjs", "index.mjs"):
        assert f"from mathjs {version}:" in (JS_DIR / "mathjs_shim" / face).read_text()
    assert json.loads((JS_DIR / "package.json").read_text())["dependencies"]["mathjs"] == version
    assert json.loads((JS_DIR / "mathjs_shim" / "package.json").read_text())["version"] == version


# ------------------------------------------------------------------------------ corpus: correct


@pytest.mark.parametrize("name", ["readme_example.js", "correct_lesson.js", "correct_loops.js",
                                  "correct_esm.mjs"])
def test_correct_submissions_get_full_marks(name: str, tmp_path: Path) -> None:
    report, data = _grade(name, tmp_path)
    failed = {t.id: t.output for t in report.tests if not t.passed}
    assert not failed, failed
    assert data["score"] == report.max_score == TOTAL


def test_a_batch_mixing_languages_grades_both_alike(tmp_path: Path) -> None:
    """One pipeline for both languages: the same bug gets the same score and diagnosis."""
    from verify.grade.batch import grade_folder

    python = CORPUS.parent / "python"
    for source, name in ((CORPUS / "readme_example.js", "ann.js"),
                         (CORPUS / "correct_esm.mjs", "ben.mjs"),
                         (CORPUS / "bug_not_chained.js", "cat.js"),
                         (python / "buggy_not_chained.py", "dan.py"),
                         (python / "correct_lesson.py", "eve.py")):
        shutil.copyfile(source, tmp_path / name)
    result = grade_folder(tmp_path, jobs=2, seed=7, sandbox=SANDBOX, progress=False,
                          fd_check=False)
    reports = result.reports
    assert sorted(reports) == ["ann", "ben", "cat", "dan", "eve"]
    assert [reports[n].language for n in sorted(reports)] == ["js", "js", "js", "python",
                                                              "python"]
    assert reports["ann"].score == reports["ben"].score == reports["eve"].score == TOTAL
    js, py = reports["cat"], reports["dan"]
    assert js.score == py.score < TOTAL
    # The same causes, but for one more in the Python file: its MLP.backward returns the
    # gradient it was given, where the JavaScript one returns the first layer's result.
    assert [(t.id, t.score, _names(t) - {"mlp_return:upstream"}) for t in js.tests] == \
        [(t.id, t.score, _names(t) - {"mlp_return:upstream"}) for t in py.tests]
    assert "mlp_return:upstream" in _names(_by_id(py)["network_backward"])
    assert "mlp_return:upstream" not in _names(_by_id(js)["network_backward"])


def test_correct_submission_in_the_fallback_sandbox(tmp_path: Path) -> None:
    report, data = _grade("correct_lesson.js", tmp_path, mode="rlimits")
    assert data["score"] == TOTAL, _outputs(report)


# ------------------------------------------------------------------------------ corpus: buggy

BUGGY = [
    # file, a test that must lose points, the diagnosis it must name
    ("bug_no_activation_derivative.js", "backward_tanh", "missing_activation_derivative"),
    ("bug_derivative_of_output.js", "backward_sigmoid", "activation_derivative_of_output"),
    ("bug_bias_averaged.js", "backward_linear", "bias_averaged"),
    ("bug_transposed_dweights.js", "backward_relu", "transposed_d_weights"),
    ("bug_no_batch_division.js", "mse_derivative", "missing_batch_division"),
    ("bug_loss_sign.js", "mse_derivative", "wrong_sign"),
    ("bug_not_chained.js", "network_backward", "not_chained"),
    ("bug_reversed_order.js", "network_backward", "reversed_order"),
    ("bug_weights_changed_in_backward.js", "backward_tanh", "weights_changed"),
    ("bug_stale_inputs.js", "multiple_rounds", "stale_inputs"),
]


@pytest.mark.parametrize(("name", "test_id", "diagnosis"), BUGGY,
                         ids=[b[0].removesuffix(".js") for b in BUGGY])
def test_buggy_submissions_lose_points_with_the_right_diagnosis(
        name: str, test_id: str, diagnosis: str, tmp_path: Path) -> None:
    report, data = _grade(name, tmp_path, fd_check=False)
    test = _by_id(report)[test_id]
    assert not test.passed and test.score < test.max_score
    assert diagnosis in _names(test), (test.diagnoses, test.output)
    assert data["score"] < TOTAL


def test_a_wrong_derivative_is_blamed_on_the_backward(tmp_path: Path) -> None:
    """Not in the bug catalogue: finite differences of the student's own forward decide."""
    report, _ = _grade("bug_sigmoid_derivative.js", tmp_path)
    by_id = _by_id(report)
    assert by_id["forward_sigmoid"].passed and by_id["backward_tanh"].passed
    assert not by_id["backward_sigmoid"].passed
    assert "your BACKWARD is at fault" in by_id["backward_sigmoid"].output


def test_a_wrong_forward_is_blamed_on_the_forward(tmp_path: Path) -> None:
    report, _ = _grade("bug_forward_no_bias.js", tmp_path)
    by_id = _by_id(report)
    assert not by_id["forward_tanh"].passed
    assert "your FORWARD is at fault" in by_id["backward_tanh"].output


def test_results_that_are_not_matrices_are_named(tmp_path: Path) -> None:
    report, data = _grade("bad_wrong_types.js", tmp_path, fd_check=False)
    out = _outputs(report)
    assert data["score"] == _by_id(report)["api"].score
    for expected in (
        "BadResult: round 0: forward(inputs): expected a numeric matrix of size [5, 4], got string",
        "BadResult: mse(yTrue, yPred): expected a single number, got an Array of length 3",
        "BadResult: mseDerivative(yTrue, yPred): expected a numeric matrix of size [4, 3], got a "
        'math.js DenseMatrix of size [4, 3] with a non-numeric entry at [0, 0]: string "x"',
        "BadResult: round 0: forward(x): expected a numeric matrix of size [5, 3], "
        "got an object (Object)",
    ):
        assert expected in out


def test_syntax_errors_and_missing_names(tmp_path: Path) -> None:
    report, data = _grade("bad_syntax_error.js", tmp_path, fd_check=False)
    assert data["score"] == 0
    first = report.tests[0].output
    assert "SyntaxError: while loading the submission: missing ) after argument list" in first
    assert re.search(r"bad_syntax_error\w*\.js:6", first)  # the line, for the student
    report, data = _grade("bad_missing_api.js", tmp_path, fd_check=False)
    by_id = _by_id(report)
    assert by_id["mse"].passed and by_id["mse_derivative"].passed and not by_id["api"].passed
    assert "MissingAPI: the submission exports no DenseLayer" in by_id["backward_relu"].output
    assert "MissingAPI: the submission exports no MLP" in by_id["network_backward"].output


# ------------------------------------------------------------------------------ corpus: hostile


def test_infinite_loop_in_forward_costs_only_the_tests_that_call_it(tmp_path: Path) -> None:
    report, data = _grade("hostile_busy_loop.js", tmp_path, limits=HOSTILE)
    by_id = _by_id(report)
    assert by_id["api"].passed and by_id["mse"].passed and by_id["mse_derivative"].passed
    assert "did not finish this part within 2 s" in by_id["forward_linear"].output
    assert by_id["forward_relu"].score == 0
    assert "did not finish this part" in by_id["forward_relu"].output \
        or "not run: the time limit for the whole submission (8 s)" in by_id["forward_relu"].output
    assert data["score"] == points("api", *LOSSES)
    assert report.execution_time < HOSTILE.wall_s + 2


def test_infinite_loop_at_load(tmp_path: Path) -> None:
    report, data = _grade("hostile_busy_loop_at_load.js", tmp_path, limits=HOSTILE)
    assert data["score"] == 0
    assert "loading your file did not finish within the 8 s time limit for the whole " \
        "submission" in report.tests[0].output
    assert report.execution_time < HOSTILE.wall_s + 2


def test_heap_hog_hits_the_memory_limit(tmp_path: Path) -> None:
    report, data = _grade("hostile_memory_hog.js", tmp_path, limits=HOSTILE)
    by_id = _by_id(report)
    assert by_id["mse"].passed and not by_id["forward_relu"].passed
    assert "MemoryError" in _outputs(report) and "memory limit is 256 MiB" in _outputs(report)


def test_arraybuffer_hog_outside_the_heap_is_stopped_too(tmp_path: Path) -> None:
    report, data = _grade("hostile_buffer_hog.js", tmp_path, limits=HOSTILE, fd_check=False)
    by_id = _by_id(report)
    assert by_id["forward_relu"].passed and not by_id["backward_relu"].passed
    out = by_id["backward_relu"].output
    assert "Array buffer allocation failed" in out or "MemoryError" in out or "Timeout" in out


@pytest.mark.parametrize("name", ["hostile_process_exit.js", "hostile_exit_at_load.js"])
def test_process_exit(name: str, tmp_path: Path) -> None:
    report, data = _grade(name, tmp_path, limits=HOSTILE, fd_check=False)
    by_id = _by_id(report)
    assert "process.exit(0) was called" in _outputs(report)
    if name == "hostile_exit_at_load.js":
        assert data["score"] == 0
        assert "ProcessExit: while loading the submission" in by_id["api"].output
    else:  # exits in backward only
        assert by_id["forward_tanh"].passed and by_id["mse"].passed
        assert not by_id["backward_tanh"].passed


@pytest.mark.parametrize("mode", MODES)
def test_detached_children_cannot_be_started_or_survive(mode: str, tmp_path: Path) -> None:
    # This process's own marker: another checkout's tests may be grading the file right now.
    marker = f"verify-js-detached-marker-{os.getpid():07d}"
    corpus = CORPUS / "hostile_detached_child.js"
    assert corpus.read_text().count("verify-js-detached-marker") == 2  # comment and command
    source = marked_copy(corpus, "verify-js-detached-marker", marker, tmp_path / "sub")
    assert not _survivors(marker), "a process with this test's marker is already running"
    report, data = _grade("hostile_detached_child.js", tmp_path, mode=mode, limits=HOSTILE,
                          source=source)
    assert data["score"] == TOTAL  # otherwise correct: the failed spawn does not hang it
    assert not _survivors(marker)


@pytest.mark.parametrize("mode", MODES)
def test_output_flood_is_capped(mode: str, tmp_path: Path) -> None:
    report, data = _grade("hostile_output_flood.js", tmp_path, mode=mode, limits=HOSTILE)
    assert data["score"] == TOTAL  # console.log past the limit is dropped, the maths goes on
    assert any("output limit of 1024 KiB" in n for n in report.notes)
    assert len(json.dumps(data)) < 200_000


@pytest.mark.parametrize("mode", MODES)
def test_the_grader_and_the_reference_are_unreadable(mode: str, tmp_path: Path) -> None:
    # The corpus file names /work/main: aim it at wherever this checkout really is.
    repo = Path(__file__).resolve().parents[1]
    aimed = tmp_path / "src" / "hostile_read_grader.js"
    aimed.parent.mkdir()
    source = (CORPUS / "hostile_read_grader.js").read_text()
    aimed.write_text(source.replace("/work/main", str(repo)))
    assert str(repo / "reference_mlp" / "layers.py") in aimed.read_text()
    report, data = _grade("hostile_read_grader.js", tmp_path, mode=mode, limits=HOSTILE,
                          fd_check=False, source=aimed)
    out = _by_id(report)["forward_relu"].output
    loot = json.loads(re.search(r"LOOT (\{.*?\})$", out, flags=re.M).group(1))
    assert len(loot) >= 11
    assert not [k for k, v in loot.items() if v.startswith(("READ:", "LISTED:", "WROTE"))], loot
    assert "planted" not in (JS_DIR / "mathjs_shim" / "index.cjs").read_text()
    assert "def dense_backward" not in _outputs(report)
    assert data["score"] == points("api", *LOSSES)  # api, mse and mse_derivative only


@pytest.mark.parametrize("mode", MODES)
def test_writing_to_the_result_channel_changes_nothing(mode: str, tmp_path: Path) -> None:
    report, data = _grade("hostile_result_channel.js", tmp_path, mode=mode, limits=HOSTILE)
    # Its maths is right; its forgeries went nowhere.
    assert data["score"] == TOTAL, _outputs(report)


def test_killing_the_runner_leaves_a_valid_failing_report(tmp_path: Path) -> None:
    report, data = _grade("hostile_kill_parent.js", tmp_path, limits=HOSTILE, fd_check=False)
    assert data["score"] == 0
    assert "corrupted or did not produce results" in _outputs(report)



def test_a_gradient_of_the_wrong_type_names_the_size_expected(tmp_path: Path) -> None:
    text = (CORPUS / "correct_lesson.js").read_text()
    old = "this.dWeights = math.multiply(math.transpose(this.inputs), dZ);"
    assert old in text
    aimed = tmp_path / "src" / "string_dweights.js"
    aimed.parent.mkdir()
    aimed.write_text(text.replace(old, "this.dWeights = 'oops';"))
    report, _ = _grade("string_dweights.js", tmp_path, fd_check=False, source=aimed)
    by_id = _by_id(report)
    assert "round 0: layer.dWeights: expected a numeric matrix of size [3, 4], got" \
        in by_id["backward_relu"].output, by_id["backward_relu"].output
    assert "round 0: layers[0].dWeights: expected a numeric matrix of size [3, 3], got" \
        in by_id["network_backward"].output, by_id["network_backward"].output

# ------------------------------------------------------------------------------ the runner alone

LAYER_TASK = {
    "id": "l", "op": "layer", "n_inputs": 2, "n_neurons": 3, "activation": "tanh",
    "weights": [[0.1, 0.2, 0.3], [0.4, -0.5, 0.6]], "biases": [[0.1, 0.0, -0.1]],
    "rounds": [{"inputs": [[1.0, 2.0], [3.0, 4.0]],
                "d_outputs": [[1.0, 0.0, 1.0], [0.0, 1.0, "nan"]]},
               {"inputs": [[1.0, "inf"]], "d_outputs": None}],
}


def _run_runner(tmp_path: Path, source: str, tasks: list[dict[str, Any]], *,
                filename: str = "sub.js", args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Start node_runner.js directly (no sandbox): request on stdin, response on fd 3."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    sub = work / filename
    sub.write_text(source)
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.run(
            ["node", str(JS_DIR / "node_runner.js"), *args, str(sub)],
            input=json.dumps({"protocol": 1, "tasks": tasks}).encode(), capture_output=True,
            pass_fds=(write_fd,), cwd=work, timeout=60,
            env={"VERIFY_RESULT_FD": str(write_fd), "PATH": os.environ.get("PATH", "")})
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    assert proc.returncode == 0, proc.stderr.decode()
    response = json.loads(data)
    assert response["protocol"] == 1
    return {r["id"]: r for r in response["results"]}


def test_runner_values_match_the_reference_with_non_finite_numbers(tmp_path: Path) -> None:
    import numpy as np

    from reference_mlp import DenseLayer

    results = _run_runner(tmp_path, (CORPUS / "correct_lesson.js").read_text(), [LAYER_TASK])
    rounds = results["l"]["value"]["rounds"]
    decode = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}

    def as_array(m: list[list[Any]]) -> np.ndarray:
        return np.array([[decode.get(v, v) for v in row] for row in m], dtype=float)

    layer = DenseLayer(2, 3, "tanh")
    layer.weights = np.array(LAYER_TASK["weights"])
    layer.biases = np.array(LAYER_TASK["biases"])
    out = layer.forward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(as_array(rounds[0]["output"]), out, rtol=1e-12)
    d = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    dz = d * (1 - out**2)
    d_weights = np.array([[1.0, 2.0], [3.0, 4.0]]).T @ dz
    np.testing.assert_allclose(as_array(rounds[0]["d_weights"])[:, :2], d_weights[:, :2])
    assert rounds[0]["d_weights"][0][2] == "nan" and rounds[0]["d_inputs"][1] == ["nan", "nan"]
    assert rounds[1]["d_inputs"] is None and rounds[1]["d_weights"] is None
    assert rounds[1]["output"] == [[1.0, -1.0, 1.0]]  # tanh of +-inf pre-activations


def test_runner_accepts_arrays_typed_arrays_and_1d_bias_gradients(tmp_path: Path) -> None:
    source = """
    class DenseLayer {
      forward(x) {
        this.x = x.toArray();
        return this.x.map((r) => Float32Array.from(r.slice(0, 3)));
      }
      backward(d) {
        this.dWeights = [[1, 2, 3], [4, 5, 6]];
        this.dBiases = new Float64Array([7, 8, 9]);
        return [[1, 2]];
      }
    }
    module.exports = { DenseLayer };
    """
    task = {**LAYER_TASK, "rounds": [{"inputs": [[1.5, 2.0, 3.0]], "d_outputs": [[1, 1, 1]]}]}
    value = _run_runner(tmp_path, source, [task])["l"]["value"]["rounds"][0]
    assert value["output"] == [[1.5, 2.0, 3.0]]
    assert value["d_biases"] == [[7.0, 8.0, 9.0]] and value["d_inputs"] == [[1, 2]]


def test_runner_es_module_syntax_in_a_js_file_and_unknown_ops(tmp_path: Path) -> None:
    source = (CORPUS / "correct_esm.mjs").read_text()
    results = _run_runner(tmp_path, source, [
        {"id": "a", "op": "api"},
        {"id": "m", "op": "mse", "y_true": [[1.0], [2.0]], "y_pred": [[0.0], [0.0]]},
        {"id": "x", "op": "frobnicate"}])
    assert results["a"]["ok"]
    assert results["a"]["value"]["names"]["mse_derivative"] == "mseDerivative"
    assert results["m"]["value"] == {"value": 2.5}
    assert results["x"]["error"]["type"] == "UnknownOp"


def test_runner_bad_request_is_answered_on_the_channel(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "s.js").write_text("module.exports = {};")
    read_fd, write_fd = os.pipe()
    proc = subprocess.run(["node", str(JS_DIR / "node_runner.js"), str(work / "s.js")],
                          input=b"{not json", capture_output=True, pass_fds=(write_fd,),
                          env={"VERIFY_RESULT_FD": str(write_fd)}, cwd=work, timeout=30)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        response = json.loads(f.read())
    assert proc.returncode == 2
    assert response["results"][0]["error"]["type"] == "BadRequest"


def test_runner_restarts_after_a_crash_and_keeps_earlier_results(tmp_path: Path) -> None:
    source = """
    let calls = 0;
    module.exports = {
      mse: (t, p) => { calls += 1; if (t.size()[0] === 3) process.abort(); return calls; },
      mseDerivative: (t, p) => { for (;;) {} },
    };
    """
    def task(tid: str, rows: int, op: str = "mse") -> dict[str, Any]:
        return {"id": tid, "op": op, "y_true": [[1.0]] * rows, "y_pred": [[0.0]] * rows}

    tasks = [task("a", 1), task("b", 3), task("h", 1, "mse_derivative"), task("c", 2)]
    results = _run_runner(tmp_path, source, tasks, args=("--wall-s=12",))
    assert results["a"]["value"] == {"value": 1}, results
    assert results["b"]["error"]["type"] == "MemoryError"  # SIGABRT: how V8's OOM ends too
    assert results["h"]["error"]["type"] == "Timeout"
    assert results["c"].get("value") == {"value": 1}, results  # a fresh worker: count restarted


# -------------------------------------------------------------------------- one child per JS file


def _spy_children(monkeypatch: pytest.MonkeyPatch, rewrite=None) -> list[list[str]]:  # noqa: ANN001
    """Record the task ids of every child the grader starts; ``rewrite(ids, response)`` may
    alter a response (the first child's of each section) before the grader sees it."""
    import verify.grade.schedule as schedule

    calls: list[list[str]] = []
    real = schedule.run_child

    def spy(runner, path, request, **kwargs):  # noqa: ANN001, ANN003, ANN202
        ids = [t["id"] for t in request["tasks"]]
        first = not any(set(ids) & set(c) for c in calls)
        calls.append(ids)
        outcome = real(runner, path, request, **kwargs)
        if rewrite is not None and first and outcome.response is not None:
            rewrite(ids, outcome.response)
        return outcome

    monkeypatch.setattr(schedule, "run_child", spy)
    return calls


def test_one_child_for_the_visible_tests_and_one_for_the_hidden(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Correct code: one start-up per section in both languages (the hidden tests run apart,
    so that nothing students see depends on them)."""
    assert NodeRunner.isolates_tasks and RUNNERS[".py"].streams
    calls = _spy_children(monkeypatch)
    report, _ = _grade("readme_example.js", tmp_path)
    assert report.score == TOTAL
    tests = draw_cases(2024)
    visible = {p.task_id for t in tests if not t.hidden for p in t.parts}
    hidden = {p.task_id for t in tests if t.hidden for p in t.parts}
    assert sorted(map(set, calls), key=len) == [hidden, visible]
    calls.clear()
    py = grade_submission(CORPUS.parent / "python" / "correct_lesson.py", seed=2024,
                          sandbox=SANDBOX)
    assert py.score == TOTAL and sorted(map(set, calls), key=len) == [hidden, visible]


def test_tasks_the_runner_did_not_run_are_retried_in_a_fresh_child(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    skipped = {"forward_tanh", "mse_1", "edge_width1", "edge_mixed", "hidden"}

    def skip(ids: list[str], response: dict[str, Any]) -> None:
        for r in response["results"]:
            if r["id"] in skipped:
                r.pop("value", None)
                r.update(ok=False, error={"type": "NotRun", "message": "not run: test"})

    calls = _spy_children(monkeypatch, skip)
    report, data = _grade("readme_example.js", tmp_path)
    # one retry child per section, holding exactly its skipped parts; nothing else re-run
    visible = sorted(p.task_id for t in draw_cases(2024) if not t.hidden for p in t.parts)
    assert sorted(sorted(c) for c in calls) == sorted([
        visible, ["hidden"],  # the first child of each section
        ["edge_mixed", "edge_width1", "forward_tanh", "mse_1"], ["hidden"]])  # the retries
    assert data["score"] == TOTAL, _outputs(report)
    assert "not run" not in _outputs(report)


def test_more_hanging_tests_than_one_child_has_time_for_zero_only_themselves(
        tmp_path: Path) -> None:
    """forward hangs for relu layers only: more tasks hang than the single child's time allows,
    so it skips (NotRun) some that would pass; their re-runs must earn their points. Nine
    visible parts hang (the relu parts, two of them far from 0) at 1 s each, with a fresh child
    after each: 18 s leave room for the re-runs."""
    limits = Limits(wall_s=18.0, task_s=1.0, cpu_s=18, memory_mb=256)
    report, data = _grade("hostile_relu_hangs.js", tmp_path, limits=limits)
    by_id = _by_id(report)
    fine = ["api", "mse", "mse_derivative", "forward_linear", "forward_sigmoid", "forward_tanh",
            "backward_linear", "backward_sigmoid", "backward_tanh"]
    failed = {t: by_id[t].output for t in fine if not by_id[t].passed}
    assert not failed, failed
    for t in ("forward_relu", "backward_relu", "network_backward", "hidden_network"):
        assert by_id[t].score == 0 and "did not finish this part" in by_id[t].output, \
            by_id[t].output
    for t in ("multiple_rounds", "edge_shapes"):  # their relu parts hang, the others count
        assert 0 < by_id[t].score < by_id[t].max_score, by_id[t].output
    assert "not run" not in _outputs(report)
    assert report.execution_time < limits.wall_s + 2


def test_bench_grades_the_js_example(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from verify.grade.benchmark import EXAMPLE_JS_PATH
    from verify.grade.benchmark import main as bench

    assert EXAMPLE_JS_PATH == CORPUS / "readme_example.js"
    assert bench(["--language", "js", "--n", "2", "--jobs", "2", "--single", "1",
                  "--sandbox", SANDBOX]) == 0
    out = capsys.readouterr().out
    assert "batch of 2 (--jobs 2)" in out and "js example" in out and "2 / 2 full marks" in out
    monkeypatch.setenv("VERIFY_NODE", str(tmp_path / "no-such-node"))
    monkeypatch.setitem(RUNNERS, ".js", NodeRunner())
    assert bench(["--language", "js", "--n", "1", "--single", "1"]) == 2
    assert "cannot benchmark JavaScript grading" in capsys.readouterr().err
