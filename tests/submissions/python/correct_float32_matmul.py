"""Correct: computes in float32 with np.matmul and a stable sigmoid; dWeights/dBiases spelling.

EXPECT: correct
"""
import numpy as np


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation="linear"):
        self.weights = np.ones((n_inputs, n_neurons), dtype=np.float32)
        self.biases = np.zeros((1, n_neurons), dtype=np.float32)
        self.kind = activation

    def forward(self, inputs):
        self.x = inputs.astype(np.float32)
        self.z = np.matmul(self.x, self.weights.astype(np.float32)) + self.biases.astype(np.float32)
        if self.kind == "relu":
            self.a = np.maximum(self.z, 0)
        elif self.kind == "sigmoid":
            self.a = _sigmoid(self.z)
        elif self.kind == "tanh":
            self.a = np.tanh(self.z)
        else:
            self.a = self.z
        return self.a

    def backward(self, dOutputs):
        if self.kind == "relu":
            dz = dOutputs * (self.z > 0)
        elif self.kind == "sigmoid":
            dz = dOutputs * self.a * (1 - self.a)
        elif self.kind == "tanh":
            dz = dOutputs * (1 - self.a ** 2)
        else:
            dz = dOutputs
        dz = dz.astype(np.float32)
        self.dWeights = np.matmul(self.x.T, dz)
        self.dBiases = dz.sum(axis=0, keepdims=True)
        return np.matmul(dz, self.weights.astype(np.float32).T)


class MLP:
    def __init__(self):
        self.layers = []

    def addLayer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dLoss):
        for layer in self.layers[::-1]:
            dLoss = layer.backward(dLoss)
        return dLoss


def mse(y_true, y_pred):
    return np.mean(np.square(y_true - y_pred))


def mseDerivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.shape[0]
