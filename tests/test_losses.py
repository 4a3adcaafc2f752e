"""verify.losses: what a check evaluates for each loss, found by name or by probing its value."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import LOSSES, Loss, cross_entropy
from verify.bugs import buggy_loss
from verify.losses import (
    SoftmaxCrossEntropy,
    SquaredError,
    ValueLoss,
    check_loss,
    prepare_targets,
    resolve_loss,
)


def logits_and_labels(batch=5, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal((batch, k)), np.eye(k)[rng.integers(0, k, batch)]


def test_registry_losses_are_found_by_name() -> None:
    assert check_loss("exact", 5, 3) == SquaredError(1 / 15)
    assert check_loss("lesson", 5, 3) == SquaredError(1 / 5)
    assert check_loss("cross_entropy", 5, 3) == SoftmaxCrossEntropy(1 / 5)


def test_other_losses_are_found_by_probing_their_value() -> None:
    # A buggy derivative keeps the value: still squared error (its derivative is what is checked).
    assert check_loss(buggy_loss("wrong_sign"), 4, 2) == SquaredError(1 / 8)
    summed = Loss("summed_ce", lambda t, p: 4 * cross_entropy(t, p), lambda t, p: p, "")
    assert check_loss(summed, 4, 3) == SoftmaxCrossEntropy(1.0)
    logcosh = (lambda t, p: float(np.sum(np.log(np.cosh(p - t)))), lambda t, p: np.tanh(p - t))
    got = check_loss(logcosh, 4, 3)
    assert isinstance(got, ValueLoss) and not got.complex_ok


def test_pair_of_callables_and_bad_specs() -> None:
    def huber(t, p):
        return float(np.sum(np.abs(p - t)))

    assert resolve_loss((huber, lambda t, p: np.sign(p - t))).name == "huber"
    with pytest.raises(TypeError, match="pair of callables"):
        resolve_loss((huber,))
    with pytest.raises(TypeError, match="loss must be a name"):
        resolve_loss(3)
    with pytest.raises(ValueError, match="unknown loss convention 'huber'"):
        resolve_loss("huber")


def test_cross_entropy_value_gradient_and_change_without_cancellation() -> None:
    y, t = logits_and_labels()
    ce = SoftmaxCrossEntropy(1 / 5)
    assert ce.value(y, t) == pytest.approx(LOSSES["cross_entropy"].value(t, y), rel=1e-14)
    np.testing.assert_allclose(ce.gradient(y, t), LOSSES["cross_entropy"].derivative(t, y),
                               rtol=1e-13, atol=1e-16)
    # A change of 1e-9 on logits of 1e6: the direct difference of two values loses it all.
    big = y + 1e6
    moved = big + 1e-9 * np.random.default_rng(1).standard_normal((2,) + y.shape)
    dy = moved - big  # what the arrays hold (1e6 + 1e-9 rounds)
    exact = [float(np.sum(ce.gradient(big, t) * d)) for d in dy]  # first order: O(dy^2) is 1e-18
    np.testing.assert_allclose(ce.batch_change(big, moved, t), exact, rtol=1e-6)
    naive = [ce.value(m, t) - ce.value(big, t) for m in moved]
    assert not np.allclose(naive, exact, rtol=1e-2, atol=0.0)
    rows = np.array([1, 3])
    got = ce.row_change(big, moved[0, rows], t, rows)
    np.testing.assert_allclose(got, [float(np.sum(ce.gradient(big, t)[r] * dy[0, r]))
                                     for r in rows], rtol=1e-6)


def test_changes_equal_value_differences_for_every_loss() -> None:
    y, t = logits_and_labels(seed=2)
    yp = y + 0.1 * np.random.default_rng(3).standard_normal((3,) + y.shape)
    rows = np.array([0, 4, 2, 1, 3])
    value = ValueLoss(lambda tt, p: float(np.sum(np.log(np.cosh(p - tt)))))
    for loss in (SquaredError(0.25), SoftmaxCrossEntropy(0.2), value):
        want = [loss.value(v, t) - loss.value(y, t) for v in yp]
        np.testing.assert_allclose(loss.batch_change(y, yp, t), want, rtol=1e-10)
        one = yp[:, :, :][:, rows]  # each perturbation moves one example: rows[p] -> yp[.., p]
        got = loss.row_change(y, one, t, rows)
        for q in range(3):
            for p, r in enumerate(rows):
                full = y.copy()
                full[r] = one[q, p]
                assert got[q, p] == pytest.approx(loss.value(full, t) - loss.value(y, t),
                                                  rel=1e-9, abs=1e-15)


def test_value_loss_gradient_is_its_central_difference() -> None:
    y, t = logits_and_labels(seed=4)
    value = ValueLoss(lambda tt, p: float(np.sum(np.log(np.cosh(p - tt)))))
    np.testing.assert_allclose(value.gradient(y, t), np.tanh(y - t), rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="torch twin cannot differentiate"):
        value.torch_value(y, t)


def test_targets_per_loss() -> None:
    labels = np.array([2, 0, 1])
    np.testing.assert_array_equal(prepare_targets(SoftmaxCrossEntropy(1 / 3), labels, 3, 3),
                                  np.eye(3)[labels])
    with pytest.raises(ValueError, match=r"y has 3 columns but 2 were expected"):
        prepare_targets(SquaredError(1.0), np.zeros((3, 3)), 3, 2)
    with pytest.raises(ValueError, match="x has 4 rows but y has 3"):
        prepare_targets(SoftmaxCrossEntropy(1 / 4), labels, 4, 3)
    value = ValueLoss(lambda tt, p: 0.0)
    assert prepare_targets(value, labels, 3, 5) is not None
    with pytest.raises(ValueError, match="non-finite"):
        prepare_targets(value, np.array([1.0, np.nan, 0.0]), 3, 5)
