"""A catalogue of known backprop bugs, as mutations of the reference.

Two users: the trust tests seed each bug into a copy of the reference and demand that every
checking method flags it in the right row; the grader computes what each mutation of the
reference gives on a student's weights and inputs, and names the bug whose numbers the student's
match ("transposed weight gradient", ...), without ever reading the student's code.

A layer bug is a variant of the layer's backward math ``(d_out, x, z, W, activation) ->
(dx, dW, db)``; a loss bug a variant of the loss derivative; a network bug a variant of how
``MLP.backward`` walks the layers. Bugs are invisible where the mutated math happens to agree
with the right one: activation bugs on a ``linear`` layer, batch bugs on a batch of one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP, DenseLayer, Loss, get_loss
from reference_mlp import layers as reference_layers
from reference_mlp.activations import Activation
from reference_mlp.layers import dense_backward

__all__ = [
    "BUGS",
    "LAYER_BUGS",
    "LOSS_BUGS",
    "LOSS_BUG_FORMULAS",
    "NETWORK_BUGS",
    "Bug",
    "BuggyDenseLayer",
    "BuggyMLP",
    "buggy_loss",
    "inject",
    "layer_backward",
    "loss_derivative",
]

Array = NDArray[Any]
Grads = tuple[Array, Array, Array]  # (dx, dW, db)
LayerBackward = Callable[[Array, Array, Array, Array, Activation], Grads]


@dataclass(frozen=True)
class Bug:
    """A known bug: its name, what it is in plain words, and where it lives.

    ``wrong`` lists which of the buggy layer's own gradients it corrupts (``weights``,
    ``biases``, ``inputs``); for loss and network bugs it is every one.
    """

    name: str
    description: str
    scope: Literal["layer", "loss", "network"]
    wrong: tuple[str, ...] = ("weights", "biases", "inputs")


# Each mutation is the correct layer backward (reference_mlp.layers.layer_backward) with one
# step changed: the wrong step is spelled out, the rest is the reference's dense_backward.


def _transposed_d_weights(d_out: Array, x: Array, z: Array, W: Array, act: Activation) -> Grads:
    dx, dW, db = reference_layers.layer_backward(d_out, x, z, W, act)
    return dx, dW.T.copy(), db  # the student wrote dz.T @ x: shape (n_neurons, n_inputs)


def _missing_activation_derivative(
    d_out: Array, x: Array, z: Array, W: Array, act: Activation
) -> Grads:
    return dense_backward(d_out, x, W)


def _activation_derivative_of_output(
    d_out: Array, x: Array, z: Array, W: Array, act: Activation
) -> Grads:
    return dense_backward(d_out * act.derivative(act.forward(z)), x, W)


def _bias_not_summed(d_out: Array, x: Array, z: Array, W: Array, act: Activation) -> Grads:
    dz = d_out * act.derivative(z)
    dx, dW, _ = dense_backward(dz, x, W)
    return dx, dW, dz.copy()  # shape (batch, n_neurons)


def _bias_averaged(d_out: Array, x: Array, z: Array, W: Array, act: Activation) -> Grads:
    dz = d_out * act.derivative(z)
    dx, dW, _ = dense_backward(dz, x, W)
    return dx, dW, dz.mean(axis=0, keepdims=True)


def _input_gradient_scaled(d_out: Array, x: Array, z: Array, W: Array, act: Activation) -> Grads:
    dx, dW, db = reference_layers.layer_backward(d_out, x, z, W, act)
    return dx * 1.01, dW, db


_LAYER_BACKWARDS: dict[str, LayerBackward] = {
    "transposed_d_weights": _transposed_d_weights,
    "missing_activation_derivative": _missing_activation_derivative,
    "activation_derivative_of_output": _activation_derivative_of_output,
    "bias_not_summed": _bias_not_summed,
    "bias_averaged": _bias_averaged,
    "input_gradient_scaled": _input_gradient_scaled,
}

_LOSS_SCALES: dict[str, Callable[[float], float]] = {
    # factor applied to (y_pred - y_true), given the correct divisor n
    "missing_batch_division": lambda n: 2.0,
    "missing_factor_2": lambda n: 1.0 / n,
    "wrong_sign": lambda n: -2.0 / n,
}

LOSS_BUG_FORMULAS: dict[str, str] = {
    # what each loss bug computes; {n}: the correct divisor, written by the caller ("batch" for
    # the lesson's loss, "(batch * n_outputs)" for the mean over all elements)
    "missing_batch_division": "2 * (y_pred - y_true)",
    "missing_factor_2": "(y_pred - y_true) / {n}",
    "wrong_sign": "2 * (y_true - y_pred) / {n}",
}

LAYER_BUGS: dict[str, Bug] = {
    bug.name: bug
    for bug in (
        Bug("transposed_d_weights",
            "transposed weight gradient: d_weights = d_z.T @ inputs instead of inputs.T @ d_z",
            "layer", ("weights",)),
        Bug("missing_activation_derivative",
            "missing activation derivative: the upstream gradient is not multiplied by the "
            "activation's derivative at the pre-activation", "layer"),
        Bug("activation_derivative_of_output",
            "wrong activation derivative: evaluated at the layer's output a = f(z) instead of "
            "at its pre-activation z", "layer"),
        Bug("bias_not_summed",
            "bias gradient not summed over the batch: d_biases = d_z (one row per example)",
            "layer", ("biases",)),
        Bug("bias_averaged",
            "bias gradient averaged over the batch instead of summed", "layer", ("biases",)),
        Bug("input_gradient_scaled",
            "input gradient off by 1%: d_inputs = 1.01 * d_z @ weights.T", "layer", ("inputs",)),
    )
}

LOSS_BUGS: dict[str, Bug] = {
    bug.name: bug
    for bug in (
        Bug("missing_batch_division",
            "loss derivative not divided by the batch size (2 * (y_pred - y_true))", "loss"),
        Bug("missing_factor_2",
            "loss derivative missing the factor 2 (half the correct derivative)", "loss"),
        Bug("wrong_sign",
            "loss derivative with the wrong sign (the correct derivative negated)", "loss"),
    )
}

NETWORK_BUGS: dict[str, Bug] = {
    bug.name: bug
    for bug in (
        Bug("not_chained",
            "gradients not chained: every layer's backward is given the loss gradient instead of "
            "the gradient returned by the layer after it", "network"),
        Bug("reversed_order",
            "layers walked in the wrong order: backward goes from the first layer to the last",
            "network"),
    )
}

BUGS: dict[str, Bug] = {**LAYER_BUGS, **LOSS_BUGS, **NETWORK_BUGS}
"""Every known bug by name."""


def _lookup(bug: str, table: dict[str, Bug], kind: str) -> Bug:
    if bug not in table:
        raise ValueError(f"unknown {kind} bug {bug!r}; expected one of {', '.join(table)}")
    return table[bug]


def layer_backward(
    d_out: Array, x: Array, z: Array, W: Array, activation: Activation, *, bug: str | None = None
) -> tuple[Array, Array, Array]:
    """A layer's backward, correct or with a layer ``bug``.

    d_out, z: (batch, n_out); x: (batch, n_in); W: (n_in, n_out) -> (dx, dW, db)
    """
    if bug is None:
        return reference_layers.layer_backward(d_out, x, z, W, activation)
    _lookup(bug, LAYER_BUGS, "layer")
    return _LAYER_BACKWARDS[bug](d_out, x, z, W, activation)


def loss_derivative(
    y_true: Array, y_pred: Array, *, bug: str | None = None, convention: str = "exact"
) -> Array:
    """The loss derivative of ``convention``, correct or with a loss ``bug``."""
    loss = get_loss(convention)
    if bug is None:
        return loss.derivative(y_true, y_pred)
    _lookup(bug, LOSS_BUGS, "loss")
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    n = yt.size if loss.name == "exact" else yt.shape[0]
    return (yp - yt) * _LOSS_SCALES[bug](n)


def buggy_loss(bug: str, convention: str = "exact") -> Loss:
    """The loss of ``convention`` with its exact value but the derivative of ``bug``."""
    _lookup(bug, LOSS_BUGS, "loss")
    base = get_loss(convention)
    return Loss(
        name=f"{base.name}+{bug}",
        value=base.value,
        derivative=lambda y_true, y_pred: loss_derivative(
            y_true, y_pred, bug=bug, convention=convention
        ),
        description=f"{base.description}, with bug: {BUGS[bug].description}",
    )


class BuggyDenseLayer(DenseLayer):
    """A :class:`DenseLayer` whose backward has a layer bug (forward is the reference's)."""

    bug: str

    @classmethod
    def from_layer(cls, layer: DenseLayer, bug: str) -> BuggyDenseLayer:
        _lookup(bug, LAYER_BUGS, "layer")
        new = cls.__new__(cls)
        new.__dict__.update({k: v.copy() if isinstance(v, np.ndarray) else v
                             for k, v in layer.__dict__.items()})
        new.bug = bug
        return new

    def __repr__(self) -> str:
        return f"{super().__repr__()}[bug={self.bug}]"

    def backward(self, d_outputs: Any) -> Array:
        if self.inputs is None or self.pre_activation is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        d_out = np.asarray(d_outputs)
        self.d_inputs, self.d_weights, self.d_biases = layer_backward(
            d_out, self.inputs, self.pre_activation, self.weights, self.activation, bug=self.bug
        )
        return self.d_inputs


class BuggyMLP(MLP):
    """An :class:`MLP` whose backward walks the layers wrongly (a network bug).

    Both network bugs only run when every layer maps a width to the same width (else the
    shapes do not chain), so they need square networks.
    """

    bug: str = "not_chained"

    def backward(self, d_loss_wrt_prediction: Any) -> Array:
        self._require_layers()
        if self.bug == "not_chained":
            grad = d_loss_wrt_prediction
            for layer in reversed(self.layers):
                grad = layer.backward(d_loss_wrt_prediction)
            return grad
        grad = d_loss_wrt_prediction
        for layer in self.layers:  # reversed_order: first to last
            grad = layer.backward(grad)
        return grad


def inject(model: MLP, bug: str, *, layer: int | None = None) -> MLP:
    """A deep copy of ``model`` with ``bug`` seeded in.

    Layer bugs go into ``layers[layer]`` (default: the last layer). Network bugs need every
    layer square (``n_inputs == n_neurons``). Loss bugs live in the loss: use :func:`buggy_loss`.
    """
    if bug in LOSS_BUGS:
        raise ValueError(f"{bug!r} is a loss bug: pass loss=buggy_loss({bug!r}) instead")
    if bug in NETWORK_BUGS:
        widths = {w for l_ in model.layers for w in (l_.n_inputs, l_.n_neurons)}
        if len(widths) > 1:
            raise ValueError(
                f"network bug {bug!r} needs every layer square (one width throughout), "
                f"got sizes {model.sizes}"
            )
        walker = BuggyMLP()
        walker.bug = bug
        for l_ in model.copy().layers:
            walker.add_layer(l_)
        return walker
    _lookup(bug, LAYER_BUGS, "layer")
    out = model.copy()
    index = len(out.layers) - 1 if layer is None else layer
    if not 0 <= index < len(out.layers):
        raise ValueError(f"layer must be in 0..{len(out.layers) - 1}, got {layer}")
    out.layers[index] = BuggyDenseLayer.from_layer(out.layers[index], bug)
    return out
