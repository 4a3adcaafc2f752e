"""Hypotheses after dz, per gradient: transposes, reshapes, reductions, subsets, factors, shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .findings import Post, _Hyp
from .fitting import Array, _factor_param, _factor_words, _fit


def _posts_weights(x: Array, dz: Array, student: Array, sizes: dict[str, int],
                   earlier_x: list[Array], w_shape: tuple[int, int], hide: bool) -> list[Post]:
    dW = x.T @ dz
    out: list[Post] = [
        (_Hyp("transposed_d_weights", "transposed weight gradient: d_weights = d_z.T @ inputs "
              "instead of inputs.T @ d_z", "dz.T @ inputs reproduces {what}", priority=1),
         dW.T),
    ]
    if True:  # square: the same numbers as the transpose (the report chooses)
        out.append((_Hyp("reshape_as_transpose", "d_weights computed as dz.T @ inputs, then "
                         "reshaped to (n_inputs, n_neurons): a reshape reorders nothing, only "
                         "a transpose does", "(dz.T @ inputs).reshape(n_inputs, n_neurons) "
                         "reproduces {what}", priority=2), dW.T.reshape(dW.shape)))
    out += _subset_posts(lambda s: x[s].T @ dz[s], dz.shape[0], "d_weights")
    for r, xr in enumerate(earlier_x):
        if xr.shape == x.shape:
            out.append((_Hyp("stale_inputs", "stale cached inputs: backward used the inputs of "
                             "an earlier forward call (cache the inputs on every forward, not "
                             "only the first)", f"round {r}'s inputs.T @ dz reproduces {{what}}",
                             priority=1), xr.T @ dz))
    out += _factor_post("d_weights_factor", "d_weights", student, dW, sizes, hide)
    out += _shape_post("d_weights", student, dW)
    return out


def _posts_biases(dz: Array, student: Array, sizes: dict[str, int], hide: bool) -> list[Post]:
    db = dz.sum(axis=0, keepdims=True)
    out: list[Post] = [
        (_Hyp("bias_averaged", "bias gradient averaged over the batch instead of summed",
              "dz.mean(axis=0) reproduces {what}", priority=1), dz.mean(axis=0, keepdims=True)),
        (_Hyp("bias_not_summed", "bias gradient not summed over the batch: d_biases = d_z (one "
              "row per example)", "d_biases = dz reproduces {what}", priority=1), dz.copy()),
        (_Hyp("bias_wrong_axis", "bias gradient summed over the wrong axis: over the neurons "
              "(axis 1) instead of over the examples (axis 0)",
              "dz.sum(axis=1) reproduces {what}", priority=2), dz.sum(axis=1, keepdims=True).T),
        (_Hyp("bias_wrong_axis", "bias gradient summed over the wrong axis: over the neurons "
              "(axis 1) instead of over the examples (axis 0)",
              "dz.sum(axis=1, keepdims=True) reproduces {what}", priority=2),
         dz.sum(axis=1, keepdims=True)),
        (_Hyp("bias_wrong_axis", "bias gradient summed over every entry of dz (examples and "
              "neurons together) instead of over the examples (axis 0)",
              "dz.sum() reproduces {what}", priority=2), np.array([[dz.sum()]])),
    ]
    out += _subset_posts(lambda s: dz[s].sum(axis=0, keepdims=True), dz.shape[0], "d_biases")
    out += _factor_post("d_biases_factor", "d_biases", student, db, sizes, hide)
    out += _shape_post("d_biases", student, db)
    return out


def _posts_inputs(dz: Array, W: Array, W_after: Array | None, student: Array,
                  sizes: dict[str, int], hide: bool) -> list[Post]:
    dx = dz @ W.T
    out: list[Post] = [
        (_Hyp("transposed_d_inputs", "input gradient transposed: weights @ dz.T, of shape "
              "(n_inputs, batch), instead of dz @ weights.T", "weights @ dz.T reproduces {what}",
              priority=2), dx.T),
    ]
    if dx.shape[0] != dx.shape[1]:
        out.append((_Hyp("reshape_as_transpose", "input gradient computed as weights @ dz.T, "
                         "then reshaped to (batch, n_inputs): a reshape reorders nothing, only "
                         "a transpose does", "(weights @ dz.T).reshape(batch, n_inputs) "
                         "reproduces {what}", priority=2), dx.T.reshape(dx.shape)))
    if W.shape[0] == W.shape[1]:
        out.append((_Hyp("untransposed_weights", "input gradient as dz @ weights instead of "
                         "dz @ weights.T", "dz @ weights reproduces {what}", priority=2),
                    dz @ W))
    if W_after is not None and W_after.shape == W.shape and not np.array_equal(W_after, W):
        out.append((_Hyp("weights_changed", "weights changed during backward: backward must "
                         "only compute gradients (no gradient-descent step, no in-place update "
                         "of weights or biases)", "dz @ (the weights after your backward).T "
                         "reproduces {what}: the update came before the input gradient",
                         priority=1), dz @ W_after.T))
    out += _subset_posts(None, dz.shape[0], "d_inputs", rows=dx)
    c = _fit(student, dx)
    if c is not None and abs(c - 1.01) < 1e-6:
        out.append((_Hyp("input_gradient_scaled", "input gradient off by 1%: d_inputs = 1.01 * "
                         "d_z @ weights.T", "1.01 * dz @ weights.T reproduces {what}",
                         priority=1, fitted=1), 1.01 * dx))
    else:
        out += _factor_post("d_inputs_factor", "the input gradient", student, dx, sizes, hide)
    out += _shape_post("the input gradient", student, dx)
    return out


_SUBSETS = (("first", "only the first example (row 0) is used; right only for a batch of 1"),
            ("last", "only the last example is used (a loop that overwrites instead of adding "
                     "up?); right only for a batch of 1"),
            ("all_but_last", "the last example is left out (a loop one step short)"),
            ("all_but_first", "the first example is left out (a loop starting at 1)"))


def _subset_index(which: str, batch: int) -> list[int]:
    return {"first": [0], "last": [batch - 1], "all_but_last": list(range(batch - 1)),
            "all_but_first": list(range(1, batch))}[which]


def _subset_posts(fn: Callable[[list[int]], Array] | None, batch: int, what: str,
                  rows: Array | None = None) -> list[Post]:
    if batch < 2:
        return []
    out: list[Post] = []
    for which, words in _SUBSETS:
        idx = _subset_index(which, batch)
        if rows is not None:
            value = np.zeros_like(rows)
            value[idx] = rows[idx]
        else:
            assert fn is not None
            value = fn(idx)
        out.append((_Hyp(f"examples_subset:{which}", f"{what}: {words}",
                         f"the {what} of examples {_rows(idx)} only reproduces {{what}}",
                         priority=3), value))
    return out


def _rows(idx: list[int]) -> str:
    if len(idx) == 1:
        return str(idx[0])
    return f"{idx[0]}-{idx[-1]}"


def _shape_post(what: str, student: Any, base: Array) -> list[Post]:
    """The right numbers in another shape (flattened, a column for a row)."""
    if student is None or np.shape(student) == base.shape or np.size(student) != base.size:
        return []
    shape = tuple(np.shape(student))
    return [(_Hyp("wrong_shape", f"{what} has the right numbers in the wrong shape: {shape} "
                  f"instead of {base.shape} (a ravel/flatten, or a column for a row)",
                  f"the expected {what} laid out as {shape} reproduces {{what}}", priority=2),
             base.reshape(shape))]


def _factor_post(kind: str, what: str, student: Any, base: Array, sizes: dict[str, int],
                 hide: bool) -> list[Post]:
    c = _fit(student, base)
    got = _factor_param(c, sizes) if c is not None else None
    # A factor fitted to a gradient it alone explains is evidence only when the gradient has
    # more entries than the fit has freedom (any one number is a multiple of any other), or
    # when the factor is one of the test's sizes to the tolerance.
    if got is None or (got[0] == "other" and base.size < 4):
        return []
    param, value = got
    words = _factor_words(param, value, sizes, hide)
    cause = f"{what} multiplied by {words}" if param != "other" else \
        f"{what} off by a constant factor"
    evid = f"every entry of {what} is {words} times the expected, which reproduces {{what}}"
    return [(_Hyp(f"{kind}:{param}", cause, evid,
                  f"every entry of {what} is the expected times one constant ({{what}})",
                  priority=3 if param != "other" else 6, fitted=1,
                  value=(value,)), value * base)]
