"""The float64 reference every check evaluates: the network, its loss and its backprop.

:func:`reference_net` copies a :class:`reference_mlp.MLP` into a :class:`ReferenceNet`: the
weights and biases in float64 (complex128 models: their real parts, which must be all there
is), the data rounded to the model's dtype and then upcast exactly, the forward pass evaluated
once (``acts`` and ``zs``), and the loss as a scaled sum of squares, :class:`SquaredError`
``c * sum((y - t)**2)``, with ``c`` probed from the model's loss by :func:`loss_scale`. The
finite differences (:mod:`verify.finite_diff`), the torch twin (:mod:`verify.autograd`), the
benchmark's gradcheck and the layer-local diagnosis (:mod:`verify.check`,
:meth:`ReferenceNet.backprop`) all read it, so they evaluate the very same function.

The checker keeps its own loss definition rather than calling the loss derivative it is
given: that derivative is one of the things it checks (``verify.bugs.buggy_loss``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import LOSSES, MLP, Loss, get_loss
from reference_mlp.activations import Activation, LeakyReLU, ReLU
from reference_mlp.layers import dense_forward, layer_backward

__all__ = [
    "KINDS",
    "LayerGradients",
    "ReferenceNet",
    "SquaredError",
    "forward_inplace",
    "iter_parameters",
    "loss_scale",
    "model_dtype",
    "reference_net",
]

Array = NDArray[Any]

KINDS = ("weights", "biases", "inputs")
"""What each layer's gradients are taken with respect to, in row order."""


@dataclass(frozen=True)
class SquaredError:
    """The loss of every reference: ``L(y) = c * sum((y - t)**2)`` with ``c = scale > 0``.

    y (the prediction), t (the targets): (batch, n_out). Both conventions of
    :data:`reference_mlp.LOSSES` are of this form: ``"exact"`` (the mean over all elements)
    has ``c = 1 / (batch * n_out)``, ``"lesson"`` ``c = 1 / batch``. Its gradient is
    ``dL/dy = 2c (y - t)``; the change of the loss when y moves by ``dy`` is
    ``c * sum(dy * (dy + 2 (y - t)))``, which needs no cancellation of the large common part
    of ``L(y + dy)`` and ``L(y)``.
    """

    scale: float

    def value(self, y: Any, t: Any) -> Any:
        """``c * sum((y - t)**2)``: a scalar (NumPy arrays, or torch tensors for the twin)."""
        return self.scale * ((y - t) ** 2).sum()

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


@dataclass(frozen=True)
class LayerGradients:
    """One layer's reference gradients (:meth:`ReferenceNet.backprop`).

    ``upstream``: dL/da_{l+1}, the gradient the layer receives: (batch, n_out); ``weights``:
    (n_in, n_out); ``biases``: (1, n_out); ``inputs``: dL/da_l, (batch, n_in).
    """

    upstream: Array
    weights: Array
    biases: Array
    inputs: Array


@dataclass
class ReferenceNet:
    """The reference network on one batch, its forward pass evaluated once.

    ``weights[l]``: (n_l, n_{l+1}); ``biases[l]``: (1, n_{l+1}); ``acts[l]``: (batch, n_l), the
    input of layer ``l`` (``acts[0] = x``, ``acts[L] = y``, the prediction); ``zs[l]``:
    (batch, n_{l+1}), the pre-activation of layer ``l``; ``t``: (batch, n_out), the targets.
    The loss is ``scale * sum((y - t)**2)``, :attr:`squared_error`. Pass ``acts=[x]``; ``zs``
    and the rest of ``acts`` are computed. ``cache`` holds arrays the finite-difference
    machinery derives from the net once (keyed by ``(what, layer)``); it is filled before
    worker threads share the net.
    """

    weights: list[Array]
    biases: list[Array]
    activations: list[Activation]
    t: Array
    scale: float
    acts: list[Array] = field(default_factory=list)
    zs: list[Array] = field(default_factory=list)
    cache: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    squared_error: SquaredError = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.squared_error = SquaredError(self.scale)
        if not self.acts:
            raise ValueError("ReferenceNet needs the input x as acts[0]")
        self.acts = self.acts[:1]
        self.zs = []
        for W, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            z = dense_forward(self.acts[-1], W, b)
            self.zs.append(z)
            self.acts.append(act.forward(z))

    @property
    def residual2(self) -> Array:
        """``2 * (y - t)``: (batch, n_out), cached."""
        if ("residual2", 0) not in self.cache:
            self.cache[("residual2", 0)] = SquaredError.residual2(self.y, self.t)
        return self.cache[("residual2", 0)]

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    @property
    def x(self) -> Array:
        """The input: (batch, n_in)."""
        return self.acts[0]

    @property
    def y(self) -> Array:
        """The prediction: (batch, n_out)."""
        return self.acts[-1]

    def loss(self) -> float:
        """The loss at the reference point: ``scale * sum((y - t)**2)``."""
        return float(self.squared_error.value(self.y, self.t))

    def backprop(self) -> list[LayerGradients]:
        """Reference backprop in float64, one :class:`LayerGradients` per layer, in layer order.

        The loss gradient ``2c (y - t)`` is carried from the last layer to the first through
        :func:`reference_mlp.layers.layer_backward` (the chain rule, Rumelhart, Hinton &
        Williams 1986). ``MLP.backward`` walks its layer *objects* the same way; this walk runs
        on the reference's arrays, so it never calls the (possibly wrong) model under check.
        """
        grads: list[LayerGradients] = []
        g = self.squared_error.gradient(self.y, self.t)
        for layer in reversed(range(self.n_layers)):
            dx, dW, db = layer_backward(g, self.acts[layer], self.zs[layer],
                                        self.weights[layer], self.activations[layer])
            grads.append(LayerGradients(upstream=g, weights=dW, biases=db, inputs=dx))
            g = dx
        return grads[::-1]

    def parameter(self, layer: int, kind: str) -> Array:
        """The array a gradient of ``kind`` is taken with respect to; raises ``ValueError`` for
        a kind not in :data:`KINDS`."""
        if kind == "weights":
            return self.weights[layer]
        if kind == "biases":
            return self.biases[layer]
        if kind == "inputs":
            return self.acts[layer]
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def forward_inplace(act: Activation, z: Array) -> Array:
    """``act.forward(z)``, overwriting ``z`` for the piecewise-linear registry activations.

    ``max(z, 0)`` and ``max(z, slope * z)`` (0 <= slope <= 1) are the same numbers as the
    reference's ``where`` forms, in one pass instead of three.
    """
    if type(act) is ReLU and not np.iscomplexobj(z):
        return np.maximum(z, 0.0, out=z)
    if type(act) is LeakyReLU and not np.iscomplexobj(z) and 0.0 <= act.negative_slope <= 1.0:
        return np.maximum(z, z * act.negative_slope, out=z)
    return act.forward(z)


def loss_scale(loss: str | Loss, shape: tuple[int, int]) -> float:
    """The constant ``c`` with ``loss.value(t, y) == c * sum((y - t)**2)`` for arrays of ``shape``.

    Found by probing ``loss.value`` (so buggy-derivative variants of a convention work too);
    raises ``ValueError`` when the loss is not a scaled sum of squares.
    """
    loss = get_loss(loss)
    batch, width = shape
    candidates = (1.0 / (batch * width), 1.0 / batch, 1.0)
    rng = np.random.default_rng(20240607)
    scales = []
    for _ in range(2):
        t = rng.standard_normal(shape)
        y = rng.standard_normal(shape)
        ss = float(SquaredError(1.0).value(y, t))
        scales.append(float(np.real(loss.value(t, y))) / ss)
    c = scales[0]
    if not (math.isfinite(c) and abs(scales[1] - c) <= 1e-12 * abs(c) and c > 0):
        raise ValueError(
            f"loss {loss.name!r} is not a scaled sum of squares c * sum((y_pred - y_true)**2); "
            f"the gradient checker supports the conventions {tuple(LOSSES)} and "
            f"losses with their values"
        )
    for cand in candidates:  # snap to the exact constant (probing rounds)
        if abs(c - cand) <= 1e-12 * cand:
            return cand
    return c


def model_dtype(model: MLP) -> np.dtype:
    """The real dtype the model computes in: float32 or float64 (complex128 and others: float64).

    Data are rounded to it before the float64 reference evaluates them.
    """
    dt = np.asarray(model.layers[0].weights).dtype
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def _real(value: Any, name: str, what: str) -> Array:
    """``value`` as a real array; raise if it has a non-zero imaginary part (a complex128
    model is checked on real numbers: the gradient of a real loss)."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        if np.any(np.imag(arr) != 0):
            raise ValueError(
                f"{name} has non-zero imaginary parts; expected real {what} (complex128 "
                f"models are checked on real numbers: the gradient of a real loss)"
            )
        arr = np.real(arr)
    return arr


def reference_net(model: MLP, x: Any, y: Any, loss: str | Loss = "exact") -> ReferenceNet:
    """Float64 reference of ``model`` on ``(x, y)``; x: (batch, n_in), y: (batch, n_out).

    Data are first rounded to the model's dtype (a float32 model sees float32 data), then
    upcast exactly, so the reference evaluates the very function the model computes, in float64.
    ``loss``: a convention name or a :class:`reference_mlp.Loss` whose value is a scaled sum of
    squares (:func:`loss_scale`). Raises ``ValueError`` for a model without layers, parameters
    or data with non-zero imaginary parts, or a loss that is not a scaled sum of squares.
    """
    if not model.layers:
        raise ValueError("the model has no layers")
    params = [
        _real(getattr(layer, name), f"layers[{i}].{name}", "parameters")
        for i, layer in enumerate(model.layers)
        for name in ("weights", "biases")
    ]
    mdt = model_dtype(model)

    def data(v: Any, name: str) -> Array:
        return _real(v, name, "data").astype(mdt).astype(np.float64)

    x64, t64 = data(x, "x"), data(y, "y")
    return ReferenceNet(
        weights=[p.astype(np.float64) for p in params[0::2]],
        biases=[p.astype(np.float64) for p in params[1::2]],
        activations=[layer.activation for layer in model.layers],
        t=t64,
        scale=loss_scale(loss, t64.shape),
        acts=[x64],
    )


def iter_parameters(net: ReferenceNet) -> Iterator[tuple[int, str]]:
    """``(layer, kind)`` in row order: weights, biases, inputs per layer."""
    for layer in range(net.n_layers):
        for kind in KINDS:
            yield layer, kind
