"""Correct, unusual: the gradients are accumulated example by example with += (which looks
like the accumulate-and-never-reset bug) but reset to zero at the start of every backward; the
sigmoid is written piecewise so that it never overflows; the bias gradient is a 1-D array.

EXPECT: correct
"""
import numpy as np


def sigmoid(z):
    out = np.empty_like(z, dtype=float)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.random.uniform(-0.5, 0.5, (n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.activation = activation

    def f(self, z):
        if self.activation == "relu":
            return np.where(z > 0, z, 0.0)
        if self.activation == "sigmoid":
            return sigmoid(z)
        if self.activation == "tanh":
            return np.tanh(z)
        return z

    def df(self, z, a):
        if self.activation == "relu":
            return (z > 0) * 1.0
        if self.activation == "sigmoid":
            return a * (1.0 - a)
        if self.activation == "tanh":
            return 1.0 - a * a
        return np.ones_like(z)

    def forward(self, inputs):
        self.inputs = np.array(inputs, dtype=float)  # a copy of its own
        self.z = self.inputs @ self.weights + self.biases
        self.a = self.f(self.z)
        return self.a

    def backward(self, d_outputs):
        dz = d_outputs * self.df(self.z, self.a)
        self.d_weights = np.zeros_like(self.weights)  # reset, then accumulate
        self.d_biases = np.zeros(self.biases.shape[1])
        for x_i, dz_i in zip(self.inputs, dz):
            self.d_weights += np.outer(x_i, dz_i)
            self.d_biases += dz_i
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
        for layer in self.layers[::-1]:
            grad = layer.backward(grad)
        return grad


def mse(y_true, y_pred):
    return float(np.square(y_pred - y_true).sum() / y_true.size)


def mse_derivative(y_true, y_pred):
    return 2.0 * (y_pred - y_true) / y_true.size  # the exact gradient of the mean
