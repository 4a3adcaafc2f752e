"""Stochastic gradient descent and the course's training loop (lesson 5)."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .losses import get_loss
from .network import MLP
from .validation import as_matrix, positive_int

__all__ = ["SGD", "train"]


@dataclass
class SGD:
    """Plain SGD: ``p -= learning_rate * grad`` for every parameter, in place."""

    learning_rate: float = 0.01

    def __post_init__(self) -> None:
        lr = self.learning_rate
        if (isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr)
                or lr <= 0):
            raise ValueError(f"learning_rate must be a positive finite number, got {lr!r}")

    def step(self, model: MLP) -> None:
        """Update every parameter of ``model`` from the gradients of its last ``backward``."""
        for _, param, grad in model.parameters_and_gradients():
            param -= param.dtype.type(self.learning_rate) * grad


def train(
    model: MLP,
    x: Any,
    y: Any,
    *,
    epochs: int = 100,
    batch_size: int = 32,
    learning_rate: float = 0.01,
    optimizer: SGD | None = None,
    loss: str = "exact",
    seed: int | None = None,
    shuffle: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` on ``x: (n, n_in)``, ``y: (n, n_out)`` with mini-batch SGD.

    Each epoch shuffles the rows (seeded by ``seed``), walks mini-batches of ``batch_size``
    (the last one may be smaller), and does forward, loss, backward and an SGD step per batch.
    Returns the loss history, one float per epoch: the mean of that epoch's batch losses,
    each weighted by its number of rows (so a smaller last batch counts for less).
    ``callback(epoch, loss)`` is called after each epoch.
    """
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    if not model.layers:
        raise RuntimeError("the MLP has no layers: call add_layer() first")
    x = as_matrix(x, "x", columns=model.layers[0].n_inputs)
    y = as_matrix(y, "y", columns=model.layers[-1].n_neurons)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x has {x.shape[0]} rows but y has {y.shape[0]}: expected one target per row"
        )
    opt = optimizer if optimizer is not None else SGD(learning_rate)
    pair = get_loss(loss)
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    history: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx], y[idx]
            pred = model.forward(xb)
            total += float(pair.value(yb, pred)) * len(idx)
            count += len(idx)
            model.backward(pair.derivative(yb, pred))
            opt.step(model)
        history.append(total / count)
        if callback is not None:
            callback(epoch, history[-1])
    return history
