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


def _chain(layers, x, d, dtype, from_outputs=False):
    """A correct forward and backward in ``dtype``, as a student writes it (derivatives of
    sigmoid and tanh from the outputs when ``from_outputs``): (outputs, [(dW, db, dx)])."""
    from reference_mlp.activations import get_activation

    a, saved, outs = x.astype(dtype), [], []
    for W, b, name in layers:
        z = a @ W.astype(dtype) + b.astype(dtype)
        saved.append((a, z))
        a = get_activation(name).forward(z).astype(dtype)
        outs.append(a)
    g, grads = d.astype(dtype), []
    for (W, _, name), (xl, z), out in zip(layers[::-1], saved[::-1], outs[::-1], strict=True):
        act = get_activation(name)
        if from_outputs and name in ("sigmoid", "tanh"):
            fp = out * (1 - out) if name == "sigmoid" else 1 - out * out
        else:
            fp = act.derivative(z).astype(dtype)
        dz = g * fp
        grads.append((xl.T @ dz, dz.sum(axis=0, keepdims=True), dz @ W.astype(dtype).T))
        g = grads[-1][2]
    return outs, grads[::-1]


@pytest.mark.parametrize("from_outputs", [False, True], ids=["derivative_of_z", "from_outputs"])
@pytest.mark.parametrize("acts", [("tanh",), ("sigmoid",), ("relu",), ("linear",),
                                  ("sigmoid", "tanh"), ("relu", "tanh", "sigmoid")],
                         ids=lambda a: "-".join(a))
def test_dense_bounds_cover_float32_chains_whose_sums_cancel(acts, from_outputs) -> None:
    """The grader's allowance (``dense_rounding_bounds``) on the grader's own draws: rows of
    inputs scaled so that a pre-activation reaches +-800 beside ordinary rows, where
    ``d_weights = x.T @ dz`` sums large terms that cancel (a relative tolerance alone failed
    correct float32 files there)."""
    from reference_mlp.activations import get_activation
    from verify.grade.cases import draw_net_case
    from verify.rounding import dense_rounding_bounds

    sizes = [3] + [4] * len(acts)
    for seed in range(60):
        case = draw_net_case(np.random.default_rng(seed), sizes, list(acts), (6,), tails=800.0)
        layers = [(s.weights, s.biases, s.activation) for s in case.layers]
        x, d = case.rounds[0]
        exact = dense_rounding_bounds([(W, b, get_activation(n)) for W, b, n in layers], x, d,
                                      np.float64)
        bounds = dense_rounding_bounds([(W, b, get_activation(n)) for W, b, n in layers], x, d,
                                       np.float32)
        outs, grads = _chain(layers, x, d, np.float32, from_outputs)
        ref, want = _chain(layers, x, d, np.float64)
        for j, out in enumerate(outs):
            assert np.all(np.abs(out - ref[j]) <= bounds[j]["output"]), (seed, j, "output")
            # float64's own bound is far smaller: the allowance is float32's, not a fudge.
            assert np.all(exact[j]["weights"] < 1e-9) and bounds[j]["weights"].max() > 1e-7
        for j, ((dW, db, dx), (rW, rb, rx)) in enumerate(zip(grads, want, strict=True)):
            for got, exp, kind in ((dW, rW, "weights"), (db, rb, "biases"), (dx, rx, "inputs")):
                assert np.all(np.abs(got - exp) <= bounds[j][kind]), (seed, j, kind)


def test_dense_bounds_do_not_hide_an_error_of_the_size_of_a_bug() -> None:
    """On ordinary numbers the allowance is a fraction of GRADE_TOLERANCE (1e-5 + 1e-4 |e|), and
    everywhere far below a 1% error of the terms summed: every catalogued bug stays visible."""
    from reference_mlp.activations import get_activation
    from verify.grade.cases import draw_net_case
    from verify.grade.diagnosis import GRADE_TOLERANCE
    from verify.rounding import dense_rounding_bounds

    for seed in range(20):
        for tails in (0.0, 800.0):
            case = draw_net_case(np.random.default_rng(seed), [3, 4, 2], ["tanh", "relu"], (6,),
                                 tails=tails)
            x, d = case.rounds[0]
            layers = [(s.weights, s.biases, get_activation(s.activation)) for s in case.layers]
            bounds = dense_rounding_bounds(layers, x, d, np.float32)
            W0 = case.layers[0].weights
            terms = np.abs(x).T @ np.abs(d @ case.layers[1].weights.T)  # |x|.T @ |dz| bound
            assert np.all(bounds[0]["weights"] <= 1e-4 * terms + 1e-30)
            if not tails:
                z = x @ W0 + case.layers[0].biases
                allowed = GRADE_TOLERANCE.allowed(np.tanh(z))
                assert np.all(bounds[0]["output"] <= allowed)
