"""Mean squared error and its derivative, in two documented conventions.

``mse(y_true, y_pred)`` is the mean of ``(y_pred - y_true)**2`` over *all* elements (what the
lesson's ``math.mean`` computes). Its exact gradient is ``2 * (y_pred - y_true) / y.size``.

The lesson's ``mseDerivative`` divides by the batch size only (``yTrue.size()[0]``):
``2 * (y_pred - y_true) / batch``. With one output that is the same thing; with ``k`` outputs it
is ``k`` times the exact gradient of ``mse``; it is the exact gradient of the *lesson loss*
``sum((y_pred - y_true)**2) / batch`` (summed over outputs, averaged over the batch).

Two self-consistent pairs live in the :data:`LOSSES` registry:

* ``"exact"``: :func:`mse` with ``2 * (y_pred - y_true) / y.size`` (the default everywhere);
* ``"lesson"``: :func:`mse_lesson` with ``2 * (y_pred - y_true) / batch`` (the course's
  derivative, kept so that a grader can accept students who follow the course).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .validation import as_matrix

__all__ = [
    "LOSSES",
    "Loss",
    "get_loss",
    "mse",
    "mse_derivative",
    "mse_lesson",
    "mseDerivative",
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
    )
}
"""Loss conventions by name: each pair is exactly self-consistent."""


def get_loss(convention: str | Loss) -> Loss:
    """Look a loss convention up by name (``"exact"`` or ``"lesson"``)."""
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
