"""Buggy: mse averages the absolute errors (that is the MAE).

EXPECT: mse_absolute
"""
import numpy as np


def mse(y_true, y_pred):
    return np.mean(np.abs(y_pred - y_true))


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size
