"""Buggy: the derivative misses the factor 2.

EXPECT: missing_factor_2
"""
import numpy as np


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return (y_pred - y_true) / y_true.shape[0]
