"""Hostile: every function of the contract loops forever (the worst case for the time limits).
With the default limits the whole grading must end well inside 25 s (PrairieLearn's default
job limit is 30 s), every test saying why it has no result."""
import numpy as np


def _hang(*args, **kwargs):
    while True:
        pass


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    forward = _hang
    backward = _hang


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)

    forward = _hang
    backward = _hang


mse = _hang
mse_derivative = _hang
