"""Correct, unusual: the layer keeps a dictionary cache keyed by the call (cleared on every
forward), computes tanh's derivative from the cached output, and the MLP keeps copies of the
activations it passed through; mse_derivative writes into a preallocated array of its own.

EXPECT: correct
"""
import numpy as np


class DenseLayer:
    def __init__(self, nInputs, nNeurons, activation="linear"):
        self.weights = np.full((nInputs, nNeurons), 0.01)
        self.biases = np.zeros((1, nNeurons))
        self.kind = activation
        self.cache = {}

    def forward(self, inputs):
        self.cache.clear()
        z = np.dot(inputs, self.weights) + self.biases
        if self.kind == "relu":
            a = np.maximum(z, 0.0)
        elif self.kind == "sigmoid":
            a = 0.5 * (1.0 + np.tanh(0.5 * z))  # the sigmoid through tanh: never overflows
        elif self.kind == "tanh":
            a = np.tanh(z)
        else:
            a = z.copy()
        self.cache.update(inputs=inputs, z=z, a=a)
        return a

    def backward(self, dOutputs):
        z, a, inputs = self.cache["z"], self.cache["a"], self.cache["inputs"]
        if self.kind == "relu":
            dz = dOutputs * (z > 0)
        elif self.kind == "sigmoid":
            dz = dOutputs * a * (1.0 - a)
        elif self.kind == "tanh":
            dz = dOutputs * (1.0 - a ** 2)
        else:
            dz = dOutputs.copy()
        self.dWeights = np.dot(inputs.T, dz)
        self.dBiases = np.sum(dz, axis=0, keepdims=True)
        return np.dot(dz, self.weights.T)


class MLP:
    def __init__(self):
        self.layers = []
        self.activations = []

    def addLayer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        self.activations = [x.copy()]
        for layer in self.layers:
            x = layer.forward(x)
            self.activations.append(x.copy())
        return x

    def backward(self, dLossWrtPrediction):
        grad = dLossWrtPrediction
        for index in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[index].backward(grad)
        return grad


def mse(yTrue, yPred):
    return np.mean((yTrue - yPred) ** 2)


def mseDerivative(yTrue, yPred):
    out = np.empty_like(yPred)
    np.subtract(yPred, yTrue, out=out)
    out *= 2.0 / yTrue.shape[0]
    return out
