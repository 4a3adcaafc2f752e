"""Checking lesson 5's training loop: the whole run replayed, the loss going down, the epochs
(one SGD pass over shuffled mini-batches each), and the same result from the same seed.

As in :mod:`.course_checks`, whose helpers it shares: the expected values are the parent's, a
known bug is named only when its mutation reproduces the student's numbers, and feedback for
hidden tests never shows values.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from verify.compare import Tolerance

from . import decode
from . import diagnosis as dg
from .cases import LayerSpec, Part, TrainCase
from .checking import Check, _record, missing
from .course_checks import _SAME, _SANE, Array, _order, _say, verdict
from .descent import TRAIN_HYPOTHESES, mse_of, sgd_update, simulate, targets


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


def _unobserved(label: str, case: TrainCase, c: Check) -> None:
    """Every row of :func:`_check_sgd_epochs` missing: the mini-batches could not be observed."""
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


def _check_sgd_epochs(label: str, case: TrainCase, run: dict[str, Any], c: Check) -> None:
    """The epochs: the weights after every step (or at the end) against the replayed SGD, the
    mini-batches, the shuffling and a new order every epoch, each a scored row."""
    final = _final(run, case.layers)
    steps = _steps(run, case.x)
    n, size = case.x.shape[0], case.batch_size
    sizes = [min(size, n - s) for s in range(0, n, size)]
    if steps is None:
        _unobserved(label, case, c)
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
