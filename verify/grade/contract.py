"""What a submission must define: the submission contract, defined once.

Every request carries it (``"contract"``: role -> the spellings to look for), so the runners
(``runners/python_runner.py``, ``runners/js/node_worker.js``) hold no list of names of their
own; the grader's feedback reads it too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONTRACTS", "EXAMPLE_PYTHON", "LANGUAGES", "LESSON1", "LESSON2", "LESSON3", "LESSON4",
           "LESSON5", "Contract", "Role"]

LANGUAGES = ("python", "js")
"""The submission languages, by the ids used everywhere (``--language``, reports, runners)."""


@dataclass(frozen=True)
class Role:
    """One name a submission must define: where it lives and how it may be spelled.

    ``kind``: ``"module"`` (a top-level name), ``"method"`` or ``"attribute"`` (on an instance of
    ``owner``). ``spellings`` are the accepted names, the lesson's own (camelCase) and Python's
    (snake_case); :meth:`Contract.spellings` puts the language's own style first."""

    kind: str
    spellings: tuple[str, ...]
    owner: str | None = None


@dataclass(frozen=True)
class Contract:
    """What a submission must define. The one definition: runners get it in every request
    (:meth:`to_request`, PROTOCOL.md), and the grader's feedback reads it."""

    name: str
    roles: dict[str, Role]
    notes: tuple[str, ...]

    def spellings(self, role: str, language: str) -> tuple[str, ...]:
        """The accepted spellings of ``role``, the language's own style first (snake_case for
        Python, camelCase for JavaScript), so that a file defining both uses its own."""
        names = self.roles[role].spellings
        snake = tuple(n for n in names if "_" in n or n.islower())
        other = tuple(n for n in names if n not in snake)
        return snake + other if language == "python" else other + snake

    def to_request(self, language: str) -> dict[str, list[str]]:
        """The request's ``contract`` field: role -> spellings to look for, in order."""
        return {role: list(self.spellings(role, language)) for role in self.roles}

    def describe(self, role: str) -> str:
        """``mse_derivative or mseDerivative``: how feedback names a role."""
        return " or ".join(self.roles[role].spellings)

    def module_roles(self) -> list[str]:
        """The roles defined at the top level of the submission (classes and functions)."""
        return [r for r, role in self.roles.items() if role.kind == "module"]


_NO_IO = ("Python: only the standard library and numpy are importable; JavaScript: only mathjs; "
          "no files, no network")
_LAYER_NOTES = (
    "DenseLayer(n_inputs, n_neurons, activation) with activation one of 'linear', "
    "'relu', 'sigmoid', 'tanh'",
    "weights (n_inputs, n_neurons) and biases (1, n_neurons) are assigned by the grader "
    "(numpy float64 arrays / math.js matrices) after construction and before forward",
    "forward(inputs) returns the activations (batch, n_neurons); backward(d_outputs) sets "
    "d_weights (n_inputs, n_neurons) and d_biases ((1, n_neurons) or (n_neurons,)) and "
    "returns the gradient with respect to the inputs (batch, n_inputs)",
    "backward must not change weights or biases; the same layer is used for several "
    "forward/backward rounds",
)
_LOSS_NOTE = ("mse_derivative may divide by the batch size (the lesson) or by the number of "
              "elements (exact): both are accepted")
_LAYER_ROLES = {
    "DenseLayer": Role("module", ("DenseLayer",)),
    "d_weights": Role("attribute", ("d_weights", "dWeights"), owner="DenseLayer"),
    "d_biases": Role("attribute", ("d_biases", "dBiases"), owner="DenseLayer"),
}
_LOSS_ROLES = {
    "mse": Role("module", ("mse",)),
    "mse_derivative": Role("module", ("mse_derivative", "mseDerivative")),
}

LESSON1 = Contract(
    name="lesson1-losses",
    roles=dict(_LOSS_ROLES),
    notes=(
        "mse(y_true, y_pred) returns the mean squared error, one number; mse_derivative(y_true, "
        "y_pred) returns its gradient with respect to y_pred, of the shape of y_pred; both get "
        "matrices (batch, n_outputs)",
        _LOSS_NOTE,
        "mse may also be sum((y_pred - y_true)**2) / batch, the loss whose gradient is the "
        "lesson's derivative: accepted with a note",
        _NO_IO,
    ),
)
"""Lesson 1 (loss functions and their derivatives)."""

LESSON2 = Contract(
    name="lesson2-gradient-descent",
    roles={
        "gradient_descent_step": Role("module", ("gradient_descent_step", "gradientDescentStep")),
        "gradient_descent": Role("module", ("gradient_descent", "gradientDescent")),
    },
    notes=(
        "gradient_descent_step(x, gradient, learning_rate) returns the new point "
        "x - learning_rate * gradient (x and gradient: matrices of one shape, e.g. (1, n))",
        "gradient_descent(gradient, x0, learning_rate, n_steps) starts at x0 (1, n), takes "
        "n_steps steps, each evaluating gradient(x) at the current point, and returns the final "
        "point (1, n); gradient is a function the grader gives (of a quadratic)",
        _NO_IO,
    ),
)
"""Lesson 2 (gradient descent)."""

LESSON3 = Contract(
    name="lesson3-dense-layer",
    roles=dict(_LAYER_ROLES),
    notes=(*_LAYER_NOTES, _NO_IO),
)
"""Lesson 3 (backprop through one dense layer with modular activations)."""

LESSON4 = Contract(
    name="lesson4-mlp",
    roles={
        "DenseLayer": _LAYER_ROLES["DenseLayer"],
        "MLP": Role("module", ("MLP",)),
        **_LOSS_ROLES,
        "add_layer": Role("method", ("add_layer", "addLayer"), owner="MLP"),
        "d_weights": _LAYER_ROLES["d_weights"],
        "d_biases": _LAYER_ROLES["d_biases"],
    },
    notes=(*_LAYER_NOTES, _LOSS_NOTE, _NO_IO),
)
"""Lesson 4 (backprop through an MLP)."""

LESSON5 = Contract(
    name="lesson5-training",
    roles={
        **LESSON4.roles,
        "sgd_step": Role("module", ("sgd_step", "sgdStep")),
        "shuffle": Role("module", ("shuffle",)),
        "make_batches": Role("module", ("make_batches", "makeBatches")),
        "train": Role("module", ("train",)),
    },
    notes=(
        "DenseLayer, MLP, mse and mse_derivative as in lesson 4",
        "sgd_step(model, learning_rate): for every layer in model.layers, weights -= "
        "learning_rate * d_weights and biases -= learning_rate * d_biases (after backward; "
        "backward itself changes nothing)",
        "shuffle(x, y, seed) returns (x_shuffled, y_shuffled): the rows of x and y in one new "
        "order, the same order for the same seed (Python: a tuple; JavaScript: an array of two)",
        "make_batches(x, y, batch_size) returns the mini-batches [(x_batch, y_batch), ...] in "
        "order, every one batch_size rows but the last, which holds the rest",
        "train(model, x, y, epochs, batch_size, learning_rate, seed) trains with mini-batch SGD: "
        "every epoch shuffles the rows (one generator seeded once with seed), then for each "
        "mini-batch calls model.forward, mse_derivative, model.backward and the SGD step; it "
        "returns the loss of every epoch (a list of epochs numbers)",
        _NO_IO,
    ),
)
"""Lesson 5 (a complete training loop with stochastic gradient descent)."""

CONTRACTS: dict[str, Contract] = {c.name: c for c in (LESSON1, LESSON2, LESSON3, LESSON4,
                                                       LESSON5)}
"""Every contract by name."""


EXAMPLE_PYTHON = '''\
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


ACTIVATIONS = {  # name -> (f, f')
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = 0.1 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
        self.f, self.df = ACTIVATIONS[activation]

    def forward(self, inputs):
        self.inputs = inputs
        self.z = inputs @ self.weights + self.biases
        return self.f(self.z)

    def backward(self, d_outputs):
        dz = d_outputs * self.df(self.z)
        self.d_weights = self.inputs.T @ dz
        self.d_biases = dz.sum(axis=0, keepdims=True)
        return dz @ self.weights.T


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
            grad = layer.backward(grad)
        return grad


def mse(y_true, y_pred):
    return np.mean((y_pred - y_true) ** 2)


def mse_derivative(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.shape[0]
'''
"""A minimal complete submission that gets full marks (the README shows it)."""
