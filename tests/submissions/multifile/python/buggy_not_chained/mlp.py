"""The entry file, with one bug: every layer gets the loss gradient.

EXPECT: not_chained
"""
from layers import DenseLayer  # noqa: F401 - part of the submission's contract
from losses import mse, mse_derivative  # noqa: F401


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, d_loss_wrt_prediction):
        grad = d_loss_wrt_prediction
        for layer in reversed(self.layers):
            layer.backward(d_loss_wrt_prediction)
        return grad
