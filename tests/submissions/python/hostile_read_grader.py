"""Hostile: tries to use the grader's reference implementation instead of its own: imports
reference_mlp / verify, opens the grader's files by absolute path, and walks up from its own
folder and the working directory looking for them. Without them it returns zeros.
It prints what it managed to reach (the tests read that)."""
import os
import sys

import numpy as np

REACHED = []
ref = None

for name in ("reference_mlp", "verify.compare", "verify.grade.grader"):
    try:
        __import__(name)
        REACHED.append(f"import {name}")
    except BaseException:  # noqa: BLE001
        pass

for path in ("/work/main/reference_mlp/layers.py", "/work/main/verify/compare.py",
             "/autograder/source/reference_mlp/layers.py", "/autograder/results/results.json"):
    try:
        with open(path) as f:
            f.read(10)
        REACHED.append(f"open {path}")
    except OSError:
        pass

for start in {os.getcwd(), os.path.dirname(os.path.abspath(__file__))}:
    d = start
    while True:
        cand = os.path.join(d, "reference_mlp", "layers.py")
        if os.path.exists(cand):
            REACHED.append(f"walk {cand}")
            sys.path.insert(0, d)
            try:
                import reference_mlp as ref  # noqa: F811
            except BaseException:  # noqa: BLE001
                pass
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent

print("REACHED:", REACHED if REACHED else "nothing")


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.impl = ref.DenseLayer(n_inputs, n_neurons, activation) if ref else None
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        if self.impl is None:
            return np.zeros((inputs.shape[0], self.weights.shape[1]))
        self.impl.weights, self.impl.biases = self.weights, self.biases
        return self.impl.forward(inputs)

    def backward(self, d_outputs):
        if self.impl is None:
            self.d_weights, self.d_biases = np.zeros_like(self.weights), np.zeros_like(self.biases)
            return np.zeros((d_outputs.shape[0], self.weights.shape[0]))
        out = self.impl.backward(d_outputs)
        self.d_weights, self.d_biases = self.impl.d_weights, self.impl.d_biases
        return out


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, d):
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d


def mse(y_true, y_pred):
    return ref.mse(y_true, y_pred) if ref else 0.0


def mse_derivative(y_true, y_pred):
    return ref.mse_derivative(y_true, y_pred) if ref else np.zeros_like(y_true)
