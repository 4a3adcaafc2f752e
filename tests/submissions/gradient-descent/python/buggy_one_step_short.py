"""Buggy: the loop stops one step early.

EXPECT: gd_one_step_short
"""


def gradientDescentStep(x, gradient, learningRate):
    return x - learningRate * gradient


def gradientDescent(gradient, x0, learningRate, nSteps):
    x = x0
    for _ in range(nSteps - 1):
        x = gradientDescentStep(x, gradient(x), learningRate)
    return x
