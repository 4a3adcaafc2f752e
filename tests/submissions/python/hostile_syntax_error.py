"""Hostile (or just broken): a syntax error."""
import numpy as np


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation)
        self.weights = np.zeros((n_inputs, n_neurons))
