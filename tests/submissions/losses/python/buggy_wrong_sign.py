"""Buggy: the derivative has the wrong sign (y_true - y_pred).

EXPECT: wrong_sign
"""
import numpy as np


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_true - y_pred) / y_true.shape[0]
