"""Hostile: correct loss functions, but forward allocates a 80 GB numpy array."""
import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.big = np.ones((100_000, 100_000))
        return inputs

    def backward(self, d_outputs):
        return d_outputs


class MLP:
    def add_layer(self, layer):
        pass

    def forward(self, x):
        return np.ones((10**5, 10**5))

    def backward(self, d):
        return d


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size
