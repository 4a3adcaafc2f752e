"""Hostile (issue 10, item 9): reads the grader's environment and memory. Otherwise correct. At
import it tries /proc/PID/environ and the top of /proc/PID/mem's stack (where the environment
strings live) of its ancestors and of every process it can see, and reports those outside its
own sandbox (whose environment lacks the sandbox's VERIFY_RESULT_FD), and any that hold
"VERIFY_GRADER_CANARY" (which tests may put in the grader's environment).
What must happen: "READ: nothing", whatever uid the grader runs as: a uid of its own (root
grader), Landlock (an ordinary user), or the namespaces (bubblewrap: the grader is not even
visible)."""
import os

CANARY = b"VERIFY_GRADER_CANARY"
INSIDE = b"VERIFY_RESULT_FD="
READ = []
ME = os.getpid()
pids = set()
pid = ME
for _ in range(8):
    try:
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        pids.add(pid)
    except (OSError, ValueError, IndexError):
        break
try:
    pids.update(int(p) for p in os.listdir("/proc") if p.isdigit())
except OSError:
    pass
pids.discard(ME)
for pid in sorted(pids):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
        if INSIDE not in env or CANARY in env:
            READ.append(f"the environment of {pid}")
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/maps") as f:
            stack = next(line for line in f if line.rstrip().endswith("[stack]"))
        start, end = (int(x, 16) for x in stack.split()[0].split("-"))
        with open(f"/proc/{pid}/mem", "rb") as f:
            f.seek(max(start, end - (256 << 10)))
            top = f.read(256 << 10)
        if INSIDE not in top or CANARY in top:
            READ.append(f"the memory of {pid}")
    except (OSError, ValueError, StopIteration):
        pass
print("READ:", READ if READ else "nothing")


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
