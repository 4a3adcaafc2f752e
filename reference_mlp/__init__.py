"""reference_mlp: the course's NumPy multi-layer perceptron with an analytic backward pass.

The reference every check in :mod:`verify` measures against. Python names for the lesson's
concepts, with the lesson's camelCase spellings kept as aliases (``addLayer``, ``dWeights``,
``dBiases``, ``mseDerivative``).
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .layers import DenseLayer, dense_backward, dense_forward, layer_backward
from .losses import (
    LOSSES,
    Loss,
    cross_entropy,
    cross_entropy_derivative,
    get_loss,
    mse,
    mse_derivative,
    mse_lesson,
    mseDerivative,
    one_hot,
    softmax,
)
from .network import MLP, PARAMETER_NAMES
from .optim import SGD, train

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "PARAMETER_NAMES",
    "SGD",
    "Activation",
    "DenseLayer",
    "Loss",
    "cross_entropy",
    "cross_entropy_derivative",
    "dense_backward",
    "dense_forward",
    "get_activation",
    "get_loss",
    "layer_backward",
    "mse",
    "mseDerivative",
    "mse_derivative",
    "mse_lesson",
    "one_hot",
    "softmax",
    "train",
]

__version__ = "0.1.0"
