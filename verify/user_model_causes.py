"""Root causes in a model of the user's own (:mod:`verify.user_model`), each check on its own.

For each layer, its ``backward`` is fed its true input and the true upstream gradient (the
difference quotients of the loss with respect to the next layer's input) and compared with
difference quotients of the *layer's own* forward, contracted with that upstream gradient; the
loss derivative is compared with the loss's exact gradient; ``network.backward`` (when the
model has its own) is named only on evidence from the recorded walk.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np

from reference_mlp import Loss

from .compare import GradientRecord, compare, tolerance_for
from .findings import walk_evidence
from .generic import (
    FloatCopy,
    difference_quotients,
    failing_kinks,
    kinks_only,
    measured_rounding,
    refine_failing,
)
from .losses import CheckLoss
from .protocol import ModelRun, describe_layer, gradient_of, layer_kinds, parameter_name
from .rounding import unit_roundoff
from .user_model import (
    RESOLUTION_FACTOR,
    Array,
    _Evaluator,
    _network_scale,
    _refiner,
    layers_original,
)


def _layer_vjp(layer: Any, a: Array, upstream: Array, kind: str) -> tuple[Any, Array]:
    """``f(theta') = sum(upstream * layer.forward(...))`` minus its value at theta, on a float64
    copy of ``layer``: the scalar whose gradient a layer's backward computes, given upstream."""
    work = FloatCopy([layer])
    target = work.layers[0]
    name = None if kind == "inputs" else parameter_name(target, kind)
    base = float(np.real(np.sum(upstream * np.asarray(target.forward(a)))))

    def f(theta: Array) -> Any:
        if name is None:
            out = target.forward(theta)
        else:
            saved = getattr(target, name)
            setattr(target, name, theta)
            try:
                out = target.forward(a)
            finally:
                setattr(target, name, saved)
        return np.sum(upstream * np.asarray(out)) - base

    theta = a if name is None else np.asarray(getattr(target, name))
    return f, theta


def _vjp_noise(layer: Any, a: Array, upstream: Array) -> float:
    """A floor on the round-off of a value of :func:`_layer_vjp`'s ``f``: the sum of
    ``upstream * forward`` and its base value, about ``4 u sum |upstream * forward|``."""
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(FloatCopy([layer]).layers[0].forward(a))
            total = float(np.sum(np.abs(np.real(upstream)) * np.abs(np.real(out))))
    except Exception:  # noqa: BLE001 - a forward that fails here fails in the check itself
        return 0.0
    u = float(np.finfo(np.float64).eps) / 2
    return 4 * u * total if math.isfinite(total) else 0.0


def _local_grads(layer: Any, returned: Any) -> dict[str, Array | None]:
    out: dict[str, Array | None] = {k: gradient_of(layer, k) for k in ("weights", "biases")}
    out["inputs"] = None if returned is None else np.asarray(returned)
    return out


def _local_run(layer: Any, a: Array, upstream: Array, mdt: np.dtype) -> Any:
    """``recompute`` for :func:`verify.generic.measured_rounding` of one layer alone."""

    def recompute(rng: np.random.Generator, rel: float) -> dict[str, Array | None]:
        moved = copy.deepcopy(layer)
        for kind in ("weights", "biases"):
            name = parameter_name(moved, kind)
            if name is not None:
                p = getattr(moved, name)
                setattr(moved, name, (p * (1 + rel * rng.uniform(-1, 1, p.shape))).astype(p.dtype))
        am = (a * (1 + rel * rng.uniform(-1, 1, a.shape))).astype(mdt)
        um = (upstream * (1 + rel * rng.uniform(-1, 1, upstream.shape))).astype(mdt)
        moved.forward(am)
        return _local_grads(moved, moved.backward(um))

    return recompute


def _root_causes(run: ModelRun, ev: _Evaluator, model: Any, loss: Loss, y: Array,
                 closs: CheckLoss, t: Array, mdt: np.dtype, rows: list[GradientRecord], *,
                 complex_ok: bool) -> list[GradientRecord]:
    """The loss derivative, each layer alone (true input, true upstream gradient) and the
    recorded walk: what fails of these (see the module docstring)."""
    tol = tolerance_for(mdt, "central").with_reference_name("reference")
    causes: list[GradientRecord] = []
    u = unit_roundoff(mdt)
    true_dy = closs.gradient(np.real(run.prediction).astype(np.float64), t)
    d_loss = np.asarray(loss.derivative(y, run.prediction))
    rec = compare(d_loss, true_dy, path="loss", layer=-1, activation="", parameter="predictions",
                  method="reference", tolerance=tol, dtype=mdt.name,
                  allowance=16 * u * np.abs(true_dy),
                  note=f"derivative of loss {loss.name!r} w.r.t. the predictions")
    if not rec.passed:
        causes.append(rec)
    originals = layers_original(model)
    n = len(originals)
    upstream = ev.loss.gradient(ev.y, t)
    for i in reversed(range(n)):
        layer = originals[i]
        a = ev.inputs[i]
        own = copy.deepcopy(layer)
        next_upstream = None
        if i > 0:  # the true gradient w.r.t. this layer's input, for the layer before
            f_in = ev.change(i, "inputs")
            next_upstream = difference_quotients(f_in, a, "central")
        try:
            own.forward(a.astype(mdt))
            returned = own.backward(upstream.astype(mdt))
            grads = _local_grads(own, returned)
            local = measured_rounding(_local_run(layer, a, upstream, mdt), grads, mdt)
            floor = RESOLUTION_FACTOR * u * _network_scale(
                {(i, k): g for k, g in grads.items()}, closs, ev.y, t)
            local = {k: v + floor for k, v in local.items()}
        except Exception as exc:  # noqa: BLE001 - a broken backward is itself the finding
            rec = compare(np.full((1,), np.nan), np.zeros(1), path=f"layers[{i}].backward",
                          layer=i, activation=describe_layer(layer), parameter="inputs",
                          method="reference", tolerance=tol, dtype=mdt.name)
            causes.append(dataclasses.replace(rec, note=f"backward raised "
                                                        f"{type(exc).__name__}: {exc}"))
            if next_upstream is not None:
                upstream = next_upstream
            continue
        for kind in layer_kinds(layer):
            f, theta = _layer_vjp(layer, a, upstream, kind)
            ref = difference_quotients(f, theta, "central")
            got = returned if kind == "inputs" else gradient_of(own, kind)
            path = f"layers[{i}].{kind}"
            note = "layer-local: own backward fed the true upstream gradient"
            if got is None:
                note = ("layer-local: backward returned None" if kind == "inputs" else
                        "layer-local: backward did not set this gradient")
                rec = compare(np.full(ref.shape, np.nan), ref, path=path, layer=i,
                              activation=describe_layer(layer), parameter=kind,
                              method="reference", tolerance=tol, dtype=mdt.name, note=note)
                causes.append(dataclasses.replace(rec, status="missing"))
                continue
            got = np.asarray(got)
            error = None
            kink_mask, bounds = None, None
            if got.shape == ref.shape:
                ref, error, _ = refine_failing(got, ref, tol, local.get(kind),
                                               _refiner(f, theta, complex_ok=complex_ok))
                # A layer fed exactly its kink (a relu's 0, from a saturated unit before it):
                # the reference's convention there is no more right than the layer's own.
                kink_mask, bounds = failing_kinks(f, theta, got, ref, tol, local.get(kind),
                                                  noise=_vjp_noise(layer, a, upstream))
            rec = compare(got, ref, path=path, layer=i, activation=describe_layer(layer),
                          parameter=kind, method="reference", tolerance=tol, dtype=mdt.name,
                          allowance=local.get(kind), error=error, note=note,
                          kink_mask=kink_mask, kink_bounds=bounds)
            rec = kinks_only(rec, got, ref, tol, local.get(kind), kink_mask)
            if rec.verdict == "mismatch":
                causes.append(rec)
        if next_upstream is not None:
            upstream = next_upstream
    causes.sort(key=lambda r: r.layer)
    failing = [row for row in rows if not row.passed]
    evidence = walk_evidence(run)
    if evidence and failing:
        causes.append(dataclasses.replace(failing[0], path="network.backward",
                                          status="mismatch", note="; ".join(evidence)))
    return causes
