"""Lessons 2 and 5 on the parent's side, no child (verify/grade/descent.py, course_checks.py):
the replay of SGD is the reference's training loop, and every known bug is named from its
numbers alone - and only then."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_mlp import MLP, DenseLayer
from reference_mlp.optim import train
from verify.grade.assignments import builtin
from verify.grade.cases import (
    BatchesCase,
    GdRunCase,
    GdStepCase,
    Part,
    ShuffleCase,
    TrainCase,
    encode_matrix,
)
from verify.grade.cases import TestCase as GradedTest
from verify.grade.checking import Check, check_part
from verify.grade.descent import (
    RUN_BUGS,
    STEP_BUGS,
    TRAIN_HYPOTHESES,
    gd_run,
    gd_step,
    sgd_update,
    simulate,
    targets,
)
from verify.grade.kinds import KINDS
from verify.grade.limits import Limits

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _part(assignment: str, task_id: str, seed: int) -> tuple[GradedTest, Part]:
    for test in builtin(assignment).draw(seed):
        for part in test.parts:
            if part.task_id == task_id:
                return test, part
    raise KeyError(task_id)


def _check(test: GradedTest, part: Part, value: dict[str, Any]) -> Check:
    c = Check()
    check_part(test, part, {"id": part.task_id, "ok": True, "value": value}, c, Limits())
    return c


def _names(c: Check) -> list[str]:
    return c.settle()


# ------------------------------------------------------------------------------ lesson 2


@given(seed=seeds, bug=st.sampled_from(STEP_BUGS))
def test_every_step_bug_is_named_and_the_right_step_passes(seed: int, bug: str) -> None:
    test, part = _part("gradient-descent", "step_row", seed)
    case = part.case
    assert isinstance(case, GdStepCase)
    right = gd_step(case.x, case.gradient, case.learning_rate)
    c = _check(test, part, {"value": encode_matrix(right)})
    assert all(r.passed for r in c.scored) and _names(c) == []
    wrong = gd_step(case.x, case.gradient, case.learning_rate, bug)
    c = _check(test, part, {"value": encode_matrix(wrong)})
    assert not all(r.passed for r in c.scored) and _names(c) == [bug]


@given(seed=seeds, bug=st.sampled_from(RUN_BUGS))
def test_every_loop_bug_is_named_and_the_right_loop_passes(seed: int, bug: str) -> None:
    test, part = _part("gradient-descent", "loop", seed)
    case = part.case
    assert isinstance(case, GdRunCase)
    right, calls = gd_run(case.A, case.c, case.x0, case.learning_rate, case.steps)
    c = _check(test, part, {"value": encode_matrix(right), "calls": calls})
    assert all(r.passed for r in c.scored) and _names(c) == [] and c.lines == []
    wrong, calls = gd_run(case.A, case.c, case.x0, case.learning_rate, case.steps, bug)
    c = _check(test, part, {"value": encode_matrix(wrong), "calls": calls})
    assert not all(r.passed for r in c.scored) and _names(c) == [bug]


def test_a_loop_that_evaluates_the_gradient_every_step_is_not_called_lazy() -> None:
    """The x of 'gradient evaluated once' must come with one evaluation to be named."""
    test, part = _part("gradient-descent", "loop", 5)
    case = part.case
    assert isinstance(case, GdRunCase)
    wrong, _ = gd_run(case.A, case.c, case.x0, case.learning_rate, case.steps,
                      "gd_gradient_not_updated")
    c = _check(test, part, {"value": encode_matrix(wrong), "calls": case.steps})
    assert _names(c) == []
    assert not any("evaluated the gradient" in line for line in c.lines)


def test_a_learning_rate_that_does_not_converge_is_refused() -> None:
    kind = KINDS["gd_converge"]
    with pytest.raises(ValueError, match=r"^t\.steps: 20 steps at learning rate 0\.01 get only"):
        kind.resolve({"steps": 20, "learning_rate": 0.01}, "t")
    with pytest.raises(ValueError, match=r"^t\.learning_rate: 1 makes gradient descent diverge"):
        KINDS["gd_run"].resolve({"steps": 50, "learning_rate": 1.0}, "t")


# ------------------------------------------------------------------------------ lesson 5


def test_the_replay_of_sgd_is_the_reference_training_loop() -> None:
    """simulate() on the batches reference_mlp.optim.train draws ends where train ends."""
    test, part = _part("training", "train_sgd", 3)
    case = part.case
    assert isinstance(case, TrainCase)
    model = MLP()
    for spec in case.layers:
        layer = DenseLayer(spec.n_inputs, spec.n_neurons, spec.activation)
        layer.weights, layer.biases = spec.weights.copy(), spec.biases.copy()
        model.add_layer(layer)
    train(model, case.x, case.y, epochs=case.epochs, batch_size=case.batch_size,
          learning_rate=case.learning_rate, seed=11, loss="lesson")
    rng, n, steps = np.random.default_rng(11), case.x.shape[0], []
    for _ in range(case.epochs):
        order = rng.permutation(n)
        steps += [order[i:i + case.batch_size].tolist() for i in range(0, n, case.batch_size)]
    result = simulate(case.layers, case.x, case.y, steps, case.learning_rate)
    for layer, w, b in zip(model.layers, result.weights, result.biases, strict=True):
        np.testing.assert_allclose(layer.weights, w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.biases, b, rtol=1e-12, atol=1e-12)


def _train_answer(case: TrainCase, steps: list[list[int]], bug: str | None) -> dict[str, Any]:
    """What a runner would send for a student whose train has ``bug``."""
    ws = [s.weights for s in case.layers]
    bs = [s.biases for s in case.layers]
    acts = [s.activation for s in case.layers]
    params, batches = [], []
    for idx, yb in zip(steps, targets(case.y, steps, bug), strict=True):
        params.append([{"weights": encode_matrix(w), "biases": encode_matrix(b)}
                       for w, b in zip(ws, bs, strict=True)])
        batches.append(encode_matrix(case.x[idx]))
        ws, bs = sgd_update(ws, bs, acts, case.x[idx], yb, case.learning_rate, bug=bug)
    run = {"history": [[1.0] * (case.epochs - 1) + [0.5]],
           "layers": [{"weights": encode_matrix(w), "biases": encode_matrix(b)}
                      for w, b in zip(ws, bs, strict=True)],
           "batches": batches, "params": params, "backward_calls": len(steps)}
    return {"runs": [run] * len(case.seeds)}


def _shuffled_steps(case: TrainCase, seed: int) -> list[list[int]]:
    rng, n, steps = np.random.default_rng(seed), case.x.shape[0], []
    for _ in range(case.epochs):
        order = rng.permutation(n)
        steps += [order[i:i + case.batch_size].tolist() for i in range(0, n, case.batch_size)]
    return steps


@settings(max_examples=30)  # each example replays 3 x 40 SGD steps per hypothesis
@given(seed=seeds, bug=st.sampled_from(TRAIN_HYPOTHESES))
def test_every_training_bug_is_named_from_the_steps_it_changes(seed: int, bug: str) -> None:
    test, part = _part("training", "train_sgd", seed)
    case = part.case
    assert isinstance(case, TrainCase)
    steps = _shuffled_steps(case, seed)
    c = _check(test, part, _train_answer(case, steps, None))
    assert all(r.passed for r in c.scored), [r.message() for r in c.scored if not r.passed]
    assert _names(c) == []
    c = _check(test, part, _train_answer(case, steps, bug))
    assert not all(r.passed for r in c.scored) and _names(c) == [bug]


def test_training_orders_are_read_from_what_the_model_saw() -> None:
    test, part = _part("training", "train_sgd", 4)
    case = part.case
    assert isinstance(case, TrainCase)
    n, size = case.x.shape[0], case.batch_size
    plain = [list(range(i, min(i + size, n))) for i in range(0, n, size)] * case.epochs
    c = _check(test, part, _train_answer(case, plain, None))
    assert _names(c) == ["not_shuffled"]
    once = _shuffled_steps(case, 1)[:len(plain) // case.epochs] * case.epochs
    assert _names(_check(test, part, _train_answer(case, once, None))) == \
        ["same_order_every_epoch"]
    full = [s for s in _shuffled_steps(case, 2) if len(s) == size]
    assert _names(_check(test, part, _train_answer(case, full, None))) == ["last_batch_dropped"]


def _shuffle_answer(case: ShuffleCase, orders: list[tuple[list[int], list[int]]]) -> dict:
    return {"calls": [{"x": encode_matrix(case.x[ox]), "y": encode_matrix(case.y[oy])}
                      for ox, oy in orders]}


def test_shuffling_is_judged_by_what_came_back() -> None:
    test, part = _part("training", "shuffle", 6)
    case = part.case
    assert isinstance(case, ShuffleCase)
    n = case.x.shape[0]
    rng = np.random.default_rng(0)
    a, b = rng.permutation(n).tolist(), rng.permutation(n).tolist()
    ident = list(range(n))
    cases = {
        (): [(a, a), (a, a), (b, b)],
        ("not_shuffled_together",): [(a, ident), (a, ident), (b, ident)],
        ("not_shuffled",): [(ident, ident)] * 3,
        ("seed_not_used",): [(a, a), (b, b), (ident[::-1], ident[::-1])],
        ("seed_ignored",): [(a, a), (a, a), (a, a)],
    }
    for expected, orders in cases.items():
        c = _check(test, part, _shuffle_answer(case, orders))
        assert tuple(_names(c)) == expected, (expected, _names(c))
        assert all(r.passed for r in c.scored) is (expected == ())


def test_batches_name_a_dropped_last_batch_only_when_the_rest_is_right() -> None:
    test, part = _part("training", "batches_rest", 2)
    case = part.case
    assert isinstance(case, BatchesCase)
    n, size = case.x.shape[0], case.batch_size

    def answer(starts: list[int]) -> dict[str, Any]:
        return {"batches": [{"x": encode_matrix(case.x[s:s + size]),
                             "y": encode_matrix(case.y[s:s + size])} for s in starts]}

    assert n % size
    right = list(range(0, n, size))
    c = _check(test, part, answer(right))
    assert all(r.passed for r in c.scored) and len(c.scored) == len(right) + 1
    c = _check(test, part, answer(right[:-1]))
    assert _names(c) == ["last_batch_dropped"]
    c = _check(test, part, answer([s + 1 for s in right[:-1]]))
    assert _names(c) == [] and not any(r.passed for r in c.scored[1:])
