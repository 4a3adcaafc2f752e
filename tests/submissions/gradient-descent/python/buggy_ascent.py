"""Buggy: the step adds the gradient (gradient ascent).

EXPECT: gd_ascent
"""


def gradientDescentStep(x, gradient, learningRate):
    return x + learningRate * gradient


def gradientDescent(gradient, x0, learningRate, nSteps):
    x = x0
    for _ in range(nSteps):
        x = gradientDescentStep(x, gradient(x), learningRate)
    return x
