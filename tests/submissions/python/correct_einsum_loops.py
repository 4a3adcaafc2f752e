"""Correct: activation objects, einsum for the weight gradient, Python loops for the bias sum,
an MLP that keeps its layers in a private list, and lists (not arrays) returned from mse_derivative.

EXPECT: correct
"""
import math

import numpy as np


class Activation:
    def f(self, z):
        raise NotImplementedError

    def df(self, z):
        raise NotImplementedError


class Linear(Activation):
    def f(self, z):
        return z.copy()

    def df(self, z):
        return np.ones(z.shape)


class Relu(Activation):
    def f(self, z):
        return z * (z > 0)

    def df(self, z):
        return 1.0 * (z > 0)


def _sigmoid(v):
    # math.exp raises OverflowError above 709.78: never give it more than 0
    if v >= 0:
        return 1 / (1 + math.exp(-v))
    e = math.exp(v)
    return e / (1 + e)


class Sigmoid(Activation):
    def f(self, z):
        return np.vectorize(_sigmoid)(z)

    def df(self, z):
        s = self.f(z)
        return s - s * s


class Tanh(Activation):
    def f(self, z):
        return np.vectorize(math.tanh)(z)

    def df(self, z):
        return 1 - self.f(z) ** 2


KINDS = {"linear": Linear, "relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        rng = np.random.default_rng(0)
        self.weights = rng.normal(size=(n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.act = KINDS[activation]()

    def forward(self, inputs):
        self.cache = (inputs.copy(), np.einsum("bi,io->bo", inputs, self.weights) + self.biases)
        return self.act.f(self.cache[1])

    def backward(self, d_outputs):
        x, z = self.cache
        dz = d_outputs * self.act.df(z)
        self.d_weights = np.einsum("bi,bo->io", x, dz)
        total = [0.0] * dz.shape[1]
        for row in dz:
            for j, v in enumerate(row):
                total[j] += v
        self.d_biases = np.array([total])
        return np.einsum("bo,io->bi", dz, self.weights)


class MLP:
    def __init__(self):
        self._layers = []

    def add_layer(self, layer):
        self._layers.append(layer)

    def forward(self, x):
        out = x
        for layer in self._layers:
            out = layer.forward(out)
        return out

    def backward(self, d_loss_wrt_prediction):
        g = d_loss_wrt_prediction
        for i in range(len(self._layers)):
            g = self._layers[-1 - i].backward(g)
        return g


def mse(y_true, y_pred):
    total = 0.0
    n = 0
    for a, b in zip(np.ravel(y_true), np.ravel(y_pred)):
        total += (a - b) ** 2
        n += 1
    return total / n


def mse_derivative(y_true, y_pred):
    n = len(y_true)
    return [[2 * (p - t) / n for t, p in zip(rt, rp)] for rt, rp in zip(y_true, y_pred)]
