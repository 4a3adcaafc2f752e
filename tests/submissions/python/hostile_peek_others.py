"""Hostile (issue 10, item 2): looks for other students' work. Otherwise correct. At import it
collects every folder named on any process's command line (the batch folder, a submission's
folder), other children's working folders (/tmp/verify-grade-*/sandbox, /proc/PID/cwd) and
/tmp, /var/tmp, /dev/shm, reads every .py file there but its own, and prints the lines that
hold the marker MARK below (the tests put it in other students' files).
What must happen: "FOUND: nothing" (Landlock, other uids or the namespaces hide it all), and
full marks on its own code."""
import glob
import os

OWN = os.path.realpath(os.path.abspath(__file__))
FOUND = []
MARK = "STUDENT" + "-SECRET-"  # not in this file as one word
folders = {"/tmp", "/var/tmp", "/dev/shm", *glob.glob("/tmp/verify-grade-*/sandbox")}
try:
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
except OSError:
    pids = []
for pid in pids:
    folders.add(f"/proc/{pid}/cwd")
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        continue
    for arg in args:
        if arg.startswith("/") or os.path.exists(arg):
            folders.add(arg if os.path.isdir(arg) else os.path.dirname(os.path.abspath(arg)))
for folder in sorted(folders):
    for path in glob.glob(os.path.join(folder, "*.py")) + glob.glob(os.path.join(folder, "*", "*.py")):
        if os.path.realpath(path) == OWN:
            continue
        try:
            with open(path, errors="replace") as f:
                FOUND += [f"{path}: {line.strip()[:60]}" for line in f if MARK in line]
        except OSError:
            pass
print("FOUND:", sorted(set(FOUND)) if FOUND else "nothing")


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
