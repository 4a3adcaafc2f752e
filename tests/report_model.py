"""Factories for ``python -m verify report --model tests/report_model.py:FACTORY`` in tests."""

from __future__ import annotations

import numpy as np

from reference_mlp import MLP


class Dense:
    def __init__(self, n_in, n_out, rng, bias=True):
        self.W = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out))
        if bias:
            self.b = np.zeros((1, n_out))

    def forward(self, x):
        self.x = x
        return x @ self.W + (self.b if hasattr(self, "b") else 0.0)

    def backward(self, d_out):
        self.dW = self.x.T @ d_out
        if hasattr(self, "b"):
            self.db = d_out.sum(axis=0, keepdims=True)
        return d_out @ self.W.T


class Relu:
    def forward(self, z):
        self.on = z > 0
        return z * self.on  # a comparison: no complex numbers through here

    def backward(self, d_out):
        return d_out * self.on


class Net:
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.layers = [Dense(3, 5, rng), Relu(), Dense(5, 2, rng, bias=False)]


def data(seed=0):
    rng = np.random.default_rng(seed + 1)
    return rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


def make():
    return (Net(), *data())


def make_broken():
    net = Net()
    relu = net.layers[1]

    class Off(Relu):
        def backward(self, d_out):
            return 1.02 * super().backward(d_out)

    relu.__class__ = Off
    return (net, *data())


def make_reference():
    return (MLP.build([3, 4, 2], ["tanh", "linear"], seed=0), *data(), "lesson")
