"""Hostile: backward dereferences a NULL pointer (a segfault); everything else is correct."""
import ctypes

import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.activation = activation

    def forward(self, inputs):
        z = inputs @ self.weights + self.biases
        return {"linear": z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)),
                "tanh": np.tanh(z)}[self.activation]

    def backward(self, d_outputs):
        ctypes.string_at(0)


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
        ctypes.string_at(0)


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size
