"""The losses: mean squared error in two documented conventions, and softmax + cross-entropy.

``mse(y_true, y_pred)`` is the mean of ``(y_pred - y_true)**2`` over *all* elements (what the
lesson's ``math.mean`` computes). Its exact gradient is ``2 * (y_pred - y_true) / y.size``.

The lesson's ``mseDerivative`` divides by the batch size only (``yTrue.size()[0]``):
``2 * (y_pred - y_true) / batch``. With one output that is the same thing; with ``k`` outputs it
is ``k`` times the exact gradient of ``mse``; it is the exact gradient of the *lesson loss*
``sum((y_pred - y_true)**2) / batch`` (summed over outputs, averaged over the batch).

Three self-consistent pairs live in the :data:`LOSSES` registry:

* ``"exact"``: :func:`mse` with ``2 * (y_pred - y_true) / y.size`` (the default everywhere);
* ``"lesson"``: :func:`mse_lesson` with ``2 * (y_pred - y_true) / batch`` (the course's
  derivative, kept so that a grader can accept students who follow the course);
* ``"cross_entropy"``: :func:`cross_entropy` of the softmax of the network's output (the
  logits) with :func:`cross_entropy_derivative`, ``(softmax(z) - t) / batch`` for one-hot
  targets (Bishop, *Pattern Recognition and Machine Learning*, 2006, eq. 4.109). Targets are
  one-hot rows (or any rows of class probabilities) ``(batch, n_classes)``, or integer class
  labels ``(batch,)`` / ``(batch, 1)`` (:func:`one_hot`). Evaluated stably: ``log sum exp``
  shifted by the row's largest logit, so logits of 1e4 neither overflow nor lose the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .validation import as_matrix, check_finite

__all__ = [
    "LOSSES",
    "Loss",
    "cross_entropy",
    "cross_entropy_derivative",
    "get_loss",
    "log_softmax",
    "mse",
    "mse_derivative",
    "mse_lesson",
    "mseDerivative",
    "one_hot",
    "softmax",
]

Array = NDArray[Any]


def _pair(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    """Validate ``(batch, n_outputs)`` arrays of the same shape; never broadcast."""
    yp = as_matrix(y_pred, "y_pred")
    yt = as_matrix(y_true, "y_true")
    if yt.shape != yp.shape:
        raise ValueError(
            f"y_true has shape {yt.shape} but y_pred has shape {yp.shape}: expected equal shapes "
            f"(batch, n_outputs); reshape y_true, e.g. y.reshape(-1, 1), rather than rely on "
            f"broadcasting"
        )
    # The prediction's dtype decides (float32 stays float32); complex targets still promote.
    dtype = yp.dtype if np.issubdtype(yp.dtype, np.inexact) else np.dtype(np.float64)
    if np.iscomplexobj(yt):
        dtype = np.result_type(dtype, yt.dtype)
    return yt.astype(dtype, copy=False), yp.astype(dtype, copy=False)


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean over all elements of ``(y_pred - y_true)**2``. y_true, y_pred: (batch, n_outputs)."""
    yt, yp = _pair(y_true, y_pred)
    diff = yp - yt
    return (diff * diff).mean()


def mse_lesson(y_true: Any, y_pred: Any) -> float:
    """``sum((y_pred - y_true)**2) / batch``: the loss whose exact gradient is the lesson's."""
    yt, yp = _pair(y_true, y_pred)
    diff = yp - yt
    return (diff * diff).sum() / yt.shape[0]


def _exact_derivative(y_true: Any, y_pred: Any) -> Array:
    yt, yp = _pair(y_true, y_pred)
    return (yp - yt) * (2.0 / yt.size)


def _lesson_derivative(y_true: Any, y_pred: Any) -> Array:
    yt, yp = _pair(y_true, y_pred)
    return (yp - yt) * (2.0 / yt.shape[0])


def one_hot(y_true: Any, n_classes: int) -> Array:
    """Class targets as rows of probabilities: (batch, n_classes), float64.

    ``y_true``: one-hot rows (or rows of class probabilities) of shape ``(batch, n_classes)``,
    returned as they are (as floats), or integer class labels of shape ``(batch,)`` or
    ``(batch, 1)`` (integers, or floats with integral values) in ``0 .. n_classes - 1``.
    Raises ``ValueError`` for another shape, a label out of range or not integral, or a
    non-finite or negative target.
    """
    arr = np.asarray(y_true)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"y_true must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == n_classes:
        check_finite(arr, "y_true")
        if np.iscomplexobj(arr):
            raise ValueError("y_true must be real (class probabilities or labels)")
        if np.any(arr < 0):
            raise ValueError("y_true holds negative entries; expected one-hot rows or class "
                             "probabilities")
        return arr.astype(np.float64)
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
        labels = arr.reshape(-1)
        check_finite(labels, "y_true")
        if labels.size == 0:
            raise ValueError("y_true must hold at least one label")
        if np.iscomplexobj(labels) or np.any(labels != np.round(np.real(labels))):
            raise ValueError("integer class labels expected in y_true, got non-integral values")
        ints = np.real(labels).astype(np.int64)
        bad = (ints < 0) | (ints >= n_classes)
        if bad.any():
            raise ValueError(
                f"y_true holds class label {int(ints[bad][0])}, outside 0 .. {n_classes - 1} "
                f"(the network has {n_classes} outputs)"
            )
        out = np.zeros((ints.size, n_classes))
        out[np.arange(ints.size), ints] = 1.0
        return out
    raise ValueError(
        f"y_true has shape {arr.shape}: expected one-hot rows (batch, {n_classes}) or integer "
        f"labels (batch,) or (batch, 1)"
    )


def log_softmax(z: Any) -> Array:
    """``z - log sum_k exp(z_k)`` per row, shifted by the row's largest (real part of the)
    logit so that nothing overflows. z: (batch, n_classes), real or complex -> same shape."""
    z = np.asarray(z)
    z = z if np.issubdtype(z.dtype, np.inexact) else z.astype(np.float64)
    shift = np.max(np.real(z), axis=-1, keepdims=True)
    e = np.exp(z - shift)
    return z - (shift + np.log(e.sum(axis=-1, keepdims=True)))


def softmax(z: Any) -> Array:
    """Row-wise softmax ``exp(z_k) / sum_j exp(z_j)``, stable for any logits: (batch, k)."""
    z = np.asarray(z)
    z = z if np.issubdtype(z.dtype, np.inexact) else z.astype(np.float64)
    e = np.exp(z - np.max(np.real(z), axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _logits_and_targets(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    z = as_matrix(y_pred, "y_pred")
    t = one_hot(y_true, z.shape[1])
    if t.shape[0] != z.shape[0]:
        raise ValueError(
            f"y_true has {t.shape[0]} rows but y_pred has {z.shape[0]}: expected one target "
            f"per example"
        )
    dtype = z.dtype if np.issubdtype(z.dtype, np.inexact) else np.dtype(np.float64)
    return z.astype(dtype, copy=False), t.astype(np.real(np.zeros((), dtype)).dtype)


def cross_entropy(y_true: Any, y_pred: Any) -> float:
    """Softmax cross-entropy, mean over the batch: ``mean_b (log sum_k exp z_bk - t_b . z_b)``.

    y_pred: the logits z, (batch, n_classes); y_true: one-hot rows, class probabilities or
    integer labels (:func:`one_hot`). With one-hot rows this is ``-mean_b log softmax(z_b)[c_b]``.
    """
    z, t = _logits_and_targets(y_true, y_pred)
    return -(t * log_softmax(z)).sum() / z.shape[0]


def cross_entropy_derivative(y_true: Any, y_pred: Any) -> Array:
    """d :func:`cross_entropy` / d logits: ``(softmax(z) * sum_k t_k - t) / batch``, i.e.
    ``(softmax(z) - t) / batch`` for one-hot rows. Same shape and dtype as ``y_pred``."""
    z, t = _logits_and_targets(y_true, y_pred)
    return (softmax(z) * t.sum(axis=1, keepdims=True) - t) / z.shape[0]


@dataclass(frozen=True)
class Loss:
    """A loss with its exact derivative with respect to ``y_pred``."""

    name: str
    value: Callable[[Any, Any], Any]
    derivative: Callable[[Any, Any], Array]
    description: str


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "exact",
            mse,
            _exact_derivative,
            "mean over all elements; derivative 2*(y_pred - y_true)/y.size",
        ),
        Loss(
            "lesson",
            mse_lesson,
            _lesson_derivative,
            "the lesson's derivative 2*(y_pred - y_true)/batch, exact for sum over outputs / batch",
        ),
        Loss(
            "cross_entropy",
            cross_entropy,
            cross_entropy_derivative,
            "softmax + cross-entropy of the logits, mean over the batch; derivative "
            "(softmax(z) - t)/batch",
        ),
    )
}
"""Losses by name: each pair is exactly self-consistent."""


def get_loss(convention: str | Loss) -> Loss:
    """Look a loss up by name (``"exact"``, ``"lesson"`` or ``"cross_entropy"``)."""
    if isinstance(convention, Loss):
        return convention
    try:
        return LOSSES[convention]
    except (KeyError, TypeError):
        valid = ", ".join(repr(name) for name in LOSSES)
        raise ValueError(
            f"unknown loss convention {convention!r}; expected one of {valid}"
        ) from None


def mse_derivative(y_true: Any, y_pred: Any, *, convention: str = "exact") -> Array:
    """Gradient of the loss with respect to ``y_pred``: (batch, n_outputs).

    ``convention="exact"`` (default) is the exact gradient of :func:`mse` for any output width;
    ``convention="lesson"`` is the course's formula, dividing by the batch size only.
    """
    return get_loss(convention).derivative(y_true, y_pred)


mseDerivative = mse_derivative  # noqa: N816 - the lesson's spelling
