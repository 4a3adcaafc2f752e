"""Correct: the lesson's names and loss convention (the derivative divides by the batch size)."""
import numpy as np


def mse(yTrue, yPred):
    return np.mean((yTrue - yPred) ** 2)


def mseDerivative(yTrue, yPred):
    return 2 * (yPred - yTrue) / yTrue.shape[0]
