"""The report's suite: every case builds, is reproducible, and is what its description says."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import DenseLayer
from verify.report.suite import CASES, DTYPES, get_cases, loss_convention_ratio

REQUIRED = {
    "lesson-example", "deep-tanh", "sigmoid-saturated", "mixed-activations",
    "leaky-relu-softplus", "wide-layer", "batch-1", "width-1", "several-outputs",
    "float32-vs-float64",
}


def test_suite_has_every_required_case_documented():
    assert REQUIRED <= set(CASES)
    for case in CASES.values():
        assert len(case.description) > 40, case.name


@pytest.mark.parametrize("name", list(CASES))
def test_case_builds_reproducibly_in_each_dtype(name):
    case = CASES[name]
    for dtype in DTYPES:
        a = case.build(seed=7, dtype=dtype)
        b = case.build(seed=7, dtype=dtype)
        assert a.x.dtype == np.dtype(dtype) and a.model.layers[0].weights.dtype == np.dtype(dtype)
        assert a.x.shape[1] == a.model.sizes[0] and a.y.shape == (a.x.shape[0], a.model.sizes[-1])
        for la, lb in zip(a.model.layers, b.model.layers, strict=True):
            np.testing.assert_array_equal(la.weights, lb.weights)
            np.testing.assert_array_equal(la.biases, lb.biases)
        np.testing.assert_array_equal(a.x, b.x)
    other = case.build(seed=8)
    assert not np.array_equal(other.model.layers[0].weights,
                              case.build(seed=7).model.layers[0].weights)


def test_lesson_example_is_the_walkthrough_network():
    from reference_mlp import walkthrough

    problem = CASES["lesson-example"].build(seed=42)
    assert problem.network == "3 -> 4 relu -> 1 linear, batch 4"
    np.testing.assert_array_equal(problem.model.layers[0].weights,
                                  DenseLayer(3, 4, "relu", seed=42).weights)
    np.testing.assert_array_equal(problem.model.layers[1].weights,
                                  DenseLayer(4, 1, "linear", seed=43).weights)
    # The walkthrough prints its predictions; ours, formatted the same way, must be there.
    text = walkthrough.run(seed=42)
    assert walkthrough._fmt(problem.model.forward(problem.x)) in text


def test_shapes_promised_by_the_descriptions():
    assert CASES["batch-1"].build(seed=1).x.shape[0] == 1
    assert set(CASES["width-1"].build(seed=1).model.sizes) == {1}
    assert max(CASES["wide-layer"].build(seed=1).model.sizes) >= 512
    layers = CASES["mixed-activations"].build(seed=1).model.layers
    acts = {layer.activation.name for layer in layers}
    assert acts == {"relu", "tanh", "sigmoid", "softplus", "leaky_relu", "linear"}


def test_sigmoid_case_is_saturated():
    problem = CASES["sigmoid-saturated"].build(seed=42)
    problem.model.forward(problem.x)
    z = problem.model.layers[0].pre_activation
    assert np.median(np.abs(z)) > 4  # sigmoid'(4) ~ 0.018


def test_relu_at_kinks_puts_pre_activations_at_the_kink():
    problem = CASES["relu-at-kinks"].build(seed=42)
    problem.model.forward(problem.x)
    z = problem.model.layers[0].pre_activation
    assert 0 < z[0, 0] <= 2e-9
    assert (np.abs(z) <= 1e-6).sum() == 1  # one kink per stencil at most


def test_variants_and_loss_ratio():
    labels = [v.label for v in CASES["several-outputs"].variants()]
    assert labels == ["several-outputs[loss=exact]", "several-outputs[loss=lesson]"]
    assert [v.label for v in CASES["float32-vs-float64"].variants()] == [
        "float32-vs-float64[float64]", "float32-vs-float64[float32]"]
    assert [v.label for v in CASES["float32-vs-float64"].variants("float32")] == [
        "float32-vs-float64"]
    problem = CASES["several-outputs"].build(seed=42)
    assert loss_convention_ratio(problem) == pytest.approx(problem.y.shape[1])
    assert loss_convention_ratio(CASES["lesson-example"].build(seed=42)) == pytest.approx(1.0)


def test_get_cases_names_unknown_cases_and_valid_ones():
    assert [c.name for c in get_cases(["width-1", "batch-1", "width-1"])] == ["width-1", "batch-1"]
    with pytest.raises(ValueError, match=r"unknown case\(s\) 'nope'; expected names from: "
                                         r"lesson-example, deep-tanh"):
        get_cases(["nope"])
