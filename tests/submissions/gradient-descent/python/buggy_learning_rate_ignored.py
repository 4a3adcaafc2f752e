"""Buggy: the learning rate is never used.

EXPECT: gd_learning_rate_ignored
"""


def gradientDescentStep(x, gradient, learningRate):
    return x - gradient


def gradientDescent(gradient, x0, learningRate, nSteps):
    x = x0
    for _ in range(nSteps):
        x = gradientDescentStep(x, gradient(x), learningRate)
    return x
