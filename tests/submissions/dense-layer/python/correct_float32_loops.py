"""Correct: snake_case, float32 arithmetic, the bias gradient as a 1-D array, explicit loops."""
import math

import numpy as np


def _f(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return max(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z))
    return math.tanh(z)


def _df(name, z):
    if name == "linear":
        return 1.0
    if name == "relu":
        return 1.0 if z > 0 else 0.0
    if name == "sigmoid":
        s = 1.0 / (1.0 + math.exp(-z))
        return s * (1 - s)
    return 1 - math.tanh(z) ** 2


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.n_inputs, self.n_neurons, self.activation = n_inputs, n_neurons, activation
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.inputs = np.asarray(inputs, dtype=np.float32)
        self.z = self.inputs @ self.weights.astype(np.float32) + self.biases.astype(np.float32)
        return np.vectorize(lambda v: _f(self.activation, v))(self.z.astype(np.float64))

    def backward(self, d_outputs):
        batch = d_outputs.shape[0]
        dz = np.zeros((batch, self.n_neurons), dtype=np.float32)
        for b in range(batch):
            for j in range(self.n_neurons):
                dz[b, j] = d_outputs[b, j] * _df(self.activation, float(self.z[b, j]))
        self.d_weights = self.inputs.T @ dz
        self.d_biases = dz.sum(axis=0)
        return dz @ self.weights.T.astype(np.float32)
