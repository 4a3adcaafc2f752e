"""The model protocol: what ``verify.check_gradients`` needs from anyone's NumPy model.

A model is a sequence of layers, either a list (or tuple) of layers or an object with a
``layers`` attribute holding one. Each layer has

* ``forward(x) -> output``: ``x`` of shape (batch, n_in), any output array;
* ``backward(d_out) -> d_in``: fed the gradient of the loss with respect to the layer's output
  (the shape of that output), it returns the gradient with respect to its input ``x`` and
  stores the gradients of its parameters;
* optionally parameters, found by the names the lesson and common code use
  (:data:`PARAMETER_NAMES`): weights as ``weights`` or ``W``, biases as ``biases`` or ``b``, each a
  NumPy array; their gradients, after ``backward``, as ``d_weights``/``dWeights``/``dW`` and
  ``d_biases``/``dBiases``/``db`` (:data:`GRADIENT_NAMES`). A layer without parameters (an
  activation of any kind) or without a bias is fine.

The model's output is the last layer's output. If the model has a ``forward(x)`` of its own it
must give that same output; if it has a ``backward(d_loss)`` of its own, the check runs it (its
walk through the layers is part of what is checked); otherwise the check walks the layers in
reverse, passing each layer's returned gradient to the layer before.

:func:`run_model` runs a model's forward and backward on a deep copy, recording what each
layer's ``forward`` received and what each ``backward`` received and *returned* (copies taken at
the moment), whether it changed its argument in place, the order of the calls, and what it
raised: a :class:`Trace`. The gradient checked for ``layers[i].inputs`` is the value
``layers[i].backward`` returned, the one a network passes on, not a stored attribute.

:class:`reference_mlp.MLP` models whose every layer is a :class:`reference_mlp.DenseLayer`
with the reference's own ``forward`` follow the protocol and are checked against the float64
reference network (:func:`uses_reference`); every other model against finite differences of its
own forward (:mod:`verify.generic`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP, DenseLayer

__all__ = [
    "GRADIENT_NAMES",
    "PARAMETER_NAMES",
    "STORED_INPUT_GRADIENT_NAMES",
    "BackwardCall",
    "Layer",
    "ModelRun",
    "Trace",
    "describe_layer",
    "gradient_of",
    "layer_kinds",
    "layers_of",
    "parameter_name",
    "run_model",
    "stored_input_gradient",
    "uses_reference",
]

Array = NDArray[Any]

PARAMETER_NAMES: dict[str, tuple[str, ...]] = {
    "weights": ("weights", "W"),
    "biases": ("biases", "b"),
}
"""Where a layer's parameters are looked for, in order: the first attribute that is an array."""

GRADIENT_NAMES: dict[str, tuple[str, ...]] = {
    "weights": ("d_weights", "dWeights", "dW"),
    "biases": ("d_biases", "dBiases", "db"),
}
"""Where a parameter's gradient is looked for after ``backward``, in order."""

STORED_INPUT_GRADIENT_NAMES = ("d_inputs", "dInputs")
"""Attributes where a layer may also store its input gradient (compared with what it returns)."""


@runtime_checkable
class Layer(Protocol):
    """One layer of a model: ``forward(x) -> output`` and ``backward(d_out) -> d_in``."""

    def forward(self, x: Any) -> Any: ...

    def backward(self, d_out: Any) -> Any: ...


def layers_of(model: Any) -> list[Any]:
    """The model's layers, in order: ``model.layers``, or the model itself when it is a list or
    tuple. Raises ``TypeError`` naming what is missing when it is not a sequence of layers
    with ``forward`` and ``backward``, ``ValueError`` when it has none."""
    if isinstance(model, (list, tuple)):
        layers = list(model)
    else:
        found = getattr(model, "layers", None)
        if found is None or isinstance(found, (str, bytes)) or not isinstance(found, Sequence):
            raise TypeError(
                f"model must be a sequence of layers (a list of layers, or an object with a "
                f"'layers' list), each with forward(x) and backward(d_out); got "
                f"{type(model).__name__}"
                + ("" if found is None else f" whose 'layers' is a {type(found).__name__}")
            )
        layers = list(found)
    if not layers:
        raise ValueError("model has no layers: add at least one layer")
    for i, layer in enumerate(layers):
        missing = [name for name in ("forward", "backward")
                   if not callable(getattr(layer, name, None))]
        if missing:
            raise TypeError(
                f"layers[{i}] ({type(layer).__name__}) has no {' or '.join(missing)} method: "
                f"every layer needs forward(x) and backward(d_out) -> d_in"
            )
    return layers


def parameter_name(layer: Any, kind: str) -> str | None:
    """The attribute holding ``kind`` (``"weights"`` or ``"biases"``) of ``layer``, or None."""
    for name in PARAMETER_NAMES[kind]:
        if isinstance(getattr(layer, name, None), np.ndarray):
            return name
    return None


def gradient_of(layer: Any, kind: str) -> Array | None:
    """``layer``'s stored gradient of ``kind`` after ``backward`` (None when not set)."""
    for name in GRADIENT_NAMES[kind]:
        value = getattr(layer, name, None)
        if value is not None and not callable(value):
            return np.asarray(value)
    return None


def layer_kinds(layer: Any) -> tuple[str, ...]:
    """What ``layer`` has rows for: its parameters (weights, biases) that exist, then inputs."""
    return tuple(k for k in ("weights", "biases") if parameter_name(layer, k)) + ("inputs",)


def describe_layer(layer: Any) -> str:
    """A short name for a layer: its activation's name for reference layers, else its class."""
    act = getattr(layer, "activation", None)
    name = getattr(act, "name", None)
    if isinstance(layer, DenseLayer) and isinstance(name, str):
        return name
    return type(layer).__name__


def uses_reference(model: Any) -> bool:
    """Whether the float64 reference network is ``model``'s oracle: a :class:`reference_mlp.MLP`
    whose ``forward`` is the reference's, every layer a :class:`reference_mlp.DenseLayer` whose
    ``forward`` is the reference's (its ``backward``, and the network's, may be anyone's)."""
    return (
        isinstance(model, MLP)
        and type(model).forward is MLP.forward
        and bool(model.layers)
        and all(isinstance(layer, DenseLayer) and type(layer).forward is DenseLayer.forward
                for layer in model.layers)
    )


def _snapshot(value: Any) -> Array | None:
    """A copy of ``value`` as an array, or None when it is None (or not array-like)."""
    if value is None:
        return None
    try:
        return np.array(value, copy=True)
    except Exception:  # noqa: BLE001 - not array-like: recorded as missing
        return None


@dataclass
class BackwardCall:
    """One call of a layer's ``backward``: ``received`` (a copy of the argument when called),
    ``returned`` (a copy of the result when it returned; None when it returned None),
    ``returned_none``, ``changed``: how far the argument moved during the call (max abs
    change; ``inf`` when its shape changed; 0 when untouched or not an array), ``position``:
    its place in the call order."""

    received: Array | None
    returned: Array | None
    returned_none: bool
    changed: float
    position: int


@dataclass
class Trace:
    """What a model's backward did: per layer, its first :class:`BackwardCall`; ``order``: the
    layer indices in call order; ``seed``: the loss derivative handed to the backward walk;
    ``error``: what the walk raised (``error_layer``: in which layer's backward, None when in
    the network's own code); ``walk``: ``"model"`` (the model's own backward) or
    ``"protocol"`` (the checker walked the layers)."""

    calls: dict[int, BackwardCall] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    seed: Array | None = None
    error: BaseException | None = None
    error_layer: int | None = None
    walk: str = "protocol"


@dataclass
class ModelRun:
    """A model's own forward and backward on a copy: ``model`` (the copy, after backward),
    ``layers`` (its layers), ``inputs`` (a copy of what each layer's forward received),
    ``prediction``, ``trace`` (:class:`Trace`), and ``analytic``: per ``(layer, kind)`` the
    gradient checked (weights/biases: stored; inputs: what backward returned), None where
    there is none."""

    model: Any
    layers: list[Any]
    inputs: list[Array | None]
    prediction: Array
    trace: Trace
    analytic: dict[tuple[int, str], Array | None]


def _wrap_forward(layer: Any, index: int, inputs: list[Array | None]) -> None:
    original = layer.forward

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        if inputs[index] is None:
            inputs[index] = _snapshot(x)
        return original(x, *args, **kwargs)

    layer.forward = forward


def _wrap_backward(layer: Any, index: int, trace: Trace) -> None:
    original = layer.backward

    def backward(d_out: Any, *args: Any, **kwargs: Any) -> Any:
        before = _snapshot(d_out)
        position = len(trace.order)
        trace.order.append(index)
        try:
            result = original(d_out, *args, **kwargs)
        except BaseException:
            if trace.error_layer is None:
                trace.error_layer = index
            raise
        changed = 0.0
        if isinstance(d_out, np.ndarray) and before is not None:
            if d_out.shape != before.shape:
                changed = float("inf")
            elif d_out.size:
                with np.errstate(invalid="ignore", over="ignore"):
                    diff = np.abs(np.asarray(d_out) - before)
                changed = float(np.nanmax(diff)) if np.isfinite(diff).any() else (
                    0.0 if np.array_equal(d_out, before, equal_nan=True) else float("inf"))
        if index not in trace.calls:
            trace.calls[index] = BackwardCall(before, _snapshot(result), result is None,
                                              changed, position)
        return result

    layer.backward = backward


def run_model(model: Any, x: Array, derivative: Callable[[Array], Any]) -> ModelRun:
    """Run ``model``'s forward on ``x`` and its backward from ``derivative(prediction)`` (the
    loss derivative), on a deep copy, recording every layer's calls (:class:`Trace`).

    An exception in the backward walk is recorded, not raised (the check reports it); one in
    the forward pass, or a model that cannot be copied, is raised.
    """
    try:
        work = copy.deepcopy(model)
    except Exception as exc:
        raise TypeError(f"the model could not be copied (copy.deepcopy): {exc}") from exc
    layers = layers_of(work)
    inputs: list[Array | None] = [None] * len(layers)
    trace = Trace()
    for layer in layers:  # gradients left from an earlier backward must not be read as new
        state = getattr(layer, "__dict__", {})
        for name in (*GRADIENT_NAMES["weights"], *GRADIENT_NAMES["biases"],
                     *STORED_INPUT_GRADIENT_NAMES):
            if name in state:
                state[name] = None
    for i, layer in enumerate(layers):
        try:
            _wrap_forward(layer, i, inputs)
            _wrap_backward(layer, i, trace)
        except (AttributeError, TypeError) as exc:
            raise TypeError(
                f"layers[{i}] ({type(layer).__name__}) does not allow the checker to record its "
                f"calls (setting instance attributes failed: {exc})"
            ) from exc
    own_forward = callable(getattr(work, "forward", None)) and not isinstance(work, (list, tuple))
    # Overflow is reported by the check (verify.findings.overflow), not as NumPy warnings.
    quiet = np.errstate(over="ignore", invalid="ignore")
    with quiet:
        if own_forward:
            pred = work.forward(x)
        else:
            pred = x
            for layer in layers:
                pred = layer.forward(pred)
        pred = np.asarray(pred)
        seed = np.asarray(derivative(pred))
    trace.seed = seed.copy()
    own_backward = callable(getattr(work, "backward", None)) and not isinstance(work, (list,
                                                                                      tuple))
    trace.walk = "model" if own_backward else "protocol"
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            if own_backward:
                work.backward(seed.copy())
            else:
                grad: Any = seed.copy()
                for layer in reversed(layers):
                    grad = layer.backward(grad)
    except Exception as exc:  # noqa: BLE001 - recorded: the check says what happened
        trace.error = exc
    analytic: dict[tuple[int, str], Array | None] = {}
    for i, layer in enumerate(layers):
        for kind in layer_kinds(layer)[:-1]:
            analytic[(i, kind)] = gradient_of(layer, kind)
        call = trace.calls.get(i)
        analytic[(i, "inputs")] = None if call is None else call.returned
    return ModelRun(work, layers, inputs, pred, trace, analytic)


def stored_input_gradient(layer: Any) -> Array | None:
    """What ``layer`` stored as its input gradient (``d_inputs``/``dInputs``), or None."""
    for name in STORED_INPUT_GRADIENT_NAMES:
        value = getattr(layer, name, None)
        if value is not None and not callable(value):
            return np.asarray(value)
    return None
