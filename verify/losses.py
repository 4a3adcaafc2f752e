"""The losses a check evaluates in float64: squared error, softmax cross-entropy, or any value.

A check never takes its reference values from the loss derivative it is given: that derivative
is one of the things it checks (``verify.bugs.buggy_loss``). It evaluates the loss *value*
instead, as one of these objects (:func:`check_loss` finds which):

* :class:`SquaredError` ``c * sum((y - t)**2)``: both conventions of
  :data:`reference_mlp.LOSSES` (``"exact"``, ``"lesson"``) and any loss whose value is a scaled
  sum of squares. The structured fast path (:mod:`verify.structured`,
  :mod:`verify.column_blocks`) is written for this loss alone;
* :class:`SoftmaxCrossEntropy` ``c * sum_b (sum_k t_bk * lse(y_b) - t_b . y_b)`` with
  ``lse(y) = log sum_k exp(y_k)``: ``"cross_entropy"`` (``c = 1 / batch``) and any loss whose
  value is a positive multiple of it; ``y`` are the logits, ``t`` one-hot rows or class
  probabilities;
* :class:`ValueLoss`: any other value ``f(y_true, y_pred)`` (the :class:`reference_mlp.Loss`
  convention), evaluated as given.

Each gives ``value``; ``gradient`` (the exact ``dL/dy``; for a :class:`ValueLoss`, central
differences of its value); ``batch_change`` and ``row_change``, the change ``L(y') - L(y)`` when
the whole prediction, or one example's row, moves, computed without cancelling the common part
of ``L(y')`` and ``L(y)`` where a formula allows (squared error, cross-entropy: see each class);
``complex_ok`` (whether the complex step may go through it); and ``torch_value`` for the
autograd twin. Losses other than squared error are checked through the generic perturbed forward
pass (:mod:`verify.perturbed`), not the structured one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import LOSSES, Loss, get_loss
from reference_mlp.losses import one_hot
from reference_mlp.validation import as_matrix, check_finite

__all__ = [
    "CheckLoss",
    "SoftmaxCrossEntropy",
    "SquaredError",
    "ValueLoss",
    "check_loss",
    "cross_entropy_scale",
    "loss_scale",
    "prepare_targets",
    "resolve_loss",
]

Array = NDArray[Any]

LossSpec = Any  # str | reference_mlp.Loss | (value, derivative)


@dataclass(frozen=True)
class SquaredError:
    """The loss of every mean-squared-error reference: ``L(y) = c * sum((y - t)**2)``, ``c > 0``.

    y (the prediction), t (the targets): (batch, n_out). Both conventions of
    :data:`reference_mlp.LOSSES` are of this form: ``"exact"`` (the mean over all elements)
    has ``c = 1 / (batch * n_out)``, ``"lesson"`` ``c = 1 / batch``. Its gradient is
    ``dL/dy = 2c (y - t)``; the change of the loss when y moves by ``dy`` is
    ``c * sum(dy * (dy + 2 (y - t)))``, which needs no cancellation of the large common part
    of ``L(y + dy)`` and ``L(y)``.
    """

    scale: float
    name: str = "squared_error"
    complex_ok: bool = True
    separable: bool = True

    def value(self, y: Any, t: Any) -> Any:
        """``c * sum((y - t)**2)``: a scalar (NumPy arrays, or torch tensors for the twin)."""
        return self.scale * ((y - t) ** 2).sum()

    def torch_value(self, y: Any, t: Any) -> Any:
        return self.value(y, t)

    def gradient(self, y: Array, t: Array) -> Array:
        """``dL/dy = 2c (y - t)``: (batch, n_out)."""
        return 2.0 * self.scale * (y - t)

    @staticmethod
    def residual2(y: Array, t: Array) -> Array:
        """Twice the residual, ``2 (y - t)``: the loss change's cross term is ``dy`` times it."""
        return 2.0 * (y - t)

    def change(self, dy: Array, residual2: Array) -> Array:
        """``L(y + dy) - L(y)`` summed over the last axis: ``c * (dy . dy + dy . 2 (y - t))``.

        dy: (..., n), residual2: (..., n) broadcasting against it (see :meth:`residual2`).
        """
        return self.scale * (np.einsum("...n,...n->...", dy, dy)
                             + np.einsum("...n,...n->...", dy, residual2))

    def batch_change(self, y: Array, yp: Array, t: Array) -> Array:
        """``L(y') - L(y)`` for stacked predictions ``yp`` (..., batch, n_out) -> (...)."""
        dy = yp - y
        return self.change(dy, self.residual2(y, t)).sum(axis=-1)

    def row_change(self, y: Array, yp: Array, t: Array, rows: Array) -> Array:
        """``L(y') - L(y)`` when only example ``rows[p]`` moves, to ``yp[..., p, :]``:
        yp (..., P, n_out), rows (P,) -> (..., P)."""
        return self.change(yp - y[rows], self.residual2(y[rows], t[rows]))


def _lse(y: Array) -> Array:
    """``log sum_k exp(y_k)`` over the last axis, shifted by the largest real part."""
    m = np.max(np.real(y), axis=-1, keepdims=True)
    return (m + np.log(np.exp(y - m).sum(axis=-1, keepdims=True)))[..., 0]


def _softmax(y: Array) -> Array:
    e = np.exp(y - np.max(np.real(y), axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class SoftmaxCrossEntropy:
    """``L(y) = c * sum_b (s_b * lse(y_b) - t_b . y_b)``, ``s_b = sum_k t_bk``, ``c > 0``.

    y: the logits, t: one-hot rows (or class probabilities), both (batch, n_classes);
    ``"cross_entropy"`` has ``c = 1 / batch``. Its gradient is ``c (s_b softmax(y_b) - t_b)``
    (Bishop, *Pattern Recognition and Machine Learning*, 2006, eq. 4.109). When y moves by
    ``dy`` the change of row b is ``c (s_b log1p(sum_k p_bk expm1(dy_bk)) - t_b . dy_b)`` with
    ``p = softmax(y)``: ``lse(y + dy) - lse(y) = log sum_k p_k exp(dy_k)``, evaluated without
    subtracting two large log-sum-exps. Complex-analytic, so the complex step goes through it.
    """

    scale: float
    name: str = "cross_entropy"
    complex_ok: bool = True
    separable: bool = True

    def value(self, y: Any, t: Any) -> Any:
        s = np.asarray(t).sum(axis=-1)
        return self.scale * float(np.real(np.sum(s * _lse(y) - (t * y).sum(axis=-1))))

    def torch_value(self, y: Any, t: Any) -> Any:
        import torch

        return self.scale * (t.sum(dim=1) * torch.logsumexp(y, dim=1) - (t * y).sum(dim=1)).sum()

    def gradient(self, y: Array, t: Array) -> Array:
        return self.scale * (_softmax(y) * t.sum(axis=-1, keepdims=True) - t)

    def _rows(self, p: Array, t: Array, dy: Array) -> Array:
        s = t.sum(axis=-1)
        return s * np.log1p((p * np.expm1(dy)).sum(axis=-1)) - (t * dy).sum(axis=-1)

    def batch_change(self, y: Array, yp: Array, t: Array) -> Array:
        return self.scale * self._rows(_softmax(y), t, yp - y).sum(axis=-1)

    def row_change(self, y: Array, yp: Array, t: Array, rows: Array) -> Array:
        return self.scale * self._rows(_softmax(y[rows]), t[rows], yp - y[rows])


@dataclass(frozen=True)
class ValueLoss:
    """Any loss value ``fn(y_true, y_pred) -> scalar``, evaluated as given.

    Its change is ``fn(t, y') - fn(t, y)`` (with the round-off of that subtraction, which the
    checks' error estimates see); its gradient, used only to diagnose (the layer-local check),
    is a central difference of ``fn`` per entry of ``y`` with a step of ``eps**(1/3)`` relative.
    Not complex-analytic as far as the checker can know: no complex step.
    """

    fn: Callable[[Any, Any], Any]
    name: str = "value"
    complex_ok: bool = False
    separable: bool = False

    def value(self, y: Any, t: Any) -> float:
        return float(np.real(self.fn(t, y)))

    def torch_value(self, y: Any, t: Any) -> Any:
        raise ValueError(
            f"loss {self.name!r} is a NumPy function: the torch twin cannot differentiate it "
            f"(autograd needs 'exact', 'lesson' or 'cross_entropy'); use central, forward or "
            f"directional"
        )

    def gradient(self, y: Array, t: Array) -> Array:
        out = np.zeros(y.shape)
        flat = out.reshape(-1)
        r = float(np.finfo(np.float64).eps) ** (1 / 3)
        for k in range(y.size):
            h = r * max(1.0, abs(float(y.reshape(-1)[k])))
            up, down = y.copy(), y.copy()
            up.reshape(-1)[k] += h
            down.reshape(-1)[k] -= h
            flat[k] = (self.value(up, t) - self.value(down, t)) / (2 * h)
        return out

    def batch_change(self, y: Array, yp: Array, t: Array) -> Array:
        base = self.value(y, t)
        lead = yp.shape[:-2]
        flat = yp.reshape((-1,) + yp.shape[-2:])
        return np.array([self.value(v, t) - base for v in flat]).reshape(lead)

    def row_change(self, y: Array, yp: Array, t: Array, rows: Array) -> Array:
        base = self.value(y, t)
        flat = yp.reshape((-1,) + yp.shape[-2:])
        out = np.empty(flat.shape[:2])
        for q in range(flat.shape[0]):
            for p, row in enumerate(rows):
                full = y.astype(flat.dtype, copy=True)
                full[row] = flat[q, p]
                out[q, p] = self.value(full, t) - base
        return out.reshape(yp.shape[:-1])


CheckLoss = SquaredError | SoftmaxCrossEntropy | ValueLoss
"""What the checks evaluate: one of the three classes above."""


def resolve_loss(loss: LossSpec) -> Loss:
    """A :class:`reference_mlp.Loss` from a name (``"exact"``, ``"lesson"``,
    ``"cross_entropy"``), a ``Loss``, or a pair of callables ``(value, derivative)``, each
    called as ``f(y_true, y_pred)``. Raises ``ValueError`` for an unknown name and
    ``TypeError`` for anything else."""
    if isinstance(loss, tuple):
        if len(loss) == 2 and all(callable(f) for f in loss):
            value, derivative = loss
            name = getattr(value, "__name__", "custom")
            return Loss(name=name if name != "<lambda>" else "custom", value=value,
                        derivative=derivative, description="a (value, derivative) pair")
        raise TypeError(
            f"loss must be a name, a reference_mlp.Loss or a pair of callables (value, "
            f"derivative), got a tuple of {len(loss)}: {loss!r}"
        )
    if isinstance(loss, str) or isinstance(loss, Loss):
        return get_loss(loss)
    raise TypeError(
        f"loss must be a name ({', '.join(map(repr, LOSSES))}), a reference_mlp.Loss or a "
        f"pair of callables (value, derivative), got {type(loss).__name__}"
    )


def _snap(c: float, candidates: tuple[float, ...]) -> float:
    for cand in candidates:  # the exact constant (probing rounds)
        if abs(c - cand) <= 1e-12 * cand:
            return cand
    return c


def _ratio(loss: Loss, reference: Callable[[Array, Array], float], draws: list[tuple[Array, Array]]
           ) -> float | None:
    """The constant ``c`` with ``loss.value(t, y) == c * reference(y, t)`` on every draw, if
    there is one (``None`` when the value is not such a multiple, or raises)."""
    ratios = []
    for t, y in draws:
        try:
            got = float(np.real(loss.value(t, y)))
        except Exception:  # noqa: BLE001 - a value that cannot take these arrays is another loss
            return None
        ref = reference(y, t)
        if not (math.isfinite(got) and ref > 0):
            return None
        ratios.append(got / ref)
    c = ratios[0]
    if not (c > 0 and all(abs(r - c) <= 1e-12 * abs(c) for r in ratios)):
        return None
    return c


def loss_scale(loss: LossSpec, shape: tuple[int, int]) -> float:
    """The constant ``c`` with ``loss.value(t, y) == c * sum((y - t)**2)`` for arrays of ``shape``.

    Found by probing ``loss.value`` (so buggy-derivative variants of a convention work too);
    raises ``ValueError`` when the loss is not a scaled sum of squares.
    """
    loss = resolve_loss(loss)
    batch, width = shape
    rng = np.random.default_rng(20240607)
    draws = [(rng.standard_normal(shape), rng.standard_normal(shape)) for _ in range(2)]
    c = _ratio(loss, lambda y, t: float(SquaredError(1.0).value(y, t)), draws)
    if c is None:
        raise ValueError(
            f"loss {loss.name!r} is not a scaled sum of squares c * sum((y_pred - y_true)**2)"
        )
    return _snap(c, (1.0 / (batch * width), 1.0 / batch, 1.0))


def cross_entropy_scale(loss: LossSpec, shape: tuple[int, int]) -> float:
    """The constant ``c`` with ``loss.value(t, y) == c * sum_b (lse(y_b) - t_b . y_b)`` for
    one-hot ``t`` and logits ``y`` of ``shape``; raises ``ValueError`` when there is none."""
    loss = resolve_loss(loss)
    batch, width = shape
    rng = np.random.default_rng(20240608)
    draws = [(np.eye(width)[rng.integers(0, width, batch)], 3 * rng.standard_normal(shape))
             for _ in range(2)]
    c = _ratio(loss, lambda y, t: SoftmaxCrossEntropy(1.0).value(y, t), draws) \
        if width > 1 else None
    if c is None:
        raise ValueError(f"loss {loss.name!r} is not a multiple of softmax cross-entropy")
    return _snap(c, (1.0 / batch, 1.0))


def check_loss(loss: LossSpec, batch: int, n_out: int) -> CheckLoss:
    """What a check evaluates for ``loss`` on a prediction of shape ``(batch, n_out)``.

    By name for the registry's losses; otherwise by probing the value (a scaled sum of
    squares, then a multiple of softmax cross-entropy), and else the value as given.
    """
    loss = resolve_loss(loss)
    known = LOSSES.get(loss.name)
    if known is not None and known.value is loss.value:
        if loss.name == "cross_entropy":
            return SoftmaxCrossEntropy(1.0 / batch)
        return SquaredError(loss_scale(loss, (batch, n_out)))
    for probe, cls in ((loss_scale, SquaredError), (cross_entropy_scale, SoftmaxCrossEntropy)):
        try:
            return cls(probe(loss, (batch, n_out)))  # type: ignore[operator]
        except ValueError:
            continue
    return ValueLoss(loss.value, name=loss.name)


def prepare_targets(closs: CheckLoss, y: Any, batch: int, n_out: int) -> Array:
    """The targets as ``closs`` reads them: (batch, n_out) floats for squared error (validated,
    never broadcast), one-hot rows for cross-entropy (integer labels are converted), and the
    array as given (with ``batch`` rows, finite) for a :class:`ValueLoss`."""
    if isinstance(closs, SquaredError):
        ys = as_matrix(y, "y", columns=n_out)
    elif isinstance(closs, SoftmaxCrossEntropy):
        ys = one_hot(y, n_out)
    else:
        ys = np.asarray(y)
        if ys.dtype == object or not np.issubdtype(ys.dtype, np.number):
            raise TypeError(f"y must be a numeric array, got dtype {ys.dtype}")
        if ys.ndim == 0:
            raise ValueError("y must have one row (or entry) per example, got a scalar")
        check_finite(ys, "y")
    if ys.shape[0] != batch:
        raise ValueError(
            f"x has {batch} rows but y has {ys.shape[0]}: expected one target row per "
            f"example, y of shape ({batch}, {n_out})"
        )
    return ys
