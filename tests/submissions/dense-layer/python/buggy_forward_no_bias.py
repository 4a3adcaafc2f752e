"""Buggy: forward forgets the biases (backward is right for that forward).

EXPECT: forward_at_fault
"""
import numpy as np


class Linear:
    def forward(self, z):
        return z

    def derivative(self, z):
        return np.ones_like(z)


class ReLU:
    def forward(self, z):
        return np.maximum(0, z)

    def derivative(self, z):
        return (z > 0).astype(float)


class Sigmoid:
    def forward(self, z):
        return 1 / (1 + np.exp(-z))

    def derivative(self, z):
        s = self.forward(z)
        return s * (1 - s)


class Tanh:
    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z):
        return 1 - np.tanh(z) ** 2


ACTIVATIONS = {"linear": Linear(), "relu": ReLU(), "sigmoid": Sigmoid(), "tanh": Tanh()}


class DenseLayer:
    def __init__(self, nInputs, nNeurons, activation="relu"):
        self.weights = np.random.randn(nInputs, nNeurons) * 0.1
        self.biases = np.zeros((1, nNeurons))
        self.activation = ACTIVATIONS[activation]

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights
        return self.activation.forward(self.z)

    def backward(self, dOutputs):
        dZ = dOutputs * self.activation.derivative(self.z)
        self.dWeights = self.inputs.T @ dZ
        self.dBiases = np.sum(dZ, axis=0, keepdims=True)
        return dZ @ self.weights.T
