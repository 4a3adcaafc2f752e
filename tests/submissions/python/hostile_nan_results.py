"""Hostile: every result is NaN or inf."""
import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        return np.full((inputs.shape[0], self.weights.shape[1]), np.nan)

    def backward(self, d_outputs):
        self.d_weights = np.full(self.weights.shape, np.inf)
        self.d_biases = np.full(self.biases.shape, -np.inf)
        return np.full((d_outputs.shape[0], self.weights.shape[0]), np.nan)


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
    return float("nan")


def mse_derivative(y_true, y_pred):
    return np.full(y_true.shape, np.nan)
