"""Buggy: the step returns the update, not the new point (the loop is right).

EXPECT: gd_returns_update
"""


def gradientDescentStep(x, gradient, learningRate):
    return learningRate * gradient


def gradientDescent(gradient, x0, learningRate, nSteps):
    x = x0
    for _ in range(nSteps):
        x = x - gradientDescentStep(x, gradient(x), learningRate)
    return x
