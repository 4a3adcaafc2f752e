"""DenseLayer (a helper module of mlp.py), built on the activations module."""
import numpy as np

from activations import ACTIVATIONS


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
        dz = d_outputs * self.df(self.z)
        self.d_weights = self.inputs.T @ dz
        self.d_biases = dz.sum(axis=0, keepdims=True)
        return dz @ self.weights.T
