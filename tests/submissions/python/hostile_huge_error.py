"""Hostile: every function raises an exception whose message is megabytes long (characters
outside the BMP, which JSON writes as 12-byte escapes, control characters, lone surrogates)
and whose class name is 100,000 CJK characters long (a valid identifier).
What must happen: each test fails with the error named, but every test's output is cut to
the per-test limit and results.json stays under about 1 MiB, saying where text was cut."""

MESSAGE = "\U00020000" * 300_000  # 1.2 MB in UTF-8, 3.6 MB once JSON-escaped
Huge = type("\U00020000" * 100_000, (Exception,), {})


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        raise Huge(MESSAGE)

    def forward(self, inputs):
        raise Huge(MESSAGE)

    def backward(self, d_outputs):
        raise Huge(MESSAGE)


class MLP:
    def __init__(self):
        raise Huge(MESSAGE)

    def add_layer(self, layer):
        raise Huge(MESSAGE)

    def forward(self, x):
        raise Huge(MESSAGE)

    def backward(self, d):
        raise Huge(MESSAGE)


def mse(y_true, y_pred):
    raise Huge(MESSAGE)


def mse_derivative(y_true, y_pred):
    raise Huge(MESSAGE)
