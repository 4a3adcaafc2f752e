"""verify.protocol: finding layers, parameters and gradients; recording a model's backward."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP, DenseLayer
from verify.protocol import (
    Layer,
    gradient_of,
    layer_kinds,
    layers_of,
    parameter_name,
    run_model,
    uses_reference,
)


class Scale:
    """No parameters: ``2 x``."""

    def forward(self, x):
        return 2 * x

    def backward(self, d_out):
        return 2 * d_out


class Affine:
    def __init__(self):
        self.W = np.array([[1.0, -2.0], [0.5, 3.0]])

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, d_out):
        self.dW = self.x.T @ d_out
        return d_out @ self.W.T


def test_layers_parameters_and_gradients_by_the_usual_names() -> None:
    assert isinstance(Affine(), Layer) and isinstance(Scale(), Layer)
    assert layers_of([Scale(), Affine()])[1].__class__ is Affine
    model = MLP.build([2, 3, 1], "tanh", seed=0)
    assert layers_of(model) == model.layers
    assert parameter_name(Affine(), "weights") == "W" and parameter_name(Affine(), "biases") is None
    assert parameter_name(model.layers[0], "biases") == "biases"
    assert layer_kinds(Affine()) == ("weights", "inputs") and layer_kinds(Scale()) == ("inputs",)
    layer = Affine()
    layer.forward(np.ones((1, 2)))
    layer.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(gradient_of(layer, "weights"), np.ones((2, 2)))
    assert gradient_of(layer, "biases") is None


def test_only_reference_forwards_use_the_reference_network() -> None:
    model = MLP.build([2, 3, 1], "tanh", seed=0)
    assert uses_reference(model)

    class OwnBackward(DenseLayer):
        def backward(self, d_outputs):
            return super().backward(d_outputs)

    class OwnForward(DenseLayer):
        def forward(self, inputs):
            return super().forward(inputs)

    for cls, expected in ((OwnBackward, True), (OwnForward, False)):
        other = model.copy()
        other.layers[0].__class__ = cls
        assert uses_reference(other) is expected
    assert not uses_reference([Scale()]) and not uses_reference(MLP())


def test_run_model_records_what_each_backward_received_and_returned() -> None:
    class InPlace(Scale):
        def backward(self, d_out):
            d_out *= 2  # changes its argument
            return d_out.copy()

    x = np.array([[1.0, 2.0]])
    run = run_model([Affine(), InPlace()], x, lambda pred: pred - 1.0)
    np.testing.assert_array_equal(run.prediction, 2 * (x @ Affine().W))
    assert run.trace.order == [1, 0] and run.trace.walk == "protocol"
    first = run.trace.calls[1]
    np.testing.assert_array_equal(first.received, run.trace.seed)  # copied before the call
    assert first.changed == pytest.approx(float(np.max(np.abs(run.trace.seed))))
    np.testing.assert_array_equal(run.analytic[(0, "inputs")], run.trace.calls[0].returned)
    np.testing.assert_array_equal(run.trace.calls[0].received, first.returned)
    np.testing.assert_array_equal(run.inputs[1], x @ Affine().W)
    assert (0, "biases") not in run.analytic and run.analytic[(0, "weights")].shape == (2, 2)


def test_run_model_records_an_error_and_leaves_the_model_untouched() -> None:
    class Broken(Scale):
        def backward(self, d_out):
            raise RuntimeError("no")

    layers = [Affine(), Broken()]
    run = run_model(layers, np.ones((1, 2)), lambda pred: pred)
    assert isinstance(run.trace.error, RuntimeError) and run.trace.error_layer == 1
    assert run.analytic[(0, "weights")] is None and run.analytic[(1, "inputs")] is None
    assert not hasattr(layers[0], "x")  # the caller's layers were not run


def test_stale_gradients_of_an_earlier_backward_are_not_read() -> None:
    layer = Affine()
    layer.dW = np.full((2, 2), 7.0)  # left by an earlier run

    class Lazy(Affine):
        def backward(self, d_out):
            return d_out @ self.W.T  # forgets dW

    layer.__class__ = Lazy
    run = run_model([layer], np.ones((1, 2)), lambda pred: pred)
    assert run.analytic[(0, "weights")] is None
