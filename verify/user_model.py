"""Checking anyone's model: finite differences of the model's own forward as the reference.

For a model that follows :mod:`verify.protocol` but is not built from reference layers (any
layers, any activations, layers without a bias), ``verify.check_gradients`` compares the
gradients the model's own ``backward`` produces (recorded by :func:`verify.protocol.run_model`)
with difference quotients of the model's own ``forward`` (:mod:`verify.generic`): for
``layers[l]``'s weights, biases or input, the loss change of running ``layers[l:]`` with one
entry moved, on a float64 copy where the forward allows it. Rows, tolerances, refinement,
verdicts, findings and root causes are those of the reference path; the rounding allowance of
the analytic gradient is measured (:func:`verify.generic.measured_rounding`) rather than
derived, since the checker cannot see the model's arithmetic.

Root causes: for each layer, its ``backward`` is fed its true input and the true upstream
gradient (the difference quotients of the loss with respect to the next layer's input) and
compared with difference quotients of the *layer's own* forward, contracted with that upstream
gradient; the loss derivative is compared with the loss's exact gradient; ``network.backward``
(when the model has its own) only on evidence from the recorded walk.

Those root causes are computed in :mod:`verify.user_model_causes`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import Loss

from .compare import GradientCheck, GradientRecord, Tolerance, compare, tolerance_for
from .findings import missing_notes, observations, overflow
from .finite_diff import Refined
from .generic import (
    FloatCopy,
    complex_probe,
    difference_quotients,
    directional,
    failing_kinks,
    kinks_at,
    kinks_only,
    measured_rounding,
    refine,
    refine_directional,
    refine_failing,
    upcast,
)
from .losses import CheckLoss, ValueLoss, check_loss, prepare_targets
from .methods import NotApplicable
from .protocol import ModelRun, describe_layer, layer_kinds, parameter_name, run_model
from .reference import KINDS
from .rounding import gamma, unit_roundoff

__all__ = ["check_user_model"]


Array = NDArray[Any]


def _real_dtype(arrays: list[Any]) -> np.dtype:
    """float32 when the model's parameters (or data) are float32, else float64."""
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype == np.float32:
            return np.dtype(np.float32)
    return np.dtype(np.float64)


class _Evaluator:
    """The loss change of the model's own forward from ``layers[l]`` on, one array moved."""

    def __init__(self, layers: list[Any], x: Array, t: Array, loss: CheckLoss) -> None:
        self.copy = FloatCopy(layers)
        self.layers = self.copy.layers
        self.loss = loss
        self.t = t
        self.inputs: list[Array] = []
        a = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            self.inputs.append(a)
            a = np.asarray(layer.forward(a))
        self.y = a
        self.upcast = np.asarray(a).dtype == np.float64

    def noise(self, layer: int) -> float:
        """The round-off of one loss change from ``layers[layer]`` on: the prediction is
        recomputed through the remaining layers (about ``u |y|`` each) and the change read from
        it (:func:`verify.kinks.change_roundoff`; a value function also cancels ``u |L|``)."""
        u = float(np.finfo(np.float64 if self.upcast else np.float32).eps) / 2
        y = np.real(self.y).astype(np.float64)
        g = self.loss.gradient(y, self.t)
        out = 4 * (len(self.layers) - layer + 1) * u * float(np.sum(np.abs(y) * np.abs(g)))
        if isinstance(self.loss, ValueLoss):
            out += 4 * u * abs(self.loss.value(y, self.t))
        return out

    def theta(self, layer: int, kind: str) -> Array:
        if kind == "inputs":
            return self.inputs[layer]
        name = parameter_name(self.layers[layer], kind)
        assert name is not None
        return np.asarray(getattr(self.layers[layer], name))

    def change(self, layer: int, kind: str) -> Any:
        """``f(theta') = L(...) - L(base)`` with ``kind`` of ``layers[layer]`` set to theta'."""
        target = self.layers[layer]
        name = None if kind == "inputs" else parameter_name(target, kind)

        def f(theta: Array) -> Any:
            if name is None:
                a = theta
            else:
                saved = getattr(target, name)
                setattr(target, name, theta)
                a = self.inputs[layer]
            try:
                with np.errstate(all="ignore"):
                    y = self.copy.forward(a, layer)
            finally:
                if name is not None:
                    setattr(target, name, saved)
            y = np.asarray(y)
            base = self.y.astype(y.dtype)
            return self.loss.batch_change(base, y[None], self.t)[0]

        return f


def _perturbed_run(model: Any, x: Array, derivative: Any) -> Any:
    """``recompute(rng, rel)`` for :func:`verify.generic.measured_rounding`: the model's own
    gradients with its parameters and ``x`` each moved by a relative ``rel``."""

    def recompute(rng: np.random.Generator, rel: float) -> dict[tuple[int, str], Array | None]:
        moved = copy.deepcopy(model)
        from .protocol import layers_of

        for layer in layers_of(moved):
            for kind in ("weights", "biases"):
                name = parameter_name(layer, kind)
                if name is not None:
                    p = getattr(layer, name)
                    setattr(layer, name, (p * (1 + rel * rng.uniform(-1, 1, p.shape)))
                            .astype(p.dtype))
        xm = (x * (1 + rel * rng.uniform(-1, 1, x.shape))).astype(x.dtype)
        return run_model(moved, xm, derivative).analytic

    return recompute


RESOLUTION_FACTOR = 64.0
"""Every layer of a user's model may add an error of this many units of roundoff of the largest
gradient in the network (:func:`_network_scale`) to the gradient it returns, carried down the
layers below (:func:`_floors`): code whose arithmetic the checker cannot see
may compute a derivative with a cancellation (``1 - tanh(z)**2``, ``s * (1 - s)``) whose
absolute error is about ``u`` however small the derivative (a saturated unit's exact gradient
of 1e-100 comes out as 0). A row whose every gradient is below this is inconclusive, never a
mismatch nor a match; rows well above it are unaffected (the float32 table's ``atol`` alone is 1e-5
of the row's largest gradient)."""


def _network_scale(analytic: dict[tuple[int, str], Array | None], loss: CheckLoss, y: Array,
                   t: Array) -> float:
    """The largest finite ``|gradient|`` that flows through the network: of the loss at the
    prediction ``y`` and of every analytic ``inputs`` row (what each backward returns; a wrong
    one that is too large only widens the floor: rows may turn inconclusive, never a wrong one
    into a match beyond its own size)."""
    with np.errstate(all="ignore"):
        parts = [np.real(np.asarray(loss.gradient(np.real(y).astype(np.float64), t)))]
    parts += [np.real(np.asarray(g, dtype=np.complex128)) for (_, kind), g in analytic.items()
              if g is not None and kind == "inputs"]
    top = 0.0
    for p in parts:
        p = np.abs(p[np.isfinite(p)])
        if p.size:
            top = max(top, float(p.max()))
    return top


def _floors(run: ModelRun, ev: _Evaluator, delta: float) -> dict[tuple[int, str], float]:
    """Per ``(layer, kind)``, the floor of :data:`RESOLUTION_FACTOR`: an absolute error
    ``delta`` that any layer's backward may add to the gradient it returns (a cancelling
    derivative), carried down the layers: a layer fed a gradient off by ``d`` returns one off by
    ``d`` times its gain (its largest returned over its largest received gradient, at least 1),
    plus its own ``delta``; its weight gradient ``x.T @ d_out`` is off by ``d`` times the
    largest column sum of ``|x|``, its bias gradient by ``d`` times the batch."""
    out: dict[tuple[int, str], float] = {}
    d = delta
    for i in reversed(range(len(ev.inputs))):
        x = np.abs(np.real(ev.inputs[i]))
        call = run.trace.calls.get(i)
        gain = 1.0
        if call is not None and call.received is not None and call.returned is not None:
            with np.errstate(all="ignore"):
                top_in = float(np.max(np.abs(call.received), initial=0.0))
                top_out = float(np.max(np.abs(call.returned), initial=0.0))
            if top_in > 0 and math.isfinite(top_out):
                gain = max(1.0, top_out / top_in)
        sums = x.reshape(x.shape[0], -1).sum(axis=0) if x.ndim else x
        column = float(np.max(sums, initial=0.0)) if np.all(np.isfinite(sums)) else 0.0
        out[(i, "weights")] = d * max(1.0, column)
        out[(i, "biases")] = d * max(1, x.shape[0] if x.ndim else 1)
        out[(i, "inputs")] = d * gain
        d = d * gain + delta
    return out


PRECISION_NOTE = ("the same backward run in float64 matches: this float32 gradient is off by "
                  "its own rounding (e.g. a saturated unit), which float32 cannot resolve here")
"""The note of a float32 row that fails while the model's own code, run in float64, passes."""


def _float64_gradients(model: Any, x: Array, derivative: Any) -> dict[tuple[int, str], Array]:
    """The model's own backward run on a float64 copy of it (its float32 arrays upcast exactly):
    per ``(layer, kind)``, the gradients that are float64. Empty if that run fails."""
    from .protocol import layers_of

    work = copy.deepcopy(model)
    upcast(work)
    for layer in layers_of(work):
        upcast(layer)
    try:
        with np.errstate(all="ignore"):
            run = run_model(work, np.asarray(x, dtype=np.float64), derivative)
    except Exception:  # noqa: BLE001 - code that cannot run in float64 gives no evidence
        return {}
    return {k: np.asarray(g) for k, g in run.analytic.items()
            if g is not None and np.asarray(g).dtype == np.float64}


def _precision_only(rec: GradientRecord, again: GradientRecord | None) -> GradientRecord:
    """A float32 row that mismatches while the same code in float64 (``again``, compared the
    same way) does not: inconclusive, never a match (the float32 numbers are not shown right),
    and never a mismatch (the code is not shown wrong)."""
    if rec.verdict != "mismatch" or again is None or again.verdict == "mismatch":
        return rec
    note = f"{rec.note}; {PRECISION_NOTE}" if rec.note else PRECISION_NOTE
    return dataclasses.replace(rec, status="inconclusive", passed=False, mismatched=0,
                               unresolved=rec.mismatched, note=note)


def check_user_model(
    model: Any, x: Array, y: Any, *, method: str, loss: Loss, tolerance: Tolerance | None,
    step: float | None, seed: int | None, localize: bool, kinds: tuple[str, ...] = KINDS,
) -> GradientCheck:
    """``verify.check_gradients`` for a model that follows :mod:`verify.protocol` and is not
    built from reference layers (arguments validated there; ``autograd`` does not apply)."""
    y_arr = np.asarray(y)
    run = run_model(model, x, lambda pred: loss.derivative(y_arr, pred))
    pred = run.prediction
    batch, closs, t64 = _loss_and_targets(loss, y, pred, x, method)
    layers = run.layers
    params = [getattr(layer, parameter_name(layer, k) or "", None)
              for layer in layers for k in ("weights", "biases")]
    mdt = _real_dtype([*params, x])
    ev = _Evaluator(layers_original(model), x, t64, closs)
    rng = np.random.default_rng(20240611)
    complex_why = complex_probe(ev.change(0, "inputs"), ev.theta(0, "inputs"), rng) \
        if closs.complex_ok else f"loss {loss.name!r} is a value function"
    if method == "complex_step" and complex_why:
        raise NotApplicable(f"complex_step does not apply to this model: {complex_why}; use "
                         f"central, forward or directional")
    info: dict[str, Any] = {
        "method": method, "dtype": mdt.name, "loss": loss.name,
        "n_parameters": int(sum(np.size(p) for p in params if isinstance(p, np.ndarray))),
        "batch": int(batch), "sizes": None, "kinds": list(kinds),
        "reference": "finite differences of the model's own forward",
        "reference_dtype": "float64" if ev.upcast else mdt.name,
        "complex_step": "applies" if not complex_why else f"does not apply: {complex_why}",
    }
    rows_spec = [(i, k) for i, layer in enumerate(layers) for k in layer_kinds(layer)
                 if k in kinds]
    why, fatal = _overflow(ev, pred, run, closs, t64, mdt)
    tol = tolerance or tolerance_for(mdt, method)
    if fatal:
        return _unchecked_check(method, layers, rows_spec, ev, why, tol, mdt, info)
    scale_aware = tol.relative_atol
    allowances: dict[Any, Array] = (
        _allowances(model, x, loss, y_arr, run, ev, closs, t64, mdt) if scale_aware else {})
    as64: dict[tuple[int, str], Array] = {}
    if scale_aware and mdt == np.float32:
        as64 = _float64_gradients(model, x, lambda p: loss.derivative(y_arr, p))
    notes = missing_notes(run)
    rows: list[GradientRecord] = []
    seed_used = None
    n_kinks = 0
    if method == "directional":
        from .methods import _fresh_seed

        seed_used = _fresh_seed() if seed is None else int(seed)
        dir_rng = np.random.default_rng(seed_used)
    for i, kind in rows_spec:
        f = ev.change(i, kind)
        theta = ev.theta(i, kind)
        a = run.analytic.get((i, kind))
        path, act = f"layers[{i}].{kind}", describe_layer(layers[i])
        common: dict[str, Any] = {"path": path, "layer": i, "activation": act, "parameter": kind,
                  "method": method, "dtype": mdt.name}
        if method == "directional":
            v = dir_rng.standard_normal(theta.shape)
            rows.append(_directional_row(f, theta, v, a, tol, allowances.get((i, kind)), step,
                                         notes.get((i, kind)), seed_used, common,
                                         noise=ev.noise(i), complex_ok=not complex_why,
                                         float64=as64.get((i, kind))))
            continue
        rec, kinks = _quotient_row(f, theta, a, method, tol, step,
                                   notes.get((i, kind), "not produced by backward"),
                                   allowances.get((i, kind)) if scale_aware else None,
                                   scale_aware, not complex_why, ev.noise(i),
                                   as64.get((i, kind)), common)
        n_kinks += kinks
        rows.append(rec)
    info.update({"step": step, "kinks": n_kinks})
    if method == "directional":
        info["seed"] = seed_used
    check = GradientCheck(method, rows, seed=seed_used, info=info, findings=observations(run))
    if why:
        check.findings.append(why)
    if localize and not check.passed:
        _diagnose(check, why, run, ev, model, loss, y_arr, closs, t64, mdt, rows,
                  complex_ok=not complex_why)
    return check


def _loss_and_targets(loss: Loss, y: Any, pred: Array, x: Array,
                      method: str) -> tuple[int, Any, Any]:
    """The batch, the loss checked for the prediction's shape, and the targets (float64 where
    numeric)."""
    if pred.ndim != 2 or pred.shape[0] != x.shape[0]:
        raise ValueError(
            f"the model's output has shape {pred.shape}: expected (batch, n_out) with batch "
            f"{x.shape[0]} (the last layer's output is the prediction)"
        )
    batch, n_out = pred.shape
    closs = check_loss(loss, batch, n_out)
    t = prepare_targets(closs, y, batch, n_out)
    t64 = t.astype(np.float64) if t.dtype.kind in "fiub" else t
    if method == "complex_step" and not closs.complex_ok:
        raise NotApplicable(
            f"complex_step needs a complex-analytic loss ('exact', 'lesson', 'cross_entropy' or "
            f"one whose value the checker recognises); loss {loss.name!r} is a value "
            f"function: use central, forward or directional"
        )
    return batch, closs, t64


def _overflow(ev: _Evaluator, pred: Array, run: Any, closs: Any, t64: Any,
              mdt: np.dtype[Any]) -> tuple[str, bool]:
    """:func:`overflow` on the model's values: what overflowed, and whether that is fatal."""
    values = {f"layers[{i}] input": a for i, a in enumerate(ev.inputs)}
    values["prediction"] = ev.y
    with np.errstate(over="ignore", invalid="ignore"):
        loss_value = float(np.real(closs.value(ev.y, t64)))
    model_values = {"the prediction": pred,
                    **{f"layers[{i}].{k}": g for (i, k), g in run.analytic.items()}}
    return overflow(values, loss_value, model_values, mdt)


def _unchecked_check(method: str, layers: list[Any], rows_spec: list[tuple[int, str]],
                     ev: _Evaluator, why: Any, tol: Tolerance, mdt: np.dtype[Any],
                     info: dict[str, Any]) -> GradientCheck:
    """The check of a model whose values overflow fatally: every row unchecked, and why."""
    from .check import _unchecked

    shapes = [(i, k, describe_layer(layers[i]),
               (1,) if method == "directional" else ev.theta(i, k).shape)
              for i, k in rows_spec]
    info.update({"step": None, "kinks": 0, "diagnosis": why})
    return GradientCheck(method, _unchecked(method, shapes, why, tol, mdt.name), info=info)


def _allowances(model: Any, x: Array, loss: Loss, y_arr: Any, run: Any, ev: _Evaluator,
                closs: Any, t64: Any, mdt: np.dtype[Any]) -> dict[Any, Array]:
    """The gradients' measured rounding, plus the floor of what the network can resolve."""
    allowances = measured_rounding(
        _perturbed_run(model, x, lambda p: loss.derivative(y_arr, p)), run.analytic, mdt)
    floors = _floors(run, ev, RESOLUTION_FACTOR * unit_roundoff(mdt)
                     * _network_scale(run.analytic, closs, ev.y, t64))
    return {k: v + floors.get(k, 0.0) for k, v in allowances.items()}


def _quotient_row(f: Any, theta: Array, a: Any, method: str, tol: Tolerance,
                  step: float | None, missing_note: str, allowance: Array | None,
                  scale_aware: bool, complex_ok: bool, noise: float, a64: Array | None,
                  common: dict[str, Any]) -> tuple[GradientRecord, int]:
    """One parameter's row by difference quotients, and how many entries are at a kink."""
    n_kinks = 0
    r = None if step is None else float(step)
    est = difference_quotients(f, theta, method, r=r)
    if a is None:
        rec = compare(np.full(theta.shape, np.nan), est, tolerance=tol,
                      note=missing_note, **common)
        return dataclasses.replace(rec, status="missing"), 0
    error, note = None, ""
    if scale_aware and np.shape(a) == est.shape and method != "complex_step":
        est, error, note = refine_failing(
            np.asarray(a), est, tol, allowance,
            _refiner(f, theta, complex_ok=complex_ok, noise=noise))
    kink_mask, bounds = None, None
    if scale_aware and np.shape(a) == est.shape and method in ("central", "forward"):
        kink_mask, bounds = failing_kinks(f, theta, np.asarray(a), est, tol, allowance,
                                          noise=noise)
        n_kinks += 0 if kink_mask is None else int(kink_mask.sum())
    rec = compare(np.asarray(a), est, tolerance=tol, allowance=allowance, error=error,
                  note=note, kink_mask=kink_mask, kink_bounds=bounds, **common)
    rec = kinks_only(rec, np.asarray(a), est, tol, allowance, kink_mask)
    if rec.verdict == "mismatch" and a64 is not None and a64.shape == est.shape:
        rec = _precision_only(rec, compare(a64, est, tolerance=tol, allowance=allowance,
                                           error=error, note=note, **common))
    return rec, n_kinks


def _diagnose(check: GradientCheck, why: str | None, run: Any, ev: _Evaluator, model: Any,
              loss: Loss, y_arr: Any, closs: Any, t64: Any, mdt: np.dtype[Any],
              rows: list[GradientRecord], *, complex_ok: bool) -> None:
    """A failing check's diagnosis: the overflow, the root causes, or that none is known."""
    from .user_model_causes import _root_causes

    if why:
        check.info["diagnosis"] = why
    else:
        check.root_causes = _root_causes(run, ev, model, loss, y_arr, closs, t64, mdt, rows,
                                         complex_ok=complex_ok)
        if not check.root_causes and any(r.verdict in ("mismatch", "missing")
                                         for r in rows):
            walk = (", and the network called each layer once, last first, passing each the "
                    "gradient the layer after it returned" if run.trace.walk == "model"
                    else "")
            check.info["diagnosis"] = (
                "root cause unknown: the loss derivative and every layer's own backward "
                f"pass their checks alone{walk}; none of these is to blame, and the checker "
                "names no other cause")


def _refiner(f: Any, theta: Array, *, complex_ok: bool, noise: float = 0.0
             ) -> Callable[[Array], Refined]:
    """``refine_at`` for :func:`verify.generic.refine_failing`: :func:`verify.generic.refine`
    of ``f`` at ``theta``."""

    def refine_at(idx: Array) -> Refined:
        return refine(f, theta, idx, complex_ok=complex_ok, noise=noise)

    return refine_at


def layers_original(model: Any) -> list[Any]:
    from .protocol import layers_of

    return layers_of(model)


def _directional_row(f: Any, theta: Array, v: Array, a: Array | None, tol: Tolerance,
                     bound: Array | None, step: float | None, missing: str | None,
                     seed: int | None, common: dict[str, Any], *, noise: float = 0.0,
                     complex_ok: bool = False, float64: Array | None = None) -> GradientRecord:
    deriv, err = directional(f, theta, v, r=step, noise=noise)
    note = f"directional derivative along a Gaussian direction (seed {seed})"
    if a is None or a.shape != theta.shape:
        shape = None if a is None else a.shape
        rec = compare(np.array([np.nan]), np.array([deriv]), tolerance=tol,
                      note=missing or f"shape {shape} does not match {theta.shape}",
                      **common)
        return dataclasses.replace(rec, status="missing" if a is None else "mismatch")
    terms = np.real(np.asarray(a, dtype=np.complex128)) * v
    analytic = np.array([np.sum(terms)])
    if not tol.relative_atol:
        return compare(analytic, np.array([deriv]), tolerance=tol, note=note, **common)
    allowance = gamma(terms.size, unit_roundoff(np.float64)) * float(np.abs(terms).sum())
    if bound is not None:
        allowance += float(np.sqrt(np.sum((bound * v) ** 2)))
    rss = float(np.sqrt(np.sum(terms**2)))
    rec = compare(analytic, np.array([deriv]), tolerance=tol, allowance=allowance,
                  error=np.array([err]), scale=max(abs(deriv), rss), note=note, **common)
    if rec.verdict != "match" and np.isfinite(rec.analytic):
        better = refine_directional(f, theta, v, complex_ok=complex_ok, noise=noise)
        reference, error = better.estimate, better.error
        scale = max(abs(float(better.estimate[0])), rss)
        note = f"{note}; refined by {better.how}"
        rec = compare(analytic, reference, tolerance=tol, allowance=allowance, error=error,
                      scale=scale, note=note, **common)
        if rec.verdict == "mismatch":  # at a kink along v? (a relu at exactly 0)
            # Steps along v scaled as an entry's own (``h max(1, |t|)``): against the round-off
            # floor of a large prediction, a kink's jump is seen at the steps the quotients
            # themselves take, not only at those of an entry of size 1.
            size = max(1.0, float(np.max(np.abs(theta)))) if theta.size else 1.0
            kink, left, right = kinks_at(lambda s: f(theta + (s[0] * size) * v), np.zeros(1),
                                         np.array([0]), noise=noise)
            left, right = left / size, right / size
            if kink[0]:
                rec = kinks_only(compare(analytic, reference, tolerance=tol,
                                         allowance=allowance, error=error, scale=scale,
                                         note=note, kink_mask=kink, kink_bounds=(left, right),
                                         **common),
                                 analytic, reference, tol, allowance, kink)
        if rec.verdict == "mismatch" and float64 is not None and float64.shape == v.shape:
            again = np.array([np.sum(np.real(float64) * v)])
            rec = _precision_only(rec, compare(again, reference, tolerance=tol,
                                               allowance=allowance, error=error, scale=scale,
                                               note=note, **common))
    return rec
