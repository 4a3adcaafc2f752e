"""The weights fast path: whole columns of a layer's weights per call, dead relu pairs dropped.

Perturbing ``W_l[i, j]`` by ``h`` changes only column ``j`` of ``z_l``, by ``h * x_l[:, i]``,
so column ``j`` of ``a_{l+1}`` changes by a vector ``d`` and ``z_{l+1}`` by the rank-1 update
``d[:, None] * W_{l+1}[j, :]``. :func:`column_block_change` evaluates weights column by column,
whole columns per call: the pairs (column j, example b) whose ``a_{l+1}[b, j]`` does not change
(a relu unit that stays off) contribute exactly 0 and are dropped; the rest are stacked
pair-major with a trailing column of ones, so that each layer is one (batched) matrix product
with the bias folded in, and the linear output layer's product yields ``y' - y`` directly. When
the layer after the weight is a relu layer its pre-activations move by the rank-1 change only,
so kink crossings there are screened exactly from ``d`` (:func:`verify.kinks.crossings`); an
unflagged perturbation then leaves every unit that is off at exactly 0, and only each example's
units that are on are carried (the values of flagged perturbations are discarded: they are
refined with smaller steps). The ``+h`` and ``-h`` perturbations go through the same products.
Every perturbed value is still evaluated through the forward math; nothing is linearised.

The extended matrices are derived from the net once and kept in ``net.cache``
(:func:`prepare_columns` fills them before worker threads share the net). The general path,
for biases, inputs and the output layer, is :mod:`verify.structured`, which calls this one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import Activation, LeakyReLU, Linear, ReLU

from .kinks import crossings, flips
from .reference import ReferenceNet, forward_inplace
from .threads import WORKERS

__all__ = [
    "GROUP_BYTES",
    "active_units",
    "column_block_change",
    "column_chunks",
    "dropped_ext",
    "hidden_ext",
    "output_ext",
    "prepare_columns",
    "transposed",
]

Array = NDArray[Any]

GROUP_BYTES = 4 * 2**20
"""Bytes of the largest stacked array of one column block: measured best between 4 and 8 MiB
for the benchmark networks (fewer NumPy calls vs. cache misses)."""


def transposed(net: ReferenceNet, layer: int) -> Array:
    """``acts[layer].T`` in C order, cached: (n_layer, batch), so that row i is x[:, i]."""
    key = ("transposed", layer)
    if key not in net.cache:
        net.cache[key] = np.ascontiguousarray(net.acts[layer].T)
    return net.cache[key]


def active_units(net: ReferenceNet, layer: int) -> tuple[Array, Array]:
    """Per example, the units of ``layer`` with ``z > 0`` first (then others, as padding to
    the largest count K, at least 1), and their pre-activations: (batch, K) each, cached."""
    key = ("units", layer)
    if key not in net.cache:
        on = np.real(net.zs[layer]) > 0
        order = np.argsort(~on, axis=1, kind="stable")
        units = order[:, : max(1, int(on.sum(axis=1).max()))]
        net.cache[key] = (units, np.take_along_axis(net.zs[layer], units, 1))
    return net.cache[key]


def dropped_ext(net: ReferenceNet, layer: int) -> Array:
    """Per example b, the next layer's ``[[W[units_b], 0], [b, 1]]`` for
    :func:`active_units` of ``layer`` (``[[W[units_b]], [b - y[b]]]`` when the next layer is
    a linear output layer): (batch, K + 1, n (+ 1)), cached."""
    key = ("dropped", layer)
    if key not in net.cache:
        units, _ = active_units(net, layer)
        W, b = net.weights[layer + 1], net.biases[layer + 1]
        final = layer + 2 == net.n_layers and type(net.activations[-1]) is Linear
        m, K = W.shape[1], units.shape[1]
        ext = np.zeros((units.shape[0], K + 1, m + (0 if final else 1)))
        ext[:, :K, :m] = W[units]
        ext[:, K, :m] = b - net.y if final else b
        if not final:
            ext[:, K, m] = 1.0
        net.cache[key] = ext
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
    _ = net.residual2
    if layer + 2 < net.n_layers and type(net.activations[layer + 1]) is ReLU:
        dropped_ext(net, layer + 1)
    for k in range(layer + 2, net.n_layers - 1):
        hidden_ext(net, k)
    if type(net.activations[-1]) is Linear:
        output_ext(net)
    if net.activations[layer + 1].kinks:
        crossings(net, layer + 1)


def column_chunks(net: ReferenceNet, layer: int, idx: Array, n_signs: int, itemsize: int,
                  chunk_size: int | None, max_memory: int) -> list[Array]:
    """Positions in ``idx`` (weights entries) for each call of :func:`column_block_change`:
    runs of equal length, one column each (rows ascending), as many runs per chunk as the
    budget allows. A run's stacked arrays hold about (live examples) x (S * length) x
    (width + 1) numbers."""
    n_out = net.weights[layer].shape[1]
    cols = idx % n_out
    order = np.argsort(cols, kind="stable")
    parts = np.split(order, np.flatnonzero(np.diff(cols[order])) + 1)
    if chunk_size is None:
        width = max(W.shape[1] for W in net.weights[layer + 1:]) + 1
        z = net.zs[layer]
        live = B = z.shape[0]
        if type(net.activations[layer]) is ReLU:
            live = min(B, int(np.ceil((np.real(z) > 0).sum() / z.shape[1])) + 2)
        budget = min(GROUP_BYTES, max_memory // (4 * WORKERS))
        per = max(1, budget // (n_signs * live * width * itemsize))
    else:
        per = chunk_size
    runs: dict[int, list[Array]] = {}
    for g in parts:
        length = min(g.size, per)
        for k in range(0, g.size, length):
            run = g[k : k + length]
            runs.setdefault(run.size, []).append(run)
    chunks = []
    for length, same in runs.items():
        many = max(1, per // length)
        chunks += [np.concatenate(same[k : k + many]) for k in range(0, len(same), many)]
    return chunks


def column_block_change(
    net: ReferenceNet, layer: int, idx: Array, h: Array, signs: Array, track: bool,
    inexact_flagged: bool = False,
) -> tuple[Array, Array]:
    """Loss changes for weights entries ``idx`` (flat) of ``layer`` that come in J runs of
    equal length P, each run in one column j (rows i ascending), with steps ``h`` (J*P,) and
    ``signs`` (S,). ``layer`` must not be the output layer.

    Column j of ``a_{l+1}`` changes by ``d`` (J, S*P, B); the pairs (column, example) whose
    entry does not change (a relu unit that stays off) contribute exactly 0 and are dropped.
    The live pairs are stacked pair-major, (pairs, S*P, n + 1), with a trailing column of ones
    that carries the biases through the matrix products: ``z_{l+1}`` is one batched product
    ``[d, 1] @ [[W[j], 0], [z_{l+1}[b], 1]]`` per pair, every later layer one product with
    ``[[W, 0], [b, 1]]``, and for a linear output layer the product with ``[[W], [b - y[b]]]``
    gives ``y' - y`` directly. Each stacked array is thus written once by a matrix product and
    once by the activation, with no broadcasting passes, and a whole block of columns costs
    the same few dozen NumPy calls as one.

    ``inexact_flagged``: the caller discards the values of flagged perturbations, so when
    layer l+1 is a relu layer (screened exactly by :func:`verify.kinks.crossings`), only its
    units that are on in example b are carried (for an unflagged perturbation the others stay
    exactly 0).
    -> (D: (S, J*P), flags: (S, J*P)) in the order of ``idx``.
    """
    n_in, n_out = net.weights[layer].shape
    i_all, j_all = np.divmod(idx, n_out)
    P = int(np.argmax(j_all != j_all[0])) or idx.size
    J = idx.size // P
    i, j = i_all.reshape(J, P), j_all[::P]
    S = signs.size
    SP, B = S * P, net.x.shape[0]
    dtype = np.result_type(signs, np.float64)
    xT = transposed(net, layer)
    u = xT[None] if P == n_in else xT[i]  # (J or 1, P, B): a whole column has every row i
    zc = np.multiply((signs[None, :, None] * h.reshape(J, 1, P))[..., None], u[:, None],
                     dtype=dtype).reshape(J, SP, B)
    zcol = net.zs[layer][:, j].T[:, None, :]  # (J, 1, B)
    zc += zcol
    act = net.activations[layer]
    flags = np.zeros((J, SP), dtype=bool)
    if track and act.kinks:
        flags |= flips(zc, zcol, act.kinks, (-1,))
    d = forward_inplace(act, zc)
    d -= net.acts[layer + 1][:, j].T[:, None, :]  # (J, S*P, B): change of column j of a_{l+1}
    D = np.zeros((J, SP), dtype=dtype)
    jl, bl = np.nonzero((d != 0).any(axis=1))  # live pairs, grouped by column
    if jl.size:
        starts = np.flatnonzero(np.r_[True, jl[1:] != jl[:-1]])
        ends = np.r_[starts[1:], jl.size]
        dp = d.transpose(0, 2, 1)[jl, bl]  # (pairs, S*P)
        screen = None
        if track and net.activations[layer + 1].kinks:
            # Exact screen of layer l+1: the rank-1 change moves an entry of row b across a
            # kink iff d leaves (down, up) there (see verify.kinks.crossings); a pair whose d
            # is 0 moves nothing.
            up, down = crossings(net, layer + 1)
            dr = np.real(dp)
            for u_k, d_k in zip(up, down, strict=True):  # one per kink point: (B, n_out)
                f = (dr >= u_k[bl, j[jl]][:, None]) | (dr <= d_k[bl, j[jl]][:, None])
                screen = f if screen is None else screen | f
        dy, pair_flags = _pairs_forward(net, layer, j[jl], bl, dp, track, inexact_flagged)
        if screen is not None:
            pair_flags = screen if pair_flags is None else pair_flags | screen
        # SquaredError.change per column, c * sum_b dy . (dy + 2 (y[b] - t[b])), the cross
        # term as one matrix-vector product per column (c is applied once, below).
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


def _keeps_one(act: Activation) -> bool:
    """Whether ``act.forward`` maps 1 to exactly 1 (so a constant column of ones survives it)."""
    return type(act) in (ReLU, LeakyReLU, Linear)


def _pairs_forward(
    net: ReferenceNet, layer: int, cols: Array, rows: Array, d: Array, track: bool,
    inexact_flagged: bool,
) -> tuple[Array, Array | None]:
    """Carry changes ``d`` (pairs, R) of ``a_{l+1}[rows, cols]`` to the output.

    -> (y' - y: (R, pairs, n_out), flags: (pairs, R) of kinks crossed after layer l+1, or None
    when there are no such layers)
    """
    npairs, R = d.shape
    dtype = d.dtype
    L = net.n_layers
    k = layer + 1
    out_linear = type(net.activations[-1]) is Linear
    final = k == L - 1 and out_linear
    drop = inexact_flagged and track and k < L - 1 and type(net.activations[k]) is ReLU
    W = net.weights[k]
    if drop:
        units, z_on = active_units(net, k)  # (B, K) each
        K = units.shape[1]
        wj, zk = W[cols[:, None], units[rows]], z_on[rows]
    else:
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
        if drop and k == layer + 1:
            ext = dropped_ext(net, k)[rows]
        elif final:
            ext = output_ext(net)[rows]
        else:
            ext = hidden_ext(net, k + 1)
        z = product(z, ext, final)
        k += 1
    return z, flags
