"""Buggy: mse sums the squared errors instead of averaging them.

EXPECT: mse_summed
"""
import numpy as np


def mse(y_true, y_pred):
    return np.sum((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.shape[0]
