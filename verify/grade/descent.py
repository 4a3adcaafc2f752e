"""Gradient descent (lesson 2) and SGD training (lesson 5) on the grader's side: the reference
and its known bugs, as mutations of the reference.

As for backprop (:mod:`verify.bugs`), a bug is named only when running its mutation on the very
numbers the student got reproduces the student's answer: :func:`gd_step` and :func:`gd_run` with
a ``bug`` for lesson 2, :func:`simulate` for lesson 5 (SGD replayed on the mini-batches the
student's own ``train`` fed to the model, which the runner records). Everything here is plain
numpy on the parent's side; the student's code never runs here.

Shapes: a point of gradient descent ``x`` is a row ``(1, n)``; the quadratic
``f(x) = 1/2 (x - c) A (x - c)^T`` has ``A: (n, n)`` symmetric positive definite, ``c: (1, n)``
its minimiser, and gradient ``(x - c) A``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import get_activation
from reference_mlp.layers import dense_forward
from reference_mlp.losses import get_loss
from verify.bugs import layer_backward

from .cases import LayerSpec

__all__ = [
    "GD_BUGS",
    "TRAIN_BUGS",
    "TrainResult",
    "gd_run",
    "gd_step",
    "mse_of",
    "quadratic_gradient",
    "sgd_update",
    "simulate",
    "targets",
]

Array = NDArray[np.float64]

GD_BUGS: dict[str, str] = {
    "gd_ascent": "the step goes up the gradient: x + learning_rate * gradient instead of "
                 "x - learning_rate * gradient",
    "gd_learning_rate_ignored": "the learning rate is not used: x - gradient",
    "gd_returns_update": "the step returns the update (learning_rate * gradient) instead of the "
                         "new point x - learning_rate * gradient",
    "gd_one_step_short": "the loop runs one step too few (n_steps - 1 updates)",
    "gd_one_step_too_many": "the loop runs one step too many (n_steps + 1 updates)",
    "gd_gradient_not_updated": "the gradient is evaluated once, at the starting point, and reused "
                               "for every step (evaluate it at the current x in every step)",
    "gd_no_update": "the loop never updates x: it returns the starting point",
}
"""Known gradient-descent bugs (lesson 2), by name."""

STEP_BUGS = ("gd_ascent", "gd_learning_rate_ignored", "gd_returns_update")
RUN_BUGS = ("gd_ascent", "gd_learning_rate_ignored", "gd_one_step_short", "gd_one_step_too_many",
            "gd_gradient_not_updated", "gd_no_update")

TRAIN_BUGS: dict[str, str] = {
    "sgd_ascent": "the update has the wrong sign: weights += learning_rate * d_weights (the loss "
                  "goes up)",
    "sgd_averaged_twice": "the gradient is averaged over the batch twice: the step is divided by "
                          "the batch size although the loss derivative already is",
    "sgd_updated_during_backward": "weights updated during backward, before every gradient was "
                                   "computed: the input gradient passed to the layer below used "
                                   "the new weights (update after MLP.backward, for every layer)",
    "sgd_targets_not_shuffled": "the inputs were shuffled but the targets were not (shuffle x "
                                "and y with the same permutation)",
    "missing_batch_division": "loss derivative not divided by the batch size "
                              "(2 * (y_pred - y_true))",
    "not_shuffled_together": "inputs and targets were not shuffled together: the rows of y no "
                             "longer belong to the rows of x (use one permutation for both)",
    "not_shuffled": "the rows are never shuffled: every epoch (or call) keeps the original order",
    "same_order_every_epoch": "every epoch visits the rows in the same order (draw a new "
                              "permutation each epoch from one generator, seeded once)",
    "seed_not_used": "two runs with the same seed gave different orders: the shuffle does not "
                     "(only) depend on the seed it is given",
    "seed_ignored": "a different seed gave the same order: the seed given does not reach the "
                    "shuffle",
    "last_batch_dropped": "the last, smaller mini-batch is dropped: rows that do not fill a "
                          "whole batch are never used",
    "sgd_only_last_layer": "the SGD step updates the last layer only (update every layer of "
                           "model.layers)",
    "sgd_biases_not_updated": "the SGD step does not update the biases",
}
"""Known SGD and training bugs (lesson 5), by name."""

TRAIN_HYPOTHESES = ("sgd_ascent", "sgd_averaged_twice", "sgd_updated_during_backward",
                    "sgd_targets_not_shuffled", "missing_batch_division", "sgd_only_last_layer",
                    "sgd_biases_not_updated")
"""The bugs :func:`simulate` can replay."""


# ------------------------------------------------------------------------------ lesson 2


def quadratic_gradient(A: Array, c: Array, x: Array) -> Array:
    """The gradient ``(x - c) A`` of ``f(x) = 1/2 (x - c) A (x - c)^T``. x, c: (1, n); A: (n, n)."""
    return (np.asarray(x, dtype=np.float64) - c) @ A


def gd_step(x: Array, gradient: Array, learning_rate: float, bug: str | None = None) -> Array:
    """One gradient-descent step ``x - learning_rate * gradient``, or a known bug's version."""
    if bug is None:
        return x - learning_rate * gradient
    return {"gd_ascent": lambda: x + learning_rate * gradient,
            "gd_learning_rate_ignored": lambda: x - gradient,
            "gd_returns_update": lambda: learning_rate * gradient}[bug]()


def gd_run(A: Array, c: Array, x0: Array, learning_rate: float, steps: int,
           bug: str | None = None) -> tuple[Array, int]:
    """``steps`` steps of gradient descent on the quadratic from ``x0``: (final x, number of
    gradient evaluations), or what a known bug gives."""
    n = steps + {"gd_one_step_short": -1, "gd_one_step_too_many": 1}.get(bug or "", 0)
    x = np.array(x0, dtype=np.float64)
    if bug == "gd_no_update":
        return x, steps
    g0 = quadratic_gradient(A, c, x)
    with np.errstate(all="ignore"):
        for _ in range(max(n, 0)):
            g = g0 if bug == "gd_gradient_not_updated" else quadratic_gradient(A, c, x)
            x = gd_step(x, g, learning_rate, bug if bug in STEP_BUGS else None)
    return x, 1 if bug == "gd_gradient_not_updated" else max(n, 0)


# ------------------------------------------------------------------------------ lesson 5


def _forward(layers: Sequence[tuple[Array, Array, str]], x: Array) -> tuple[list[Array],
                                                                               list[Array], Array]:
    xs, zs = [], []
    for w, b, act in layers:
        z = np.asarray(dense_forward(x, w, b), dtype=np.float64)
        xs.append(x)
        zs.append(z)
        x = np.asarray(get_activation(act).forward(z), dtype=np.float64)
    return xs, zs, x


def mse_of(layers: Sequence[LayerSpec] | Sequence[tuple[Array, Array, str]], x: Array,
           y: Array) -> float:
    """The mse (mean over every element) of the MLP ``layers`` on ``x: (n, n_in)``, ``y``."""
    triples = [(s.weights, s.biases, s.activation) if isinstance(s, LayerSpec) else s
               for s in layers]
    with np.errstate(all="ignore"):
        return float(get_loss("exact").value(y, _forward(triples, x)[2]))


@dataclass(frozen=True)
class TrainResult:
    """What SGD on given mini-batches ends with: each layer's weights and biases."""

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]


def targets(y: Array, steps: Sequence[Sequence[int]], bug: str | None = None) -> list[Array]:
    """The targets of each step: ``y[idx]``, or for ``sgd_targets_not_shuffled`` the rows of
    ``y`` in their original order (the inputs were shuffled, the targets not)."""
    out, offset, n = [], 0, y.shape[0]
    for idx in steps:
        if bug == "sgd_targets_not_shuffled":
            out.append(y[(offset + np.arange(len(idx))) % n])
            offset = (offset + len(idx)) % n
        else:
            out.append(y[np.asarray(idx, dtype=int)])
    return out


def sgd_update(weights: Sequence[Array], biases: Sequence[Array], activations: Sequence[str],
               xb: Array, yb: Array, learning_rate: float, *, convention: str = "lesson",
               bug: str | None = None) -> tuple[list[Array], list[Array]]:
    """One SGD step of an MLP on the mini-batch ``xb: (b, n_in)``, ``yb: (b, n_out)``: forward,
    the loss derivative of ``convention``, backward, ``weights -= learning_rate * d_weights``
    for every layer; or what a bug of :data:`TRAIN_HYPOTHESES` does. New (weights, biases)."""
    ws, bs = [np.array(w, dtype=np.float64) for w in weights], [np.array(b, dtype=np.float64)
                                                                  for b in biases]
    with np.errstate(all="ignore"):
        xs, zs, pred = _forward(list(zip(ws, bs, activations, strict=True)), xb)
        d = get_loss(convention).derivative(yb, pred)
        if bug == "missing_batch_division":
            d = d * len(xb)
        rate = learning_rate / len(xb) if bug == "sgd_averaged_twice" else learning_rate
        rate = -rate if bug == "sgd_ascent" else rate
        grads = []
        for j in reversed(range(len(ws))):
            act = get_activation(activations[j])
            d_in, dW, db = layer_backward(d, xs[j], zs[j], ws[j], act)
            if bug == "sgd_updated_during_backward":
                ws[j] = ws[j] - rate * dW
                bs[j] = bs[j] - rate * db
                d = (d * act.derivative(zs[j])) @ ws[j].T
            else:
                grads.append((j, dW, db))
                d = d_in
        for j, dW, db in grads:
            if bug == "sgd_only_last_layer" and j != len(ws) - 1:
                continue
            ws[j] = ws[j] - rate * dW
            if bug != "sgd_biases_not_updated":
                bs[j] = bs[j] - rate * db
    return ws, bs


def simulate(layers: Sequence[LayerSpec], x: Array, y: Array, steps: Sequence[Sequence[int]],
             learning_rate: float, *, convention: str = "lesson",
             bug: str | None = None) -> TrainResult:
    """SGD from ``layers``' weights, one :func:`sgd_update` per entry of ``steps`` (the row
    indices of that step's mini-batch, in order), correct or with a bug of
    :data:`TRAIN_HYPOTHESES`. x: (n, n_in), y: (n, n_out)."""
    ws = [np.array(s.weights, dtype=np.float64) for s in layers]
    bs = [np.array(s.biases, dtype=np.float64) for s in layers]
    acts = [s.activation for s in layers]
    for idx, yb in zip(steps, targets(y, steps, bug), strict=True):
        ws, bs = sgd_update(ws, bs, acts, x[np.asarray(idx, dtype=int)], yb, learning_rate,
                            convention=convention, bug=bug)
    return TrainResult(tuple(ws), tuple(bs))
