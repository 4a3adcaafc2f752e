"""Property tests over random correct networks: every method agrees, and none cries wolf.

A failure shrinks to a minimal :class:`NetworkSpec`; the message prints the line that rebuilds
it (``NetworkSpec(...).problem()``) and the check's own message.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from reference_mlp import get_loss
from verify import check_gradients
from verify.strategies import NetworkSpec, network_specs
from verify.tolerance import INCONCLUSIVE_FRACTION

SMOOTH = ("linear", "sigmoid", "tanh", "softplus")
BOTH_DTYPES = (np.float64, np.float32)


def repro(spec: NetworkSpec, method: str) -> str:
    return (f"reproduce: model, x, y = {spec!r}.problem(); "
            f"check_gradients(model, x, y, method={method!r})")


def assert_passes(spec: NetworkSpec, method: str, **kwargs) -> None:
    """Every row a match, except that a float32 row may be ``inconclusive``: a gradient below
    what the float32 round-off of its own backward resolves (summed from terms that cancel) is
    one no check can tell right from wrong in float32, and saying so is the verdict the module
    promises. Never a mismatch, never a root cause; float64 rows always match."""
    model, x, y = spec.problem()
    check = check_gradients(model, x, y, method=method, **kwargs)
    note(repro(spec, method))
    text = f"{repro(spec, method)}\n{check.message()}"
    assert check.root_causes == [], text
    for row in check.rows:
        allowed = ("match", "inconclusive") if row.dtype == "float32" else ("match",)
        assert row.verdict in allowed, text
        if row.verdict == "inconclusive":  # the round-off bound, not the method, is what is large
            assert row.resolution >= INCONCLUSIVE_FRACTION and row.allowance > 0, text


@given(network_specs(dtypes=BOTH_DTYPES))
def test_analytic_equals_central_kink_aware(spec: NetworkSpec) -> None:
    assert_passes(spec, "central")


@given(network_specs(dtypes=BOTH_DTYPES))
def test_analytic_equals_autograd(spec: NetworkSpec) -> None:
    assert_passes(spec, "autograd")


@given(network_specs(activations=SMOOTH))
def test_analytic_equals_complex_step_on_smooth_nets(spec: NetworkSpec) -> None:
    assert_passes(spec, "complex_step")


@given(network_specs(dtypes=BOTH_DTYPES), st.integers(0, 2**32 - 1))
def test_directional_and_forward_pass_on_correct_nets(spec: NetworkSpec, seed: int) -> None:
    assert_passes(spec, "directional", seed=seed)
    assert_passes(spec, "forward")


@given(network_specs(dtypes=BOTH_DTYPES))
def test_gradient_shapes_equal_parameter_shapes(spec: NetworkSpec) -> None:
    model, x, y = spec.problem()
    work = model.copy()
    work.backward(get_loss("exact").derivative(y, work.forward(x)))
    for path, param, grad in work.parameters_and_gradients():
        assert grad.shape == param.shape, path
        assert grad.dtype == param.dtype, path
    for layer in work.layers:
        assert layer.d_inputs.shape == layer.inputs.shape


def mean_loss_gradients(model, x, y, loss: str) -> list[np.ndarray]:
    work = model.copy()
    work.backward(get_loss(loss).derivative(y, work.forward(x)))
    return [g for _, g in work.named_gradients()]


@given(network_specs(), st.data(), st.sampled_from(["exact", "lesson"]))
def test_metamorphic_duplicated_or_permuted_batch(spec: NetworkSpec, data, loss: str) -> None:
    model, x, y = spec.problem()
    base = mean_loss_gradients(model, x, y, loss)
    perm = np.array(data.draw(st.permutations(range(spec.batch)), label="permutation"))
    copies = data.draw(st.integers(2, 3), label="copies")
    for name, (xs, ys) in {
        "permuted": (x[perm], y[perm]),
        "duplicated": (np.tile(x, (copies, 1)), np.tile(y, (copies, 1))),
    }.items():
        for a, b in zip(mean_loss_gradients(model, xs, ys, loss), base, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13, err_msg=name)


# The dedicated no-false-alarm run: many small correct networks, relu included, both dtypes,
# both loss conventions. With the ci profile's 200 examples in each property test above this
# is well over 2000 random networks checked per CI run (see the README).
NO_FALSE_ALARM_EXAMPLES = 3000


@settings(max_examples=NO_FALSE_ALARM_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(network_specs(dtypes=BOTH_DTYPES), st.sampled_from(["exact", "lesson"]),
       st.integers(0, 2**32 - 1))
# A 1-unit bottleneck: layers[0].biases is 2.35e-06, summed from terms whose float32 round-off
# bounds it to 3.9e-07 (17 %): inconclusive in every method (a random draw failed here).
@example(NetworkSpec(sizes=(7, 1, 6, 1), activations=("relu", "sigmoid", "relu"),
                     dtype="float32", batch=7, seed=378536955), "exact", 1)
def test_no_false_alarm_on_thousands_of_correct_networks(
    spec: NetworkSpec, loss: str, seed: int
) -> None:
    assert_passes(spec, "central", loss=loss, localize=False)
    assert_passes(spec, "forward", loss=loss, localize=False)
    assert_passes(spec, "directional", loss=loss, localize=False, seed=seed)


# --- float32 on unscaled inputs, and users' models --------------------------------------------
#
# Unscaled inputs (offsets of 128 as raw pixels, scales up to 1000) saturate sigmoid and tanh
# units: there the gradients are below what float32 (or the method) can resolve, and a row may be
# "inconclusive". What may never happen to a correct model is a "mismatch".

UNSCALED = {"x_scales": (1.0, 64.0, 1000.0), "x_offsets": (0.0, 128.0)}


def assert_no_mismatch(check, repro_line: str) -> None:
    note(repro_line)
    wrong = [r for r in check.rows if r.verdict in ("mismatch", "missing")]
    assert not wrong, f"{repro_line}\n{check.message()}"
    assert check.root_causes == [], f"{repro_line}\n{check.message()}"


@given(network_specs(dtypes=(np.float32,), **UNSCALED), st.sampled_from(["exact", "lesson"]),
       st.integers(0, 2**32 - 1))
def test_no_false_alarm_in_float32_on_unscaled_inputs(spec: NetworkSpec, loss: str,
                                                      seed: int) -> None:
    model, x, y = spec.problem()
    for method in ("central", "forward", "directional", "autograd"):
        check = check_gradients(model, x, y, method=method, loss=loss, seed=seed)
        assert_no_mismatch(check, repro(spec, method))


class UserDense:
    """``x @ W (+ b)``, named like the lesson (``W``, ``b``, ``dW``, ``db``)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, bias: bool, dtype):
        self.W = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)).astype(dtype)
        if bias:
            self.b = (0.1 * rng.normal(size=(1, n_out))).astype(dtype)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b if hasattr(self, "b") else x @ self.W

    def backward(self, d_out):
        self.dW = self.x.T @ d_out
        if hasattr(self, "b"):
            self.db = d_out.sum(axis=0, keepdims=True)
        return d_out @ self.W.T


class Swish:
    def forward(self, z):
        self.z, self.s = z, 1 / (1 + np.exp(-z))
        return z * self.s

    def backward(self, d_out):
        return d_out * (self.s + self.z * self.s * (1 - self.s))


class TwoTanh:
    def forward(self, z):
        self.t = np.tanh(z)
        return 2 * self.t

    def backward(self, d_out):
        return 2 * d_out * (1 - self.t**2)


class ReLU:
    def forward(self, z):
        self.on = z > 0
        return z * self.on

    def backward(self, d_out):
        return d_out * self.on


USER_ACTIVATIONS = {"swish": Swish, "two_tanh": TwoTanh, "relu": ReLU, "none": None}


@st.composite
def user_problems(draw: st.DrawFn):
    """A duck-typed model (dense layers with or without a bias, activations the reference does
    not know, relu), its data and a line that rebuilds it."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4), label="sizes")
    acts = draw(st.lists(st.sampled_from(list(USER_ACTIVATIONS)), min_size=len(sizes) - 2,
                         max_size=len(sizes) - 2), label="activations")
    bias = draw(st.lists(st.booleans(), min_size=len(sizes) - 1, max_size=len(sizes) - 1),
                label="bias")
    dtype = draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    scale, offset = draw(st.sampled_from([(1.0, 0.0), (64.0, 128.0), (1000.0, 0.0)]),
                         label="x scale, offset")
    batch = draw(st.integers(1, 6), label="batch")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    layers: list = []
    for i in range(len(sizes) - 1):
        layers.append(UserDense(sizes[i], sizes[i + 1], rng, bias[i], dtype))
        if i < len(acts) and USER_ACTIVATIONS[acts[i]] is not None:
            layers.append(USER_ACTIVATIONS[acts[i]]())
    x = (offset + scale * rng.standard_normal((batch, sizes[0]))).astype(dtype)
    y = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    return layers, x, y, "relu" not in acts


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(user_problems(), st.integers(0, 2**32 - 1))
def test_no_false_alarm_on_users_models(problem, seed: int) -> None:
    layers, x, y, smooth = problem
    methods = ["central", "forward", "directional"] + (["complex_step"] if smooth else [])
    for method in methods:
        with np.errstate(all="ignore"):
            try:
                check = check_gradients(layers, x, y, method=method, seed=seed)
            except ValueError as exc:  # NotApplicable: the complex step overflowed, say
                assert method == "complex_step" and "does not apply" in str(exc)
                continue
        assert_no_mismatch(check, f"method={method!r}")
