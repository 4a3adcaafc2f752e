"""Checking lesson 2's and lesson 5's parts: gradient descent, the SGD step, shuffling,
mini-batches and the training loop (see :mod:`.checking` for the rest).

As everywhere in the grader, the child's answer is untrusted data decoded by :mod:`.decode`, the
expected values are the parent's (:mod:`.descent`), and a known bug is named only when its
mutation, run on the student's very numbers, reproduces the student's answer. What can only be
observed (the order of the rows, which rows a mini-batch holds) is stated as observed.

Feedback for hidden tests never shows values: the notes here state only what was observed
about the order and the sizes of things.

The training loop's checks (the whole run, the loss going down, the epochs, reproducibility)
are in :mod:`.course_training`.
"""

from __future__ import annotations

import math
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
from .descent import RUN_BUGS, STEP_BUGS, gd_run, gd_step

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
        from .course_training import _check_train

        _check_train(part, case, value, c)
    else:  # pragma: no cover - check_part dispatches only these
        raise TypeError(type(case).__name__)


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
