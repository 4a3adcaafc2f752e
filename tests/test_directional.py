"""verify.directional: the loss along one direction, against the analytic projection."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP, get_loss
from verify.directional import directional_derivative, directional_derivatives
from verify.reference import KINDS, reference_net


def problem(acts=("tanh", "sigmoid", "linear"), seed=0):
    model = MLP.build([4, 5, 6, 3], list(acts), seed=seed)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    work = model.copy()
    work.backward(get_loss("exact").derivative(y, work.forward(x)))
    grads = {(i, k): getattr(layer, f"d_{k}") for i, layer in enumerate(work.layers) for k in KINDS}
    return reference_net(model, x, y), grads


@pytest.mark.parametrize("acts", [("tanh", "sigmoid", "linear"), ("relu", "leaky_relu", "linear")])
def test_directional_derivative_is_the_gradients_projection(acts) -> None:
    net, grads = problem(acts)
    rng = np.random.default_rng(1)
    for layer in range(net.n_layers):
        vs = {kind: rng.standard_normal(net.parameter(layer, kind).shape) for kind in KINDS}
        stacked = directional_derivatives(net, layer, vs)
        for kind, v in vs.items():
            one = directional_derivative(net, layer, kind, v)
            assert stacked[kind].derivative == pytest.approx(one.derivative, rel=1e-12)
            want = float(np.sum(grads[(layer, kind)] * v))
            lo, hi = (one.left, one.right) if one.kink else (one.derivative, one.derivative)
            assert lo - 1e-7 - 1e-6 * abs(want) <= want <= hi + 1e-7 + 1e-6 * abs(want)


def test_a_stencil_across_a_kink_is_refined_and_flagged() -> None:
    model = MLP.build([2, 1, 1], ["relu", "linear"], seed=0)
    model.layers[0].weights = np.array([[1.0], [2.0]])
    model.layers[0].biases = np.array([[1e-10]])  # example 0's pre-activation: 1e-10
    x = np.array([[0.5, -0.25], [1.0, 0.5]])
    net = reference_net(model, x, np.array([[1.0], [-1.0]]))
    dd = directional_derivative(net, 0, "biases", np.ones((1, 1)))
    assert dd.kink and dd.kinks == 1 and dd.left <= dd.derivative <= dd.right
