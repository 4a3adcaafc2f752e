"""verify.perturbed: loss changes for any loss equal the structured ones and direct differences."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP
from verify.losses import SoftmaxCrossEntropy, ValueLoss
from verify.perturbed import loss_changes_any
from verify.reference import KINDS, reference_net
from verify.structured import loss_changes


def problem(loss="exact", acts=("leaky_relu", "relu", "tanh"), sizes=(4, 3, 5, 3), batch=6):
    model = MLP.build(list(sizes), list(acts), seed=0)
    rng = np.random.default_rng(7)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    x = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch) if loss == "cross_entropy" else \
        rng.standard_normal((batch, sizes[-1]))
    return reference_net(model, x, y, loss)


@pytest.mark.parametrize("kind", KINDS)
def test_equals_the_structured_changes_for_squared_error(kind: str) -> None:
    net = problem()
    for layer in range(net.n_layers):
        idx = np.arange(net.parameter(layer, kind).size)
        h = np.full(idx.size, 1e-3)
        want = loss_changes(net, layer, kind, idx, h, (1.0, -1.0), track=True, chunk_size=None,
                            max_memory=2**20)
        got = loss_changes_any(net, layer, kind, idx, h, (1.0, -1.0), track=True,
                               chunk_size=3, max_memory=2**20)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10, atol=1e-16)
        np.testing.assert_array_equal(got[1], want[1])  # the same kink flags


@pytest.mark.parametrize("kind", KINDS)
def test_cross_entropy_changes_equal_full_forward_differences(kind: str) -> None:
    net = problem("cross_entropy", acts=("tanh", "sigmoid", "linear"))
    assert isinstance(net.loss_function, SoftmaxCrossEntropy)
    for layer in range(net.n_layers):
        theta = net.parameter(layer, kind)
        idx = np.arange(theta.size)
        D, _ = loss_changes_any(net, layer, kind, idx, np.full(idx.size, 1e-3), (1.0,),
                                track=False, chunk_size=None, max_memory=2**20)
        for k in idx:
            weights = [w.copy() for w in net.weights]
            biases = [b.copy() for b in net.biases]
            a = net.x.copy()
            for m in range(net.n_layers):
                if m == layer:
                    target = {"weights": weights[m], "biases": biases[m], "inputs": a}[kind]
                    target.reshape(-1)[k] += 1e-3
                a = net.activations[m].forward(a @ weights[m] + biases[m])
            want = net.loss_function.value(a, net.t) - net.loss()
            assert D[0, k] == pytest.approx(want, rel=1e-9, abs=1e-15), (layer, kind, k)


def test_complex_step_through_cross_entropy_is_the_derivative() -> None:
    net = problem("cross_entropy", acts=("tanh", "softplus", "linear"))
    grads = net.backprop()
    idx = np.arange(net.weights[0].size)
    D, _ = loss_changes_any(net, 0, "weights", idx, np.full(idx.size, 1e-200), (1j,),
                            track=False, chunk_size=None, max_memory=2**20)
    np.testing.assert_allclose(np.imag(D[0]) / 1e-200, grads[0].weights.reshape(-1),
                               rtol=1e-12, atol=1e-17)


def test_a_value_loss_is_evaluated_as_given() -> None:
    model = MLP.build([3, 4, 2], ["tanh", "linear"], seed=1)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    pair = (lambda t, p: float(np.sum((p - t) ** 4)), lambda t, p: 4 * (p - t) ** 3)
    net = reference_net(model, x, y, pair)
    assert isinstance(net.loss_function, ValueLoss)
    g = net.backprop()
    D, _ = loss_changes_any(net, 1, "biases", np.arange(2), np.full(2, 1e-5), (1.0, -1.0),
                            track=False, chunk_size=None, max_memory=2**20)
    np.testing.assert_allclose((D[0] - D[1]) / 2e-5, g[1].biases.reshape(-1), rtol=1e-6)
