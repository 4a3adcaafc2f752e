"""Buggy: forward applies relu whatever the activation (the backward uses the right derivative).

EXPECT: forward_wrong_activation
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)


def relu(z):
    return np.maximum(z, 0)


def relu_derivative(z):
    return (z > 0).astype(float)


def tanh_derivative(z):
    return 1 - np.tanh(z) ** 2


ACTIVATIONS = {
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (np.tanh, tanh_derivative),
}


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = 0.1 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
        self.f, self.df = ACTIVATIONS[activation]

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights + self.biases
        return relu(self.z)

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
