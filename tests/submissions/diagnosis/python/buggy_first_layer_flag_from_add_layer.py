"""Buggy (a hostile review, stop 20): add_layer flags the first layer, whose backward halves d_weights:
the layer passes alone, and the old feedback blamed "how MLP.backward uses the layers, or state
the layers share (a class attribute, a global)", neither of which this code has.

EXPECT: unexplained
NOT: how MLP.backward uses the layers
"""
import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.activation = activation

    def _act(self, z):
        if self.activation == "relu":
            return np.maximum(0.0, z)
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if self.activation == "tanh":
            return np.tanh(z)
        return z

    def _act_prime(self, z):
        if self.activation == "relu":
            return np.where(z > 0, 1.0, 0.0)
        if self.activation == "sigmoid":
            s = 1.0 / (1.0 + np.exp(-z))
            return s * (1.0 - s)
        if self.activation == "tanh":
            return 1.0 - np.tanh(z) ** 2
        return np.ones_like(z)

    def forward(self, inputs):
        self.inputs = np.asarray(inputs, dtype=float)
        self.z = np.dot(self.inputs, self.weights) + self.biases
        return self._act(self.z)

    def backward(self, d_outputs):
        dz = d_outputs * self._act_prime(self.z)
        self.d_weights = np.dot(self.inputs.T, dz)
        if getattr(self, 'is_first', False):
            self.d_weights = self.d_weights / 2.0
        self.d_biases = dz.sum(axis=0)  # shape (n_neurons,): accepted
        self.d_inputs = np.dot(dz, self.weights.T)
        return self.d_inputs


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        layer.is_first = len(self.layers) == 0
        self.layers.append(layer)
        return self

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
    return float(((y_pred - y_true) ** 2).mean())


def mse_derivative(y_true, y_pred):
    return 2.0 * (y_pred - y_true) / y_true.size
