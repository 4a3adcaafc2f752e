"""Correct: snake_case, a copy updated in place, the path kept in a list (as for a plot)."""
import numpy as np


def gradient_descent_step(x, gradient, learning_rate):
    new = np.array(x, dtype=float)
    new -= learning_rate * np.asarray(gradient)
    return new


def gradient_descent(gradient, x0, learning_rate, n_steps):
    path = [np.array(x0, dtype=float)]
    while len(path) <= n_steps:
        path.append(gradient_descent_step(path[-1], gradient(path[-1]), learning_rate))
    return path[-1]
