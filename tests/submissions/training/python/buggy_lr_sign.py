"""Buggy: the SGD step adds the gradient: weights += learning_rate * d_weights.

EXPECT: sgd_ascent
"""
import numpy as np

ACTIVATIONS = {  # name -> (f, f')
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
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

    def backward(self, d_loss):
        for layer in reversed(self.layers):
            d_loss = layer.backward(d_loss)
        return d_loss


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.shape[0]


def sgd_step(model, learning_rate):
    for layer in model.layers:
        layer.weights = layer.weights + learning_rate * layer.d_weights
        layer.biases = layer.biases + learning_rate * layer.d_biases


def shuffle(x, y, seed):
    order = np.random.default_rng(seed).permutation(x.shape[0])
    return x[order], y[order]


def make_batches(x, y, batch_size):
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]


def train(model, x, y, epochs, batch_size, learning_rate, seed):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order = rng.permutation(x.shape[0])
        total = 0.0
        for xb, yb in make_batches(x[order], y[order], batch_size):
            pred = model.forward(xb)
            total += mse(yb, pred) * xb.shape[0]
            model.backward(mse_derivative(yb, pred))
            sgd_step(model, learning_rate)
        history.append(total / x.shape[0])
    return history
