"""The plain one-parameter-at-a-time loop: the yardstick for tests and the benchmark.

:func:`central_loop` perturbs one entry at a time and evaluates the whole loss by full forward
passes, as a hand-written checker does: slow, and obviously right. The tests check the
structured finite differences (:mod:`verify.structured`) against it; ``python -m verify bench``
times it as the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.layers import dense_forward

from .finite_diff import DEFAULT_STEPS
from .reference import ReferenceNet

__all__ = ["central_loop"]

Array = NDArray[Any]


def central_loop(
    net: ReferenceNet,
    layer: int,
    kind: str,
    *,
    step: float | None = None,
    indices: Sequence[int] | NDArray[np.integer[Any]] | None = None,
    full_forward: bool = False,
) -> Array:
    """Central differences one entry at a time, by full forward passes (slow, obviously right).

    -> an array of the parameter's shape. Uses the same per-entry steps as
    :func:`verify.finite_diff.numerical_gradient`. ``indices`` limits the loop to some flat
    indices (others are NaN). ``full_forward`` re-runs every layer from the input, as a
    naive checker would; otherwise it starts at ``layer``.
    """
    r = DEFAULT_STEPS["central"] if step is None else float(step)
    theta = net.parameter(layer, kind)
    out = np.full(theta.size, np.nan)
    which = range(theta.size) if indices is None else indices

    for k in which:
        p = theta.copy()
        flat = p.reshape(-1)
        h = r * max(1.0, abs(float(theta.reshape(-1)[k])))
        values = []
        for sign in (1.0, -1.0):
            flat[k] = theta.reshape(-1)[k] + sign * h
            if kind == "inputs":
                y = _forward_from(net, layer, p)
            else:
                a = net.acts[layer]
                if full_forward:  # recompute the layers before, as a naive checker does
                    a = net.x
                    for m in range(layer):
                        a = net.activations[m].forward(
                            dense_forward(a, net.weights[m], net.biases[m]))
                y = _forward_from(net, layer, a, **{"W" if kind == "weights" else "b": p})
            values.append(float(np.real(net.loss_function.value(y, net.t))))
        out[k] = (values[0] - values[1]) / (2 * h)
    return out.reshape(theta.shape)


def _forward_from(net: ReferenceNet, layer: int, a: Array, W: Array | None = None,
                  b: Array | None = None) -> Array:
    """Full forward from layer ``layer`` with input ``a`` (optionally replacing its W / b)."""
    for k in range(layer, net.n_layers):
        Wk = W if (k == layer and W is not None) else net.weights[k]
        bk = b if (k == layer and b is not None) else net.biases[k]
        a = net.activations[k].forward(dense_forward(a, Wk, bk))
    return a
