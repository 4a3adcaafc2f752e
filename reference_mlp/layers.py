"""Dense layers: the math as pure functions, the class only holds state.

Shapes throughout: ``x: (batch, n_in)``, ``W: (n_in, n_out)``, ``b: (1, n_out)``,
``z = x @ W + b: (batch, n_out)``, ``a = activation(z): (batch, n_out)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .activations import Activation, get_activation
from .validation import as_matrix, check_dtype, positive_int

__all__ = ["DenseLayer", "dense_backward", "dense_forward", "init_weights", "layer_backward"]

Array = NDArray[Any]

# He initialisation keeps the variance of relu-like layers; Xavier/Glorot suits the rest.
_HE_INIT = frozenset({"relu", "leaky_relu"})


def dense_forward(x: Array, W: Array, b: Array) -> Array:
    """Pre-activation ``z = x @ W + b``.

    x: (batch, n_in), W: (n_in, n_out), b: (1, n_out) -> z: (batch, n_out)
    """
    return x @ W + b


def dense_backward(dz: Array, x: Array, W: Array) -> tuple[Array, Array, Array]:
    """Gradients of a dense layer given ``dz = dL/dz``.

    dz: (batch, n_out), x: (batch, n_in), W: (n_in, n_out)
    -> dx: (batch, n_in), dW: (n_in, n_out), db: (1, n_out)
    """
    dx = dz @ W.T
    dW = x.T @ dz
    db = dz.sum(axis=0, keepdims=True)
    return dx, dW, db


def layer_backward(
    d_out: Array, x: Array, z: Array, W: Array, activation: Activation
) -> tuple[Array, Array, Array]:
    """Gradients of a dense layer with its activation, ``a = activation(x @ W + b)``, given
    ``d_out = dL/da``: the chain rule ``dz = d_out * activation'(z)``, then
    :func:`dense_backward`.

    d_out, z: (batch, n_out), x: (batch, n_in), W: (n_in, n_out)
    -> dx: (batch, n_in), dW: (n_in, n_out), db: (1, n_out)
    """
    return dense_backward(d_out * activation.derivative(z), x, W)


def init_weights(
    n_inputs: int,
    n_neurons: int,
    activation: str,
    rng: np.random.Generator,
    dtype: np.dtype,
) -> tuple[Array, Array]:
    """Seeded He (relu, leaky_relu) or Xavier (others) normal weights and zero biases.

    -> weights: (n_inputs, n_neurons), biases: (1, n_neurons)
    """
    fan = n_inputs if activation in _HE_INIT else (n_inputs + n_neurons) / 2
    std = np.sqrt(2.0 / fan) if activation in _HE_INIT else np.sqrt(1.0 / fan)
    weights = (rng.standard_normal((n_inputs, n_neurons)) * std).astype(dtype)
    biases = np.zeros((1, n_neurons), dtype=dtype)
    return weights, biases


class DenseLayer:
    """A fully connected layer ``activation(x @ weights + biases)``.

    ``weights``: (n_inputs, n_neurons); ``biases``: (1, n_neurons). After ``backward``,
    ``d_weights`` and ``d_biases`` hold the gradients (same shapes) and ``d_inputs`` the gradient
    with respect to the layer's input. The lesson's camelCase ``dWeights`` / ``dBiases`` are
    aliases.

    Real inputs are cast to the layer's dtype (a float32 layer computes in float32 even when fed
    float64 data); complex inputs or parameters promote the computation to complex, which is what
    complex-step differentiation needs.
    """

    def __init__(
        self,
        n_inputs: int,
        n_neurons: int,
        activation: str | Activation = "relu",
        *,
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        self.n_inputs = positive_int(n_inputs, "n_inputs")
        self.n_neurons = positive_int(n_neurons, "n_neurons")
        self.activation: Activation = get_activation(activation)
        self.dtype = check_dtype(dtype)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.weights, self.biases = init_weights(
            self.n_inputs, self.n_neurons, self.activation.name, rng, self.dtype
        )
        self.d_weights: Array | None = None
        self.d_biases: Array | None = None
        self.d_inputs: Array | None = None
        self.inputs: Array | None = None
        self.pre_activation: Array | None = None
        self.output: Array | None = None

    def __repr__(self) -> str:
        return (
            f"DenseLayer({self.n_inputs}, {self.n_neurons}, {self.activation.name!r}, "
            f"dtype={self.dtype})"
        )

    def _compute_dtype(self, x: Array) -> np.dtype:
        if np.iscomplexobj(x) or np.iscomplexobj(self.weights) or np.iscomplexobj(self.biases):
            return np.result_type(x.dtype, self.weights.dtype, self.biases.dtype)
        # Reassigned integer (or bool) parameters must not truncate the inputs to integers.
        dt = self.weights.dtype
        return dt if np.issubdtype(dt, np.inexact) else self.dtype

    def forward(self, inputs: Any) -> Array:
        """inputs: (batch, n_inputs) -> activations (batch, n_neurons); caches what backward
        needs."""
        x = as_matrix(inputs, f"{self!r}.forward inputs", columns=self.n_inputs)
        self._check_parameters()
        x = x.astype(self._compute_dtype(x), copy=False)
        z = dense_forward(x, self.weights, self.biases)
        self.inputs, self.pre_activation = x, z
        self.output = self.activation.forward(z)
        return self.output

    def backward(self, d_outputs: Any) -> Array:
        """d_outputs: (batch, n_neurons) -> d_inputs: (batch, n_inputs); sets d_weights and
        d_biases."""
        if self.inputs is None or self.pre_activation is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_parameters()
        d_out = as_matrix(d_outputs, f"{self!r}.backward d_outputs")
        if d_out.shape != self.pre_activation.shape:
            raise ValueError(
                f"{self!r}.backward: d_outputs has shape {d_out.shape}, expected "
                f"{self.pre_activation.shape} (the shape of the last forward output)"
            )
        # Like forward: a real upstream gradient takes the layer's compute dtype.
        dtype = np.result_type(d_out.dtype, self.pre_activation.dtype) if np.iscomplexobj(d_out) \
            else self.pre_activation.dtype
        d_out = d_out.astype(dtype, copy=False)
        self.d_inputs, self.d_weights, self.d_biases = layer_backward(
            d_out, self.inputs, self.pre_activation, self.weights, self.activation
        )
        return self.d_inputs

    def _check_parameters(self) -> None:
        # Parameters may be reassigned by users (and by graders): catch wrong shapes before use.
        for name, arr, shape in (
            ("weights", self.weights, (self.n_inputs, self.n_neurons)),
            ("biases", self.biases, (1, self.n_neurons)),
        ):
            if not isinstance(arr, np.ndarray) or arr.shape != shape:
                got = getattr(arr, "shape", type(arr).__name__)
                raise ValueError(f"{self!r}: {name} has shape {got}, expected {shape}")

    # The lesson's camelCase spellings.
    @property
    def dWeights(self) -> Array | None:  # noqa: N802
        return self.d_weights

    @property
    def dBiases(self) -> Array | None:  # noqa: N802
        return self.d_biases
