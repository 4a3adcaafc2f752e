"""Buggy: the tanh forward computes tanh(2z), and backward is consistent with that forward.
The finite-difference check of the student's own forward must put the blame on the forward.

EXPECT: forward_at_fault
"""
import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.activation = activation

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights + self.biases
        if self.activation == "tanh":
            return np.tanh(2 * self.z)
        if self.activation == "relu":
            return np.maximum(self.z, 0)
        if self.activation == "sigmoid":
            return 1 / (1 + np.exp(-self.z))
        return self.z

    def backward(self, d_outputs):
        if self.activation == "tanh":
            dz = d_outputs * 2 * (1 - np.tanh(2 * self.z) ** 2)
        elif self.activation == "relu":
            dz = d_outputs * (self.z > 0)
        elif self.activation == "sigmoid":
            s = 1 / (1 + np.exp(-self.z))
            dz = d_outputs * s * (1 - s)
        else:
            dz = d_outputs
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

    def backward(self, d):
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size
