"""Hostile: results of every wrong type: strings, dicts, ragged lists, 3-D arrays, objects."""
import numpy as np


class Weird:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array for you")


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        return "0.5"

    def backward(self, d_outputs):
        self.d_weights = {"a": 1}
        self.d_biases = [[1, 2], [3]]
        return np.zeros((2, 2, 2))


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        return Weird()

    def backward(self, d):
        return None


def mse(y_true, y_pred):
    return [1.0, 2.0]


def mse_derivative(y_true, y_pred):
    return "gradient"
