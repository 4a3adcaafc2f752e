"""verify.sampling: sampled checks (entries=, budget_s=): coverage as stated, seeded
reproducibility, a wrong entry found whenever it is in the sample and reported as not checked
otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from test_trust import expected_failures, seeded

from reference_mlp import MLP
from verify import check_gradients
from verify.bugs import LAYER_BUGS, LOSS_BUGS
from verify.compare import Tolerance, compare
from verify.finite_diff import numerical_gradient
from verify.reference import reference_net
from verify.sampling import entries_count, sample_indices, sampled_entries


def problem(sizes=(12, 9, 7, 3), acts=("relu", "relu", "linear"), batch=6, seed=0,
            dtype=np.float64):
    model = MLP.build(list(sizes), list(acts), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = (0.1 * rng.standard_normal(layer.biases.shape)).astype(dtype)
    return model, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


@pytest.mark.parametrize("shape", [(12, 9), (9, 12), (1, 7), (7, 1), (30, 4), (5, 5)])
@pytest.mark.parametrize("k", [1, 3, 5, 9, 12, 20, 44, 1000])
def test_sample_covers_rows_and_columns_as_the_budget_allows(shape, k) -> None:
    rows, cols = shape
    idx = sample_indices(shape, k, np.random.default_rng(k))
    assert idx.size == min(k, rows * cols)
    assert np.all(np.diff(idx) > 0)  # sorted, distinct
    assert idx.min() >= 0 and idx.max() < rows * cols
    r, c = np.divmod(idx, cols)
    # every row and every column once k reaches max(rows, cols); else k distinct ones
    assert np.unique(r).size == min(rows, idx.size)
    assert np.unique(c).size == min(cols, idx.size)


def test_sample_is_uniform_beyond_the_covering_part() -> None:
    # Over many seeds every entry of a 6 x 5 tensor is drawn about equally often.
    counts = np.zeros(30)
    for seed in range(3000):
        counts[sample_indices((6, 5), 10, np.random.default_rng(seed))] += 1
    expected = 3000 * 10 / 30
    assert np.all(np.abs(counts - expected) < 0.15 * expected)


def test_entries_count_and_biases_in_full() -> None:
    assert entries_count(5, 100) == 5 and entries_count(500, 100) == 100
    assert entries_count(0.05, 100) == 5 and entries_count(0.001, 100) == 1
    assert entries_count(0.051, 100) == 6 and entries_count(1.0, 7) == 7
    assert sampled_entries((1, 50), 3, seed=0, layer=0, kind="biases") is None
    assert sampled_entries((4, 5), 20, seed=0, layer=0, kind="weights") is None  # all of them
    assert sampled_entries((4, 5), 19, seed=0, layer=0, kind="weights").size == 19


def test_records_messages_and_info_say_what_was_checked() -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, entries=10, seed=5)
    assert check.passed and check.sampled and check.seed == 5
    for row in check.rows:
        if row.parameter == "biases":
            assert row.checked is None and not row.sampled  # always in full
        else:
            assert row.checked == min(10, row.size)
            assert row.sampled == (row.size > 10)
            if row.sampled:
                text = row.message()
                assert f"checked 10 of {row.size:,} entries" in text
                assert f"the other {row.size - 10:,} not checked" in text
        assert row.to_dict()["checked"] == row.checked
    checked, total = check.entries
    assert check.info["entries"] == {"checked": checked, "total": total, "sampled": True}
    assert check.info["sample"] == {"entries": 10, "seed": 5}
    text = check.message()
    assert "all" not in text.split(";")[0]  # never "all 9 gradients match"
    assert f"checked {checked:,} of {total:,} entries" in text
    assert f"{total - checked:,} entries not checked" in text
    full = check_gradients(model, x, y)
    assert not full.sampled and full.message().startswith("central: all 9 gradients match")
    assert all(row.checked is None for row in full.rows)


def test_fraction_of_every_tensor() -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, entries=0.25, seed=1, kinds=("weights",))
    for row in check.rows:
        assert row.checked == min(row.size, int(np.ceil(0.25 * row.size)))


def test_seeded_sample_is_reproducible_and_seed_dependent() -> None:
    model, x, y = problem()
    a = check_gradients(model, x, y, entries=7, seed=11)
    b = check_gradients(model, x, y, entries=7, seed=11)
    c = check_gradients(model, x, y, entries=7, seed=12)
    assert [r.to_dict() for r in a.rows] == [r.to_dict() for r in b.rows]
    assert [r.worst_index for r in a.rows] != [r.worst_index for r in c.rows]
    drawn = check_gradients(model, x, y, entries=7)  # seed drawn and recorded
    assert isinstance(drawn.seed, int) and drawn.info["sample"]["seed"] == drawn.seed
    again = check_gradients(model, x, y, entries=7, seed=drawn.seed)
    assert [r.worst_index for r in again.rows] == [r.worst_index for r in drawn.rows]
    # The sample of a tensor does not depend on which other tensors are checked.
    w_only = check_gradients(model, x, y, entries=7, seed=11, kinds=("weights",))
    assert [r.worst_index for r in w_only.rows] == [
        r.worst_index for r in a.rows if r.parameter == "weights"]


@pytest.mark.parametrize("kind", ["weights", "inputs"])
def test_sampled_values_equal_the_full_check_at_the_same_entries(kind) -> None:
    model, x, y = problem(sizes=(20, 16, 8, 3), batch=9)
    net = reference_net(model, x, y)
    for layer in range(net.n_layers):
        full = numerical_gradient(net, layer, kind).estimate.reshape(-1)
        idx = sampled_entries(net.parameter(layer, kind).shape, 0.2, seed=3, layer=layer,
                              kind=kind)
        part = numerical_gradient(net, layer, kind, indices=idx).estimate.reshape(-1)
        np.testing.assert_allclose(part[idx], full[idx], rtol=1e-9, atol=1e-13)
        rest = np.setdiff1d(np.arange(full.size), idx)
        assert np.isnan(part[rest]).all()


def one_wrong_entry(model: MLP, layer: int, entry: tuple[int, int], factor: float = 1.02):
    """A copy of ``model`` whose backward gets one entry of ``layers[layer].d_weights`` wrong."""
    bad = model.copy()
    cls = type(bad.layers[layer])

    class OneWrong(cls):  # type: ignore[misc, valid-type]
        def backward(self, d_outputs):
            out = super().backward(d_outputs)
            self.d_weights = self.d_weights.copy()
            self.d_weights[entry] *= factor
            return out

    bad.layers[layer].__class__ = OneWrong
    return bad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_wrong_entry_is_found_exactly_when_it_is_in_the_sample(dtype) -> None:
    model, x, y = problem(sizes=(16, 10, 6, 3), dtype=dtype)
    net = reference_net(model, x, y)
    shape = net.weights[0].shape
    k = 20  # of 160
    full = numerical_gradient(net, 0, "weights").estimate
    # an entry whose gradient is large enough for a 2% error to fail the float32 tolerance too
    entry = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(full)), shape))
    flat = entry[0] * shape[1] + entry[1]
    bad = one_wrong_entry(model, 0, entry)
    assert not check_gradients(bad, x, y, localize=False)["layers[0].weights"].passed
    found = missed = 0
    for seed in range(40):
        idx = sampled_entries(shape, k, seed=seed, layer=0, kind="weights")
        check = check_gradients(bad, x, y, entries=k, seed=seed, kinds=("weights",),
                                localize=False)
        row = check["layers[0].weights"]
        assert row.checked == k and row.size == shape[0] * shape[1]
        if flat in idx:
            found += 1
            assert not row.passed and row.mismatched == 1 and row.worst_index == entry
            assert f"1 / {k} checked entries mismatched" in row.message()
            assert "a seeded sample was checked" in check.message()
        else:
            missed += 1
            assert row.passed  # honest: the wrong entry was not checked, and it says so
            assert f"the other {row.size - k:,} not checked" in row.message()
            assert "entries not checked" in check.message()
    assert found and missed  # both cases happened (k / n = 1/8 per seed)


@pytest.mark.parametrize("bug", list(LAYER_BUGS) + list(LOSS_BUGS))
def test_every_catalogued_bug_is_found_by_small_samples(bug: str) -> None:
    # The bugs of verify.bugs are wrong in whole rows, columns or tensors: a sample of 3 entries
    # per tensor (3 distinct rows and columns) flags exactly the rows the full check flags.
    model, x, y, loss = seeded(bug)
    want = expected_failures(bug, len(model.layers))
    for seed in range(4):
        check = check_gradients(model, x, y, loss=loss, entries=3, seed=seed)
        assert {row.path for row in check.failures} == want, (seed, check.message())


def test_compare_on_a_sample_reports_in_the_full_shape() -> None:
    analytic = np.arange(12.0).reshape(3, 4)
    reference = analytic.copy()
    reference[2, 1] += 1.0  # wrong, in the sample
    reference[0, 3] += 5.0  # wrong, not in the sample
    tol = Tolerance(1e-9, 0.0)
    kw = dict(path="p", layer=0, activation="relu", parameter="weights", method="central",
              tolerance=tol)
    rec = compare(analytic, reference, checked=np.array([0, 5, 9]), **kw)
    assert rec.shape == (3, 4) and rec.size == 12 and rec.checked == 3
    assert rec.mismatched == 1 and rec.worst_index == (2, 1) and rec.sampled
    assert rec.analytic == 9.0 and rec.reference == 10.0
    # kink intervals are taken at the sampled entries
    mask = np.zeros((3, 4), dtype=bool)
    mask[2, 1] = True
    left, right = np.full((3, 4), np.nan), np.full((3, 4), np.nan)
    left[2, 1], right[2, 1] = 8.5, 9.5
    ok = compare(analytic, reference, checked=np.array([0, 5, 9]), kink_mask=mask,
                 kink_bounds=(left, right), **kw)
    assert ok.passed and ok.kinks == 1 and ok.checked == 3
    everything = compare(analytic, reference, **kw)
    assert everything.checked is None and everything.mismatched == 2


def test_budget_picks_full_or_sampled_and_says_which() -> None:
    model, x, y = problem()
    roomy = check_gradients(model, x, y, budget_s=60.0)
    assert roomy.info["budget"]["mode"] == "full" and not roomy.sampled
    assert roomy.info["entries"]["sampled"] is False
    assert "budget 60 s: full check" in roomy.message()
    tight = check_gradients(model, x, y, budget_s=1e-6, seed=2)
    assert tight.info["budget"]["mode"] == "sampled" and tight.sampled
    assert tight.info["budget"]["predicted_full_s"] > 0
    assert "budget 1e-06 s: sampled check" in tight.message()
    assert "entries not checked" in tight.message()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"entries": 0}, "entries must be a count >= 1 or a fraction in"),
    ({"entries": -3}, "entries must be a count >= 1"),
    ({"entries": 1.5}, r"entries must be .* fraction in \(0, 1\]"),
    ({"entries": 0.0}, "entries must be"),
    ({"entries": True}, "entries must be"),
    ({"entries": "10"}, "entries must be"),
    ({"budget_s": 0}, "budget_s must be a finite number of seconds > 0"),
    ({"budget_s": float("nan")}, "budget_s must be"),
    ({"entries": 3, "budget_s": 1.0}, "give entries or budget_s, not both"),
    ({"entries": 3, "method": "directional"}, "apply to the per-entry methods"),
    ({"budget_s": 1.0, "method": "autograd"}, "apply to the per-entry methods"),
])
def test_bad_sampling_arguments(kwargs, match) -> None:
    model, x, y = problem()
    with pytest.raises(ValueError, match=match):
        check_gradients(model, x, y, **kwargs)


@pytest.mark.parametrize("method", ["forward", "complex_step"])
def test_other_per_entry_methods_sample_too(method) -> None:
    model, x, y = problem(acts=("tanh", "relu", "linear"))
    check = check_gradients(model, x, y, method=method, entries=5, seed=0)
    assert check.passed and check.sampled
    assert {r.checked for r in check.rows if r.parameter != "biases"} == {5}
