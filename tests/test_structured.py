"""verify.structured: loss changes of perturbation chunks equal direct loss differences."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from reference_mlp import MLP
from verify.finite_diff import numerical_gradient
from verify.reference import KINDS, reference_net
from verify.structured import loss_changes
from verify.threads import worker_pool


def problem(sizes=(4, 3, 5, 2), acts=("leaky_relu", "relu", "tanh"), batch=7, seed=0):
    model = MLP.build(list(sizes), list(acts), seed=seed)
    rng = np.random.default_rng(seed + 100)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    return reference_net(model, rng.standard_normal((batch, sizes[0])),
                         rng.standard_normal((batch, sizes[-1])))


def direct_change(net, layer: int, kind: str, index: int, step: float) -> float:
    """L(theta + step e_index) - L(theta), by a full forward pass."""
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    a = net.x
    for k in range(net.n_layers):
        if k == layer:
            target = {"weights": weights[k], "biases": biases[k]}.get(kind)
            if target is None:
                a = a.copy()
                target = a
            target.reshape(-1)[index] += step
        a = net.activations[k].forward(a @ weights[k] + biases[k])
    return float(net.squared_error.value(a, net.t) - net.squared_error.value(net.y, net.t))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("acts", [("tanh", "sigmoid", "linear"), ("leaky_relu", "relu", "tanh"),
                                  ("relu", "relu", "linear")])
def test_loss_changes_equal_full_forward_differences(kind: str, acts) -> None:
    net = problem(acts=acts)
    for layer in range(net.n_layers):
        size = net.parameter(layer, kind).size
        idx = np.arange(size)
        h = np.full(size, 1e-3)
        D, F = loss_changes(net, layer, kind, idx, h, (1.0, -1.0), track=True, chunk_size=None,
                            max_memory=2**20)
        assert D.shape == F.shape == (2, size)
        for s, sign in enumerate((1.0, -1.0)):
            want = [direct_change(net, layer, kind, i, sign * 1e-3) for i in idx]
            np.testing.assert_allclose(D[s], want, rtol=1e-9, atol=1e-15,
                                       err_msg=f"layers[{layer}].{kind}")


def test_complex_step_changes_carry_the_derivative_in_their_imaginary_part() -> None:
    net = problem(acts=("tanh", "sigmoid", "softplus"))
    idx = np.arange(net.weights[0].size)
    D, F = loss_changes(net, 0, "weights", idx, np.full(idx.size, 1e-200), (1j,), track=False,
                        chunk_size=3, max_memory=2**20)
    assert np.iscomplexobj(D) and not F.any()
    central = numerical_gradient(net, 0, "weights").estimate.reshape(-1)
    np.testing.assert_allclose(D[0].imag / 1e-200, central, rtol=1e-7, atol=1e-10)


def test_threaded_chunks_equal_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.structured as structured

    net = problem()
    pools: list[str] = []

    def counting_pool(workers: int) -> ThreadPoolExecutor:
        pools.append(kind)
        return worker_pool(workers)

    monkeypatch.setattr(structured, "worker_pool", counting_pool)
    monkeypatch.setattr(structured, "idle_workers", lambda: 1)
    one = [numerical_gradient(net, 0, kind, chunk_size=1).estimate for kind in KINDS]
    assert pools == []
    monkeypatch.setattr(structured, "idle_workers", lambda: 3)
    many = []
    for kind in KINDS:
        many.append(numerical_gradient(net, 0, kind, chunk_size=1).estimate)
    # 12 weights and 28 inputs entries make enough chunks for threads; 3 biases do not.
    assert set(pools) == {"weights", "inputs"}
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)
