"""Correct numbers, with side effects: backward multiplies the array it is given in place
(d_outputs *= f'(z)), and mse_derivative turns y_pred into the gradient in place. Full marks,
with a note for each (no deduction).

EXPECT: correct
NOTE: d_outputs y_pred
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


ACTIVATIONS = {
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
        d_outputs *= self.df(self.z)  # in place: the caller's array is now dz
        self.d_weights = self.inputs.T @ d_outputs
        self.d_biases = d_outputs.sum(axis=0, keepdims=True)
        return d_outputs @ self.weights.T


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
    y_pred -= y_true  # in place: the caller's y_pred is now the gradient
    y_pred *= 2 / y_true.shape[0]
    return y_pred
