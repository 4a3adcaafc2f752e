"""Sampled checks: which entries of each gradient a check compares, chosen from a seed.

``check_gradients(..., entries=k)`` (or a fraction, ``entries=0.01``) compares, per tensor,
a seeded random sample of its entries instead of all of them; ``budget_s=`` lets the checker
choose between the full check and a sample from a prediction of the full check's time. What
was checked is in every record (``GradientRecord.checked``: how many entries were compared,
None for all), every message ("checked 2,000 of 524,288 entries") and the report.

The sample of one tensor (:func:`sample_indices`) depends only on the seed, the layer, the
kind and the tensor's shape, so it can be drawn again (:func:`sampled_entries`) to see which
entries were, and were not, compared. Within the budget of k entries every row and every
column is represented (2-D tensors: ``weights`` are (n_in, n_out), ``inputs`` (batch, n_in)):
the first ``max(rows, columns)`` entries pair a random permutation of the rows with one of the
columns, the rest are uniform without repetition. With k below that, the k entries still lie
in k distinct rows and k distinct columns, as far as there are. Biases are always checked in
full (there are few of them).

What a sample can miss: an entry that is not in the sample is not checked, so a single wrong
entry is found only if it is drawn (probability k / n for a tensor of n entries). A bug that
touches a whole row, a whole column or a whole tensor is found whenever the sample touches
that row or column, which with the covering design is always where the budget allows.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cost import tensor_flops
from .reference import KINDS, ReferenceNet

__all__ = ["BudgetPlan", "Entries", "entries_count", "fresh_seed", "plan_budget",
           "sample_indices", "sample_plan", "sampled_entries", "validate_entries"]

Array = NDArray[Any]

Entries = int | float
"""How many entries to check per tensor: a count k >= 1, or a fraction in (0, 1]."""


def validate_entries(entries: Any) -> Entries | None:
    """``entries`` as given, or raise: ``ValueError`` unless None, an integer >= 1 or a
    fraction in (0, 1]."""
    if entries is None:
        return None
    if isinstance(entries, bool) or not isinstance(entries, numbers.Real):
        raise ValueError(f"entries must be a count >= 1 or a fraction in (0, 1], got {entries!r}")
    if isinstance(entries, numbers.Integral):
        if entries < 1:
            raise ValueError(f"entries must be a count >= 1 or a fraction in (0, 1], "
                             f"got {entries!r}")
        return int(entries)
    value = float(entries)
    if not (math.isfinite(value) and 0 < value <= 1):
        raise ValueError(f"entries must be a count >= 1 or a fraction in (0, 1], got {entries!r}")
    return value


def fresh_seed() -> int:
    """A seed from the OS's entropy (as NumPy draws one), cut to 32 bits."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # a SeedSequence made without entropy draws one int
    return entropy % 2**32


def entries_count(entries: Entries, size: int) -> int:
    """The number of entries ``entries`` (a count or a fraction) selects of ``size``."""
    if isinstance(entries, float):
        return min(size, max(1, math.ceil(entries * size)))
    return min(size, int(entries))


def sample_indices(shape: tuple[int, ...], k: int, rng: np.random.Generator) -> Array:
    """k flat indices (sorted, distinct) of an array of ``shape``, drawn from ``rng``.

    The array is read as rows x columns (its first axis against the rest). The first
    ``min(k, max(rows, columns))`` entries pair a random permutation of the rows with one of
    the columns (cycling the shorter one), so every row and every column is represented when
    ``k >= max(rows, columns)``; the rest are drawn uniformly from the others. ``k >= size``:
    every index.
    """
    size = int(np.prod(shape))
    if k >= size:
        return np.arange(size)
    rows = shape[0] if len(shape) >= 2 else 1
    cols = size // rows
    pr, pc = rng.permutation(rows), rng.permutation(cols)
    t = np.arange(min(k, max(rows, cols)))
    picked = pr[t % rows] * cols + pc[t % cols]  # distinct: the longer axis never repeats
    if picked.size < k:
        need = k - picked.size
        if need > size // 4:
            free = np.ones(size, dtype=bool)
            free[picked] = False
            picked = np.concatenate([picked, rng.choice(np.flatnonzero(free), need,
                                                        replace=False)])
        else:
            while picked.size < k:
                cand = rng.integers(0, size, size=2 * (k - picked.size) + 16)
                cand = cand[~np.isin(cand, picked)]
                _, first = np.unique(cand, return_index=True)
                picked = np.concatenate([picked, cand[np.sort(first)][: k - picked.size]])
    return np.sort(picked)


def _rng(seed: int, layer: int, kind: str) -> np.random.Generator:
    """The generator of one tensor's sample: independent of which other tensors are checked."""
    return np.random.default_rng([seed, layer, KINDS.index(kind)])


def sampled_entries(shape: tuple[int, ...], entries: Entries, *, seed: int, layer: int,
                    kind: str) -> Array | None:
    """The flat indices a check with ``entries`` and ``seed`` compares in ``kind`` of
    ``layer`` (a tensor of ``shape``), sorted; None when it compares all of them (biases,
    or a budget that covers the tensor)."""
    size = int(np.prod(shape))
    k = entries_count(entries, size)
    if kind == "biases" or k >= size:
        return None
    return sample_indices(shape, k, _rng(seed, layer, kind))


def sample_plan(net: ReferenceNet, kinds: tuple[str, ...], entries: Entries,
                seed: int) -> dict[tuple[int, str], Array | None]:
    """For each ``(layer, kind)`` checked: its sampled flat indices, or None for all."""
    return {(layer, kind): sampled_entries(net.parameter(layer, kind).shape, entries,
                                           seed=seed, layer=layer, kind=kind)
            for layer in range(net.n_layers) for kind in kinds}


@dataclass(frozen=True)
class BudgetPlan:
    """What :func:`plan_budget` chose: ``mode`` ``"full"`` or ``"sampled"``; ``entries`` the
    fraction per tensor when sampled (None when full); ``predicted_full_s`` the predicted
    seconds of the full check; ``rate`` the FLOP/s measured on the pilot; ``pilot_s`` what
    the prediction cost."""

    mode: str
    entries: float | None
    predicted_full_s: float
    rate: float
    pilot_s: float

    def info(self, budget_s: float) -> dict[str, Any]:
        return {"budget_s": budget_s, "mode": self.mode,
                "predicted_full_s": self.predicted_full_s, "pilot_s": self.pilot_s,
                "rate_flops": self.rate}


def plan_budget(net: ReferenceNet, kinds: tuple[str, ...], budget_s: float,
                pilot: Callable[[int, str, Array], Any], *, started: float,
                n_signs: int = 2) -> BudgetPlan:
    """Choose between a full check and a sample for a time budget of ``budget_s`` seconds
    (counted from ``started``, a :func:`time.perf_counter` value).

    The full check's arithmetic is counted (:mod:`verify.cost`); the rate at which this machine
    does it now is measured on a pilot: ``pilot(layer, kind, indices)`` evaluates whole
    columns of the costliest tensor (about 1% of it, at least one column; timed the second
    time, once the net's caches are filled). When the predicted
    full check fits in what is left of the budget it is chosen; otherwise a fraction of every
    tensor (biases excepted) that should take half of what is left (a sample's entries are
    scattered, so they cost more each than whole columns).
    """
    costs = {(layer, kind): tensor_flops(net, layer, kind, n_signs=n_signs)
             for layer in range(net.n_layers) for kind in kinds}
    total = sum(costs.values())
    layer, kind = max(costs, key=lambda key: costs[key])
    theta = net.parameter(layer, kind)
    if kind == "inputs":  # whole rows of the batch (an example's entries alike)
        per = theta.shape[1]
        count = max(1, theta.shape[0] // 100)
        pilot_idx = np.arange(count * per)
    else:  # whole columns: every row i of the first columns j
        n_out = theta.shape[1]
        count = max(1, n_out // 100)
        pilot_idx = (np.arange(theta.shape[0])[:, None] * n_out + np.arange(count)).reshape(-1)
    pilot(layer, kind, pilot_idx[: pilot_idx.size // count])  # fills the net's caches
    t0 = time.perf_counter()
    pilot(layer, kind, pilot_idx)
    pilot_s = time.perf_counter() - t0
    rate = tensor_flops(net, layer, kind, pilot_idx, n_signs=n_signs) / max(pilot_s, 1e-9)
    predicted = total / rate
    left = budget_s - (time.perf_counter() - started)
    if predicted <= left:
        return BudgetPlan("full", None, predicted, rate, pilot_s)
    fraction = min(1.0, max(left, 0.0) / 2 / predicted)
    return BudgetPlan("sampled", max(fraction, 1e-9), predicted, rate, pilot_s)
