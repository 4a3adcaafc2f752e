"""Checking lesson 2's and lesson 5's parts: gradient descent, the SGD step, shuffling,
mini-batches and the training loop (see :mod:`.checking` for the rest).

As everywhere in the grader, the child's answer is untrusted data decoded by :mod:`.decode`, the
expected values are the parent's (:mod:`.descent`), and a known bug is named only when its
mutation, run on the student's very numbers, reproduces the student's answer. What can only be
observed (the order of the rows, which rows a mini-batch holds) is stated as observed.

Feedback for hidden tests never shows values: the notes here state only what was observed
about the order and the sizes of things.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from verify.compare import GradientRecord, Tolerance, compare

from . import decode
from . import diagnosis as dg
from .cases import (
    BatchesCase,
    GdRunCase,
    GdStepCase,
    LayerSpec,
    Part,
    SgdStepCase,
    ShuffleCase,
    TrainCase,
)
from .checking import Check, _record, missing
from .decode import MalformedResult
from .descent import (
    RUN_BUGS,
    STEP_BUGS,
    TRAIN_HYPOTHESES,
    gd_run,
    gd_step,
    mse_of,
    sgd_update,
    simulate,
    targets,
)

__all__ = ["check_course_part", "course_checks_in"]

Array = NDArray[np.float64]
_SAME = Tolerance(1e-12, 1e-12, "the first run")
"""Two runs with one seed must agree to the last bits (allowing for a summation order)."""
_MAX_CALLS_SHOWN = 10**6
_SANE = 1e3
"""Weights larger than this (the drawn ones are about 1) mean a run has diverged."""


def course_checks_in(case: Any) -> int:
    """How many checks a complete answer to a lesson-2/5 ``case`` makes."""
    if isinstance(case, (GdStepCase, GdRunCase)):
        return 1
    if isinstance(case, SgdStepCase):
        return 2 * len(case.layers)
    if isinstance(case, ShuffleCase):
        return 3 * len(case.seeds) + 3
    if isinstance(case, BatchesCase):
        return math.ceil(case.x.shape[0] / case.batch_size) + 1
    if isinstance(case, TrainCase):
        if case.check == "sgd":
            return 2 * len(case.layers) + 2 + (case.epochs > 1)
        return 3
    raise TypeError(f"not a lesson-2/5 case: {type(case).__name__}")


def verdict(path: str, ok: bool, note: str) -> GradientRecord:
    """A check that is a yes or no (no values): ``note`` says what was checked or found."""
    if not ok:
        return missing(path, "check", note)
    return GradientRecord(path=path, layer=0, activation="", parameter="check", shape=(),
                          method="reference", dtype="float64", max_abs_error=0.0,
                          max_rel_error=0.0, worst_index=(), analytic=math.nan,
                          reference=math.nan, tolerance=dg.GRADE_TOLERANCE, mismatched=0,
                          size=0, kinks=0, passed=True, note=note)


def _say(c: Check, detailed: str, plain: str) -> str:
    """``detailed`` (with counts and sizes) for a visible test, ``plain`` for a hidden one."""
    return plain if c.hide else detailed


def check_course_part(part: Part, value: dict[str, Any], c: Check) -> None:
    """Check one lesson-2/5 part's decoded ``value`` into ``c`` (MalformedResult for garbage)."""
    case = part.case
    if isinstance(case, GdStepCase):
        _check_gd_step(part, case, value, c)
    elif isinstance(case, GdRunCase):
        _check_gd_run(part, case, value, c)
    elif isinstance(case, SgdStepCase):
        _check_sgd_step(part, case, value, c)
    elif isinstance(case, ShuffleCase):
        _check_shuffle(part, case, value, c)
    elif isinstance(case, BatchesCase):
        _check_batches(part, case, value, c)
    elif isinstance(case, TrainCase):
        _check_train(part, case, value, c)
    else:  # pragma: no cover - check_part dispatches only these
        raise TypeError(type(case).__name__)


# ------------------------------------------------------------------------------ lesson 2


def _check_gd_step(part: Part, case: GdStepCase, value: dict[str, Any], c: Check) -> None:
    got = decode.field(value, "value")
    expected = gd_step(case.x, case.gradient, case.learning_rate)
    path = f"{part.label}: new x"
    rec = _record(got, expected, path, "x", missing_note="the step returned nothing")
    c.scored.append(rec)
    if not rec.passed:
        c.candidates[path] = [
            bug for bug in STEP_BUGS
            if dg.close(got, gd_step(case.x, case.gradient, case.learning_rate, bug))
            and not dg.close(expected, gd_step(case.x, case.gradient, case.learning_rate, bug))]


def _calls(value: dict[str, Any]) -> int | None:
    calls = value.get("calls")
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
        return None
    return calls


def _check_gd_run(part: Part, case: GdRunCase, value: dict[str, Any], c: Check) -> None:
    got = decode.field(value, "value")
    expected, calls = gd_run(case.A, case.c, case.x0, case.learning_rate, case.steps)
    if case.tolerance is None:
        path = f"{part.label}: x after {case.steps} steps"
        rec = _record(got, expected, path, "x", missing_note="gradient_descent returned nothing")
    else:
        path = f"{part.label}: distance to the minimum"
        tol = Tolerance(case.tolerance, 0.0, "the minimum")
        rec = (missing(path, "x", "gradient_descent returned nothing") if got is None else
               compare(got, case.c, path=path, layer=0, activation="", parameter="x",
                       method="reference", tolerance=tol, dtype=np.float64))
    c.scored.append(rec)
    student_calls = _calls(value)
    if student_calls is not None and student_calls != calls and not rec.passed:
        shown = min(student_calls, _MAX_CALLS_SHOWN)
        c.lines.append(f"{part.label}: " + _say(
            c, f"your loop evaluated the gradient {shown} time{'' if shown == 1 else 's'} for "
               f"n_steps = {case.steps}",
            "your loop did not evaluate the gradient once per step"))
    if rec.passed:
        return
    found = []
    for bug in RUN_BUGS:
        wrong, bug_calls = gd_run(case.A, case.c, case.x0, case.learning_rate, case.steps, bug)
        if dg.close(wrong, expected) or not dg.close(got, wrong):
            continue
        if student_calls is not None and bug in ("gd_gradient_not_updated", "gd_no_update") \
                and student_calls > max(bug_calls, 1):
            continue  # the student's loop evaluated the gradient at every step: not this bug
        found.append(bug)
    c.candidates[path] = found


# ------------------------------------------------------------------------------ lesson 5: step


def _net_gradients(layers: tuple[LayerSpec, ...], x: Array, d_loss: Array) -> list[tuple[Array,
                                                                                        Array]]:
    from .cases import NetCase

    ref = dg.reference_net(NetCase(layers, ((x, d_loss),)))[0]
    return [(lr.dW, lr.db) for lr in ref.layers]  # type: ignore[misc]


def _check_sgd_step(part: Part, case: SgdStepCase, value: dict[str, Any], c: Check) -> None:
    lr = case.learning_rate
    entries = decode.rows(value.get("layers"), len(case.layers), "layers")
    reference = _net_gradients(case.layers, case.x, case.d_loss)
    after: list[tuple[Any, Any]] = []
    used: list[tuple[Array, Array]] = []
    records: list[GradientRecord] = []
    changed, own = False, True
    for j, (spec, raw, (dW_ref, db_ref)) in enumerate(zip(case.layers, entries, reference,
                                                          strict=True)):
        entry = decode.obj(raw, f"layers[{j}]")
        dW, db = decode.field(entry, "d_weights"), decode.field(entry, "d_biases")
        if dW is None or dW.shape != spec.weights.shape or not np.all(np.isfinite(dW)):
            dW, own = dW_ref, False
        if db is not None and db.size == spec.biases.size:
            db = db.reshape(spec.biases.shape)
        if db is None or db.shape != spec.biases.shape or not np.all(np.isfinite(db)):
            db, own = db_ref, False
        used.append((dW, db))
        w_back, b_back = decode.field(entry, "weights_backward"), decode.field(entry,
                                                                               "biases_backward")
        if not (dg.close(w_back, spec.weights, Tolerance(0, 0))
                and dg.close(b_back, spec.biases, Tolerance(0, 0))):
            changed = True
        w_after, b_after = decode.field(entry, "weights_after"), decode.field(entry, "biases_after")
        after.append((w_after, b_after))
        for param, got, start, grad in (("weights", w_after, spec.weights, dW),
                                        ("biases", b_after, spec.biases, db)):
            records.append(_record(got, start - lr * grad, f"{part.label}: layers[{j}].{param}",
                                   param, layer=j, activation=spec.activation,
                                   missing_note=f"layers[{j}].{param} is not set after the step"))
    c.scored += records
    if changed:  # a penalty only: leaving the parameters alone earns nothing
        c.scored.append(missing(f"{part.label}: parameters during backward", "parameters",
                                "some layer's weights/biases changed during backward, before "
                                "the SGD step"))
        c.diagnoses.append("weights_changed")
    if not own:
        c.lines.append(f"note: {part.label}: d_weights/d_biases were missing or not finite after "
                       f"backward; the step was checked against the reference's gradients")
    elif not all(dg.close(u[0], r[0]) and dg.close(u[1], r[1]) for u, r in zip(used, reference,
                                                                              strict=True)):
        c.lines.append(f"note (no deduction here): {part.label}: your backward's gradients "
                       f"differ from the reference's (the mlp assignment checks them); the step "
                       f"was checked with your own gradients")
    if all(r.passed for r in records):
        return
    starts = [(s.weights, s.biases) for s in case.layers]
    batch = case.x.shape[0]

    def matches(expect: list[tuple[Array, Array]]) -> bool:
        return all(dg.close(a[0], e[0]) and dg.close(a[1], e[1])
                   for a, e in zip(after, expect, strict=True))

    hypotheses = {
        "sgd_ascent": [(w + lr * g, b + lr * h) for (w, b), (g, h) in zip(starts, used,
                                                                         strict=True)],
        "gd_learning_rate_ignored": [(w - g, b - h) for (w, b), (g, h) in zip(starts, used,
                                                                             strict=True)],
        "sgd_biases_not_updated": [(w - lr * g, b) for (w, b), (g, _) in zip(starts, used,
                                                                            strict=True)],
        "sgd_averaged_twice": [(w - lr * g / batch, b - lr * h / batch)
                               for (w, b), (g, h) in zip(starts, used, strict=True)],
        "sgd_only_last_layer": [*starts[:-1], (starts[-1][0] - lr * used[-1][0],
                                               starts[-1][1] - lr * used[-1][1])],
    }
    correct = [(w - lr * g, b - lr * h) for (w, b), (g, h) in zip(starts, used, strict=True)]
    for name, expect in hypotheses.items():
        if matches(expect) and not all(dg.close(e[0], k[0]) and dg.close(e[1], k[1])
                                       for e, k in zip(expect, correct, strict=True)):
            c.diagnoses.append(name)


# ------------------------------------------------------------------------------ lesson 5: data


def _order(rows: Array | None, reference: Array) -> list[int] | None:
    """The index in ``reference`` of each row of ``rows`` (each used once), or None when some
    row is not one of ``reference``'s."""
    if rows is None or rows.ndim != 2 or rows.shape[1] != reference.shape[1]:
        return None
    out: list[int] = []
    for row in rows:
        dist = np.max(np.abs(reference - row), axis=1)
        i = int(np.argmin(dist))
        if not dist[i] <= 1e-9 * (1 + float(np.max(np.abs(row)))):
            return None
        out.append(i)
    return out


def _pair(raw: Any, what: str) -> tuple[Array | None, Array | None]:
    entry = decode.obj(raw, what)
    return decode.field(entry, "x"), decode.field(entry, "y")


def _check_shuffle(part: Part, case: ShuffleCase, value: dict[str, Any], c: Check) -> None:
    calls = decode.rows(value.get("calls"), len(case.seeds), "calls")
    n = case.x.shape[0]
    orders: list[list[int] | None] = []
    broken = False
    for i, raw in enumerate(calls):
        xs, ys = _pair(raw, f"calls[{i}]")
        ox, oy = _order(xs, case.x), _order(ys, case.y)
        px = ox is not None and sorted(ox) == list(range(n))
        py = oy is not None and sorted(oy) == list(range(n))
        pre = f"{part.label}: call {i} (seed {'A' if case.seeds[i] == case.seeds[0] else 'B'})"
        c.scored.append(verdict(f"{pre}: x", px, "the rows of x come back, each once" if px else
                                "what came back as x is not the rows of x, each once"))
        c.scored.append(verdict(f"{pre}: y", py, "the rows of y come back, each once" if py else
                                "what came back as y is not the rows of y, each once"))
        together = px and py and ox == oy
        c.scored.append(verdict(f"{pre}: pairs", together,
                                "row i of y still belongs to row i of x" if together else
                                "the rows of y no longer belong to the rows of x"))
        broken |= px and py and ox != oy
        orders.append(ox if px else None)
    if broken:
        c.diagnoses.append("not_shuffled_together")
    _order_checks(part.label, orders, c, what="call")


def _order_checks(label: str, orders: list[list[int] | None], c: Check, *, what: str) -> None:
    """Three checks on the orders of three calls or runs (seed A, seed A, seed B)."""
    first, again, other = orders[0], orders[1], orders[2]
    same = first is not None and first == again
    c.scored.append(verdict(f"{label}: the same seed twice", same,
                            "the same order both times" if same else
                            "two calls with the same seed gave different orders"
                            if first is not None and again is not None else
                            "the orders could not be compared"))
    if first is not None and again is not None and first != again:
        c.diagnoses.append("seed_not_used")
    differ = first is not None and other is not None and first != other
    c.scored.append(verdict(f"{label}: another seed", differ,
                            "another order" if differ else
                            "another seed gave the same order" if first is not None
                            and other is not None else "the orders could not be compared"))
    identity = list(range(len(first))) if first is not None else None
    shuffled = any(o is not None and o != identity for o in orders)
    c.scored.append(verdict(f"{label}: shuffled", shuffled,
                            "the rows come back in a new order" if shuffled else
                            f"every {what} kept the rows in their original order"
                            if all(o is not None for o in orders) else
                            "the orders could not be read"))
    if all(o is not None for o in orders) and not shuffled:
        c.diagnoses.append("not_shuffled")
    elif first is not None and first == other and shuffled:
        c.diagnoses.append("seed_ignored")


def _check_batches(part: Part, case: BatchesCase, value: dict[str, Any], c: Check) -> None:
    raw = value.get("batches")
    if not isinstance(raw, list):
        raise MalformedResult("batches: expected a list")
    got = [_pair(b, f"batches[{k}]") for k, b in enumerate(raw[:10_000])]
    n, size = case.x.shape[0], case.batch_size
    starts = list(range(0, n, size))
    c.scored.append(verdict(f"{part.label}: number of batches", len(got) == len(starts),
                            f"{len(got)} batches" if len(got) == len(starts) else _say(
                                c, f"{len(got)} batches, expected {len(starts)} (batches of "
                                   f"{size}, the last one {n - starts[-1]})",
                                "not the number of batches the batch size makes")))
    ok_full = True
    for k, start in enumerate(starts):
        ex, ey = case.x[start:start + size], case.y[start:start + size]
        gx, gy = got[k] if k < len(got) else (None, None)
        good = dg.close(gx, ex) and dg.close(gy, ey)
        rows = f"rows {start}..{start + len(ex) - 1}"
        note = (f"{rows} of x and y" if good else
                "missing" if k >= len(got) else
                _say(c, f"expected {rows} of x and y (shape {ex.shape}), got shape "
                        f"{None if gx is None else gx.shape}",
                     "not the next rows of x and y, in order"))
        c.scored.append(verdict(f"{part.label}: batch {k}", good, note))
        if k < len(starts) - 1 and not good:
            ok_full = False
    if ok_full and n % size and len(got) == len(starts) - 1:
        c.diagnoses.append("last_batch_dropped")


# ------------------------------------------------------------------------------ lesson 5: train


def _steps(run: dict[str, Any], x: Array) -> list[list[int]] | None:
    """The row indices of each mini-batch the model was trained on (the input of the forward
    call before each backward call), or None when they cannot be told."""
    raw = run.get("batches")
    if not isinstance(raw, list) or not raw:
        return None
    out = []
    for m in raw[:100_000]:
        order = _order(decode.matrix(m), x)
        if order is None:
            return None
        out.append(order)
    return out


def _epochs(steps: list[list[int]], epochs: int) -> list[list[list[int]]] | None:
    if epochs < 1 or len(steps) % epochs:
        return None
    k = len(steps) // epochs
    return [steps[e * k:(e + 1) * k] for e in range(epochs)]


def _final(run: dict[str, Any], layers: tuple[LayerSpec, ...]) -> list[tuple[Any, Any]]:
    entries = decode.rows(run.get("layers"), len(layers), "layers")
    out = []
    for j, raw in enumerate(entries):
        entry = decode.obj(raw, f"layers[{j}]")
        out.append((decode.field(entry, "weights"), decode.field(entry, "biases")))
    return out


def _same_weights(final: list[tuple[Any, Any]], ws: tuple[Array, ...] | list[Array],
                  bs: tuple[Array, ...] | list[Array],
                  tol: Tolerance = dg.GRADE_TOLERANCE) -> bool:
    return all(dg.close(f[0], w, tol) and dg.close(f[1], b, tol)
               for f, w, b in zip(final, ws, bs, strict=True))


def _conventions(case: TrainCase) -> tuple[str, ...]:
    # With one output the two conventions of the loss derivative are the same numbers.
    return ("lesson", "exact") if case.y.shape[1] > 1 else ("lesson",)


Params = list[tuple[Array, Array]]


def _fits(params: list[tuple[Any, Any]], layers: tuple[LayerSpec, ...]) -> Params | None:
    """``params`` with the layers' shapes (a bias gradient of (n,) as (1, n)), or None."""
    out = []
    for (w, b), spec in zip(params, layers, strict=True):
        if w is None or b is None or w.shape != spec.weights.shape or \
                b.size != spec.biases.size:
            return None
        out.append((w, b.reshape(spec.biases.shape)))
    return out


def _trajectory(run: dict[str, Any], case: TrainCase, final: list[tuple[Any, Any]],
                steps: list[list[int]]) -> list[Params] | None:
    """The weights before each step (the runner reads them when ``backward`` is called), then
    the final ones: ``len(steps) + 1`` entries, or None when they cannot be read."""
    raw = run.get("params")
    if not isinstance(raw, list) or len(raw) != len(steps):
        return None
    out = []
    for k, entry in enumerate(raw):
        layers = decode.rows(entry, len(case.layers), f"params[{k}]")
        got = [(decode.field(decode.obj(e, f"params[{k}][{j}]"), "weights"),
                decode.field(decode.obj(e, f"params[{k}][{j}]"), "biases"))
               for j, e in enumerate(layers)]
        fitted = _fits(got, case.layers)
        if fitted is None:
            return None
        out.append(fitted)
    last = _fits(final, case.layers)
    return None if last is None else [*out, last]


def _replay(case: TrainCase, steps: list[list[int]], before: list[Params], convention: str,
            bug: str | None = None) -> list[Params]:
    """Each step redone from the student's own weights before it (so that a run that diverges
    is judged step by step, not by an end that rounding alone would change)."""
    acts = [s.activation for s in case.layers]
    out = []
    for idx, yb, params in zip(steps, targets(case.y, steps, bug), before, strict=True):
        ws, bs = sgd_update([w for w, _ in params], [b for _, b in params], acts,
                            case.x[np.asarray(idx, dtype=int)], yb, case.learning_rate,
                            convention=convention, bug=bug)
        out.append(list(zip(ws, bs, strict=True)))
    return out


def _all_close(a: list[Params], b: list[Params]) -> bool:
    return all(dg.close(p[0], q[0]) and dg.close(p[1], q[1])
               for x, y in zip(a, b, strict=True) for p, q in zip(x, y, strict=True))


def _same_steps(before: list[Params], replay: list[Params], after: list[Params]) -> bool:
    """Every step of ``replay`` lands where the student's did: per matrix,
    ``|student - replay| <= 1e-4 |replay| + 1e-3 |replay's update| + 1e-9`` (Frobenius norms).
    Looser than the scoring check on purpose: in a run that diverges (the learning rate's sign,
    say) the weights reach 1e4 and more, where saturated units make two correct formulas of an
    activation's derivative differ in their last digits; relative to the whole matrix and its
    update, every bug of :data:`TRAIN_HYPOTHESES` still changes a step by a large factor."""
    for b_params, r_params, a_params in zip(before, replay, after, strict=True):
        for b, r, a in zip(b_params, r_params, a_params, strict=True):
            for i in (0, 1):
                with np.errstate(all="ignore"):
                    gap = float(np.linalg.norm(a[i] - r[i]))
                    allowed = 1e-4 * float(np.linalg.norm(r[i])) + \
                        1e-3 * float(np.linalg.norm(r[i] - b[i])) + 1e-9
                if not gap <= allowed:  # NaN never matches
                    return False
    return True


def _train_diagnoses(case: TrainCase, steps: list[list[int]] | None,
                     trajectory: list[Params] | None, c: Check) -> None:
    """Name the training bugs that, redone step by step on the student's own mini-batches and
    weights, give the student's weights after every step (where the correct step does not)."""
    if steps is None or trajectory is None:
        return
    # Only the steps before the weights blow up are evidence: past that, saturated units turn
    # rounding (two correct formulas of tanh') into differences as large as a bug's.
    sane = next((k for k, params in enumerate(trajectory[:-1])
                 if not all(np.all(np.abs(m) <= _SANE) for p in params for m in p)),
                len(steps))
    if sane == 0:
        return
    steps, before, after = steps[:sane], trajectory[:sane], trajectory[1:sane + 1]
    if any(_same_steps(before, _replay(case, steps, before, v), after)
           for v in _conventions(case)):
        return
    for bug in TRAIN_HYPOTHESES:
        if any(_same_steps(before, _replay(case, steps, before, v, bug), after)
               for v in _conventions(case)):
            c.diagnoses.append(bug)


def _check_train(part: Part, case: TrainCase, value: dict[str, Any], c: Check) -> None:
    runs = [decode.obj(r, f"runs[{i}]")
            for i, r in enumerate(decode.rows(value.get("runs"), len(case.seeds), "runs"))]
    label = part.label
    if case.check == "loss":
        _check_loss_goes_down(label, case, runs[0], c)
    elif case.check == "sgd":
        _check_sgd_epochs(label, case, runs[0], c)
    else:
        _check_reproducible(label, case, runs, c)


def _history(run: dict[str, Any]) -> Array | None:
    h = decode.field(run, "history")
    return None if h is None else h.reshape(-1)


def _check_loss_goes_down(label: str, case: TrainCase, run: dict[str, Any], c: Check) -> None:
    history = _history(run)
    final = _final(run, case.layers)
    ok = history is not None and history.size == case.epochs and bool(np.all(np.isfinite(history)))
    c.scored.append(verdict(f"{label}: the losses returned", ok,
                            "one finite loss per epoch" if ok else
                            "train returned nothing" if history is None else
                            _say(c, f"{history.size} numbers, expected one finite loss per "
                                    f"epoch ({case.epochs})",
                                 "not one finite loss per epoch")))
    down = ok and history is not None and bool(history[-1] < history[0])
    c.scored.append(verdict(f"{label}: the loss per epoch", down,
                            "the last epoch's loss is below the first's" if down else
                            "the last epoch's loss is not below the first's"))
    before = mse_of(case.layers, case.x, case.y)
    after = math.nan
    if all(w is not None and b is not None and w.shape == s.weights.shape
           and b.size == s.biases.size for (w, b), s in zip(final, case.layers, strict=True)):
        after = mse_of([(w, b.reshape(s.biases.shape), s.activation)
                        for (w, b), s in zip(final, case.layers, strict=True)], case.x, case.y)
    better = bool(after < before)
    c.scored.append(verdict(f"{label}: the trained model", better,
                            "fits the data better than the initial one (lower mse)" if better
                            else "does not fit the data better than the initial one (the mse "
                            "of its final weights on x, y is not lower)"))
    if not (down and better):
        steps = _steps(run, case.x)
        _train_diagnoses(case, steps, None if steps is None else
                         _trajectory(run, case, final, steps), c)


def _check_sgd_epochs(label: str, case: TrainCase, run: dict[str, Any], c: Check) -> None:
    final = _final(run, case.layers)
    steps = _steps(run, case.x)
    n, size = case.x.shape[0], case.batch_size
    sizes = [min(size, n - s) for s in range(0, n, size)]
    if steps is None:
        why = ("train did not call model.forward and model.backward, or fed the model rows that "
               "are not rows of x: the mini-batches could not be observed")
        for j, spec in enumerate(case.layers):
            for param in ("weights", "biases"):
                c.scored.append(missing(f"{label}: layers[{j}].{param}", param, why, j,
                                        spec.activation))
        c.scored.append(missing(f"{label}: mini-batches", "check", why))
        c.scored.append(missing(f"{label}: shuffled", "check", why))
        if case.epochs > 1:
            c.scored.append(missing(f"{label}: a new order every epoch", "check", why))
        return
    trajectory = _trajectory(run, case, final, steps)
    if trajectory is not None:  # every step, from the student's own weights before it
        after = trajectory[1:]
        replays = [_replay(case, steps, trajectory[:-1], v) for v in _conventions(case)]
        best = next((r for r in replays if _all_close(r, after)), replays[0])
        got_steps, expected_steps = after, best
        what = "after every step"
    else:  # the weights during training could not be read: the end of a full replay
        correct = [simulate(case.layers, case.x, case.y, steps, case.learning_rate,
                            convention=v) for v in _conventions(case)]
        end = next((r for r in correct if _same_weights(final, r.weights, r.biases)),
                   correct[0])
        got_steps = [[(w, b) for w, b in final]]
        expected_steps = [list(zip(end.weights, end.biases, strict=True))]
        what = "after training"
    for j, spec in enumerate(case.layers):
        for i, param in enumerate(("weights", "biases")):
            got = _stack([g[j][i] for g in got_steps], spec, param)
            expected = np.concatenate([e[j][i] for e in expected_steps])
            rec = _record(got, expected, f"{label}: layers[{j}].{param} {what}", param,
                          layer=j, activation=spec.activation)
            if not rec.passed and got is not None and len(expected_steps) > 1:
                rows = expected_steps[0][j][i].shape[0]
                bad = ~(np.abs(got - expected) <= dg.GRADE_TOLERANCE.allowed(expected))
                first = int(np.argmax(bad.reshape(len(expected_steps), -1).any(axis=1)))
                each = f"{rows} row{'' if rows == 1 else 's'} each"
                rec = replace(rec, note=f"the {len(expected_steps)} steps are stacked, {each}; "
                                        f"the first wrong one is step {first + 1}")
            c.scored.append(rec)
    epochs = _epochs(steps, case.epochs)
    partition = epochs is not None and all(
        [len(s) for s in ep] == sizes and sorted(i for s in ep for i in s) == list(range(n))
        for ep in epochs)
    if partition:
        note = (f"every epoch: {len(sizes)} mini-batches of {size}"
                + (f" (the last {sizes[-1]})" if sizes[-1] != size else "")
                + ", every row once")
    else:
        note = _say(c, f"{len(steps)} mini-batches in {case.epochs} epochs; expected "
                       f"{len(sizes)} per epoch of sizes {sizes}, every row once per epoch",
                    "the mini-batches do not cover every row once per epoch in batches of "
                    "the batch size (the last one smaller)")
    c.scored.append(verdict(f"{label}: mini-batches", partition, note))
    full = n // size
    if not partition and n % size and len(steps) == case.epochs * full and \
            all(len(s) == size for s in steps):
        c.diagnoses.append("last_batch_dropped")
    flat = [[i for s in ep for i in s] for ep in (epochs or [])]
    shuffled = any(order != sorted(order) for order in flat)
    c.scored.append(verdict(f"{label}: shuffled", shuffled,
                            "the rows are shuffled" if shuffled else
                            "every epoch kept the rows in their original order"
                            if flat else "the epochs could not be told apart"))
    if flat and not shuffled:
        c.diagnoses.append("not_shuffled")
    if case.epochs > 1:
        fresh = len({tuple(o) for o in flat}) > 1
        c.scored.append(verdict(f"{label}: a new order every epoch", fresh,
                                "the epochs visit the rows in different orders" if fresh else
                                "every epoch visited the rows in the same order" if flat else
                                "the epochs could not be told apart"))
        if flat and shuffled and not fresh:
            c.diagnoses.append("same_order_every_epoch")
    if not all(r.passed for r in c.scored[-(2 * len(case.layers) + 2 + (case.epochs > 1)):]):
        _train_diagnoses(case, steps, trajectory, c)


def _stack(items: list[Any], spec: LayerSpec, param: str) -> Array | None:
    """The student's matrices of every step, one under the other (None if one is missing)."""
    shape = getattr(spec, param).shape
    if any(m is None or m.size != int(np.prod(shape)) for m in items):
        return None
    return np.concatenate([m.reshape(shape) for m in items])


def _check_reproducible(label: str, case: TrainCase, runs: list[dict[str, Any]],
                        c: Check) -> None:
    finals = [_final(r, case.layers) for r in runs]
    first = finals[0]
    same = all(a[0] is not None and a[1] is not None for a in first) and _same_weights(
        finals[1], tuple(a[0] for a in first), tuple(a[1] for a in first), _SAME)
    c.scored.append(verdict(f"{label}: the same seed twice: weights", same,
                            "the same final weights" if same else
                            "two runs with the same seed ended with different weights"))
    h0, h1 = _history(runs[0]), _history(runs[1])
    same_h = h0 is not None and dg.close(h1, h0, _SAME)
    c.scored.append(verdict(f"{label}: the same seed twice: losses", same_h,
                            "the same losses" if same_h else
                            "train returned nothing" if h0 is None else
                            "two runs with the same seed returned different losses"))
    orders = [_steps(r, case.x) for r in runs]
    flat = [None if o is None else [i for s in o for i in s] for o in orders]
    differ = flat[0] is not None and flat[2] is not None and flat[0] != flat[2]
    c.scored.append(verdict(f"{label}: another seed", differ,
                            "another order of the rows" if differ else
                            "another seed fed the rows in the same order" if flat[0] is not None
                            and flat[2] is not None else
                            "the mini-batches could not be observed (train must call "
                            "model.forward and model.backward with rows of x)"))
    if flat[0] is not None and flat[1] is not None and flat[0] != flat[1]:
        c.diagnoses.append("seed_not_used")
    if flat[0] is not None and flat[0] == flat[2]:
        per_epoch = _epochs(orders[0] or [], case.epochs)
        never = per_epoch is not None and all(
            [i for s in ep for i in s] == sorted(i for s in ep for i in s) for ep in per_epoch)
        c.diagnoses.append("not_shuffled" if never else "seed_ignored")
