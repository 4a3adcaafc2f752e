"""verify.bench and verify.cost: the arithmetic a check needs, the bound, and the bench's parts.

Speed targets are met in benchmarks (``python -m verify bench``), never in timed tests: these
tests check what the benchmark computes, not how fast anything runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP
from verify.bench import _networks, _targets, matmul_rate, measure
from verify.cost import check_flops, column_flops, rank1_flops, setup_flops, tensor_flops
from verify.reference import reference_net


def net_of(sizes, acts, batch=5, seed=0):
    model = MLP.build(list(sizes), list(acts), seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    return reference_net(model, rng.standard_normal((batch, sizes[0])),
                         rng.standard_normal((batch, sizes[-1])))


def test_flops_of_a_relu_relu_linear_network_by_hand() -> None:
    net = net_of((6, 5, 4, 3), ("relu", "relu", "linear"))
    B = 5
    on1 = (net.zs[1] > 0).sum(axis=1)  # units on in layer 1, per example
    # A change entering layer 2 (the linear output, 3 units): the quadratic, 4 per example,
    # after alpha = W_2[j] . W_2[j] and beta = W_2[j] . 2 (y[b] - t[b]) (2 n m (1 + B)).
    np.testing.assert_array_equal(rank1_flops(net, 2), np.full(B, 4))
    assert setup_flops(net, 2) == 2 * 4 * 3 * (1 + B)
    # Entering relu layer 1, just before the linear output: the quadratic alpha d**2 + beta d
    # (4 per example), after alpha and beta are computed once: per example W_1[:, on] @ W_2[on]
    # (2 n K m) and two inner products of m terms per unit of its input (4 n m).
    np.testing.assert_array_equal(rank1_flops(net, 1), np.full(B, 4))
    assert setup_flops(net, 1) == 2 * 5 * on1.sum() * 3 + 4 * 5 * 3 * B
    assert setup_flops(net, 0) == 0  # no quadratic there
    # A weight W_0[i, j]: 4 per live example of column j, then that example's rank-1 change.
    live = net.zs[0] > 0
    want = 4 * live.sum(axis=0) + (rank1_flops(net, 1)[:, None] * live).sum(axis=0)
    np.testing.assert_array_equal(column_flops(net, 0, "weights"), want)
    setup = setup_flops(net, 1)
    assert tensor_flops(net, 0, "weights") == 2 * 6 * want.sum() + setup  # both signs
    # Biases and inputs take the general path: layer 1's units on, the output's product.
    general = 2 * on1 + 2 * on1 * 3 + 3 + 5 * 3
    np.testing.assert_array_equal(rank1_flops(net, 1, quadratic=False), general)
    assert tensor_flops(net, 0, "biases") == 2 * (3 * live.sum(axis=0)
                                                  + (general[:, None] * live).sum(axis=0)).sum()
    # The output layer's own weights: the column over the batch and the loss on it.
    assert tensor_flops(net, 2, "weights") == 2 * 4 * 3 * (4 + 0 + 5) * B
    # An input a_1[b, i]: a rank-1 change of row b entering layer 1, carried in full.
    assert tensor_flops(net, 1, "inputs") == 2 * 5 * general.sum()
    # The weights of layer 1 enter the linear output: its quadratic, and its setup.
    assert tensor_flops(net, 1, "weights") == 2 * 5 * (
        4 * (net.zs[1] > 0).sum(axis=0) + 4 * (net.zs[1] > 0).sum(axis=0)).sum() + setup_flops(
            net, 2)
    # A subset of entries: the same count restricted to them.
    idx = np.array([0, 7, 29])
    assert tensor_flops(net, 0, "weights", idx) == 2 * want[idx % 5].sum() + setup
    assert check_flops(net, ("weights", "biases")) == sum(
        tensor_flops(net, layer, kind) for layer in range(3) for kind in ("weights", "biases"))
    # A sigmoid output is not linear: its change is carried in full, 2 m + 1 m + 5 m.
    sig = net_of((6, 5, 3), ("relu", "sigmoid"))
    np.testing.assert_array_equal(rank1_flops(sig, 1), np.full(B, 8 * 3))
    assert setup_flops(sig, 1) == 0


def test_flops_of_a_deeper_relu_network_carry_the_units_on() -> None:
    net = net_of((6, 5, 4, 4, 3), ("relu", "relu", "relu", "linear"))
    # Entering relu layer 1, two layers before the output: its K units on, the next layer's
    # product and bias, then layer 2's quadratic (relu layer 2 is just before the output).
    on1 = (net.zs[1] > 0).sum(axis=1)
    np.testing.assert_array_equal(rank1_flops(net, 1), 2 * on1 + 2 * on1 * 4 + 4 + 1 * 4
                                  + 2 * 4 * 3 + 3 + 5 * 3)
    np.testing.assert_array_equal(rank1_flops(net, 2), np.full(5, 4))
    assert setup_flops(net, 1) == 0 and setup_flops(net, 2) > 0


def test_flops_of_smooth_layers_carry_every_unit() -> None:
    net = net_of((4, 6, 2), ("tanh", "linear"))
    # tanh is not dropped: every example is live, and its change enters the linear output
    # as the quadratic (4 per example).
    np.testing.assert_array_equal(column_flops(net, 0, "weights"), np.full(6, 4 * 5 + 5 * 4))
    # Through a tanh hidden layer before that output, the change of a whole row is carried:
    # 2 m and tanh on its 3 units, the output's product and bias, the loss change.
    deep = net_of((4, 6, 3, 2), ("tanh", "tanh", "linear"))
    np.testing.assert_array_equal(rank1_flops(deep, 1),
                                  np.full(5, (2 + 1) * 3 + 2 * 3 * 2 + 2 + 5 * 2))
    with pytest.raises(ValueError, match="kind must be one of"):
        tensor_flops(net, 0, "bias")


def test_matmul_rate_is_a_positive_flop_rate() -> None:
    wall, cpu = matmul_rate(n=64, repeats=2)
    assert wall > 1e6 and cpu > 1e6


def test_measure_reports_time_arithmetic_and_memory_limit() -> None:
    result = measure((16, 8, 4, 3), ("weights", "biases"), 1)
    n_params = 16 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3
    assert result["parameters"] == n_params and result["entries"] == n_params
    assert result["seconds"] > 0 and result["cpu_seconds"] >= 0 and result["flops"] > 0
    data = (32 * 16 + 32 * 3) * 8
    assert result["limit_mib"] == pytest.approx(1.5 * (256 * 2**20 + n_params * 8 + data) / 2**20)
    assert result["peak_mib"] >= result["before_mib"] > 0
    # The work before any perturbation is part of the check, so it takes less than the check.
    assert 0 < result["floor_seconds"] < result["seconds"]


def test_floor_work_runs_the_models_forward_and_backward(monkeypatch) -> None:
    import verify.bench as bench

    model = MLP.build([4, 3, 2], ["relu", "linear"], seed=0)
    calls = []
    forward, backward = MLP.forward, MLP.backward
    monkeypatch.setattr(MLP, "forward", lambda self, x: calls.append("f") or forward(self, x))
    monkeypatch.setattr(MLP, "backward", lambda self, d: calls.append("b") or backward(self, d))
    bench._floor_work(model, np.ones((5, 4)), np.zeros((5, 2)))
    assert calls == ["f", "b"]


def test_targets_say_ok_or_miss() -> None:
    text, ok = _targets({"bound_ratio": {"a": 1.5}, "cpu_bound_ratio": {"a": 1.2},
                         "memory": {"a (W, b)": (100.0, 300.0)}, "largest_seconds": 31.0})
    assert not ok
    assert "MISS 3072-1024-512-10, every weight and bias: 31 s (target <= 30 s)" in text
    assert "ok   a within 2x of the bound: 1.50x (by CPU time: 1.20x)" in text
    assert "ok   a (W, b) peak RSS 100 MiB (target <= 300 MiB" in text
    text, ok = _targets({"bound_ratio": {"a": 3.0}, "cpu_bound_ratio": {"a": 2.5},
                         "floor_ratio": {"a": 2.25}, "memory": {}})
    assert not ok
    assert ("MISS a within 2x of the bound: 3.00x (by CPU time: 2.50x; before its first "
            "perturbation: 2.25x)") in text


def test_networks_option() -> None:
    assert _networks("256-64-32-10,8-4-2") == [(256, 64, 32, 10), (8, 4, 2)]
    import argparse

    for bad in ("", "8-x-2", "8-4", "0-4-2"):
        with pytest.raises(argparse.ArgumentTypeError):
            _networks(bad)
