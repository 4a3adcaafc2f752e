"""The weights fast path: whole columns of a layer's weights per call, dead relu pairs dropped.

Perturbing ``W_l[i, j]`` by ``h`` changes only column ``j`` of ``z_l``, by ``h * x_l[:, i]``,
so column ``j`` of ``a_{l+1}`` changes by a vector ``d`` and ``z_{l+1}`` by the rank-1 update
``d[:, None] * W_{l+1}[j, :]``. :func:`column_block_change` evaluates weights column by column,
whole columns per call:

* the pairs (column j, example b) whose ``a_{l+1}[b, j]`` cannot change (a relu unit further
  below its kink than any step reaches) are never evaluated: they contribute exactly 0;
* the rest are stacked with a trailing column of ones, so that each layer is one (batched)
  matrix product with the bias folded in, and the linear output layer's product yields
  ``y' - y`` directly;
* when the layer after the weight is a relu layer its pre-activations move by the rank-1 change
  only, so kink crossings there are screened exactly from ``d`` (:func:`verify.kinks.crossings`);
  an unflagged perturbation then leaves every unit that is off at exactly 0 and every unit that
  is on positive, where relu is the identity. So only each example's units that are on are
  carried, relu is not applied to them, and an example's block (its live columns, every
  perturbation, its units on) is one matrix product ``[d, 1] @ [[W[j, on]], [z[b, on]]]``
  followed by one product with the next layer's rows of those units (the values of flagged
  perturbations are discarded: they are refined with smaller steps).

* when the layer after the weight is a relu layer just before a linear output layer (or is
  the linear output layer itself), the loss change of an unflagged perturbation is an exact
  quadratic of ``d``: ``alpha d**2 + beta d`` (:func:`quadratic_terms`), so no product per
  perturbation is needed after the perturbed layer at all.

The ``+h`` and ``-h`` perturbations go through the same steps. Nothing is linearised: ``d``
itself is evaluated through the perturbed layer's forward math (``act(z + h x) - act(z)``),
and what follows it is, for the perturbations it is used for, exactly linear (relu is the
identity on the units that stay on, the output layer is linear), so ``y' - y`` and the
squared error's change are the same functions of ``d`` however their products are grouped:
only the floating-point rounding differs, and it is smaller (fewer terms are summed).

The extended matrices are derived from the net once and kept in ``net.cache``
(:func:`prepare_columns` fills them before worker threads share the net). The general path,
for biases, inputs and the output layer, is :mod:`verify.structured`, which calls this one.

One module (~570 lines, a little over the project's ~500) on purpose: one memory-bounded
algorithm whose helpers share the scratch buffers' layout and the block sizes it was tuned with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import Activation, LeakyReLU, Linear, ReLU

from .kinks import crossings, flips
from .reference import ReferenceNet, forward_inplace
from .threads import WORKERS

__all__ = [
    "BLOCK_BYTES",
    "NARROW_UNITS",
    "Scratch",
    "GROUP_BYTES",
    "abs_max_rows",
    "column_block_change",
    "column_chunks",
    "example_blocks",
    "hidden_ext",
    "is_range",
    "linear_output",
    "output_ext",
    "prepare_columns",
    "quadratic_layer",
    "quadratic_terms",
    "transposed",
]

Array = NDArray[Any]

GROUP_BYTES = 4 * 2**20
"""Bytes of the largest stacked array of one column block: measured best between 4 and 8 MiB
for the benchmark networks (fewer NumPy calls vs. cache misses)."""


class Scratch:
    """Work buffers reused from one call of :func:`column_block_change` to the next (one per
    worker thread): a large array freshly allocated for every block costs page faults as
    large as the arithmetic on it."""

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any = np.float64) -> Array:
        """An uninitialised C-contiguous array of ``shape``, a view of buffer ``name``."""
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = self._buffers[name] = np.empty(max(size, 1), dtype=dtype)
        return buf[:size].reshape(shape)


def transposed(net: ReferenceNet, layer: int) -> Array:
    """``acts[layer].T`` in C order, cached: (n_layer, batch), so that row i is x[:, i]."""
    key = ("transposed", layer)
    if key not in net.cache:
        net.cache[key] = np.ascontiguousarray(net.acts[layer].T)
    return net.cache[key]


def hidden_ext(net: ReferenceNet, layer: int) -> Array:
    """``[[W, 0], [b, 1]]`` of ``layer``: (n_in + 1, n_out + 1), cached."""
    key = ("hidden", layer)
    if key not in net.cache:
        W, b = net.weights[layer], net.biases[layer]
        ext = np.zeros((W.shape[0] + 1, W.shape[1] + 1))
        ext[:-1, :-1] = W
        ext[-1, :-1] = b
        ext[-1, -1] = 1.0
        net.cache[key] = ext
    return net.cache[key]


def output_ext(net: ReferenceNet) -> Array:
    """Per example b, ``[[W], [b - y[b]]]`` of the (linear) output layer:
    (batch, n_in + 1, n_out), cached."""
    key = ("output", 0)
    if key not in net.cache:
        W = net.weights[-1]
        ext = np.empty((net.x.shape[0], W.shape[0] + 1, W.shape[1]))
        ext[:, :-1] = W
        ext[:, -1] = net.biases[-1] - net.y
        net.cache[key] = ext
    return net.cache[key]


def prepare_columns(net: ReferenceNet, layer: int) -> None:
    """Fill every cache :func:`column_block_change` may read for ``layer`` (before threads
    share them)."""
    transposed(net, layer)
    abs_max_rows(net, layer)
    _ = net.residual2
    if linear_output(net, layer + 1) or quadratic_layer(net, layer + 1):
        quadratic_terms(net, layer + 1)
    elif layer + 2 < net.n_layers and type(net.activations[layer + 1]) is ReLU:
        example_blocks(net, layer + 1)
    for k in range(layer + 2, net.n_layers - 1):
        hidden_ext(net, k)
    if type(net.activations[-1]) is Linear:
        output_ext(net)
    if net.activations[layer + 1].kinks:
        crossings(net, layer + 1)


def is_range(idx: Array) -> bool:
    """Whether ``idx`` is ``0, 1, ..., n - 1`` (a whole tensor's entries, in order)."""
    return bool(idx.size == 0 or (idx[0] == 0 and idx[-1] == idx.size - 1
                                  and np.all(np.diff(idx) == 1)))


def column_chunks(net: ReferenceNet, layer: int, idx: Array, n_signs: int, itemsize: int,
                  chunk_size: int | None, max_memory: int, drop: bool = False,
                  min_chunks: int = 1) -> list[Array]:
    """Positions in ``idx`` (weights entries) for each call of :func:`column_block_change`:
    runs of equal length, one column each (rows ascending), as many runs per chunk as the
    budget allows; runs at the same place in their columns go together (for the whole tensor
    they then share their rows). ``drop``: the next layer's units that are off will be
    dropped (:func:`column_block_change`), so a chunk is sized by the per-example blocks,
    about (columns live in an example) x (S * length) x (units on + 1) numbers; otherwise by
    its stacked arrays, about (live examples) x (S * length) x (width + 1) numbers. Chunks
    are made smaller where that gives fewer than ``min_chunks`` (work for every thread)."""
    n_in, n_out = net.weights[layer].shape
    if idx.size == n_in * n_out and is_range(idx):
        # The whole tensor, row-major: its columns without a sort.
        parts = list(np.arange(idx.size).reshape(n_in, n_out).T)
    else:
        cols = idx % n_out
        order = np.argsort(cols, kind="stable")
        parts = np.split(order, np.flatnonzero(np.diff(cols[order])) + 1)
    budget = min(GROUP_BYTES, max_memory // (4 * WORKERS))
    if chunk_size is not None:
        per = runs_per = chunk_size
    elif drop and quadratic_layer(net, layer + 1):
        # Only the perturbed layer's arrays, (live pairs) x (S * length), a few of them.
        live = _live_fraction(net, layer)
        B = net.x.shape[0]
        per = runs_per = max(1, int(budget // (n_signs * B * max(live, 1 / n_out) * itemsize * 4)))
    elif drop:
        live = _live_fraction(net, layer)
        units = float((np.real(net.zs[layer + 1]) > 0).sum(axis=1).mean()) + 1
        per = max(1, int(BLOCK_BYTES // (n_signs * max(live, 1 / n_out) * units * itemsize)))
        # The perturbed layer's arrays, (live pairs) x (S * length), stay within the budget too.
        B = net.x.shape[0]
        per = max(1, min(per, int(budget // (n_signs * B * max(live, 1 / n_out) * itemsize * 4))))
        # An example in which a run's column is live holds (S * length) x (units on + 1)
        # numbers of that run alone: runs no longer than that fits in the block.
        runs_per = max(1, min(per, int(BLOCK_BYTES // (n_signs * units * itemsize))))
    else:
        width = max(W.shape[1] for W in net.weights[layer + 1:]) + 1
        z = net.zs[layer]
        live_rows = B = z.shape[0]
        if type(net.activations[layer]) is ReLU:
            live_rows = min(B, int(np.ceil((np.real(z) > 0).sum() / z.shape[1])) + 2)
        per = runs_per = max(1, budget // (n_signs * live_rows * width * itemsize))
    if chunk_size is None and min_chunks > 1:
        per = max(1, min(per, -(-idx.size // min_chunks)))
        runs_per = min(runs_per, per)
    runs: dict[tuple[int, int], list[Array]] = {}
    for g in parts:
        length = -(-g.size // -(-g.size // runs_per))  # as equal as can be, <= runs_per
        for k in range(0, g.size, length):
            run = g[k : k + length]
            runs.setdefault((run.size, k), []).append(run)
    chunks = []
    for (length, _), same in runs.items():
        many = max(1, per // length)
        chunks += [np.concatenate(same[k : k + many]) for k in range(0, len(same), many)]
    return chunks


NARROW_UNITS = 64
"""Up to this many units on (+ 1), :func:`column_block_change` lays its blocks out transposed."""

BLOCK_BYTES = 3 * 2**18
"""Bytes of the stacked pre-activations of one example's block (the dropped-units path of
:func:`column_block_change`): 768 KiB, so that the block and the matrix product's packed copy
of it stay in a core's L2 cache (2 MiB here). Measured on the benchmark networks' first
weights (2026-12-01, 2 shared cores): 25-30% less CPU than 2 MiB blocks on 3072-1024-512-10
and 784-512-256-10 once a run is no longer than one block (:func:`column_chunks`); 256 KiB
blocks lose again to the NumPy calls per block."""


def _live_fraction(net: ReferenceNet, layer: int) -> float:
    """The fraction of pairs (column, example) of ``layer`` whose activation can change: the
    units that are on, for a relu layer; all of them otherwise."""
    if type(net.activations[layer]) is ReLU:
        return float((np.real(net.zs[layer]) > 0).mean())
    return 1.0


def abs_max_rows(net: ReferenceNet, layer: int) -> Array:
    """``max_i |acts[layer][b, i]|`` per example b: (batch,), cached."""
    key = ("absmax", layer)
    if key not in net.cache:
        net.cache[key] = np.abs(net.acts[layer]).max(axis=1)
    return net.cache[key]


def example_blocks(net: ReferenceNet, layer: int) -> list[tuple[Array, Array, Array, bool]]:
    """Per example b, what :func:`column_block_change` needs to carry a change of
    ``a_layer[b, j]`` through the relu layer ``layer`` with only its units that are on:
    ``(units, zrow, ext, final)``; ``units`` (K,) are the units on (``z > 0``), ``zrow`` (K + 1,)
    is ``[z[b, units], 1]``, ``ext`` the next layer's ``[[W[units]], [b - y[b]]]`` (K + 1, n_out)
    when that is the linear output layer (``final``), else ``[[W[units], 0], [b, 1]]``
    (K + 1, n + 1). Cached."""
    key = ("examples", layer)
    if key not in net.cache:
        W, bias = net.weights[layer + 1], net.biases[layer + 1]
        final = layer + 2 == net.n_layers and type(net.activations[-1]) is Linear
        blocks = []
        for b in range(net.x.shape[0]):
            units = np.flatnonzero(np.real(net.zs[layer][b]) > 0)
            K, m = units.size, W.shape[1]
            zrow = np.ones(K + 1)
            zrow[:K] = net.zs[layer][b, units]
            ext = np.zeros((K + 1, m + (0 if final else 1)))
            ext[:K, :m] = W[units]
            ext[K, :m] = bias[0] - net.y[b] if final else bias[0]
            if not final:
                ext[K, m] = 1.0
            blocks.append((units, zrow, ext, final))
        net.cache[key] = blocks
    return net.cache[key]


def column_block_change(
    net: ReferenceNet, layer: int, idx: Array, h: Array, signs: Array, track: bool,
    inexact_flagged: bool = False, scratch: Scratch | None = None,
) -> tuple[Array, Array]:
    """Loss changes for weights entries ``idx`` (flat) of ``layer`` that come in J runs of
    equal length P, each run in one column j (rows i ascending), with steps ``h`` (J*P,) and
    ``signs`` (S,). ``layer`` must not be the output layer.

    Column j of ``a_{l+1}`` changes by ``d`` (S*P per example); the pairs (column, example)
    whose entry does not change contribute exactly 0 and are dropped. For a relu layer that is
    known without evaluating them: a unit whose pre-activation is below ``-max |h x|`` stays
    off (and one above ``+max |h x|`` cannot cross the kink; see :func:`abs_max_rows`).

    The live pairs are carried on with a trailing column of ones that holds the biases in the
    matrix products: ``z_{l+1}`` is ``[d, 1] @ [[W[j], 0], [z_{l+1}[b], 1]]`` per pair (one
    batched product), every later layer one product with ``[[W, 0], [b, 1]]``, and for a
    linear output layer the product with ``[[W], [b - y[b]]]`` gives ``y' - y`` directly.

    ``inexact_flagged``: the caller discards the values of flagged perturbations, so when
    layer l+1 is a relu layer (screened exactly by :func:`verify.kinks.crossings`) and not the
    output layer, only each example's units that are on are carried (for an unflagged
    perturbation the others stay exactly 0, and those that are on stay positive, so relu is
    the identity on them and is not applied): one example at a time, a block of
    (pairs, S*P, units on + 1) numbers and one matrix product with that example's
    :func:`example_blocks`. ``scratch``: work buffers to reuse (one per thread).
    -> (D: (S, J*P), flags: (S, J*P)) in the order of ``idx``.
    """
    n_out = net.weights[layer].shape[1]
    i_all, j_all = np.divmod(idx, n_out)
    P = int(np.argmax(j_all != j_all[0])) or idx.size
    J = idx.size // P
    i, j = i_all.reshape(J, P), j_all[::P]
    S = signs.size
    SP = S * P
    dtype = np.result_type(signs, np.float64)
    k = layer + 1
    drop = (inexact_flagged and track and k < net.n_layers - 1
            and type(net.activations[k]) is ReLU and dtype.kind == "f")
    D = np.zeros((J, SP), dtype=dtype)
    flags = np.zeros((J, SP), dtype=bool)
    scratch = scratch or Scratch()
    # The loss change is alpha d**2 + beta d where layer k is the linear output (exactly, for
    # any d), or a relu layer just before it (for the unflagged perturbations).
    quadratic = linear_output(net, k) or (drop and quadratic_layer(net, k))
    narrow = drop and not quadratic and _narrow(net, k)

    def into_a(pairs: int) -> Array:  # the narrow path's products read d from there
        return scratch.get("A", (pairs, 2, SP))[:, 0]

    def into_d(pairs: int) -> Array:
        return scratch.get("A", (pairs, SP), dtype)

    jl, bl, d, bound = _column_changes(net, layer, i, j, h, signs, dtype, track, flags,
                                       example_major=drop and not quadratic,
                                       out=into_a if narrow else into_d if quadratic else None,
                                       keep_zero=quadratic, scratch=scratch)
    if jl.size:
        if track and net.activations[k].kinks:
            _screen(net, k, jl, bl, j, d, flags, bound)
        if quadratic:
            alpha, beta = quadratic_terms(net, k)
            cols = j[jl]
            c = np.multiply(d, alpha[bl, cols][:, None], out=scratch.get("C", d.shape, d.dtype))
            c += beta[bl, cols][:, None]
            c *= d
            _column_sums(c, jl, D)
        elif drop:
            _dropped_forward(net, k, jl, j[jl], bl, d, D, flags, track, scratch, narrow)
        else:
            dy, pair_flags = _pairs_forward(net, layer, j[jl], bl, d, track)
            # SquaredError.change per column, c * sum_b dy . (dy + 2 (y[b] - t[b])), the
            # cross term as one matrix-vector product per column (c is applied once, below).
            starts = np.flatnonzero(np.r_[True, jl[1:] != jl[:-1]])
            ends = np.r_[starts[1:], jl.size]
            r2 = net.residual2[bl].reshape(-1)
            n_y = net.y.shape[1]
            flat = dy.reshape(SP, -1)
            for c, e0, e1 in zip(jl[starts], starts * n_y, ends * n_y, strict=True):
                v = flat[:, e0:e1]
                D[c] = np.einsum("pk,pk->p", v, v) + v @ r2[e0:e1]
            if pair_flags is not None:
                flags[jl[starts]] |= np.logical_or.reduceat(pair_flags, starts, axis=0)
    D *= net.squared_error.scale
    return (D.reshape(J, S, P).transpose(1, 0, 2).reshape(S, J * P),
            flags.reshape(J, S, P).transpose(1, 0, 2).reshape(S, J * P))


def _column_sums(c: Array, jl: Array, D: Array) -> None:
    """``D[j] = sum of the rows of c (pairs, R) whose jl is j``, for the pairs sorted by
    ``jl`` (positions in D (J, R)); rows of D without a pair are left as they are."""
    starts = np.flatnonzero(np.r_[True, jl[1:] != jl[:-1]])
    if starts.size <= 32:
        # A sum over contiguous rows per column: measured 2-6x faster than reduceat, which
        # walks a C-ordered array column by column.
        for s, e, j in zip(starts.tolist(), np.r_[starts[1:], jl.size].tolist(),
                           jl[starts].tolist(), strict=True):
            np.sum(c[s:e], axis=0, out=D[j])
    else:
        D[jl[starts]] = np.add.reduceat(c, starts, axis=0)


def _column_changes(
    net: ReferenceNet, layer: int, i: Array, j: Array, h: Array, signs: Array, dtype: Any,
    track: bool, flags: Array, example_major: bool,
    out: Callable[[int], Array] | None = None, keep_zero: bool = False,
    scratch: Scratch | None = None,
) -> tuple[Array, Array, Array, Array | None]:
    """The changes of ``a_{l+1}[b, j]`` for the perturbations of the J runs ``i`` (J, P) in
    columns ``j`` (J,): -> (jl, bl, d, bound): the live pairs, as positions in ``j`` and
    examples, column-major (example-major when ``example_major``), their changes (pairs, S*P),
    and a bound on each pair's ``|d|`` (pairs,; None where unknown). Kink crossings of the
    perturbed layer are or-ed into ``flags`` (J, S*P). ``out(pairs)``: where to write the
    changes, a (pairs, S*P) array (else a new one). ``keep_zero``: keep the pairs whose
    changes are all 0 (skips a pass over them, for a caller to which they add 0).
    ``scratch``: work buffers to reuse."""
    J, P = i.shape
    x = net.acts[layer]
    z = net.zs[layer][:, j].T  # (J, B)
    act = net.activations[layer]
    real = dtype.kind == "f"
    kinks = act.kinks if track else ()
    if real and (kinks or type(act) is ReLU):
        # |h x| <= reach for every perturbation of the run (signs are +-1): a pre-activation
        # further than that from a kink cannot cross it, and a relu unit below -reach stays
        # off (its change is exactly 0).
        hmax = np.abs(h).reshape(J, P).max(axis=1) * float(np.abs(signs).max())
        reach = hmax[:, None] * abs_max_rows(net, layer)[None, :] * (1 + 1e-9)
        cand = z > -reach if type(act) is ReLU else np.ones(z.shape, dtype=bool)
        near = np.zeros(z.shape, dtype=bool)
        for kink in kinks:
            near |= np.abs(z - kink) <= reach
    else:
        cand = np.ones(z.shape, dtype=bool)
        near = np.ones(z.shape, dtype=bool) if kinks else np.zeros(z.shape, dtype=bool)
    if example_major:
        bl, jl = np.nonzero(cand.T)
    else:
        jl, bl = np.nonzero(cand)
    if not jl.size:
        return jl, bl, np.zeros((0, signs.size * P), dtype=dtype), None
    # h x, the signs are +-1 or 1j: s (h x) = (s h) x. Into reused buffers: fresh arrays of
    # this size cost page faults as large as the arithmetic.
    scratch = scratch or Scratch()
    X = scratch.get("X", (jl.size, P), np.result_type(x, h))
    if (i == i[:1]).all():  # every run has the same rows (the whole tensor)
        rows = i[0]
        if rows[-1] - rows[0] == P - 1 and (P < 3 or np.all(np.diff(rows) == 1)):
            np.take(x[:, rows[0] : rows[0] + P], bl, axis=0, out=X)
        else:
            X[...] = x[bl[:, None], rows[None, :]]
    else:
        X[...] = x[bl[:, None], i[jl]]
    X *= np.take(h.reshape(J, P), jl, axis=0, out=scratch.get("H", (jl.size, P), h.dtype))
    zp = z[jl, bl]
    if out is None:
        d = np.empty((jl.size, signs.size, P), dtype=dtype)
    else:
        d = out(jl.size).reshape(jl.size, -1, P)
    if real and set(signs.tolist()) <= {1.0, -1.0}:
        # z + s h x in one pass per sign (s = +-1 multiplies exactly)
        for n, sign in enumerate(signs.tolist()):
            (np.add if sign > 0 else np.subtract)(zp[:, None], X, out=d[:, n])
    else:
        np.multiply(signs[None, :, None], X[:, None, :], out=d, dtype=dtype)
        d += zp[:, None, None]
    d = d.reshape(jl.size, -1)
    unclear = near[jl, bl]
    if kinks and unclear.any():
        f = flips(d[unclear], zp[unclear][:, None], kinks, ())
        np.logical_or.at(flags, jl[unclear], f)
    d = forward_inplace(act, d)
    d -= net.acts[layer + 1][bl, j[jl]][:, None]
    bound = None
    if real and type(act) is ReLU:
        # relu is 1-Lipschitz: |d| <= |h x| plus the rounding of z + h x and of the difference
        u = float(np.finfo(np.float64).eps)
        bound = reach[jl, bl] + 4 * u * (np.abs(zp) + reach[jl, bl])
    if keep_zero:
        return jl, bl, d, bound
    live = (d != 0).any(axis=1)
    if not live.all():
        jl, bl, d = jl[live], bl[live], d[live]
        bound = None if bound is None else bound[live]
    return jl, bl, d, bound


def _screen(net: ReferenceNet, k: int, jl: Array, bl: Array, j: Array, d: Array,
            flags: Array, bound: Array | None = None) -> None:
    """Exact kink screen of layer k for the changes ``d`` (pairs, S*P) of
    ``a_k[bl, j[jl]]``: the rank-1 change moves an entry of row b across a kink iff d leaves
    (down, up) there (see :func:`verify.kinks.crossings`); or-ed into ``flags`` (J, S*P).
    ``bound`` (pairs,): a bound on each pair's ``|d|``, which spares reading the pairs it
    keeps inside (down, up)."""
    up, down = crossings(net, k)
    dr = np.real(d)
    cols = j[jl]
    if bound is not None:
        hi, lo = bound, -bound
    else:
        hi, lo = dr.max(axis=1), dr.min(axis=1)
    for u_k, d_k in zip(up, down, strict=True):  # one per kink point: (B, n_in)
        u, dn = u_k[bl, cols], d_k[bl, cols]
        need = (hi >= u) | (lo <= dn)
        if need.any():
            f = (dr[need] >= u[need, None]) | (dr[need] <= dn[need, None])
            np.logical_or.at(flags, jl[need], f)


def linear_output(net: ReferenceNet, k: int) -> bool:
    """Whether layer k is the output layer and linear."""
    return k == net.n_layers - 1 and type(net.activations[k]) is Linear


def quadratic_layer(net: ReferenceNet, k: int) -> bool:
    """Whether layer k is a relu hidden layer followed by the linear output layer (then the
    loss change of an unflagged change of its input is a quadratic, :func:`quadratic_terms`)."""
    return (k + 2 == net.n_layers and type(net.activations[k]) is ReLU
            and type(net.activations[-1]) is Linear)


def quadratic_terms(net: ReferenceNet, k: int) -> tuple[Array, Array]:
    """For the linear output layer k, or a relu hidden layer k followed by it (see
    :func:`linear_output`, :func:`quadratic_layer`): ``(alpha, beta)``, each (batch, n_in of
    layer k), such that a change ``d`` of ``a_k[b, j]`` (an unflagged one, for the relu layer)
    changes the loss (without its scale) by exactly ``alpha[b, j] d**2 + beta[b, j] d``.
    Cached.

    The linear output: ``y' - y = d w`` with ``w = W_k[j]`` (``z_k - y`` is exactly 0), so the
    squared error's change ``dy . dy + dy . 2 (y - t)`` is ``d**2 (w . w) + d (w . 2 (y[b] -
    t[b]))`` for any d, real or complex.

    The relu layer, and why this is exact, not a linearisation: the unflagged change moves no
    pre-activation of layer k across the kink (:func:`_screen`), so the units that are off stay
    0 and those that are on stay positive, where relu is the identity; the output layer is
    linear. Hence ``y' - y = d v`` with ``v = W_k[j, on_b] @ W_{k+1}[on_b]`` (m,), and the
    squared error's change ``dy . dy + dy . 2 (y - t)`` is ``d**2 (v . v) + d (v . 2 (y[b] -
    t[b]))`` (its ``c * sum((y' - y) * ((y' - t) + (y - t)))`` form, :mod:`verify.structured`),
    the same function of ``d`` the layer-by-layer evaluation computes; only the order of the
    floating-point operations differs. Cost: one product ``W_k @ [mask_b W_{k+1}]_b``, 2 n K m
    FLOPs per example (K units on), instead of 2 K m per perturbation and example."""
    key = ("quadratic", k)
    if key in net.cache:
        return net.cache[key]
    if linear_output(net, k):
        W = net.weights[k]  # (n, m)
        alpha = np.broadcast_to(np.einsum("jm,jm->j", W, W), (net.x.shape[0], W.shape[0]))
        net.cache[key] = (alpha, net.residual2 @ W.T)
    else:
        on = np.real(net.zs[k]) > 0  # (B, K)
        Wn = net.weights[k + 1]  # (K, m)
        B, m = on.shape[0], Wn.shape[1]
        W = net.weights[k]  # (n, K)
        alpha, beta = np.empty((B, W.shape[0])), np.empty((B, W.shape[0]))
        # A block of examples at a time: its masked rows (K, e, m) and V (n, e, m) stay
        # within GROUP_BYTES.
        e = max(1, GROUP_BYTES // (8 * m * (W.shape[0] + W.shape[1])))
        for b0 in range(0, B, e):
            b1 = min(B, b0 + e)
            masked = on[b0:b1].T[:, :, None] * Wn[:, None, :]  # row u of W_{k+1} where u is on
            V = (W @ masked.reshape(Wn.shape[0], -1)).reshape(-1, b1 - b0, m)
            np.einsum("jbm,jbm->bj", V, V, out=alpha[b0:b1])
            np.einsum("jbm,bm->bj", V, net.residual2[b0:b1], out=beta[b0:b1])
        net.cache[key] = (alpha, beta)
    return net.cache[key]


def _narrow(net: ReferenceNet, k: int) -> bool:
    """Whether relu layer k has few enough units on for the transposed layout."""
    return float(np.mean([units.size for units, *_ in example_blocks(net, k)])) + 1 <= NARROW_UNITS


def _dropped_forward(net: ReferenceNet, k: int, jl: Array, cols: Array, bl: Array, d: Array,
                     D: Array, flags: Array, track: bool, scratch: Scratch,
                     narrow: bool) -> None:
    """Carry the changes ``d`` (pairs, S*P) of ``a_k[bl, cols]`` (pairs example-major) through
    the relu layer k with each example's units that are on only, to the loss: its change
    (without the loss scale) is added to ``D`` at the positions ``jl``, kink crossings after
    layer k are or-ed into ``flags``.

    Per example, ``z_k`` on its K units on is ``[d, 1] @ [[W_k[j, on]], [z_k[b, on]]]`` (one
    batched product over its pairs) and ``y' - y`` (or ``z_{k+1}``) one product with
    :func:`example_blocks`' ``ext``. With few units on (K + 1 <= :data:`NARROW_UNITS`) both are
    laid out transposed, perturbations along the rows' length: the products and the loss's
    sums then run along long rows instead of short ones (measured 15-25% faster there, a few
    per cent slower for wide layers)."""
    npairs, SP = d.shape
    W = net.weights[k]
    r2 = net.residual2
    if narrow:
        A = scratch.get("A", (npairs, 2, SP))
        if not np.may_share_memory(d, A):  # else d was written into A[:, 0] already
            A[:, 0] = d
        A[:, 1] = 1.0
    else:
        A = scratch.get("A", (npairs, SP, 2))
        A[:, :, 0] = d
        A[:, :, 1] = 1.0
    C = scratch.get("C", (npairs, SP))  # each pair's loss change, pairs as in ``bl``
    starts = np.flatnonzero(np.r_[True, bl[1:] != bl[:-1]])
    blocks = example_blocks(net, k)
    bounds = np.r_[starts, npairs].tolist()
    examples = bl[starts].tolist()
    for s, e, b in zip(bounds[:-1], bounds[1:], examples, strict=True):
        units, zrow, ext, final = blocks[b]
        K, n = units.size, e - s
        m = ext.shape[1]
        c = C[s:e].reshape(n * SP)
        f = None
        if narrow:
            M = scratch.get("M", (n, K + 1, 2))
            M[:, :K, 0] = W[cols[s:e, None], units]
            M[:, K, 0] = 0.0
            M[:, :, 1] = zrow
            zt = scratch.get("z", (K + 1, n * SP))  # z_k on the units on, transposed
            np.matmul(M, A[s:e], out=zt.reshape(K + 1, n, SP).transpose(1, 0, 2))
            yt = np.matmul(ext.T, zt, out=scratch.get("y", (m, n * SP)))
            if final:
                np.einsum("kr,kr->r", yt, yt, out=c)
                c += r2[b] @ yt
            else:
                y, f = _carry(net, k + 1, yt.T, b, track)
                _row_change(y, r2[b], out=c)
        else:
            M = scratch.get("M", (n, 2, K + 1))
            M[:, 0, :K] = W[cols[s:e, None], units]
            M[:, 0, K] = 0.0
            M[:, 1] = zrow
            z = scratch.get("z", (n, SP, K + 1))
            np.matmul(A[s:e], M, out=z)  # z_k on the units that are on
            y = np.matmul(z.reshape(n * SP, K + 1), ext, out=scratch.get("y", (n * SP, m)))
            if not final:  # y is z_{k+1} with its column of ones
                y, f = _carry(net, k + 1, y, b, track)
            _row_change(y, r2[b], out=c)
        if f is not None:
            flags[jl[s:e]] |= f.reshape(n, SP)
        D[jl[s:e]] += C[s:e]  # example by example: each column's sum in example order


def _row_change(y: Array, r2: Array, out: Array | None = None) -> Array:
    """``dy . dy + dy . r2`` per row of ``y`` (R, n_out): the loss change without its scale
    (into ``out``, (R,), when given)."""
    c = np.einsum("rk,rk->r", y, y, out=out)
    c += y @ r2
    return c


def _carry(net: ReferenceNet, k: int, z: Array, b: int, track: bool) -> tuple[Array, Array | None]:
    """Carry pre-activations ``z`` (R, n + 1; last column 1) of layer k in example b to the
    output. -> (y' - y: (R, n_out), flags: (R,) of kinks crossed, or None)."""
    L = net.n_layers
    out_linear = type(net.activations[-1]) is Linear
    flags = None
    while True:
        n = z.shape[-1] - 1
        act = net.activations[k]
        if track and act.kinks:
            f = flips(z[:, :n], net.zs[k][b], act.kinks, (1,))
            flags = f if flags is None else flags | f
        if _keeps_one(act):
            z = forward_inplace(act, z)
        else:
            z[:, :n] = act.forward(z[:, :n])
        if k == L - 1:
            return z[:, :n] - net.y[b], flags
        if k + 1 == L - 1 and out_linear:
            return z @ output_ext(net)[b], flags
        z = z @ hidden_ext(net, k + 1)
        k += 1


def _keeps_one(act: Activation) -> bool:
    """Whether ``act.forward`` maps 1 to exactly 1 (so a constant column of ones survives it)."""
    return type(act) in (ReLU, LeakyReLU, Linear)


def _pairs_forward(
    net: ReferenceNet, layer: int, cols: Array, rows: Array, d: Array, track: bool,
) -> tuple[Array, Array | None]:
    """Carry changes ``d`` (pairs, R) of ``a_{l+1}[rows, cols]`` to the output, every unit.

    -> (y' - y: (R, pairs, n_out), flags: (pairs, R) of kinks crossed after layer l+1, or None
    when there are no such layers)
    """
    npairs, R = d.shape
    dtype = d.dtype
    L = net.n_layers
    k = layer + 1
    out_linear = type(net.activations[-1]) is Linear
    final = k == L - 1 and out_linear
    W = net.weights[k]
    K = W.shape[1]
    wj, zk = W[cols], net.zs[k][rows]
    A = np.empty((npairs, R, 2), dtype=dtype)
    A[:, :, 0] = d
    A[:, :, 1] = 1.0
    M = np.zeros((npairs, 2, K + (0 if final else 1)))
    M[:, 0, :K] = wj
    if final:
        np.subtract(zk, net.y[rows], out=M[:, 1, :K])
    else:
        M[:, 1, :K] = zk
        M[:, 1, K] = 1.0

    def product(a: Array, m: Array, last: bool) -> Array:
        if last:  # perturbation-major: each column's loss change is then one dot per row
            out = np.empty((R, npairs, m.shape[-1]), dtype=dtype)
            np.matmul(a, m, out=out.transpose(1, 0, 2))
            return out
        if m.ndim == 3:
            return np.matmul(a, m)
        return (a.reshape(-1, a.shape[-1]) @ m).reshape(npairs, R, m.shape[-1])

    z = product(A, M, final)  # (pairs, R, K + 1): z_{l+1}, last column 1
    flags = None
    while not final:
        n = z.shape[-1] - 1
        act = net.activations[k]
        if track and act.kinks and k > layer + 1:
            f = flips(z[:, :, :n], net.zs[k][rows][:, None, :], act.kinks, (2,))
            flags = f if flags is None else flags | f
        if _keeps_one(act):
            z = forward_inplace(act, z)
        else:
            z[:, :, :n] = act.forward(z[:, :, :n])
        if k == L - 1:
            z = np.ascontiguousarray((z[:, :, :n] - net.y[rows][:, None, :]).transpose(1, 0, 2))
            break
        final = k + 1 == L - 1 and out_linear
        ext = output_ext(net)[rows] if final else hidden_ext(net, k + 1)
        z = product(z, ext, final)
        k += 1
    return z, flags
