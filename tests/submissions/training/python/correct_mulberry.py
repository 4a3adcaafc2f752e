"""Correct: the same code as correct_mulberry.js, in Python: camelCase, and the same seeded
generator (mulberry32) and Fisher-Yates shuffle, so both languages draw the same orders."""
import numpy as np

M = 0xFFFFFFFF


def imul(a, b):
    return (a * b) & M


def mulberry32(seed):
    state = seed & M

    def random():
        nonlocal state
        state = (state + 0x6D2B79F5) & M
        t = imul(state ^ (state >> 15), 1 | state)
        t = ((t + imul(t ^ (t >> 7), 61 | t)) & M) ^ t
        return ((t ^ (t >> 14)) & M) / 4294967296

    return random


def permutation(n, random):
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


ACTIVATIONS = {
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(0, z), lambda z: (z > 0) * 1.0),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z)))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


class DenseLayer:
    def __init__(self, nInputs, nNeurons, activation="relu"):
        self.weights = np.random.uniform(-0.1, 0.1, (nInputs, nNeurons))
        self.biases = np.zeros((1, nNeurons))
        self.activation, self.derivative = ACTIVATIONS[activation]

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights + np.ones((inputs.shape[0], 1)) @ self.biases
        return self.activation(self.z)

    def backward(self, dOutputs):
        dZ = dOutputs * self.derivative(self.z)
        self.dWeights = self.inputs.T @ dZ
        self.dBiases = np.ones((1, self.inputs.shape[0])) @ dZ
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
        current = dLossWrtPrediction
        for i in range(len(self.layers) - 1, -1, -1):
            current = self.layers[i].backward(current)
        return current


def mse(yTrue, yPred):
    return np.mean((yTrue - yPred) ** 2)


def mseDerivative(yTrue, yPred):
    return (yPred - yTrue) * (2 / yTrue.shape[0])


def sgdStep(model, learningRate):
    for layer in model.layers:
        layer.weights = layer.weights - layer.dWeights * learningRate
        layer.biases = layer.biases - layer.dBiases * learningRate


def shuffle(x, y, seed):
    order = permutation(x.shape[0], mulberry32(seed))
    return x[order], y[order]


def makeBatches(x, y, batchSize):
    n = x.shape[0]
    return [(x[start:start + batchSize], y[start:start + batchSize])
            for start in range(0, n, batchSize)]


def train(model, x, y, epochs, batchSize, learningRate, seed):
    random = mulberry32(seed)
    n = x.shape[0]
    history = []
    for _ in range(epochs):
        order = permutation(n, random)
        total = 0.0
        for xb, yb in makeBatches(x[order], y[order], batchSize):
            pred = model.forward(xb)
            total += mse(yb, pred) * xb.shape[0]
            model.backward(mseDerivative(yb, pred))
            sgdStep(model, learningRate)
        history.append(total / n)
    return history
