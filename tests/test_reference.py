"""verify.reference: the float64 reference network, its squared-error loss and its backprop."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import LOSSES, MLP, Loss, get_loss
from reference_mlp.activations import ACTIVATIONS
from verify.reference import (
    KINDS,
    SquaredError,
    forward_inplace,
    iter_parameters,
    loss_scale,
    model_dtype,
    reference_net,
)


def problem(dtype=np.float64, sizes=(4, 5, 3), acts=("tanh", "linear"), batch=6, seed=0):
    model = MLP.build(list(sizes), list(acts), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for layer in model.layers:
        layer.biases = (0.1 * rng.standard_normal(layer.biases.shape)).astype(dtype)
    return model, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


def test_float32_model_is_evaluated_on_its_own_rounded_numbers() -> None:
    model, x, y = problem(dtype=np.float32)
    net = reference_net(model, x, y)
    assert net.weights[0].dtype == np.float64 and model_dtype(model) == np.float32
    np.testing.assert_array_equal(net.weights[0], model.layers[0].weights.astype(np.float64))
    np.testing.assert_array_equal(net.x, x.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(net.t, y.astype(np.float32).astype(np.float64))


def test_forward_pass_is_the_models() -> None:
    model, x, y = problem(sizes=(4, 5, 6, 3), acts=("relu", "sigmoid", "linear"))
    net = reference_net(model, x, y)
    np.testing.assert_array_equal(net.y, model.forward(x))
    assert [z.shape for z in net.zs] == [(6, 5), (6, 6), (6, 3)]
    assert net.n_layers == 3 and net.parameter(1, "inputs") is net.acts[1]
    assert list(iter_parameters(net)) == [(i, k) for i in range(3) for k in KINDS]
    with pytest.raises(ValueError, match="kind must be one of"):
        net.parameter(0, "gradients")
    with pytest.raises(ValueError, match="no layers"):
        reference_net(MLP(), x, y)


def test_loss_scale_probe() -> None:
    assert loss_scale("exact", (4, 3)) == 1 / 12
    assert loss_scale("lesson", (4, 3)) == 1 / 4
    wrapped = Loss("wrapped", lambda t, p: get_loss("exact").value(t, p), lambda t, p: p - t, "")
    assert loss_scale(wrapped, (4, 3)) == 1 / 12
    cubic = Loss("cubic", lambda t, p: float(np.sum(np.abs(p - t) ** 3)), lambda t, p: p, "")
    with pytest.raises(ValueError, match="scaled sum of squares"):
        loss_scale(cubic, (4, 3))


@pytest.mark.parametrize("convention", ["exact", "lesson"])
def test_squared_error_is_each_conventions_loss_and_derivative(convention: str) -> None:
    rng = np.random.default_rng(1)
    y, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss = get_loss(convention)
    sq = SquaredError(loss_scale(convention, t.shape))
    assert sq.value(y, t) == pytest.approx(loss.value(t, y), rel=1e-15)
    np.testing.assert_allclose(sq.gradient(y, t), loss.derivative(t, y), rtol=1e-15)
    np.testing.assert_array_equal(sq.gradient(y, t), sq.scale * sq.residual2(y, t))


def test_loss_change_needs_no_cancellation() -> None:
    rng = np.random.default_rng(2)
    y, t = 1e8 + rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    dy = 1e-6 * rng.standard_normal((3, 4, 2))
    sq = SquaredError(0.125)
    exact = [sq.scale * float(np.sum(d * (d + 2 * (y - t)))) for d in dy]
    got = sq.change(dy, sq.residual2(y, t)).sum(axis=-1)
    np.testing.assert_allclose(got, exact, rtol=1e-12)
    naive = [sq.value(y + d, t) - sq.value(y, t) for d in dy]  # loses ~all digits at 1e8
    assert not np.allclose(naive, exact, rtol=1e-6)


def test_loss_value_works_on_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    y, t = np.arange(6.0).reshape(3, 2), np.ones((3, 2))
    sq = SquaredError(0.5)
    assert float(sq.value(torch.tensor(y), torch.tensor(t))) == sq.value(y, t)


@pytest.mark.parametrize("convention", list(LOSSES))
def test_backprop_equals_the_models_own_backward(convention: str) -> None:
    model, x, y = problem(sizes=(4, 5, 6, 3), acts=("relu", "tanh", "linear"))
    if convention == "cross_entropy":
        y = np.eye(3)[np.random.default_rng(5).integers(0, 3, x.shape[0])]
    net = reference_net(model, x, y, convention)
    grads = net.backprop()
    work = model.copy()
    pred = work.forward(x)
    work.backward(get_loss(convention).derivative(y, pred))
    upstream = get_loss(convention).derivative(y, pred)
    for layer, g in zip(reversed(work.layers), reversed(grads), strict=True):
        np.testing.assert_allclose(g.upstream, upstream, rtol=1e-13, atol=1e-15)
        for kind in KINDS:
            np.testing.assert_allclose(getattr(g, kind), getattr(layer, f"d_{kind}"),
                                       rtol=1e-13, atol=1e-15)
        upstream = layer.d_inputs


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_inplace_gives_the_activations_numbers(name: str) -> None:
    act = ACTIVATIONS[name]
    z = np.random.default_rng(3).standard_normal((4, 5)) * 3
    z[0, 0] = 0.0
    want = act.forward(z.copy())
    np.testing.assert_array_equal(forward_inplace(act, z.copy()), want)
    zc = z + 1e-3j
    np.testing.assert_array_equal(forward_inplace(act, zc.copy()), act.forward(zc))
