"""verify.loop: the plain per-entry central differences the benchmark and tests compare with."""

from __future__ import annotations

import numpy as np

from reference_mlp import MLP
from verify.finite_diff import numerical_gradient
from verify.loop import central_loop
from verify.reference import KINDS, reference_net


def test_loop_from_the_layer_or_from_the_input_agrees_with_the_structured_differences() -> None:
    model = MLP.build([3, 4, 2], ["tanh", "linear"], seed=0)
    rng = np.random.default_rng(0)
    net = reference_net(model, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))
    for layer in range(net.n_layers):
        for kind in KINDS:
            loop = central_loop(net, layer, kind)
            full = central_loop(net, layer, kind, full_forward=True)
            np.testing.assert_array_equal(loop, full)
            np.testing.assert_allclose(loop, numerical_gradient(net, layer, kind).estimate,
                                       rtol=1e-7, atol=1e-9)


def test_indices_limit_the_loop_and_leave_the_rest_nan() -> None:
    model = MLP.build([3, 4, 2], ["tanh", "linear"], seed=0)
    net = reference_net(model, np.ones((2, 3)), np.zeros((2, 2)))
    out = central_loop(net, 0, "weights", indices=np.array([1, 5]))
    assert out.shape == (3, 4)
    assert np.isfinite(out.reshape(-1)[[1, 5]]).all() and np.isnan(out).sum() == 10
