"""Hostile (or just broken): imports a package the sandbox does not have."""
import numpy as np
import torch  # noqa: F401  - not available to submissions


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)
