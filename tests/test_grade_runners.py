"""The runners (verify/grade/runners/): the Python and the Node runner answer the same request
alike, and both take the names they look for from the request's contract (defined once, in
verify/grade/contract.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from verify.grade.assignments import BUILTINS, builtin
from verify.grade.contract import EXAMPLE_PYTHON, LESSON4
from verify.grade.limits import Limits
from verify.grade.runners import runner_for
from verify.grade.runners.node import NodeRunner
from verify.grade.sandbox import run_child

JS_EXAMPLE = Path(__file__).parent / "submissions" / "js" / "readme_example.js"
NODE_MISSING = NodeRunner().unavailable_reason()
needs_node = pytest.mark.skipif(NODE_MISSING is not None, reason=f"Node: {NODE_MISSING}")
LIMITS = Limits(wall_s=30, cpu_s=30)


def _answers(path: Path, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    outcome = run_child(runner_for(path), path, request, limits=LIMITS, mode="rlimits")
    assert outcome.response is not None, outcome.problem
    return {r["id"]: r for r in outcome.response["results"]}


def _close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


SUBMISSIONS = Path(__file__).parent / "submissions"
# Each assignment's correct examples: they must answer every op of its request alike.
EXAMPLES = {name: (SUBMISSIONS / name / "python", SUBMISSIONS / name / "js")
            for name in BUILTINS if name != "mlp"}


def _example(assignment: str, language: str, tmp_path: Path) -> Path:
    if assignment == "mlp":
        if language == "js":
            return JS_EXAMPLE
        py = tmp_path / "mlp.py"
        py.write_text(EXAMPLE_PYTHON)
        return py
    py_folder, js_folder = EXAMPLES[assignment]
    js = sorted(js_folder.glob("correct_*.js"))[0]
    if language == "js":
        return js
    twin = py_folder / f"{js.stem}.py"  # the same code in Python: the same answers
    return twin if twin.is_file() else sorted(py_folder.glob("correct_*.py"))[0]


@needs_node
@pytest.mark.parametrize("assignment", list(BUILTINS))
def test_python_and_javascript_runners_answer_the_same_request_alike(assignment: str,
                                                                     tmp_path: Path) -> None:
    spec = builtin(assignment)
    tasks = [p.case.task(p.task_id) for t in spec.draw(12) for p in t.parts]
    answers = {lang: _answers(_example(assignment, lang, tmp_path),
                              {"protocol": 1, "contract": spec.contract.to_request(lang),
                               "tasks": tasks})
               for lang in ("python", "js")}
    assert answers["python"].keys() == answers["js"].keys() == {t["id"] for t in tasks}
    for tid in answers["python"]:
        a, b = answers["python"][tid], answers["js"][tid]
        assert a["ok"] and b["ok"], (tid, a.get("error"), b.get("error"))
        if tid == "api":  # each found the names in its own spelling, from the same contract
            names_py, names_js = a["value"].pop("names"), b["value"].pop("names")
            assert set(names_py) >= set(spec.contract.module_roles())
            for role, found in names_py.items():
                assert found in spec.contract.spellings(role, "python"), (role, found)
                assert names_js[role] in spec.contract.spellings(role, "js"), (role, names_js)
            if assignment == "mlp":
                assert names_py["mse_derivative"] == "mse_derivative"
                assert names_js["mse_derivative"] == "mseDerivative"
                assert names_py["add_layer"] == "add_layer" and names_js["add_layer"] == "addLayer"
        _close(a["value"], b["value"], tid)


@pytest.mark.parametrize("language", ["python", pytest.param("js", marks=needs_node)])
def test_runners_look_for_the_names_the_request_gives(language: str, tmp_path: Path) -> None:
    """A contract that renames ``mse`` is followed: the runners hold no list of their own."""
    if language == "python":
        sub = tmp_path / "mlp.py"
        sub.write_text("import numpy as np\n\ndef mean_squared_error(t, p):\n"
                       "    return float(np.mean((p - t) ** 2))\n")
    else:
        sub = tmp_path / "mlp.js"
        sub.write_text("const math = require('mathjs');\nmodule.exports = {\n"
                       "  meanSquaredError: (t, p) => "
                       "math.mean(math.dotPow(math.subtract(p, t), 2)),\n};\n")
    contract = {**LESSON4.to_request(language), "mse": ["mean_squared_error", "meanSquaredError"]}
    task = {"id": "m", "op": "mse", "y_true": [[1.0, 2.0]], "y_pred": [[2.0, 4.0]]}
    got = _answers(sub, {"protocol": 1, "contract": contract,
                         "tasks": [task, {"id": "a", "op": "api"}]})
    assert got["m"]["ok"] and got["m"]["value"]["value"] == pytest.approx(2.5)
    assert got["a"]["value"]["names"]["mse"] in ("mean_squared_error", "meanSquaredError")
    default = _answers(sub, {"protocol": 1, "contract": LESSON4.to_request(language),
                             "tasks": [task]})
    assert default["m"]["ok"] is False and default["m"]["error"]["type"] == "MissingAPI"
    assert "no mse" in default["m"]["error"]["message"]


def test_the_contract_puts_each_language_s_own_spelling_first() -> None:
    assert LESSON4.spellings("mse_derivative", "python") == ("mse_derivative", "mseDerivative")
    assert LESSON4.spellings("mse_derivative", "js") == ("mseDerivative", "mse_derivative")
    assert LESSON4.describe("add_layer") == "add_layer or addLayer"
    assert set(LESSON4.to_request("js")) == set(LESSON4.roles)


DIAGNOSIS = SUBMISSIONS / "diagnosis"


@pytest.mark.parametrize("language", ["python", pytest.param("js", marks=needs_node)])
def test_runners_report_arrays_changed_in_place_and_weights_after_forward(language: str) -> None:
    """``mutated`` names the caller's arrays a submission changed (absent when none);
    ``weights_forward`` is what the layer holds between forward and backward."""
    path = DIAGNOSIS / language / ("correct_in_place." + ("py" if language == "python" else "js"))
    tasks = [p.case.task(p.task_id) for t in builtin("mlp").draw(5) for p in t.parts
             if t.id in ("backward_tanh", "network_backward", "mse_derivative", "forward_relu")]
    got = _answers(path, {"protocol": 1, "contract": LESSON4.to_request(language),
                          "tasks": tasks})
    layer = got["backward_tanh"]["value"]["rounds"][0]
    assert layer["mutated"] == ["d_outputs"]
    sent = next(t for t in tasks if t["id"] == "backward_tanh")
    _close(layer["weights_forward"], sent["weights"], "weights_forward")
    _close(layer["biases_forward"], sent["biases"], "biases_forward")
    net = got["network"]["value"]["rounds"][0]
    assert net["mutated"] == ["d_loss"]
    assert all(e["weights_forward"] == e["weights_after"] for e in net["layers"])
    assert all(got[t]["value"]["mutated"] == ["y_pred"] for t in got if t.startswith("mse_deriv"))
    assert "mutated" not in got["forward_relu"]["value"]["rounds"][0]  # forward changed nothing


@needs_node
def test_both_runners_report_side_effects_alike() -> None:
    tasks = [p.case.task(p.task_id) for t in builtin("mlp").draw(8) for p in t.parts]
    answers = {lang: _answers(DIAGNOSIS / lang / f"correct_in_place.{ext}",
                              {"protocol": 1, "contract": LESSON4.to_request(lang),
                               "tasks": tasks})
               for lang, ext in (("python", "py"), ("js", "js"))}
    for tid in answers["python"]:
        if tid != "api":
            _close(answers["python"][tid]["value"], answers["js"][tid]["value"], tid)


@needs_node
def test_js_tracebacks_show_the_students_frames_not_minified_mathjs(tmp_path: Path) -> None:
    sub = tmp_path / "bad.js"
    sub.write_text("const math = require('mathjs');\n"
                   "class DenseLayer {\n"
                   "  constructor() {}\n"
                   "  forward(inputs) { return math.multiply(this.weights, inputs); }\n"
                   "}\nmodule.exports = { DenseLayer };\n")
    task = {"id": "f", "op": "layer", "n_inputs": 3, "n_neurons": 2, "activation": "linear",
            "weights": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "biases": [[0.0, 0.0]],
            "rounds": [{"inputs": [[1.0, 2.0, 3.0]], "d_outputs": None}]}
    err = _answers(sub, {"protocol": 1, "tasks": [task]})["f"]["error"]
    assert err["type"] == "RangeError"
    assert "node_modules" not in err["traceback"] and "mathjs_shim" not in err["traceback"]
    frames = [line.strip() for line in err["traceback"].splitlines()
              if line.strip().startswith("at ")]
    assert frames[0] == "at math.js (math.multiply)", err["traceback"]
    assert frames[1].startswith("at DenseLayer.forward (") and "bad.js:4:" in frames[1]
