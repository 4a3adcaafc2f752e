"""Grade one submission: draw the cases, run the sandboxed children, check, diagnose, score.

The flow: draw every test's numbers from the seed (:mod:`.cases`); send the tasks, grouped,
to a few runner children in parallel (:mod:`.sandbox`) - or all to one child where the runner
isolates tasks itself (:attr:`Runner.isolates_tasks`: Node); if a group's child dies (a hang, a
crash) while others answered, or a child reports tasks it did not run (``NotRun``: its time went
to hanging tasks), re-run those tests one child each, so that one bad test does not zero the
rest; compare every number with the reference into
:class:`~verify.compare.GradientRecord` rows; name known bugs (:mod:`.diagnosis`); for wrong
gradients, one more child takes finite differences of the student's *own* forward to tell
whether their forward or their backward is at fault; score with the rubric.
"""

from __future__ import annotations

import math
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verify.compare import GradientRecord, Tolerance, compare, tolerance_for

from . import diagnosis as dg
from .cases import ApiCase, LayerCase, LossCase, NetCase, Part, TestCase, draw_cases
from .rubric import Rubric
from .runners import Runner, runner_for
from .sandbox import ChildOutcome, Limits, SandboxMode, resolve_mode, run_child

__all__ = ["GradeReport", "TestResult", "grade_submission"]

FD_TOLERANCE: Tolerance = tolerance_for(np.float64, "forward")
FD_MAX_PARAMETERS = 120
_OUTPUT_SHOWN = 2000


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

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"


@dataclass
class GradeReport:
    submission: str
    seed: int
    sandbox: str
    language: str
    tests: list[TestResult]
    execution_time: float
    notes: list[str] = field(default_factory=list)
    student_output: str = ""

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)


# ------------------------------------------------------------------------------ numbers


def _decode(value: Any) -> Any:
    """Protocol matrix/scalar -> float64 array (None stays None); ValueError if malformed."""
    if value is None:
        return None
    if isinstance(value, (int, float, str)):
        return np.asarray(_num(value), dtype=np.float64).reshape(1, 1)
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise ValueError(f"expected a matrix (list of rows), got {type(value).__name__}")
    if len({len(r) for r in value}) > 1:
        raise ValueError("ragged matrix (rows of different lengths)")
    rows = [[_num(v) for v in row] for row in value]
    arr = np.asarray(rows, dtype=np.float64)
    return arr.reshape(len(rows), -1) if arr.ndim != 2 else arr


def _num(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("booleans are not numbers here")
    if isinstance(v, (int, float)):
        return float(v)
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise ValueError(f"expected a number, got {v!r}")


def _missing(path: str, parameter: str, note: str, layer: int = 0, activation: str = "") -> GradientRecord:
    return GradientRecord(
        path=path, layer=layer, activation=activation, parameter=parameter, shape=(),
        method="reference", dtype="float64", max_abs_error=math.inf, max_rel_error=math.inf,
        worst_index=(), analytic=math.nan, reference=math.nan, tolerance=dg.GRADE_TOLERANCE,
        mismatched=0, size=0, kinks=0, passed=False, note=note)


def _record(student: Any, expected: Any, path: str, parameter: str, *, layer: int = 0,
            activation: str = "", missing_note: str = "") -> GradientRecord:
    if student is None:
        return _missing(path, parameter, missing_note or "not returned", layer, activation)
    return compare(student, expected, path=path, layer=layer, activation=activation,
                   parameter=parameter, method="reference", tolerance=dg.GRADE_TOLERANCE,
                   dtype=np.float64)


def _message(rec: GradientRecord, hide: bool) -> str:
    if rec.note.startswith("shape") and not rec.passed:  # no values to show: say the shapes
        return f"{rec.path}: {rec.note}"
    if not hide or rec.passed or rec.size == 0:
        return rec.message()
    return f"{rec.path}: {rec.mismatched} / {rec.size} mismatched (values of hidden tests are not shown)"


# ------------------------------------------------------------------------------ checking


@dataclass
class _Check:
    """What checking one test produced, before scoring."""

    scored: list[GradientRecord] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)
    fd_requests: list[tuple[Part, int, dict[str, Any]]] = field(default_factory=list)
    fraction: float | None = None  # overrides scored-record counting (api)
    hide: bool = False  # a hidden test: messages never show values


def _error_line(label: str, error: dict[str, Any], limits: Limits) -> list[str]:
    etype = str(error.get("type", "Error"))
    msg = str(error.get("message", ""))
    hint = ""
    if etype == "MemoryError":
        hint = f" (the memory limit is {limits.memory_mb} MiB)"
    elif "File too large" in msg:
        hint = f" (the output limit is {limits.output_bytes // 1024} KiB)"
    lines = [f"{label}: {etype}: {msg}{hint}"]
    tb = str(error.get("traceback", "")).strip()
    if tb and etype not in ("BadResult", "MissingAPI"):
        lines += ["    " + line for line in tb[-1500:].splitlines()]
    return lines


def _check_api(value: dict[str, Any]) -> _Check:
    c = _Check()
    names = value.get("names") or {}
    items = []
    for key, spellings in (("DenseLayer", "DenseLayer"), ("MLP", "MLP"), ("mse", "mse"),
                           ("mse_derivative", "mse_derivative or mseDerivative")):
        ok = bool(value.get(key))
        items.append(ok)
        c.lines.append(f"{spellings}: {'found as ' + str(names.get(key)) if ok else 'MISSING'}")
    if value.get("MLP"):
        ok = bool(names.get("add_layer"))
        items.append(ok)
        c.lines.append(f"MLP.add_layer / addLayer: {'found' if ok else 'MISSING'}")
    attrs = value.get("layer_attributes") or {}
    if "error" in attrs:
        items.append(False)
        c.lines.append(str(attrs["error"]))
    elif value.get("DenseLayer"):
        for attr, shape in (("weights", [3, 2]), ("biases", [1, 2])):
            got = attrs.get(attr)
            ok = got == shape
            items.append(ok)
            c.lines.append(f"DenseLayer(3, 2, 'relu').{attr}: "
                           + ("shape (%s)" % ", ".join(map(str, shape)) if ok else
                              f"expected shape {tuple(shape)}, got {tuple(got) if got else 'no attribute'}"))
        ok = bool(attrs.get("forward")) and bool(attrs.get("backward"))
        items.append(ok)
        c.lines.append(f"DenseLayer.forward / backward: {'found' if ok else 'MISSING'}")
    c.fraction = sum(items) / len(items)
    return c


def _layer_record_set(part: Part, case: LayerCase, value: dict[str, Any], c: _Check,
                      *, backward: bool) -> None:
    spec = case.layer
    ref = dg.reference_layer(case)
    rounds = value.get("rounds")
    if not isinstance(rounds, list) or len(rounds) != len(case.rounds):
        raise ValueError(f"expected {len(case.rounds)} rounds, got {type(rounds).__name__}")
    multi = len(case.rounds) > 1
    for k, (got, r) in enumerate(zip(rounds, ref)):
        pre = f"{part.label}: " + (f"round {k}: " if multi else "")
        out = _record(_decode(got.get("output")), r.output, f"{pre}layer.output", "output",
                      activation=spec.activation)
        if not backward:
            c.scored.append(out)
            continue
        if not out.passed:
            c.lines.append(_message(out, c.hide))  # context: a wrong forward explains wrong gradients
        student = {"inputs": _decode(got.get("d_inputs")), "weights": _decode(got.get("d_weights")),
                   "biases": _decode(got.get("d_biases"))}
        recs = {
            "weights": _record(student["weights"], r.dW, f"{pre}layer.weights", "weights",
                               activation=spec.activation,
                               missing_note="d_weights (or dWeights) is not set after backward"),
            "biases": _record(student["biases"], r.db, f"{pre}layer.biases", "biases",
                              activation=spec.activation,
                              missing_note="d_biases (or dBiases) is not set after backward"),
            "inputs": _record(student["inputs"], r.dx, f"{pre}layer.inputs", "inputs",
                              activation=spec.activation,
                              missing_note="backward returned None instead of the input gradient"),
        }
        c.scored += recs.values()
        unchanged = dg.close(_decode(got.get("weights_after")), spec.weights, Tolerance(0, 0)) and \
            dg.close(_decode(got.get("biases_after")), spec.biases, Tolerance(0, 0))
        if not unchanged:  # a penalty only: leaving the parameters alone earns nothing
            c.scored.append(_missing(f"{pre}layer parameters", "parameters",
                                     "weights/biases changed by forward/backward"))
            c.diagnoses.append("weights_changed")
        bad = {p: v for p, v in student.items() if not recs[p].passed}
        if bad:
            c.diagnoses += _cover(dg.layer_diagnoses(spec, ref, k, student), list(bad))
            if unchanged:
                c.fd_requests.append((part, k, {"student": student, "forward_ok": out.passed,
                                                "records": recs, "hide": c.hide}))


def _net_record_set(part: Part, case: NetCase, value: dict[str, Any], c: _Check) -> None:
    ref = dg.reference_net(case)
    rounds = value.get("rounds")
    if not isinstance(rounds, list) or len(rounds) != len(case.rounds):
        raise ValueError(f"expected {len(case.rounds)} rounds, got {type(rounds).__name__}")
    multi = len(case.rounds) > 1
    for k, (got, r) in enumerate(zip(rounds, ref)):
        pre = f"{part.label}: " + (f"round {k}: " if multi else "")
        out = _record(_decode(got.get("prediction")), r.prediction, f"{pre}prediction", "output")
        if not out.passed:
            c.lines.append(_message(out, c.hide))
        layers = got.get("layers") or []
        if len(layers) != len(case.layers):
            raise ValueError(f"expected {len(case.layers)} layers, got {len(layers)}")
        student: dict[str, Any] = {"d_x": _decode(got.get("d_x"))}
        recs: dict[str, GradientRecord] = {}
        unchanged = True
        for j, (spec, lr, lg) in enumerate(zip(case.layers, r.layers, layers)):
            for param, key, exp in (("weights", "d_weights", lr.dW), ("biases", "d_biases", lr.db)):
                path = f"layers[{j}].{param}"
                student[path] = _decode(lg.get(key))
                recs[path] = _record(student[path], exp, pre + path, param, layer=j,
                                     activation=spec.activation,
                                     missing_note=f"{key} is not set after backward")
            unchanged &= dg.close(_decode(lg.get("weights_after")), spec.weights, Tolerance(0, 0)) \
                and dg.close(_decode(lg.get("biases_after")), spec.biases, Tolerance(0, 0))
        if student["d_x"] is not None:
            recs["d_x"] = _record(student["d_x"], r.d_x, pre + "layers[0].inputs", "inputs",
                                  activation=case.layers[0].activation)
        elif k == 0:  # the lesson's MLP.backward returns nothing: not required, not scored
            c.lines.append(f"note (no deduction): {part.label}: MLP.backward returned nothing, "
                           f"so the gradient with respect to x was not checked")
        c.scored += recs.values()
        if not unchanged:  # a penalty only: leaving the parameters alone earns nothing
            c.scored.append(_missing(f"{pre}parameters", "parameters",
                                     "some layer's weights/biases changed by forward/backward"))
            c.diagnoses.append("weights_changed")
        bad = [p for p, rec in recs.items() if not rec.passed]
        if bad:
            c.diagnoses += _cover(dg.net_diagnoses(case, ref, k, student), bad)
            if unchanged:
                c.fd_requests.append((part, k, {"student": student, "forward_ok": out.passed,
                                                "records": recs, "hide": c.hide}))


def _cover(found: dict[str, list[str]], bad: list[str]) -> list[str]:
    """The fewest known bugs that explain the wrong gradients (greedy set cover): a bug that
    explains several wrong paths beats one that only coincides on one of them."""
    uncovered = set(bad)
    names: list[str] = []
    while uncovered:
        counts: dict[str, int] = {}
        for path in uncovered:
            for name in found.get(path, []):
                counts[name] = counts.get(name, 0) + 1
        if not counts:
            break
        best = max(counts.values())
        winners = [n for n, v in counts.items() if v == best]
        names += winners
        uncovered = {p for p in uncovered if not set(found.get(p, [])) & set(winners)}
    return names


_LOSS_NOTE = (
    "note (no deduction): your mse_derivative divides by the batch size, as the lesson does "
    "(2 * (y_pred - y_true) / batch). The exact gradient of mse, a mean over all "
    "batch * n_outputs elements, divides by the number of elements; with {k} outputs yours is "
    "{k}x larger - it is the exact gradient of sum((y_pred - y_true)**2) / batch. Both "
    "conventions are accepted."
)


def _check_loss(part: Part, case: LossCase, value: dict[str, Any], c: _Check) -> None:
    from reference_mlp.losses import get_loss

    got = _decode(value.get("value"))
    yt, yp = case.y_true, case.y_pred
    k = yt.shape[1]
    if case.op == "mse":
        exact = np.asarray(get_loss("exact").value(yt, yp)).reshape(1, 1)
        lesson = np.asarray(get_loss("lesson").value(yt, yp)).reshape(1, 1)
        rec = _record(got, exact, f"{part.label}: mse", "loss")
        if not rec.passed and k > 1 and dg.close(got, lesson):
            rec = _record(got, lesson, f"{part.label}: mse", "loss")
            c.lines.append(f"note (no deduction): {part.label}: your mse is sum((y_pred - y_true)**2) "
                           f"/ batch (summed over the {k} outputs); the lesson's mse is the mean "
                           f"over all elements, {k}x smaller. Both are accepted.")
        c.scored.append(rec)
        return
    exact = get_loss("exact").derivative(yt, yp)
    lesson = get_loss("lesson").derivative(yt, yp)
    rec = _record(got, exact, f"{part.label}: mse_derivative", "loss")
    if not rec.passed and dg.close(got, lesson):
        rec = _record(got, lesson, f"{part.label}: mse_derivative", "loss")
        c.lines.append(_LOSS_NOTE.format(k=k))
    if not rec.passed:
        c.diagnoses += dg.loss_diagnoses(yt, yp, got)
    c.scored.append(rec)


def _check_part(test: TestCase, part: Part, result: dict[str, Any] | None, c: _Check,
                limits: Limits) -> None:
    if result is None:
        c.scored.append(_missing(part.label, "result", "no result came back for this part"))
        return
    if not result.get("ok"):
        c.lines += _error_line(part.label, result.get("error") or {}, limits)
        c.scored.append(_missing(part.label, "result", "raised an error (see above)"))
        return
    value = result.get("value")
    try:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {type(value).__name__}")
        case = part.case
        if isinstance(case, ApiCase):
            sub = _check_api(value)
            c.lines += sub.lines
            c.fraction = sub.fraction
        elif isinstance(case, LayerCase):
            _layer_record_set(part, case, value, c, backward=test.kind != "forward")
        elif isinstance(case, NetCase):
            _net_record_set(part, case, value, c)
        elif isinstance(case, LossCase):
            _check_loss(part, case, value, c)
    except Exception as exc:  # noqa: BLE001 - the data came from an untrusted child
        c.lines.append(f"{part.label}: the submission corrupted or did not produce results: "
                       f"malformed result ({type(exc).__name__}: {exc})")
        c.scored.append(_missing(part.label, "result", "malformed result"))


# ------------------------------------------------------------------------------ finite differences


def _fd_plan(part: Part, k: int) -> tuple[list[dict[str, Any]], Any] | None:
    """Tasks that evaluate the student's forward at perturbed parameters and inputs, and a
    function turning their results into FD gradients of ``L = sum(output * upstream)``."""
    case = part.case
    base = f"fd:{part.task_id}:{k}"
    tasks: list[dict[str, Any]] = []
    if isinstance(case, LayerCase):
        x, d = case.rounds[k]
        specs = {"layer": case.layer}
        n_params = case.layer.weights.size + case.layer.biases.size
    elif isinstance(case, NetCase):
        x, d = case.rounds[k]
        specs = {f"layers[{j}]": s for j, s in enumerate(case.layers)}
        n_params = sum(s.weights.size + s.biases.size for s in case.layers)
    else:
        return None
    if n_params + x.size > FD_MAX_PARAMETERS or d is None:
        return None
    steps: dict[str, float] = {}
    from dataclasses import replace as dc_replace

    def make(layers: dict[str, Any], rounds: tuple[tuple[np.ndarray, None], ...], tid: str) -> None:
        if isinstance(case, LayerCase):
            tasks.append(LayerCase(layers["layer"], rounds).task(tid))
        else:
            tasks.append(NetCase(tuple(layers.values()), rounds).task(tid))

    for name, spec in specs.items():
        for param in ("weights", "biases"):
            arr = getattr(spec, param)
            for idx in np.ndindex(arr.shape):
                h = 1e-6 * max(1.0, abs(arr[idx]))
                steps[f"{name}.{param}{idx}"] = h
                for sign in (1, -1):
                    new = arr.copy()
                    new[idx] += sign * h
                    layers = dict(specs)
                    layers[name] = dc_replace(spec, **{param: new})
                    make(layers, ((x, None),), f"{base}:{name}.{param}{idx}:{sign}")
    x_rounds = []
    for idx in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[idx]))
        steps[f"x{idx}"] = h
        for sign in (1, -1):
            new = x.copy()
            new[idx] += sign * h
            x_rounds.append((new, None))
    make(dict(specs), tuple(x_rounds), f"{base}:x")

    def assemble(results: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
        def loss(res: dict[str, Any], i: int = 0) -> float:
            if not res.get("ok"):
                err = res.get("error") or {}
                raise RuntimeError(f"{err.get('type')}: {err.get('message')}")
            r = res["value"]["rounds"][i]
            out = _decode(r.get("output") if "output" in r else r.get("prediction"))
            return float(np.sum(out * d))

        grads: dict[str, np.ndarray] = {}
        for name, spec in specs.items():
            for param in ("weights", "biases"):
                arr = getattr(spec, param)
                g = np.empty(arr.shape)
                for idx in np.ndindex(arr.shape):
                    key = f"{name}.{param}{idx}"
                    g[idx] = (loss(results[f"{base}:{key}:1"]) - loss(results[f"{base}:{key}:-1"])) \
                        / (2 * steps[key])
                grads[f"{name}.{param}"] = g
        gx = np.empty(x.shape)
        res = results[f"{base}:x"]
        for n, idx in enumerate(np.ndindex(x.shape)):
            gx[idx] = (loss(res, 2 * n) - loss(res, 2 * n + 1)) / (2 * steps[f"x{idx}"])
        grads["x"] = gx
        return grads

    return tasks, assemble


def _fd_conclusions(requests: list[tuple[TestCase, Part, int, dict[str, Any]]], runner: Runner,
                    submission: Path, limits: Limits, mode: SandboxMode) -> dict[str, list[str]]:
    """Run the FD child once for every failing gradient part; test id -> feedback lines."""
    plans = []
    tasks: list[dict[str, Any]] = []
    seen = set()
    for test, part, k, info in requests:
        if part.task_id in seen:  # one round per part is enough to tell forward from backward
            continue
        seen.add(part.task_id)
        plan = _fd_plan(part, k)
        if plan is None:
            continue
        tasks += plan[0]
        plans.append((test, part, k, info, plan[1]))
    if not plans:
        return {}
    outcome = run_child(runner, submission, {"protocol": 1, "tasks": tasks},
                        limits=limits, mode=mode)
    out: dict[str, list[str]] = {}
    if outcome.response is None:
        for test, part, *_ in plans:
            out.setdefault(test.id, []).append(
                f"finite-difference check of your forward not possible: {outcome.problem}")
        return out
    results = {str(r.get("id")): r for r in outcome.response["results"] if isinstance(r, dict)}
    for test, part, k, info, assemble in plans:
        try:
            fd = assemble(results)
        except Exception as exc:  # noqa: BLE001 - untrusted data: no FD verdict, no crash
            out.setdefault(test.id, []).append(
                f"finite-difference check of your forward not possible: {exc}")
            continue
        verdicts: dict[str, list[tuple[str, GradientRecord]]] = {}
        student = info["student"]
        single = isinstance(part.case, LayerCase)
        for name, rec in info["records"].items():
            if rec.passed:
                continue
            if single:
                fd_key = {"weights": "layer.weights", "biases": "layer.biases", "inputs": "x"}[name]
            else:
                fd_key = "x" if name == "d_x" else name
            grad = student.get(name)
            if grad is None:
                continue
            fd_rec = compare(grad, fd[fd_key], path=rec.path, layer=rec.layer,
                             activation=rec.activation, parameter=rec.parameter,
                             method="central", tolerance=FD_TOLERANCE)
            verdict = _fd_verdict(info["forward_ok"], fd_rec.passed, k > 0)
            verdicts.setdefault(verdict, []).append((rec.path, fd_rec))
        lines = out.setdefault(test.id, [])
        for verdict, items in verdicts.items():
            paths = ", ".join(p.removeprefix(f"{part.label}: ") for p, _ in items)
            paths = f"{part.label}: {paths}"
            example = next((r for _, r in items if not r.passed), None)
            detail = "" if example is None or info.get("hide") else f"\n    e.g. {_message(example, False)}"
            lines.append(f"finite differences of your own forward ({paths}): {verdict}{detail}")
    return out


def _fd_verdict(forward_ok: bool, consistent: bool, later_round: bool) -> str:
    if forward_ok and not consistent:
        return ("your BACKWARD is at fault: your forward matches the reference, but these "
                "gradients disagree with finite differences of your own forward")
    if not forward_ok and consistent:
        return ("your FORWARD is at fault: these gradients agree with finite differences of your "
                "own forward, but your forward computes a different function than the reference")
    if not forward_ok:
        return ("both are wrong: your forward differs from the reference, and these gradients "
                "also disagree with finite differences of your own forward")
    if later_round:
        return ("on a fresh model your backward agrees with finite differences of your forward: "
                "the error comes from state kept between rounds (cached values)")
    return ("these gradients agree with finite differences of your own forward on a fresh model "
            "but not here: they depend on state (cached values)")


# ------------------------------------------------------------------------------ orchestration


_ONE_GROUP = "all"


def _group_of(test: TestCase, one_child: bool) -> str:
    return _ONE_GROUP if one_child else test.group


def _group_tasks(tests: list[TestCase],
                 one_child: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Group name -> its tasks: the tests' own groups (one child each), or a single group when
    the runner isolates tasks itself (one child per submission: one start-up, not two)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for test in tests:
        for part in test.parts:
            groups.setdefault(_group_of(test, one_child), []).append(part.case.task(part.task_id))
    return groups


def _not_run(result: dict[str, Any] | None) -> bool:
    """A task the runner skipped (PROTOCOL.md: ``NotRun``), not one the submission failed."""
    return isinstance(result, dict) and result.get("ok") is False \
        and isinstance(result.get("error"), dict) and result["error"].get("type") == "NotRun"


def _failed_report(path: Path, seed: int, mode: str, language: str, rubric: Rubric,
                   reason: str, start: float) -> GradeReport:
    tests = [TestResult(t.id, t.name, 0.0, rubric.points.get(t.id, 0.0), False,
                        f"not graded: {reason}", rubric.visibility_of(t.id))
             for t in draw_cases(seed)]
    return GradeReport(str(path), seed, mode, language, tests, time.monotonic() - start,
                       notes=[f"the submission could not be graded: {reason}"])


def grade_submission(
    submission: str | Path,
    *,
    seed: int | None = None,
    rubric: Rubric | None = None,
    limits: Limits = Limits(),
    sandbox: str | None = None,
    workers: int = 4,
    fd_check: bool = True,
) -> GradeReport:
    """Grade one file. Never raises for anything the submission does (a missing or
    unsupported file is a report whose tests all explain why they were not graded)."""
    start = time.monotonic()
    path = Path(submission)
    seed = secrets.randbits(32) if seed is None else int(seed)
    rubric = rubric or Rubric()
    mode: SandboxMode = resolve_mode(sandbox)
    try:
        runner = runner_for(path)
    except ValueError as exc:
        return _failed_report(path, seed, mode, "unknown", rubric, str(exc), start)
    reason = runner.unavailable_reason()
    if reason is None and path.is_symlink():
        # A submission (a cloned repository, an archive) may hold a link to a file of the
        # grader's machine; copying it into the sandbox would hand the child that file.
        reason = f"{path.name} is a symbolic link: submit the file itself"
    elif reason is None and not path.is_file():
        reason = f"{path} is not a file"
    if reason is not None:
        return _failed_report(path, seed, mode, runner.name, rubric, reason, start)

    tests = draw_cases(seed)
    # A runner that gives each task its own time budget and restarts after a crash (Node) gets
    # every task in one child; the others get one child per group, with per-test retries.
    one_child = runner.isolates_tasks
    groups = _group_tasks(tests, one_child)

    def run(tasks: list[dict[str, Any]]) -> ChildOutcome:
        return run_child(runner, path, {"protocol": 1, "tasks": tasks}, limits=limits, mode=mode)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = dict(zip(groups, pool.map(run, groups.values())))
        results: dict[str, dict[str, Any]] = {}
        problems: dict[str, str] = {}  # task id -> why it has no result
        notes: list[str] = []
        for name, outcome in outcomes.items():
            _collect(outcome, groups[name], results, problems, notes)
        # A group whose child died: retry its tests one child each, so that one hanging or
        # crashing test does not zero the rest - unless the submission cannot even be loaded
        # (then every child dies the same way; a lone API probe tells the two apart). Tasks an
        # isolating runner reports as NotRun (its time went to earlier tasks that hung) are
        # retried the same way, one child per test, so the guarantee does not depend on how
        # many tests hang.
        answered = any(o.response is not None for o in outcomes.values())
        if not answered:
            probe = run([ApiCase().task("probe")])
            answered = probe.response is not None
        retry: list[list[dict[str, Any]]] = []
        for t in tests if answered else []:
            name = _group_of(t, one_child)
            if outcomes[name].response is None and len(groups[name]) > len(t.parts):
                parts = list(t.parts)
            else:
                parts = [p for p in t.parts if _not_run(results.get(p.task_id))]
            if parts:
                retry.append([p.case.task(p.task_id) for p in parts])
        if retry:
            for tasks, outcome in zip(retry, pool.map(run, retry)):
                for task in tasks:
                    problems.pop(task["id"], None)
                    results.pop(task["id"], None)
                _collect(outcome, tasks, results, problems, notes)

    student_output = next((o.output for o in outcomes.values() if o.output), "")
    checks: dict[str, _Check] = {}
    for test in tests:
        c = _Check(hide=test.hidden or rubric.hides_values(test.id))
        for part in test.parts:
            if part.task_id in problems:
                c.lines.append(f"{part.label}: {problems[part.task_id]}")
                c.scored.append(_missing(part.label, "result", "no result"))
            else:
                _check_part(test, part, results.get(part.task_id), c, limits)
        checks[test.id] = c

    fd_lines: dict[str, list[str]] = {}
    if fd_check:
        requests = [(t, part, k, info) for t in tests for part, k, info in checks[t.id].fd_requests]
        if requests:
            fd_lines = _fd_conclusions(requests, runner, path, limits, mode)

    results_out = [_score(t, checks[t.id], fd_lines.get(t.id, []), rubric) for t in tests]
    if student_output:
        notes.append("your program printed (first lines):\n" + student_output[:_OUTPUT_SHOWN])
    return GradeReport(str(path), seed, mode, runner.name, results_out,
                       time.monotonic() - start, notes=_dedupe(notes),
                       student_output=student_output)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _collect(outcome: ChildOutcome, tasks: list[dict[str, Any]], results: dict[str, Any],
             problems: dict[str, str], notes: list[str]) -> None:
    ids = [t["id"] for t in tasks]
    if outcome.response is None:
        for tid in ids:
            problems[tid] = outcome.problem or "the submission corrupted or did not produce results"
        return
    if outcome.problem:
        notes.append(outcome.problem)
    got: dict[str, Any] = {}
    for r in outcome.response.get("results", []):
        if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"] in ids:
            got.setdefault(r["id"], r)
    for tid in ids:
        if tid in got:
            results[tid] = got[tid]
        else:
            problems[tid] = ("the submission corrupted or did not produce results: "
                             "no result for this part on the result channel")


def _score(test: TestCase, c: _Check, fd: list[str], rubric: Rubric) -> TestResult:
    max_score = float(rubric.points.get(test.id, 0.0))
    hide = test.hidden or rubric.hides_values(test.id)
    if c.fraction is not None:
        fraction = c.fraction
        passed = fraction == 1.0
    else:
        n = len(c.scored)
        good = sum(r.passed for r in c.scored)
        fraction = good / n if n else 0.0
        passed = n > 0 and good == n
    score = round(max_score * fraction, 4)
    lines: list[str] = []
    failures = [r for r in c.scored if not r.passed]
    if c.fraction is None:
        lines.append(("passed" if passed else "FAILED")
                     + f": {len(c.scored) - len(failures)} / {len(c.scored)} checks")
    lines += c.lines
    lines += [_message(r, hide) for r in failures if r.size or r.note not in ("raised an error (see above)", "no result")]
    lines += dg.explain(_dedupe(c.diagnoses))
    lines += fd
    return TestResult(test.id, test.name, score, max_score, passed, "\n".join(lines),
                      rubric.visibility_of(test.id), diagnoses=_dedupe(c.diagnoses),
                      records=list(c.scored))
