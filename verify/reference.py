"""The float64 reference every check evaluates: the network, its loss and its backprop.

:func:`reference_net` copies a :class:`reference_mlp.MLP` into a :class:`ReferenceNet`: the
weights and biases in float64 (complex128 models: their real parts, which must be all there
is), the data rounded to the model's dtype and then upcast exactly, the forward pass evaluated
once (``acts`` and ``zs``), and the loss the model is checked with (:mod:`verify.losses`): a
scaled sum of squares, :class:`~verify.losses.SquaredError` ``c * sum((y - t)**2)`` with ``c``
probed from the model's loss by :func:`~verify.losses.loss_scale` (the structured fast path is
written for it), softmax cross-entropy, or any loss value. The finite differences
(:mod:`verify.finite_diff`), the torch twin (:mod:`verify.autograd`), the benchmark's gradcheck
and the layer-local diagnosis (:mod:`verify.check`, :meth:`ReferenceNet.backprop`) all read it,
so they evaluate the very same function.

The checker keeps its own loss definition rather than calling the loss derivative it is
given: that derivative is one of the things it checks (``verify.bugs.buggy_loss``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP
from reference_mlp.activations import Activation, LeakyReLU, ReLU
from reference_mlp.layers import dense_forward, layer_backward

from .losses import (
    CheckLoss,
    LossSpec,
    SquaredError,
    ValueLoss,
    check_loss,
    loss_scale,
    prepare_targets,
)

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
    The loss is ``loss_fn`` (default: :class:`~verify.losses.SquaredError` ``scale * sum((y -
    t)**2)``, which is also :attr:`squared_error`, the structured path's loss, meaningful only
    when :attr:`is_squared_error`). Pass ``acts=[x]``; ``zs`` and the rest of ``acts`` are
    computed. ``cache`` holds arrays the finite-difference
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
    loss_fn: CheckLoss | None = None
    squared_error: SquaredError = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.squared_error = SquaredError(self.scale)
        if self.loss_fn is None:
            self.loss_fn = self.squared_error
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
    def loss_function(self) -> CheckLoss:
        """The loss the reference evaluates (:mod:`verify.losses`)."""
        assert self.loss_fn is not None  # set in __post_init__
        return self.loss_fn

    @property
    def is_squared_error(self) -> bool:
        """Whether the loss is a scaled sum of squares (the structured fast path's loss)."""
        return isinstance(self.loss_fn, SquaredError)

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
        """The loss at the reference point."""
        return float(np.real(self.loss_function.value(self.y, self.t)))

    def backprop(self) -> list[LayerGradients]:
        """Reference backprop in float64, one :class:`LayerGradients` per layer, in layer order.

        The loss gradient (``2c (y - t)`` for squared error) is carried from the last layer to
        the first through :func:`reference_mlp.layers.layer_backward` (the chain rule,
        Rumelhart, Hinton & Williams 1986). ``MLP.backward`` walks its layer *objects* the same
        way; this walk runs on the reference's arrays, so it never calls the (possibly wrong)
        model under check.
        """
        grads: list[LayerGradients] = []
        g = self.loss_function.gradient(self.y, self.t)
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


def reference_net(model: MLP, x: Any, y: Any, loss: LossSpec = "exact") -> ReferenceNet:
    """Float64 reference of ``model`` on ``(x, y)``; x: (batch, n_in), y: the targets.

    Data are first rounded to the model's dtype (a float32 model sees float32 data), then
    upcast exactly, so the reference evaluates the very function the model computes, in float64.
    ``loss``: a name, a :class:`reference_mlp.Loss` or a ``(value, derivative)`` pair
    (:func:`verify.losses.check_loss` decides what is evaluated; y: (batch, n_out) for squared
    error, one-hot rows or integer labels for cross-entropy, as the value takes them
    otherwise). Raises ``ValueError`` for a model without layers, and for parameters or data
    with non-zero imaginary parts.
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

    x64 = data(x, "x")
    closs = check_loss(loss, x64.shape[0], model.layers[-1].n_neurons)
    t = prepare_targets(closs, _real(y, "y", "data"), x64.shape[0], model.layers[-1].n_neurons)
    t64 = t.astype(mdt).astype(np.float64) if not isinstance(closs, ValueLoss) else t
    return ReferenceNet(
        weights=[p.astype(np.float64) for p in params[0::2]],
        biases=[p.astype(np.float64) for p in params[1::2]],
        activations=[layer.activation for layer in model.layers],
        t=t64,
        scale=closs.scale if isinstance(closs, SquaredError) else 1.0,
        acts=[x64],
        loss_fn=closs,
    )


def iter_parameters(net: ReferenceNet) -> Iterator[tuple[int, str]]:
    """``(layer, kind)`` in row order: weights, biases, inputs per layer."""
    for layer in range(net.n_layers):
        for kind in KINDS:
            yield layer, kind
