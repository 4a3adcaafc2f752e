"""Hostile: floods stdout and stderr from forward, without end."""
import sys

import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        while True:
            print("x" * 10000)
            sys.stderr.write("y" * 10000)

    def backward(self, d_outputs):
        return d_outputs


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        return self.layers[0].forward(x)

    def backward(self, d):
        return d


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size
