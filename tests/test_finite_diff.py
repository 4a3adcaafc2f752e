"""Structured finite differences: equal to the plain loop, exact kinks, bounded chunks."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP, get_loss
from verify.finite_diff import DEFAULT_STEPS, numerical_gradient, stencil_crossings
from verify.loop import central_loop
from verify.reference import KINDS, reference_net

NETS = {
    "tanh": ([4, 5, 3], "tanh"),
    "sigmoid-softplus-linear": ([3, 4, 5, 2], ["sigmoid", "softplus", "linear"]),
    "relu": ([5, 6, 4, 3], "relu"),
    "leaky-relu-tanh": ([4, 3, 5, 2], ["leaky_relu", "relu", "tanh"]),
    "relu-output": ([3, 4, 2], ["tanh", "relu"]),
}


def problem(name: str, *, batch: int = 5, seed: int = 0, dtype=np.float64):
    sizes, acts = NETS[name]
    model = MLP.build(sizes, acts, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for layer in model.layers:
        layer.biases = (0.1 * rng.standard_normal(layer.biases.shape)).astype(dtype)
    x = rng.standard_normal((batch, sizes[0]))
    y = rng.standard_normal((batch, sizes[-1]))
    return model, x, y


def analytic(model: MLP, x, y, loss="exact"):
    work = model.copy()
    pred = work.forward(x)
    work.backward(get_loss(loss).derivative(y, pred))
    return {(i, k): getattr(layer, f"d_{k}") for i, layer in enumerate(work.layers) for k in KINDS}


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("kind", KINDS)
def test_structured_equals_plain_loop(name: str, kind: str) -> None:
    model, x, y = problem(name)
    net = reference_net(model, x, y)
    for layer in range(net.n_layers):
        fast = numerical_gradient(net, layer, kind)
        slow = central_loop(net, layer, kind, full_forward=True)
        # The loop computes L(theta+h) - L(theta-h) whole: round-off ~ eps * L / h ~ 1e-11.
        np.testing.assert_allclose(fast.estimate, slow, rtol=1e-7, atol=1e-9,
                                   err_msg=f"layers[{layer}].{kind}")
        assert fast.estimate.shape == net.parameter(layer, kind).shape


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_chunking_does_not_change_the_result(chunk_size: int) -> None:
    model, x, y = problem("relu", batch=7)
    net = reference_net(model, x, y)
    for layer in range(net.n_layers):
        for kind in KINDS:
            base = numerical_gradient(net, layer, kind).estimate
            other = numerical_gradient(net, layer, kind, chunk_size=chunk_size).estimate
            np.testing.assert_allclose(other, base, rtol=1e-9, atol=1e-11)


def test_tiny_memory_budget_still_works() -> None:
    model, x, y = problem("tanh")
    net = reference_net(model, x, y)
    a = numerical_gradient(net, 0, "weights", max_memory=64).estimate
    b = numerical_gradient(net, 0, "weights").estimate
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["tanh", "sigmoid-softplus-linear"])
def test_central_and_complex_step_accuracy_on_smooth_nets(name: str) -> None:
    model, x, y = problem(name)
    net = reference_net(model, x, y)
    grads = analytic(model, x, y)
    for (layer, kind), g in grads.items():
        cs = numerical_gradient(net, layer, kind, method="complex_step").estimate
        np.testing.assert_allclose(cs, g, rtol=1e-12, atol=1e-15)
        c = numerical_gradient(net, layer, kind, method="central").estimate
        np.testing.assert_allclose(c, g, rtol=1e-7, atol=1e-9)
        f = numerical_gradient(net, layer, kind, method="forward").estimate
        np.testing.assert_allclose(f, g, rtol=1e-4, atol=1e-6)
        # Forward differences are measurably worse than central ones: the methods differ.
        assert np.abs(f - g).max() > np.abs(c - g).max() or np.abs(f - g).max() == 0


def test_complex_step_on_relu_is_exact_piecewise() -> None:
    model, x, y = problem("relu")
    net = reference_net(model, x, y)
    for (layer, kind), g in analytic(model, x, y).items():
        cs = numerical_gradient(net, layer, kind, method="complex_step")
        assert cs.kinks == 0
        np.testing.assert_allclose(cs.estimate, g, rtol=1e-12, atol=1e-15)


def naive_crossings(net, layer: int, kind: str, r: float) -> np.ndarray:
    """One entry at a time: does theta +- h move any pre-activation at/after ``layer`` across 0?"""
    theta = net.parameter(layer, kind)
    out = np.zeros(theta.size, dtype=bool)
    for k in range(theta.size):
        for sign in (1.0, -1.0):
            p = theta.copy().reshape(-1)
            p[k] += sign * r * max(1.0, abs(p[k]))
            p = p.reshape(theta.shape)
            a = p if kind == "inputs" else net.acts[layer]
            for m in range(layer, net.n_layers):
                W = p if (m == layer and kind == "weights") else net.weights[m]
                b = p if (m == layer and kind == "biases") else net.biases[m]
                z = a @ W + b
                if net.activations[m].kinks and np.any((z > 0) != (net.zs[m] > 0)):
                    out[k] = True
                a = net.activations[m].forward(z)
    return out.reshape(theta.shape)


@pytest.mark.parametrize("name", ["relu", "leaky-relu-tanh", "relu-output"])
@pytest.mark.parametrize("kind", KINDS)
def test_kink_detection_is_exact(name: str, kind: str) -> None:
    model, x, y = problem(name, batch=6, seed=3)
    net = reference_net(model, x, y)
    r = 0.05  # a huge step, so that many stencils straddle kinks
    total = 0
    for layer in range(net.n_layers):
        got = stencil_crossings(net, layer, kind, step=r)
        want = naive_crossings(net, layer, kind, r)
        np.testing.assert_array_equal(got, want, err_msg=f"layers[{layer}].{kind}")
        total += int(want.sum())
    assert total > 0  # the test exercised kinks


def relu_at_a_kink(bias: float):
    """One relu unit; example 0's pre-activation is ``bias`` (example 1's is 2.0 + bias)."""
    model = MLP.build([2, 1, 1], ["relu", "linear"], seed=0)
    model.layers[0].weights = np.array([[1.0], [2.0]])
    model.layers[1].weights = np.array([[1.5]])
    model.layers[1].biases = np.array([[0.1]])
    model.layers[0].biases = np.array([[bias]])
    x = np.array([[0.5, -0.25], [1.0, 0.5]])  # x[0] @ W = 0 exactly
    y = np.array([[1.0], [-1.0]])
    return model, x, y


def test_kink_exactly_at_zero_is_checked_against_the_complex_step() -> None:
    model, x, y = relu_at_a_kink(0.0)
    net = reference_net(model, x, y)
    fd = numerical_gradient(net, 0, "biases")
    assert fd.kinks == 1 and fd.refined == 0 and fd.at_kink == 1 and fd.kink_mask.all()
    g = analytic(model, x, y)[(0, "biases")]
    # relu'(0) = 0: only example 1 contributes; the complex step takes the same piece.
    assert fd.left[0, 0] == fd.right[0, 0] == pytest.approx(g[0, 0], rel=1e-12)
    naive = central_loop(net, 0, "biases", step=1e-3)  # the loss really has a kink there
    assert abs(naive[0, 0] - g[0, 0]) > 0.1


def test_zero_inputs_and_biases_put_every_unit_on_its_kink() -> None:
    model = MLP.build([3, 4, 4, 2], ["relu", "leaky_relu", "linear"], seed=1)
    x = np.zeros((2, 3))
    x[1] = [0.3, -0.2, 0.5]
    y = np.ones((2, 2))
    net = reference_net(model, x, y)
    grads = analytic(model, x, y)
    at_kink = 0
    for layer in range(net.n_layers):
        for kind in KINDS:
            fd = numerical_gradient(net, layer, kind)
            at_kink += fd.at_kink
            np.testing.assert_allclose(fd.estimate, grads[(layer, kind)], rtol=1e-6, atol=1e-7)
    assert at_kink > 0


@pytest.mark.parametrize("bias", [1e-6, 1e-10, -1e-12])
def test_near_kink_is_resolved_by_a_step_below_the_kink_distance(bias: float) -> None:
    model, x, y = relu_at_a_kink(bias)
    net = reference_net(model, x, y)
    fd = numerical_gradient(net, 0, "biases")
    assert fd.kinks == 1 and fd.refined == 1
    g = analytic(model, x, y)[(0, "biases")]
    assert fd.left[0, 0] - 1e-7 <= g[0, 0] <= fd.right[0, 0] + 1e-7
    # The base-step central difference is not the derivative: a naive check would cry wolf.
    base = central_loop(net, 0, "biases")
    assert abs(base[0, 0] - g[0, 0]) > 1e-3


def opposite_crossings():
    """Helper B's case: example 0's five pre-activations at +-1e-9, so one stencil moves some
    units on and others off at once (neither one-sided quotient is the current piece's slope)."""
    model = MLP.build([3, 5, 1], ["relu", "linear"], seed=42)
    rng = np.random.default_rng([42, 1])
    x = rng.uniform(-1, 1, (4, 3))
    y = rng.uniform(-1, 1, (4, 1))
    z0 = x[0] @ model.layers[0].weights
    model.layers[0].biases = (-z0 + np.array([1e-9, -1e-9, 1e-9, -1e-9, 1e-9])).reshape(1, -1)
    return model, x, y


def test_opposite_crossings_are_resolved_exactly() -> None:
    model, x, y = opposite_crossings()
    net = reference_net(model, x, y)
    grads = analytic(model, x, y)
    flagged = 0
    for kind in KINDS:
        fd = numerical_gradient(net, 0, kind)
        flagged += fd.kinks
        assert fd.refined == fd.kinks
        g = grads[(0, kind)]
        inside = (fd.left - 1e-7 <= g) & (g <= fd.right + 1e-7)
        assert np.all(inside | ~fd.kink_mask), kind
        np.testing.assert_allclose(fd.estimate, g, rtol=1e-6, atol=1e-7, err_msg=kind)
    assert flagged > 0


def test_default_steps_follow_the_truncation_roundoff_balance() -> None:
    eps = np.finfo(np.float64).eps
    assert DEFAULT_STEPS["central"] == pytest.approx(eps ** (1 / 3))
    assert DEFAULT_STEPS["forward"] == pytest.approx(eps ** 0.5)
