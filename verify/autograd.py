"""A PyTorch twin of the reference network, with the very same weights, for an autograd check.

torch is imported lazily, inside :func:`autograd_gradients`: importing :mod:`verify` or running a
finite-difference check never pays its import time.

The twin is built from the float64 reference (:func:`verify.reference.reference_net`): the
model's weights and data rounded to the model's dtype, then converted exactly to the twin's dtype
(float64 by default), and the loss too (squared error, or softmax cross-entropy by
``torch.logsumexp``). Each activation is the torch function with the same value *and* the same
convention at a kink (``relu'(0) = 0``, ``leaky_relu'(0) = negative_slope``). ``softplus`` is
``logaddexp(z, 0)``, exact everywhere (``torch.nn.functional.softplus`` switches to the identity
above a threshold, whose derivative 1 differs from ``sigmoid(z)`` by up to 2e-9).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .reference import ReferenceNet

__all__ = ["TORCH_ACTIVATIONS", "autograd_gradients", "torch_dtype"]

Array = NDArray[Any]

TORCH_ACTIVATIONS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus")
"""Activations the twin can mirror (by name)."""


def torch_dtype(dtype: Any) -> Any:
    """``torch.float64`` / ``torch.float32`` from a torch dtype, numpy dtype or name."""
    import torch

    if dtype is None:
        return torch.float64
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    table = {"float32": torch.float32, "float64": torch.float64}
    if name not in table:
        raise ValueError(f"dtype must be float32 or float64 (torch or numpy), got {dtype!r}")
    return table[name]


def _torch_activation(act: Any, layer: int) -> Any:
    import torch
    import torch.nn.functional as F

    name = getattr(act, "name", None)
    if name == "linear":
        return lambda z: z
    if name == "relu":
        return torch.relu
    if name == "leaky_relu":
        slope = float(getattr(act, "negative_slope", 0.01))
        return lambda z: F.leaky_relu(z, negative_slope=slope)
    if name == "sigmoid":
        return torch.sigmoid
    if name == "tanh":
        return torch.tanh
    if name == "softplus":
        return lambda z: torch.logaddexp(z, torch.zeros((), dtype=z.dtype))
    raise ValueError(
        f"layers[{layer}] has activation {name!r}, which the torch twin cannot mirror; "
        f"expected one of {TORCH_ACTIVATIONS}"
    )


def autograd_gradients(net: ReferenceNet, *, dtype: Any = None) -> dict[tuple[int, str], Array]:
    """Gradients of the twin's loss by ``backward()``: ``{(layer, kind): array}``.

    ``kind`` is ``weights``, ``biases`` or ``inputs`` (the gradient w.r.t. the layer's input,
    kept with ``retain_grad``). Arrays are float64 numpy, whatever the twin's dtype.
    """
    import torch

    tdt = torch_dtype(dtype)
    fns = [_torch_activation(act, i) for i, act in enumerate(net.activations)]
    Ws = [torch.tensor(W, dtype=tdt, requires_grad=True) for W in net.weights]
    bs = [torch.tensor(b, dtype=tdt, requires_grad=True) for b in net.biases]
    a = torch.tensor(net.x, dtype=tdt, requires_grad=True)
    t = torch.tensor(np.asarray(net.t, dtype=np.float64), dtype=tdt)
    inputs = []
    for W, b, fn in zip(Ws, bs, fns, strict=True):
        if a.grad_fn is not None:
            a.retain_grad()
        inputs.append(a)
        a = fn(a @ W + b)
    loss = net.loss_function.torch_value(a, t)
    loss.backward()
    out: dict[tuple[int, str], Array] = {}
    for i, (W, b, x) in enumerate(zip(Ws, bs, inputs, strict=True)):
        for kind, tensor in (("weights", W), ("biases", b), ("inputs", x)):
            grad = tensor.grad
            out[(i, kind)] = (
                np.zeros(tuple(tensor.shape)) if grad is None
                else grad.detach().to(torch.float64).numpy().copy()
            )
    return out
