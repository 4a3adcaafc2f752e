"""The method registry: one object per checking method, each turning a context into rows."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP, get_loss
from verify.check import analytic_gradients
from verify.compare import METHODS, TOLERANCES, Tolerance
from verify.methods import CHECK_METHODS, CheckContext
from verify.reference import KINDS, reference_net


def context(**kw) -> CheckContext:
    model = MLP.build([3, 4, 2], ["relu", "tanh"], seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    analytic, _ = analytic_gradients(model, x, y, get_loss("exact"))
    return CheckContext(model=model, net=reference_net(model, x, y), analytic=analytic, **kw)


def test_registry_has_every_method_of_compare_in_order() -> None:
    assert tuple(CHECK_METHODS) == METHODS
    assert all(method.name == name for name, method in CHECK_METHODS.items())


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_one_passing_row_per_layer_and_kind_in_row_order(method: str) -> None:
    result = CHECK_METHODS[method].run(context(seed=1))
    assert [row.path for row in result.rows] == [
        f"layers[{layer}].{kind}" for layer in range(2) for kind in KINDS
    ]
    assert all(row.passed and row.method == method for row in result.rows)
    assert {"step", "kinks"} <= set(result.info)
    assert (result.seed == 1) == (method == "directional")


@pytest.mark.parametrize("method", METHODS)
def test_kinds_select_the_rows(method: str) -> None:
    result = CHECK_METHODS[method].run(context(kinds=("biases",), seed=0))
    assert [row.path for row in result.rows] == ["layers[0].biases", "layers[1].biases"]


def test_tolerance_is_the_table_row_unless_overridden() -> None:
    assert context().tolerance_for("central") == TOLERANCES[("float64", "central")]
    assert context().tolerance_for("autograd", "float32") == TOLERANCES[("float32", "autograd")]
    override = Tolerance(1.0, 0.0)
    assert context(tolerance=override).tolerance_for("central") is override


def test_record_of_a_gradient_backward_did_not_set_is_a_failing_row() -> None:
    ctx = context()
    ctx.analytic[(1, "weights")] = None
    rec = ctx.record(1, "weights", np.zeros((4, 2)), method="central",
                     tolerance=ctx.tolerance_for("central"))
    assert not rec.passed and rec.mismatched == rec.size == 8
    assert rec.message().endswith("layers[1].d_weights was not set by backward()")
