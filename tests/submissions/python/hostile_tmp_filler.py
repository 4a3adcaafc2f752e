"""Hostile (issue 10, item 4): fills temporary space. Otherwise correct. At import it writes
1 MiB files (verify-tmp-filler-*.bin) into /tmp, /var/tmp, /dev/shm and its working folder, up
to 3 GiB in all, going on to the next folder when one refuses.
What must happen: it is stopped at the disk limit (Limits.disk_bytes, 64 MiB) with a message
that says so, or cannot write outside its own folder at all; nothing it wrote is left after
the grading."""
import os

CHUNK = b"x" * ((1 << 20) - 1)  # just under the 1 MiB file-size limit
written = {}
total = 0
for folder in ("/tmp", "/var/tmp", "/dev/shm", "."):
    written[folder] = 0
    for i in range(3072):
        if total >= 3 << 30:
            break
        try:
            with open(os.path.join(folder, f"verify-tmp-filler-{os.getpid()}-{i}.bin"), "wb") as f:
                f.write(CHUNK)
        except OSError:
            break
        written[folder] += 1
        total += len(CHUNK)
print("WROTE MiB:", written)


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
