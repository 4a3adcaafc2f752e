"""Name the known bug behind a wrong number, by its numbers alone.

For each failing gradient the parent recomputes, on the very weights and inputs the student got,
what every known mutation of the reference (:mod:`verify.bugs`) would have returned, and names
those whose numbers the student's match. The student's code is never read. On top of the
catalogue, three diagnoses only the grader can make from the protocol's data:

* ``weights_changed``: the layer's ``weights``/``biases`` differ after ``backward`` from what
  was assigned (a gradient step inside ``backward``);
* ``stale_inputs``: a later round's ``d_weights`` is what the inputs of an *earlier* forward
  call would give (the layer kept its first cached inputs);
* ``transposed_d_weights`` also covers a ``d_weights`` of shape ``(n_neurons, n_inputs)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import get_activation
from reference_mlp.layers import dense_forward
from verify.bugs import BUGS, LAYER_BUGS, LOSS_BUGS, layer_backward, loss_derivative
from verify.compare import Tolerance, tolerance_for

from .cases import LayerCase, LayerSpec, NetCase, forward_layers
from .descent import GD_BUGS, TRAIN_BUGS

__all__ = [
    "DIAGNOSES",
    "GRADE_TOLERANCE",
    "RefLayerRound",
    "RefNetRound",
    "MSE_VALUE_BUGS",
    "close",
    "describe",
    "layer_diagnoses",
    "loss_diagnoses",
    "mse_value_diagnoses",
    "net_diagnoses",
    "reference_layer",
    "reference_net",
]

Array = NDArray[np.float64]

GRADE_TOLERANCE: Tolerance = (tolerance_for(np.float32, "autograd").absolute()
                               .with_reference_name("expected"))
"""Students' numbers against the reference: ``1e-5 + 1e-4 |expected|``, loose enough for a
submission that computes in float32 or sums in another order, while every catalogued bug is an
error of 1% or (far) more."""

def _diff2(y_true: Array, y_pred: Array) -> Array:
    return (np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)) ** 2


MSE_VALUE_BUGS: dict[str, tuple[str, Any]] = {
    "mse_summed": ("mse summed over every element instead of averaged: sum((y_pred - y_true)**2)",
                   lambda yt, yp: _diff2(yt, yp).sum()),
    "mse_absolute": ("mean absolute error: |y_pred - y_true| averaged instead of its square",
                     lambda yt, yp: np.abs(np.asarray(yp) - np.asarray(yt)).mean()),
    "mse_root": ("root mean squared error: the square root of the mse",
                 lambda yt, yp: np.sqrt(_diff2(yt, yp).mean())),
    "mse_halved": ("mse halved: 0.5 * mean((y_pred - y_true)**2) (the textbook convention that "
                   "cancels the derivative's factor 2; the lesson's mse has no 1/2)",
                   lambda yt, yp: 0.5 * _diff2(yt, yp).mean()),
}
"""Known wrong mse values: name -> (description, (y_true, y_pred) -> the wrong value)."""

DIAGNOSES: dict[str, str] = {
    **GD_BUGS,
    **TRAIN_BUGS,
    **{name: bug.description for name, bug in BUGS.items()},
    **{name: description for name, (description, _) in MSE_VALUE_BUGS.items()},
    "weights_changed": "weights changed during backward: backward must only compute gradients "
                       "(no gradient-descent step, no in-place update of weights or biases)",
    "stale_inputs": "stale cached inputs: backward used the inputs of an earlier forward call "
                    "(cache the inputs on every forward, not only the first)",
}
"""Every diagnosis the grader can name, in plain words for students."""


def describe(name: str) -> str:
    return DIAGNOSES.get(name, name)


def close(student: Any, expected: Any, tol: Tolerance = GRADE_TOLERANCE) -> bool:
    """Same shape and every entry within ``tol`` (NaN never matches)."""
    if student is None or expected is None:
        return False
    a, e = np.asarray(student, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(a - e) <= tol.allowed(e)))


# ------------------------------------------------------------------------------ the reference


@dataclass(frozen=True)
class RefLayerRound:
    x: Array
    z: Array
    output: Array
    d_out: Array | None
    dx: Array | None
    dW: Array | None
    db: Array | None


def _layer_round(spec: LayerSpec, x: Array, d_out: Array | None) -> RefLayerRound:
    act = get_activation(spec.activation)
    z = np.asarray(dense_forward(x, spec.weights, spec.biases), dtype=np.float64)
    out = np.asarray(act.forward(z), dtype=np.float64)
    if d_out is None:
        return RefLayerRound(x, z, out, None, None, None, None)
    dx, dW, db = layer_backward(d_out, x, z, spec.weights, act)
    return RefLayerRound(x, z, out, d_out, dx, dW, db)


def reference_layer(case: LayerCase) -> list[RefLayerRound]:
    """The reference's answer for every round of a layer case."""
    return [_layer_round(case.layer, x, d) for x, d in case.rounds]


@dataclass(frozen=True)
class RefNetRound:
    layers: tuple[RefLayerRound, ...]
    prediction: Array
    d_x: Array | None


def _net_round(layers: tuple[LayerSpec, ...], x: Array, d_loss: Array | None,
               bugs: dict[int, str] | None = None, network_bug: str | None = None) -> RefNetRound:
    """One forward/backward; ``bugs`` maps a layer index to a layer bug; ``network_bug`` walks
    the layers wrongly (as :class:`verify.bugs.BuggyMLP`)."""
    xs, zs, prediction = forward_layers(layers, x)
    if d_loss is None:
        return RefNetRound(tuple(RefLayerRound(xi, zi, None, None, None, None, None)  # type: ignore[arg-type]
                                 for xi, zi in zip(xs, zs, strict=True)), prediction, None)
    bugs = bugs or {}
    grads: dict[int, tuple[Array, Array, Array, Array]] = {}
    order = list(range(len(layers)))
    order = order if network_bug == "reversed_order" else order[::-1]
    grad = d_loss
    for j in order:
        upstream = d_loss if network_bug == "not_chained" else grad
        spec = layers[j]
        dx, dW, db = layer_backward(upstream, xs[j], zs[j], spec.weights,
                                    get_activation(spec.activation), bug=bugs.get(j))
        grads[j] = (upstream, dx, dW, db)
        grad = dx
    rounds = tuple(RefLayerRound(xs[j], zs[j], None, grads[j][0], grads[j][1], grads[j][2],  # type: ignore[arg-type]
                                 grads[j][3]) for j in range(len(layers)))
    return RefNetRound(rounds, prediction, grad)


def reference_net(case: NetCase) -> list[RefNetRound]:
    """The reference's answer for every round of a network case."""
    return [_net_round(case.layers, x, d) for x, d in case.rounds]


# ------------------------------------------------------------------------------ diagnoses


def layer_diagnoses(spec: LayerSpec, rounds: list[RefLayerRound], k: int,
                    student: dict[str, Any]) -> dict[str, list[str]]:
    """For round ``k`` of a single layer: parameter (``weights``/``biases``/``inputs``) ->
    names of the known bugs whose numbers the student's match (only where they differ from
    the correct ones)."""
    ref = rounds[k]
    act = get_activation(spec.activation)
    assert ref.d_out is not None, "diagnoses are for rounds with a backward pass"
    correct = {"inputs": ref.dx, "weights": ref.dW, "biases": ref.db}
    out: dict[str, list[str]] = {}
    for name in LAYER_BUGS:
        dx, dW, db = layer_backward(ref.d_out, ref.x, ref.z, spec.weights, act, bug=name)
        for param, value in (("inputs", dx), ("weights", dW), ("biases", db)):
            if close(student.get(param), value) and not close(value, correct[param]):
                out.setdefault(param, []).append(name)
    # Stale caches: an earlier forward call's inputs (and pre-activations) used now.
    if k > 0 and not close(student.get("weights"), ref.dW):
        for old in {0, k - 1}:
            prev = rounds[old]
            if prev.x.shape != ref.x.shape:
                continue
            for z in (ref.z, prev.z):
                _, dW, _ = layer_backward(ref.d_out, prev.x, z, spec.weights, act)
                if close(student.get("weights"), dW) and not close(dW, ref.dW):
                    names = out.setdefault("weights", [])
                    if "stale_inputs" not in names:
                        names.append("stale_inputs")
    return out


def net_diagnoses(case: NetCase, rounds: list[RefNetRound], k: int,
                  student: dict[str, Any]) -> dict[str, list[str]]:
    """For round ``k`` of a network: path (``layers[1].weights``, ``d_x``) -> matching bugs.

    Layer bugs are tried in each layer (``name (layers[j])``), network bugs where the widths
    allow them to run (square networks)."""
    x, d_loss = case.rounds[k]
    ref = rounds[k]
    variants: list[tuple[str, RefNetRound]] = []
    for j in range(len(case.layers)):
        for name in LAYER_BUGS:
            variants.append((f"{name}@{j}", _net_round(case.layers, x, d_loss, bugs={j: name})))
    for name in ("not_chained", "reversed_order"):
        try:
            with np.errstate(all="ignore"):
                variants.append((name, _net_round(case.layers, x, d_loss, network_bug=name)))
        except ValueError:
            continue  # the widths do not chain: the bug would crash, not give numbers
    out: dict[str, list[str]] = {}

    def paths(r: RefNetRound) -> dict[str, Any]:
        d: dict[str, Any] = {"d_x": r.d_x}
        for j, lr in enumerate(r.layers):
            d[f"layers[{j}].weights"] = lr.dW
            d[f"layers[{j}].biases"] = lr.db
        return d

    correct = paths(ref)
    for name, variant in variants:
        for path, value in paths(variant).items():
            if close(student.get(path), value) and not close(value, correct[path]):
                names = out.setdefault(path, [])
                if name not in names:
                    names.append(name)
    if k > 0:  # stale cached inputs, layer by layer
        for j, spec in enumerate(case.layers):
            path = f"layers[{j}].weights"
            lr = ref.layers[j]
            if lr.d_out is None or close(student.get(path), lr.dW):
                continue
            act = get_activation(spec.activation)
            for old in {0, k - 1}:
                prev = rounds[old].layers[j]
                if prev.x.shape != lr.x.shape:
                    continue
                for z in (lr.z, prev.z):
                    _, dW, _ = layer_backward(lr.d_out, prev.x, z, spec.weights, act)
                    if close(student.get(path), dW):
                        names = out.setdefault(path, [])
                        if f"stale_inputs@{j}" not in names:
                            names.append(f"stale_inputs@{j}")
    return out


def loss_diagnoses(y_true: Array, y_pred: Array, student: Any) -> list[str]:
    """Known loss-derivative bugs (in either convention) whose numbers the student's match."""
    names = []
    for name in LOSS_BUGS:
        for convention in ("exact", "lesson"):
            if close(student, loss_derivative(y_true, y_pred, bug=name, convention=convention)):
                if name not in names:
                    names.append(name)
    return names


def mse_value_diagnoses(y_true: Array, y_pred: Array, student: Any,
                        accepted: list[Any]) -> list[str]:
    """Known wrong mse values the student's matches (and no ``accepted`` value does)."""
    got = np.asarray(student, dtype=np.float64).reshape(-1) if student is not None else None
    if got is None or got.size != 1:
        return []
    names = []
    for name, (_, wrong) in MSE_VALUE_BUGS.items():
        value = np.asarray(wrong(y_true, y_pred), dtype=np.float64).reshape(1, 1)
        if close(got.reshape(1, 1), value) and not any(close(value, a) for a in accepted):
            names.append(name)
    return names


def explain(names: list[str]) -> list[str]:
    """Plain-words lines for diagnosis names (``name@j`` = in ``layers[j]``), one per bug."""
    where: dict[str, list[str]] = {}
    for name in names:
        base, _, j = name.partition("@")
        where.setdefault(base, [])
        if j and f"layers[{j}]" not in where[base]:
            where[base].append(f"layers[{j}]")
    lines = []
    for base, layers in where.items():
        place = f" (in {', '.join(sorted(layers))})" if layers else ""
        lines.append(f"likely cause{place}: {describe(base)}")
    return lines
