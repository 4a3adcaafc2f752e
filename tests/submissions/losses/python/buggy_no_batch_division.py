"""Buggy: the derivative is not divided by the batch size.

EXPECT: missing_batch_division
"""
import numpy as np


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true)
