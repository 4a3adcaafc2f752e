"""Hostile (issue 10, item 2), one half of a pair: the "publisher" shares its correct code with
hostile_copier.py while both are graded in the same batch. At import it writes its own source
to world-readable files in /tmp, /var/tmp and /dev/shm, and serves it on an abstract unix
socket (\\0verify-shared-solution) and on TCP 127.0.0.1:47211, for up to 2 s.
What must happen: it cannot publish anything (no file outside its own folder, no socket); it
scores full marks on its own (correct) code; the copier gets nothing."""
import os
import socket
import threading
import time

SOURCE = open(__file__, "rb").read()
for folder in ("/tmp", "/var/tmp", "/dev/shm"):
    try:
        path = os.path.join(folder, "verify-shared-solution.py")
        with open(path, "wb") as f:
            f.write(SOURCE)
        os.chmod(path, 0o644)
    except OSError:
        pass


def _serve(family, address):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind(address)
        s.listen(4)
        s.settimeout(0.2)
    except OSError:
        return
    end = time.monotonic() + 2
    while time.monotonic() < end:
        try:
            conn, _ = s.accept()
            conn.sendall(SOURCE)
            conn.close()
        except OSError:
            pass


for args in ((socket.AF_UNIX, "\0verify-shared-solution"), (socket.AF_INET, ("127.0.0.1", 47211))):
    threading.Thread(target=_serve, args=args, daemon=True).start()
time.sleep(1.0)  # give the copier time to ask


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
