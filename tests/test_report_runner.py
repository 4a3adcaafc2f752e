"""verify.report.runner: checking cases with every method into results, summaries, fuzz."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference_mlp import MLP
from reference_mlp.activations import Tanh
from verify.compare import TOLERANCES
from verify.report.runner import (
    DEFAULT_METHODS,
    check_problem,
    error_check,
    fuzz_specs,
    run_variant,
    summarize,
)
from verify.report.suite import CASES, Problem, describe_network


def test_error_check_is_a_failing_row_with_its_message():
    check = error_check("autograd", "width-1", RuntimeError("boom"))
    assert not check.passed
    assert check.rows[0].message() == (
        "(whole check): the autograd check of width-1 raised RuntimeError: boom")


@dataclass(frozen=True)
class OwnTanh(Tanh):
    name: str = "own_tanh"  # the torch twin cannot mirror an activation it does not know


def test_a_method_that_raises_becomes_a_failing_row_and_the_others_still_run():
    model = MLP.build([2, 3, 1], [OwnTanh(), "linear"], seed=0)
    x, y = np.ones((2, 2)), np.zeros((2, 1))
    problem = Problem(model, x, y, "exact", "float64", describe_network(model, x))
    done: list[str] = []
    checks, seconds = check_problem(problem, ("central", "autograd"), label="own", seed=0,
                                    on_done=done.append)
    assert [c.method for c in checks] == ["central", "autograd"] and checks[0].passed
    assert "the autograd check of own raised ValueError" in checks[1].rows[0].message()
    assert set(seconds) == {"central", "autograd"} and done == ["own central", "own autograd"]


def test_tolerance_override_replaces_only_what_is_given():
    problem = CASES["width-1"].build(seed=42)
    checks, _ = check_problem(problem, ("central",), label="width-1", seed=42,
                              tolerance=(0.5, None))
    tol = checks[0].rows[0].tolerance
    assert (tol.atol, tol.rtol) == (0.5, TOLERANCES[("float64", "central")].rtol)


def test_variant_runs_every_method_and_states_the_loss_convention_ratio():
    variant = CASES["several-outputs"].variants()[1]
    result = run_variant(variant, DEFAULT_METHODS, seed=42)
    assert result.label == "several-outputs[loss=lesson]" and result.loss == "lesson"
    assert [c.method for c in result.checks] == list(DEFAULT_METHODS) and result.passed
    assert "the lesson's output gradient is 3x the exact one (n_outputs = 3)" in result.note


def test_summary_is_per_method_and_dtype_in_method_order():
    results = [run_variant(v, ("autograd", "central"), seed=42)
               for v in CASES["float32-vs-float64"].variants()]
    summary = summarize(results)
    assert [(s.method, s.dtype) for s in summary] == [
        ("central", "float64"), ("central", "float32"),
        ("autograd", "float64"), ("autograd", "float32")]
    assert all(s.rows == 9 and s.failed == 0 for s in summary)


def test_fuzz_specs_are_distinct_and_reproducible_from_the_seed():
    specs = fuzz_specs(6, seed=3, dtype="float32")
    assert len(set(specs)) == 6 and all(spec.dtype == "float32" for spec in specs)
    assert fuzz_specs(6, seed=3, dtype="float32") == specs
