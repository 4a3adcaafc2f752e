"""verify.check_function: any scalar function of NumPy arrays, like gradcheck for NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import verify
from verify import check_function

METHODS = ["central", "forward", "complex_step", "directional"]


def f(w, x, b):
    """A logistic-regression loss: mean log(1 + exp(-(x @ w + b)))."""
    z = x @ w + b
    return np.mean(np.log1p(np.exp(-z)))


def grad(w, x, b):
    z = x @ w + b
    s = -1 / (1 + np.exp(z)) / z.size  # d loss / d z
    return [x.T @ s, np.outer(s, w), np.array([s.sum()])]


def inputs(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=3).astype(dtype), rng.normal(size=(5, 3)).astype(dtype),
            np.array([0.2], dtype=dtype)]


@pytest.mark.parametrize("method", METHODS)
def test_a_right_gradient_passes_every_method(method: str) -> None:
    check = check_function(f, inputs(), grad, method=method, seed=1)
    assert check.passed, check.message()
    assert [row.path for row in check.rows] == ["inputs[0]", "inputs[1]", "inputs[2]"]
    assert [row.shape for row in check.rows] == (
        [(1,)] * 3 if method == "directional" else [(3,), (5, 3), (1,)])
    assert check.info["complex_step"] == "applies"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_two_percent_error_in_one_gradient_is_flagged_in_its_own_row(method, which) -> None:
    def wrong(*args):
        out = grad(*args)
        out[which] = 1.02 * out[which]
        return out

    check = check_function(f, inputs(), wrong, method=method, seed=1)
    assert [row.path for row in check.failures] == [f"inputs[{which}]"], check.message()


def test_gradients_may_be_given_as_arrays_and_one_input_as_an_array() -> None:
    xs = inputs()
    assert check_function(f, xs, grad(*xs)).passed
    v = np.array([0.5, -1.5])
    assert check_function(lambda a: float(np.sum(a**3)), v, lambda a: 3 * a**2).passed


def test_float32_inputs_take_the_float32_row() -> None:
    xs = inputs(dtype=np.float32)
    check = check_function(f, xs, grad)
    assert check.passed and check.info["dtype"] == "float32"
    assert check.rows[0].tolerance.rtol == 1e-4


def test_complex_step_needs_a_function_that_computes_in_complex() -> None:
    def g(v):
        return float(np.sum(np.abs(v) ** 3))

    def dg(v):
        return [3 * v * np.abs(v)]

    v = np.array([0.5, -1.5, 2.0])
    assert check_function(g, [v], dg).passed
    with pytest.raises(ValueError, match="complex_step does not apply to f"):
        check_function(g, [v], dg, method="complex_step")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"method": "autograd"}, ValueError, "'autograd' needs a reference model"),
    ({"step": 0.0}, ValueError, "step must be a finite number > 0"),
    ({"seed": -2}, ValueError, "seed must be a non-negative integer"),
    ({"tolerance": 1e-3}, TypeError, "tolerance must be a Tolerance"),
])
def test_bad_options(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        check_function(f, inputs(), grad, **kwargs)


def test_bad_functions_inputs_and_gradients() -> None:
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a float32 or float64 array"):
        check_function(f, [np.arange(3), np.ones((5, 3)), np.ones(1)], grad)
    with pytest.raises(TypeError, match="f must return a real scalar"):
        check_function(lambda w, x, b: x @ w, inputs(), grad)
    with pytest.raises(ValueError, match=r"one gradient per input \(3\), got 2"):
        check_function(f, inputs(), lambda *a: grad(*a)[:2])
    check = check_function(f, inputs(), lambda *a: [None, *grad(*a)[1:]])
    assert check["inputs[0]"].verdict == "missing" and not check.passed


def test_exported_from_verify() -> None:
    assert "check_function" in verify.__all__


def test_a_kink_at_the_point_is_not_a_mismatch_but_a_value_outside_it_is() -> None:
    # relu at exactly 0: central differences give the mean of the one-sided slopes (0.5 here);
    # any analytic value between the one-sided derivatives (0 and 1) is a valid choice.
    x = np.array([0.0, 1.0, -2.0])
    c = np.array([1.0, 2.0, 3.0])

    def f(v):
        return float(np.sum(np.maximum(v, 0) * c))

    for method in ("central", "forward"):
        check = check_function(f, [x], lambda v: [(v > 0) * c], method=method)
        assert check.passed and check.info["kinks"] == 1, check.message()
    # 1.5 is not in [0, 1]; but f has no derivative there, so that is not shown wrong either:
    # inconclusive, never a match.
    outside = check_function(f, [x], [np.array([1.5, 2.0, 0.0])])
    assert outside["inputs[0]"].verdict == "inconclusive" and outside["inputs[0]"].kinks == 1
    assert "kink" in outside.message()
    off = check_function(f, [x], [np.array([0.0, 2.04, 0.0])])  # 2% off away from the kink
    assert off["inputs[0]"].worst_index == (1,) and not off.passed
