"""Buggy: the gradient is evaluated once, at the start, and reused.

EXPECT: gd_gradient_not_updated
"""


def gradientDescentStep(x, gradient, learningRate):
    return x - learningRate * gradient


def gradientDescent(gradient, x0, learningRate, nSteps):
    x = x0
    g = gradient(x0)
    for _ in range(nSteps):
        x = gradientDescentStep(x, g, learningRate)
    return x
