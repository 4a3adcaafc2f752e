"""Buggy: relu clipped at 6 (relu6) in the forward, with the derivative consistent with it.
Only pre-activations above 6 show it: every test kept |z| below about 5 until the far-tails
parts (|z| up to 800) for relu were added, so this file got full marks.

EXPECT: forward_at_fault
"""
import numpy as np


def relu(z):
    return np.clip(z, 0, 6)  # the bug: relu6, not relu


def relu_derivative(z):
    return ((z > 0) & (z < 6)).astype(float)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)


def tanh_derivative(z):
    return 1 - np.tanh(z) ** 2


ACTIVATIONS = {
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (np.tanh, tanh_derivative),
}


class DenseLayer:
    def __init__(self, nInputs, nNeurons, activation="relu"):
        self.weights = np.random.randn(nInputs, nNeurons) * 0.1
        self.biases = np.zeros((1, nNeurons))
        self.activation, self.activationDerivative = ACTIVATIONS[activation]

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights + self.biases
        return self.activation(self.z)

    def backward(self, dOutputs):
        dZ = dOutputs * self.activationDerivative(self.z)
        self.dWeights = self.inputs.T @ dZ
        self.dBiases = np.sum(dZ, axis=0, keepdims=True)
        return dZ @ self.weights.T


class MLP:
    def __init__(self):
        self.layers = []

    def addLayer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dLossWrtPrediction):
        currentDLoss = dLossWrtPrediction
        for i in range(len(self.layers) - 1, -1, -1):
            currentDLoss = self.layers[i].backward(currentDLoss)


def mse(yTrue, yPred):
    return np.mean((yTrue - yPred) ** 2)


def mseDerivative(yTrue, yPred):
    return 2 * (yPred - yTrue) / yTrue.shape[0]
