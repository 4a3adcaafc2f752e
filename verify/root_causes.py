"""Root causes: the loss derivative and each layer's backward checked on their own.

:func:`local_root_causes` feeds each layer the true input and upstream gradient (reference
backprop in float64) and names what fails; when nothing does, the check says whether the
model's gradients equal the reference backprop (the method or tolerance failed) or the cause
is unknown. Used by :mod:`verify.check`.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP, Loss

from .compare import GradientRecord, Tolerance, compare, exceeds, tolerance_for
from .findings import walk_evidence
from .protocol import ModelRun, gradient_of, stored_input_gradient
from .reference import KINDS, LayerGradients, ReferenceNet, model_dtype
from .rounding import local_rounding_bounds, unit_roundoff

Array = NDArray[Any]

NO_CAUSE_IN_MODEL = (
    "no root cause in the model: its gradients equal the reference backprop (float64) to within "
    "rounding; the checking method or the tolerance is what failed"
)


UNKNOWN_CAUSE = (
    "root cause unknown: the loss derivative and every layer's own backward pass their checks "
    "alone{walk}, yet the end-to-end gradients differ from the reference backprop; none of "
    "these is to blame, and the checker names no other cause"
)


def _no_cause(run: ModelRun, net: ReferenceNet, allowances: dict[tuple[int, str], Array] | None,
              mdt: np.dtype) -> str:
    tol = tolerance_for(mdt, "autograd")
    if _matches_reference_backprop(run.analytic, net.backprop(), tol, allowances):
        return NO_CAUSE_IN_MODEL
    walk = (", and the network called each layer once, last first, passing each the gradient "
            "the layer after it returned" if run.trace.walk == "model" else "")
    return UNKNOWN_CAUSE.format(walk=walk)


def local_root_causes(
    model: MLP, net: ReferenceNet, y: Array, loss: Loss, pred: Array,
    rows: list[GradientRecord] | None = None,
    analytic: dict[tuple[int, str], Array | None] | None = None,
    *,
    run: ModelRun | None = None,
    scale_aware: bool = True,
) -> list[GradientRecord]:
    """Check the loss derivative and each layer's backward on its own; return what fails.

    Each layer gets the true input and the true upstream gradient (reference backprop in
    float64), so a layer that is only wrong end to end because a later layer fed it a wrong
    gradient passes here; its ``inputs`` are what its ``backward`` returns. The tolerance is
    the autograd row with, per entry, the rounding bound of one layer in the model's dtype
    (:func:`verify.rounding.local_rounding_bounds`). ``network.backward`` is named only on
    evidence from the recorded walk (``run``; :func:`verify.findings.walk_evidence`).
    """
    mdt = model_dtype(model)
    tol = tolerance_for(mdt, "autograd").with_reference_name("reference")
    if not scale_aware:
        tol = Tolerance(tol.atol, tol.rtol, "reference")
    per = net.backprop()
    local: dict[tuple[int, str], Array] = {}
    if scale_aware:
        mine, ref = local_rounding_bounds(net, per, mdt), local_rounding_bounds(net, per,
                                                                                 np.float64)
        local = {key: mine[key] + ref[key] for key in mine}
    causes: list[GradientRecord] = []
    pred64 = np.real(pred).astype(np.float64)
    true_dy = net.loss_function.gradient(pred64, net.t)
    d_loss = np.asarray(loss.derivative(y, pred))
    u = unit_roundoff(mdt)
    rec = compare(d_loss, true_dy, path="loss", layer=-1, activation="", parameter="predictions",
                  method="reference", tolerance=tol, dtype=mdt.name,
                  allowance=16 * u * np.abs(true_dy) if scale_aware else None,
                  note=f"derivative of loss {loss.name!r} w.r.t. the predictions")
    if not rec.passed:
        causes.append(rec)
    for i, layer in enumerate(model.layers):
        own = copy.deepcopy(layer)
        try:
            own.forward(net.acts[i].astype(mdt))
            returned = own.backward(per[i].upstream.astype(mdt))
        except Exception as exc:  # noqa: BLE001 - a broken backward is itself the finding
            dW = per[i].weights
            causes.append(dataclasses.replace(
                compare(np.full(dW.shape, np.nan), dW, path=f"layers[{i}].backward", layer=i,
                        activation=layer.activation.name, parameter="weights",
                        method="reference", tolerance=tol, dtype=mdt.name),
                note=f"backward raised {type(exc).__name__}: {exc}"))
            continue
        causes += _own_backward_causes(i, layer, own, returned, per[i], tol, mdt, local)
    failing = [row for row in (rows or []) if not row.passed]
    evidence = walk_evidence(run) if run is not None else []
    if evidence and failing:
        causes.append(dataclasses.replace(
            failing[0], path="network.backward", status="mismatch",
            note="; ".join(evidence)))
    return causes


def _own_backward_causes(i: int, layer: Any, own: Any, returned: Any, true_grads: Any,
                         tol: Tolerance, mdt: np.dtype,
                         local: dict[tuple[int, str], Array]) -> list[GradientRecord]:
    """What layer ``i``'s own backward (``own``, having returned ``returned``) got wrong,
    against the reference backprop's gradients of that layer (``true_grads``)."""
    causes: list[GradientRecord] = []
    for kind in KINDS:
        true = getattr(true_grads, kind)
        note = "layer-local: own backward fed the true upstream gradient"
        got: Array | None
        if kind == "inputs":
            got = None if returned is None else np.asarray(returned)
            stored = stored_input_gradient(own)
            if got is None:
                note = ("layer-local: backward returned None; it must return the gradient "
                        "with respect to its input")
            elif stored is not None and stored.shape == true.shape and not np.array_equal(
                    stored, got):
                ok = not exceeds(stored, true, tol, allowance=local.get((i, kind))).any()
                note += ("; its stored d_inputs is right: what it returns is not" if ok
                         else "; its stored d_inputs differs from what it returns")
        else:
            got = gradient_of(own, kind)
        if got is None:
            rec = compare(np.full(true.shape, np.nan), true, path=f"layers[{i}].{kind}",
                          layer=i, activation=layer.activation.name, parameter=kind,
                          method="reference", tolerance=tol, dtype=mdt.name, note=note)
            causes.append(dataclasses.replace(rec, status="missing"))
            continue
        rec = compare(got, true, path=f"layers[{i}].{kind}", layer=i,
                      activation=layer.activation.name, parameter=kind, method="reference",
                      tolerance=tol, dtype=mdt.name, allowance=local.get((i, kind)),
                      note=note)
        if rec.verdict == "mismatch":
            causes.append(rec)
    return causes


def _matches_reference_backprop(
    analytic: dict[tuple[int, str], Array | None],
    per: list[LayerGradients],
    tol: Tolerance,
    allowances: dict[tuple[int, str], Array] | None = None,
) -> bool:
    """Whether every end-to-end analytic gradient equals the float64 reference backprop's."""
    for i, grads in enumerate(per):
        for kind in KINDS:
            true = getattr(grads, kind)
            got = analytic.get((i, kind))
            if got is None or got.shape != true.shape:
                return False
            allowance = None if allowances is None else allowances.get((i, kind))
            if exceeds(got, true, tol, allowance=allowance).any():
                return False
    return True
