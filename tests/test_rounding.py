"""verify.rounding: the allowance covers the actual rounding of correct float32 backward passes."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP
from verify.check import analytic_gradients
from verify.reference import KINDS, reference_net
from verify.rounding import local_rounding_bounds, rounding_bounds, unit_roundoff

ACTS = [("relu", "linear"), ("tanh", "sigmoid", "linear"), ("softplus", "leaky_relu", "linear")]


def problem(acts, seed, scale, loss):
    sizes = [6] + [9] * (len(acts) - 1) + [4]
    model = MLP.build(sizes, list(acts), seed=seed, dtype=np.float32)
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal((12, 6)) + scale).astype(np.float32)
    y = rng.integers(0, 4, 12) if loss == "cross_entropy" else rng.standard_normal((12, 4))
    return model, x, y


@pytest.mark.parametrize("loss", ["exact", "cross_entropy"])
@pytest.mark.parametrize("acts", ACTS, ids=["-".join(a) for a in ACTS])
def test_the_allowance_covers_the_float32_backward_on_unscaled_data(acts, loss) -> None:
    for seed in range(4):
        for scale in (1.0, 100.0):
            model, x, y = problem(acts, seed, scale, loss)
            analytic, _ = analytic_gradients(model, x, y, loss)
            net = reference_net(model, x, y, loss)
            bounds = rounding_bounds(net, np.float32)
            for layer, grads in enumerate(net.backprop()):
                for kind in KINDS:
                    err = np.abs(analytic[(layer, kind)] - getattr(grads, kind))
                    assert np.all(err <= bounds[(layer, kind)]), (seed, scale, layer, kind)


def test_the_allowance_is_small_next_to_well_scaled_gradients() -> None:
    model, x, y = problem(("tanh", "sigmoid", "linear"), 0, 1.0, "exact")
    net = reference_net(model, x, y)
    per = net.backprop()
    for dtype, most in ((np.float32, 1e-3), (np.float64, 1e-11)):
        bounds = rounding_bounds(net, dtype)
        for layer, grads in enumerate(per):
            for kind in KINDS:
                scale = np.abs(getattr(grads, kind)).max()
                assert bounds[(layer, kind)].max() < most * scale, (dtype, layer, kind)
    assert unit_roundoff(np.float32) == 2.0**-24 and unit_roundoff(np.complex128) == 2.0**-53


def test_the_local_allowance_covers_one_float32_layer_fed_the_true_gradient() -> None:
    model, x, y = problem(("tanh", "relu", "linear"), 1, 100.0, "exact")
    net = reference_net(model, x, y)
    per = net.backprop()
    bounds = local_rounding_bounds(net, per, np.float32)
    for i, layer in enumerate(model.copy().layers):
        layer.forward(net.acts[i].astype(np.float32))
        layer.backward(per[i].upstream.astype(np.float32))
        for kind in KINDS:
            err = np.abs(getattr(layer, f"d_{kind}") - getattr(per[i], kind))
            assert np.all(err <= bounds[(i, kind)]), (i, kind)
