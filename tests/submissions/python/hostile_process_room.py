"""Hostile (one child's processes taking another's room; CI, stop 19): correct, but at import
it starts 40 processes that wait 3 s, then waits for them. Alone, a child has room for 64.
As an ordinary user, every child shares the grader's uid, and RLIMIT_NPROC counts per uid: its
visible and hidden children, run side by side, needed 80 between them, and one of them failed
at import with EAGAIN (the whole section lost). What must happen: full marks."""
import os
import time

_kids = []
for _ in range(40):
    _pid = os.fork()
    if _pid == 0:
        time.sleep(3)
        os._exit(0)
    _kids.append(_pid)
for _pid in _kids:
    os.waitpid(_pid, 0)


# ---- otherwise correct (the same as correct_snake_exact.py) ----
import numpy as np  # noqa: E402


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.activation = activation

    def _act(self, z):
        if self.activation == "relu":
            return np.maximum(0.0, z)
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if self.activation == "tanh":
            return np.tanh(z)
        return z

    def _act_prime(self, z):
        if self.activation == "relu":
            return np.where(z > 0, 1.0, 0.0)
        if self.activation == "sigmoid":
            s = 1.0 / (1.0 + np.exp(-z))
            return s * (1.0 - s)
        if self.activation == "tanh":
            return 1.0 - np.tanh(z) ** 2
        return np.ones_like(z)

    def forward(self, inputs):
        self.inputs = np.asarray(inputs, dtype=float)
        self.z = np.dot(self.inputs, self.weights) + self.biases
        return self._act(self.z)

    def backward(self, d_outputs):
        dz = d_outputs * self._act_prime(self.z)
        self.d_weights = np.dot(self.inputs.T, dz)
        self.d_biases = dz.sum(axis=0)  # shape (n_neurons,): accepted
        self.d_inputs = np.dot(dz, self.weights.T)
        return self.d_inputs


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)
        return self

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
    return float(((y_pred - y_true) ** 2).mean())


def mse_derivative(y_true, y_pred):
    return 2.0 * (y_pred - y_true) / y_true.size
