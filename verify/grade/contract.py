"""What a submission must define, per language (the README's "submission contract").

The runner child (``runners/python_runner.py``, standalone inside the sandbox) implements the
Python column of this table; this module is what the parent, the docs and the benchmark read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONTRACTS", "EXAMPLE_PYTHON", "Contract"]


@dataclass(frozen=True)
class Contract:
    language: str
    extensions: tuple[str, ...]
    names: dict[str, tuple[str, ...]]
    """Each required name -> the spellings accepted (first: the canonical one)."""
    notes: tuple[str, ...]


CONTRACTS: dict[str, Contract] = {
    "python": Contract(
        language="python",
        extensions=(".py",),
        names={
            "DenseLayer": ("DenseLayer",),
            "MLP": ("MLP",),
            "mse": ("mse",),
            "mse_derivative": ("mse_derivative", "mseDerivative"),
            "MLP.add_layer": ("add_layer", "addLayer"),
            "DenseLayer.d_weights": ("d_weights", "dWeights"),
            "DenseLayer.d_biases": ("d_biases", "dBiases"),
        },
        notes=(
            "DenseLayer(n_inputs, n_neurons, activation) with activation one of 'linear', "
            "'relu', 'sigmoid', 'tanh'",
            "weights (n_inputs, n_neurons) and biases (1, n_neurons) are assigned by the grader "
            "(numpy float64 arrays) after construction and before forward",
            "forward(inputs) returns the activations (batch, n_neurons); backward(d_outputs) sets "
            "d_weights (n_inputs, n_neurons) and d_biases ((1, n_neurons) or (n_neurons,)) and "
            "returns the gradient with respect to the inputs (batch, n_inputs)",
            "backward must not change weights or biases; the same layer is used for several "
            "forward/backward rounds",
            "mse_derivative may divide by the batch size (the lesson) or by the number of "
            "elements (exact): both are accepted",
            "only the standard library and numpy are importable; no files, no network",
        ),
    ),
}


EXAMPLE_PYTHON = '''\
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


ACTIVATIONS = {  # name -> (f, f')
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = 0.1 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
        self.f, self.df = ACTIVATIONS[activation]

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights + self.biases
        return self.f(self.z)

    def backward(self, d_outputs):
        dz = d_outputs * self.df(self.z)
        self.d_weights = self.inputs.T @ dz
        self.d_biases = dz.sum(axis=0, keepdims=True)
        return dz @ self.weights.T


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, d_loss_wrt_prediction):
        grad = d_loss_wrt_prediction
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.shape[0]
'''
"""A minimal complete submission that gets full marks (the README shows it)."""
