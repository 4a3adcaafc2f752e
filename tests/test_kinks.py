"""verify.kinks: exact kink screens and distances, and which activations the complex step suits."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from reference_mlp import MLP
from reference_mlp.activations import ACTIVATIONS, Activation
from verify.kinks import complex_safe, crossings, flips, kink_distance
from verify.reference import ReferenceNet, reference_net


def relu_net(seed: int = 0) -> ReferenceNet:
    model = MLP.build([4, 6, 5, 2], ["relu", "leaky_relu", "linear"], seed=seed)
    rng = np.random.default_rng(seed)
    return reference_net(model, rng.standard_normal((7, 4)), rng.standard_normal((7, 2)))


def test_flips_compare_sides_of_every_kink_over_the_given_axes() -> None:
    zref = np.array([[-1.0, 0.5], [2.0, -0.1]])
    zp = np.array([[[-0.5, 0.2], [2.0, 0.1]], [[1.0, 0.5], [2.0, -0.1]]])
    np.testing.assert_array_equal(flips(zp, zref, (0.0,), (-2, -1)), [True, True])
    np.testing.assert_array_equal(flips(zp, zref, (0.0,), (-1,)), [[False, True], [True, False]])
    np.testing.assert_array_equal(flips(zp, zref, (5.0,), (-2, -1)), [False, False])


def test_crossings_screen_a_rank_1_change_exactly() -> None:
    # Layer 1 of the net: z_1 + d * W_1[j, :] in row b crosses 0 iff d leaves (down, up).
    net = relu_net()
    up, down = crossings(net, 1)
    B, n_in = net.acts[1].shape
    assert up.shape == down.shape == (1, B, n_in) and np.all(up > 0) and np.all(down < 0)
    rng = np.random.default_rng(1)
    for _ in range(200):
        b, j = rng.integers(B), rng.integers(n_in)
        d = rng.choice([up[0, b, j], down[0, b, j]]) * rng.choice([0.999, 1.001])
        if not np.isfinite(d):  # no change in that direction reaches a kink
            d = np.sign(d) * 1e6
        z = net.zs[1][b] + d * net.weights[1][j]
        crossed = bool(np.any((z > 0) != (net.zs[1][b] > 0)))
        assert crossed == (d >= up[0, b, j] or d <= down[0, b, j])
    assert crossings(net, 1)[0] is up  # cached


def test_crossings_at_the_kink_and_through_zero_weights() -> None:
    # Example 0 has every pre-activation of layer 1 exactly at the kink (its input row and the
    # biases are 0): any change through a non-zero weight crosses (either way, conservatively),
    # and a unit of the input whose weights are all 0 moves nothing at all.
    model = MLP.build([3, 4, 3, 2], ["relu", "relu", "linear"], seed=2)
    for layer in model.layers:
        layer.biases[...] = 0.0
    model.layers[1].weights[0, :] = 0.0
    model.layers[1].weights[1, 0] = 0.0
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3))
    x[0] = 0.0
    net = reference_net(model, x, rng.standard_normal((5, 2)))
    assert np.all(net.zs[1][0] == 0)
    up, down = crossings(net, 1)
    assert up[0, 0, 0] == np.inf and down[0, 0, 0] == -np.inf
    assert np.all(up[0, 0, 1:] <= 1e-300) and np.all(down[0, 0, 1:] >= -1e-300)
    assert np.all(up[0, 0, 1:] > 0) and np.all(down[0, 0, 1:] < 0)
    # Elsewhere the thresholds are exact to the margin: just inside crosses nothing, just
    # outside crosses.
    for b in range(1, 5):
        for j in range(1, 4):
            for edge in (up[0, b, j], down[0, b, j]):
                if not np.isfinite(edge) or abs(edge) <= 1e-300:  # at the kink, as above
                    continue
                for factor, crossed in ((1 - 1e-6, False), (1 + 1e-6, True)):
                    z = net.zs[1][b] + edge * factor * net.weights[1][j]
                    assert bool(np.any((z > 0) != (net.zs[1][b] > 0))) == crossed, (b, j, edge)


def test_crossings_near_a_kink_closer_than_a_reciprocal_can_show_are_crossed() -> None:
    # z = 5e-324 (subnormal): 1 / z overflows. The threshold must not be made wider than the
    # true -z / W (4.9e-314 here): a change of -1e-310 turns the unit off and must be flagged.
    # (A first version clipped 1 / z to the largest float: threshold -5.5e-299, not flagged.)
    model = MLP.build([2, 1, 1, 1], ["relu", "relu", "linear"], seed=0)
    net = reference_net(model, np.ones((1, 2)), np.ones((1, 1)))
    net.weights[1] = np.array([[1e-10]])
    net.zs[1] = np.array([[5e-324]])
    net.cache.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        up, down = crossings(net, 1)
    d = -1e-310
    assert (5e-324 + d * 1e-10 > 0) is False  # it crosses
    assert d <= down[0, 0, 0] and -d >= up[0, 0, 0]


def test_kink_distance_is_the_step_that_reaches_a_kink_of_the_layer_itself() -> None:
    net = relu_net(2)
    for kind in ("weights", "biases", "inputs"):
        theta = net.parameter(0, kind)
        idx = np.arange(theta.size)
        dist = kink_distance(net, 0, kind, idx)
        assert dist.shape == idx.shape and np.all(dist > 0)
        for i in idx:
            for factor, crossed in ((0.999, False), (1.001, True)):
                if not np.isfinite(dist[i]):
                    continue
                hits = []
                for sign in (1.0, -1.0):
                    p = theta.copy()
                    p.reshape(-1)[i] += sign * factor * dist[i]
                    a, W, b = net.x, net.weights[0], net.biases[0]
                    a, W, b = {"weights": (a, p, b), "biases": (a, W, p),
                               "inputs": (p, W, b)}[kind]
                    hits.append(bool(np.any((a @ W + b > 0) != (net.zs[0] > 0))))
                assert any(hits) == crossed, (kind, i, factor)
    tanh = reference_net(MLP.build([2, 2], "tanh", seed=0), np.ones((1, 2)), np.ones((1, 2)))
    assert np.all(kink_distance(tanh, 0, "weights", np.arange(4)) == np.inf)


@dataclass(frozen=True)
class Abs(Activation):
    name: str = "abs"
    smooth: bool = False
    kinks: tuple[float, ...] = (0.0,)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return np.abs(z)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        return np.sign(z)


def test_complex_step_suits_analytic_activations_and_relu_like_ones_only() -> None:
    net = relu_net()
    assert complex_safe(net, 0)
    assert all(complex_safe(reference_net(MLP.build([2, 2], [name], seed=0), np.ones((1, 2)),
                                          np.ones((1, 2))), 0) for name in ACTIVATIONS)
    net.activations[2] = Abs()
    assert not complex_safe(net, 0) and not complex_safe(net, 2)
