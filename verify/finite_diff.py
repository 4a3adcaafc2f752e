"""Finite differences of the reference, structured and vectorised, with exact kink handling.

The numbers an analytic gradient is checked against. Everything here evaluates the *reference*
forward math (``x @ W + b`` and each layer's ``activation.forward``) on the model's own
parameters, never the model's backward, so it is independent of what it checks.

Structure (why this is fast)
----------------------------
Perturbing ``W_l[i, j]`` by ``h`` changes only column ``j`` of ``z_l``, by ``h * x_l[:, i]``;
every activation before layer ``l`` is reused. Column ``j`` of ``a_{l+1}`` then changes by a
vector ``d`` and ``z_{l+1}`` by the rank-1 update ``d[:, None] * W_{l+1}[j, :]``; only the layers
after that are evaluated in full, for a whole chunk of perturbations at once (stacked on a
leading axis, chunk size bounded by memory). A bias is a column perturbation with ``x = 1``.
Perturbing an *input* ``a_l[b, i]`` changes only row ``b``, so only that one example is carried
through the remaining layers.

Weights are evaluated column by column, whole columns per call (:func:`_column_block_change`):
the pairs (column j, example b) whose ``a_{l+1}[b, j]`` does not change (a relu unit that stays
off) contribute exactly 0 and are dropped; the rest are stacked pair-major with a trailing column
of ones, so that each layer is one (batched) matrix product with the bias folded in, and the
linear output layer's product yields ``y' - y`` directly. When the layer after the weight is a
relu layer its pre-activations move by the rank-1 change only, so kink crossings there are
screened exactly from ``d`` (:meth:`ReferenceNet.crossings`); an unflagged perturbation then
leaves every unit that is off at exactly 0, and only each example's units that are on are
carried (the values of flagged perturbations are discarded: they are refined with smaller steps).
The ``+h`` and ``-h`` perturbations go through the same products. Every perturbed value is
still evaluated through the forward math; nothing is linearised.

The loss is a scaled sum of squares ``c * sum((y - t)**2)`` (both conventions of
:data:`reference_mlp.LOSSES`); its change is computed directly as
``c * sum((y' - y) * ((y' - t) + (y - t)))``, so the large common part of ``L(theta + h)`` and
``L(theta)`` never has to cancel.

Steps
-----
Each coordinate's step is ``h = r * max(1, |theta|)`` with a relative step ``r`` (see
:data:`DEFAULT_STEPS`): ``eps**(1/3)`` for central differences, ``sqrt(eps)`` for forward ones,
``1e-200`` for the complex step. float32 models are evaluated in float64 on their exactly upcast
weights and data (the finite difference is then not the limit; the float32 analytic gradient is).

Kinks
-----
For activations with kinks (``relu``, ``leaky_relu``) every pre-activation is known, so a
stencil that moves any pre-activation (in the perturbed layer or any later one) across a kink is
detected exactly, and counted. Such a coordinate is re-evaluated with smaller steps: each at most
1/16 of the previous one and at most half the *exact* distance to the nearest kink of the
perturbed layer (whose pre-activations move linearly with the step), down to
``1e-13 * max(1, |theta|)``. Once a stencil is clear of every kink its quotient is a true
derivative estimate again (on relu's linear pieces even an exact one, up to round-off); its
round-off, which grows as the step shrinks, is estimated by repeating the quotient at half the
step, and the analytic value passes within two such errors of it. Only a kink closer than the
smallest step (a pre-activation at exactly 0, say) is left. There the loss is not
differentiable and the analytic value is a convention (``relu'(0) = 0``); the complex step,
whose branch follows ``Re(z)``, differentiates exactly the piece that convention selects, so it
is the reference there (for activations it cannot go through, the analytic value must lie
between the one-sided derivatives). Several pre-activations crossing at once in opposite
directions (so that neither one-sided quotient is the slope of the current piece) is thereby
handled too.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import Activation, LeakyReLU, Linear, ReLU

from .reference import ReferenceNet
from .threads import WORKERS, idle_workers, single_threaded_blas

__all__ = [
    "DEFAULT_STEPS",
    "FiniteDifference",
    "central_loop",
    "directional_derivative",
    "directional_derivatives",
    "numerical_gradient",
    "stencil_crossings",
]

Array = NDArray[Any]

_EPS64 = float(np.finfo(np.float64).eps)

DEFAULT_STEPS: dict[str, float] = {
    "central": _EPS64 ** (1 / 3),  # 6.1e-6: truncation h**2 vs round-off eps/h
    "forward": _EPS64 ** 0.5,  # 1.5e-8: truncation h vs round-off eps/h
    "complex_step": 1e-200,  # no subtraction, so no round-off limit on h
    "directional": _EPS64 ** (1 / 3),
}
"""Default relative step ``r`` per method (the evaluation is always float64 or complex128)."""

_SIGNS: dict[str, tuple[complex, ...]] = {
    "central": (1.0, -1.0),
    "forward": (1.0,),
    "complex_step": (1j,),
}

# Stencils that straddle a kink are re-evaluated with smaller steps: at most this many times,
# each step at most 1/16 of the previous one and at most half the exact distance to the nearest
# kink of the perturbed layer, never below _FLOOR * max(1, |theta|).
_MAX_REFINE = 6
_FLOOR = 1e-13

# Bytes of one stacked temporary per chunk: small enough to stay in cache, large enough that
# numpy's per-call overhead is amortised.
_CHUNK_BYTES = 2 * 2**20
# Bytes of the largest stacked array of one column block (_column_block_change): measured best
# between 4 and 8 MiB for the benchmark networks (fewer NumPy calls vs. cache misses).
_GROUP_BYTES = 4 * 2**20
DEFAULT_MAX_MEMORY = 256 * 2**20


# --------------------------------------------------------------------------------------------
# The structured evaluator: loss changes for a chunk of single-coordinate perturbations.


def _flips(zp: Array, zref: Array, kinks: Sequence[float], axes: tuple[int, ...]) -> Array:
    """True where any entry of ``zp`` lies on the other side of a kink than ``zref``."""
    out = None
    rp, rr = np.real(zp), np.real(zref)
    for k in kinks:
        f = (rp > k) != (rr > k)
        out = f if out is None else out | f
    assert out is not None
    return out.any(axis=axes)


def _forward_inplace(act: Activation, z: Array) -> Array:
    """``act.forward(z)``, overwriting ``z`` for the piecewise-linear registry activations.

    ``max(z, 0)`` and ``max(z, slope * z)`` (0 <= slope <= 1) are the same numbers as the
    reference's ``where`` forms, in one pass instead of three.
    """
    if type(act) is ReLU and not np.iscomplexobj(z):
        return np.maximum(z, 0.0, out=z)
    if type(act) is LeakyReLU and not np.iscomplexobj(z) and 0.0 <= act.negative_slope <= 1.0:
        return np.maximum(z, z * act.negative_slope, out=z)
    return act.forward(z)


def _propagate(
    net: ReferenceNet, zp: Array, start: int, rows: Array | None, track: bool,
    screened: bool = False, subset: Array | None = None,
) -> tuple[Array, Array]:
    """Carry perturbed pre-activations of layer ``start`` to the output (``zp`` is consumed).

    zp: (..., batch, n) when ``rows`` is None (the whole batch, or the examples ``subset``),
    else (..., P, n) with ``rows`` (P,) naming each perturbation's example. ``screened``: the
    caller already flagged kinks of layer ``start``. -> (y': same leading shape, flags)
    """
    axes: tuple[int, ...] = (-1,) if rows is not None else (-2, -1)
    flags = np.zeros(zp.shape[: zp.ndim - len(axes)], dtype=bool)
    a = zp
    for k in range(start, net.n_layers):
        act = net.activations[k]
        if track and act.kinks and not (screened and k == start):
            pick = rows if rows is not None else subset
            zref = net.zs[k] if pick is None else net.zs[k][pick]
            flags |= _flips(zp, zref, act.kinks, axes)
        a = _forward_inplace(act, zp)
        if k + 1 < net.n_layers:
            W = net.weights[k + 1]
            zp = (a.reshape(-1, a.shape[-1]) @ W).reshape(a.shape[:-1] + (W.shape[1],))
            zp += net.biases[k + 1]
    return a, flags


def _loss_change(
    net: ReferenceNet, yp: Array, rows: Array | None, subset: Array | None = None
) -> Array:
    """``L(y') - L(y)`` without cancellation; yp as in :func:`_propagate`."""
    pick = rows if rows is not None else subset
    y = net.y if pick is None else net.y[pick]
    r2 = net.residual2 if pick is None else net.residual2[pick]  # 2 (y - t)
    dy = np.subtract(yp, y, out=yp) if yp.flags.writeable and yp.dtype == y.dtype else yp - y
    # (y' - t)^2 - (y - t)^2 = dy * (dy + 2 (y - t)), summed without a large common part
    if rows is not None:
        return net.scale * (np.einsum("...n,...n->...", dy, dy) + np.einsum("...n,...n->...",
                                                                              dy, r2))
    flat = dy.reshape(dy.shape[:-2] + (-1,))
    return net.scale * (np.einsum("...k,...k->...", flat, flat) + flat @ r2.reshape(-1))


def _column_change(
    net: ReferenceNet, layer: int, kind: str, idx: Array, h: Array, signs: Array, track: bool,
    one_column: bool = False, inexact_flagged: bool = False,
) -> tuple[Array, Array]:
    """Loss changes for perturbations of ``weights``/``biases`` entries ``idx`` (flat).

    ``one_column``: the entries come in runs of equal length, each run in one column j (see
    :func:`_column_block_change`, also for ``inexact_flagged``).
    -> (D: (S, P), flags: (S, P)) for the S signs (``+1, -1`` or ``1j``) and P entries.
    """
    if one_column and kind == "weights" and layer + 1 < net.n_layers:
        return _column_block_change(net, layer, idx, h, signs, track, inexact_flagged)
    n_out = net.weights[layer].shape[1]
    if kind == "weights":
        i, j = np.divmod(idx, n_out)
        # (P, B): the column change is h * x[:, i]. C order, so that every array derived from
        # it is C-contiguous too (reshapes stay views, matrix products stay fast).
        u = np.ascontiguousarray(net.acts[layer][:, i].T)
    else:
        j = idx
        u = np.ones((idx.size, net.x.shape[0]))
    zcol = np.ascontiguousarray(net.zs[layer][:, j].T)  # (P, B)
    zc = zcol + (signs[:, None, None] * h[None, :, None]) * u  # (S, P, B)
    act = net.activations[layer]
    flags = np.zeros(zc.shape[:2], dtype=bool)
    if track and act.kinks:
        flags |= _flips(zc, zcol, act.kinks, (-1,))
    acol = _forward_inplace(act, zc)
    # change of column j of a_{l+1}: (S, P, B)
    d = acol - np.ascontiguousarray(net.acts[layer + 1][:, j].T)
    if layer + 1 == net.n_layers:
        y = net.y[:, j].T
        t = net.t[:, j].T
        return net.scale * np.sum(d * ((acol - t) + (y - t)), axis=-1), flags
    W = net.weights[layer + 1]
    # rank-1 update of z_{l+1}: (S, P, B, n)
    zp = np.multiply(d[..., None], W[j][None, :, None, :])
    np.add(zp, net.zs[layer + 1], out=zp)
    screened = False
    if track and net.activations[layer + 1].kinks:
        up, down = net.crossings(layer + 1)
        dr = np.real(d)
        upj, downj = up[:, :, j].transpose(0, 2, 1), down[:, :, j].transpose(0, 2, 1)
        for u_k, d_k in zip(upj, downj):  # one per kink point: (P, B)
            flags |= ((dr >= u_k) | (dr <= d_k)).any(axis=-1)
        screened = True
    yp, f2 = _propagate(net, zp, layer + 1, None, track, screened)
    return _loss_change(net, yp, None), flags | f2


def _keeps_one(act: Activation) -> bool:
    """Whether ``act.forward`` maps 1 to exactly 1 (so a constant column of ones survives it)."""
    return type(act) in (ReLU, LeakyReLU, Linear)


def _column_block_change(
    net: ReferenceNet, layer: int, idx: Array, h: Array, signs: Array, track: bool,
    inexact_flagged: bool = False,
) -> tuple[Array, Array]:
    """:func:`_column_change` for weights entries ``idx`` that come in J runs of equal length
    P, each run in one column j of ``layer`` (rows i ascending).

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
    layer l+1 is a relu layer (screened exactly through ``crossings``), only its units that are
    on in example b are carried (for an unflagged perturbation the others stay exactly 0).
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
    xT = net.transposed(layer)
    u = xT[None] if P == n_in else xT[i]  # (J or 1, P, B): a whole column has every row i
    zc = np.multiply((signs[None, :, None] * h.reshape(J, 1, P))[..., None], u[:, None],
                     dtype=dtype).reshape(J, SP, B)
    zcol = net.zs[layer][:, j].T[:, None, :]  # (J, 1, B)
    zc += zcol
    act = net.activations[layer]
    flags = np.zeros((J, SP), dtype=bool)
    if track and act.kinks:
        flags |= _flips(zc, zcol, act.kinks, (-1,))
    d = _forward_inplace(act, zc)
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
            # kink iff d leaves (down, up) there (see ReferenceNet.crossings); a pair whose d
            # is 0 moves nothing.
            up, down = net.crossings(layer + 1)
            dr = np.real(dp)
            for u_k, d_k in zip(up, down):  # one per kink point: (B, n_out)
                f = (dr >= u_k[bl, j[jl]][:, None]) | (dr <= d_k[bl, j[jl]][:, None])
                screen = f if screen is None else screen | f
        dy, pair_flags = _pairs_forward(net, layer, j[jl], bl, dp, track, inexact_flagged)
        if screen is not None:
            pair_flags = screen if pair_flags is None else pair_flags | screen
        # L' - L = c * sum_b (y' - y) . ((y' - y) + 2 (y[b] - t[b])), per column
        r2 = net.residual2[bl].reshape(-1)
        n_y = net.y.shape[1]
        flat = dy.reshape(SP, -1)
        for c, e0, e1 in zip(jl[starts], starts * n_y, ends * n_y):
            v = flat[:, e0:e1]
            D[c] = np.einsum("pk,pk->p", v, v) + v @ r2[e0:e1]
        if pair_flags is not None:
            flags[jl[starts]] |= np.logical_or.reduceat(pair_flags, starts, axis=0)
    D *= net.scale
    return (D.reshape(J, S, P).transpose(1, 0, 2).reshape(S, J * P),
            flags.reshape(J, S, P).transpose(1, 0, 2).reshape(S, J * P))


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
        units, z_on = net.active_units(k)  # (B, K) each
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
            f = _flips(z[:, :, :n], net.zs[k][rows][:, None, :], act.kinks, (2,))
            flags = f if flags is None else flags | f
        if _keeps_one(act):
            z = _forward_inplace(act, z)
        else:
            z[:, :, :n] = act.forward(z[:, :, :n])
        if k == L - 1:
            z = np.ascontiguousarray((z[:, :, :n] - net.y[rows][:, None, :]).transpose(1, 0, 2))
            break
        final = k + 1 == L - 1 and out_linear
        if drop and k == layer + 1:
            ext = net.dropped_ext(k)[rows]
        elif final:
            ext = net.output_ext()[rows]
        else:
            ext = net.hidden_ext(k + 1)
        z = product(z, ext, final)
        k += 1
    return z, flags


def _row_change(
    net: ReferenceNet, layer: int, idx: Array, h: Array, signs: Array, track: bool
) -> tuple[Array, Array]:
    """Loss changes for perturbations of layer inputs ``a_l`` entries ``idx`` (flat)."""
    n_in = net.weights[layer].shape[0]
    b, i = np.divmod(idx, n_in)
    W = net.weights[layer]
    zp = (signs[:, None, None] * h[None, :, None]) * W[i][None]  # (S, P, n_out)
    zp += net.zs[layer][b]
    yp, flags = _propagate(net, zp, layer, b, track)
    return _loss_change(net, yp, b), flags


def _per_chunk(net: ReferenceNet, layer: int, kind: str, n_signs: int, itemsize: int,
               max_memory: int) -> int:
    """Perturbations per chunk: bounded by cache-friendly and total-memory budgets."""
    widths = [W.shape[1] for W in net.weights[layer:]]
    if kind == "inputs":
        per = n_signs * max(widths) * itemsize
    else:
        per = n_signs * net.x.shape[0] * max(widths) * itemsize
    # About 4 temporaries of that size live at once, in each worker thread.
    budget = min(_CHUNK_BYTES, max_memory // (4 * WORKERS))
    return max(1, min(65536, budget // max(per, 1)))


def _column_chunks(net: ReferenceNet, layer: int, idx: Array, n_signs: int, itemsize: int,
                   chunk_size: int | None, max_memory: int) -> list[Array]:
    """Positions in ``idx`` (weights entries) for each call of :func:`_column_block_change`:
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
        budget = min(_GROUP_BYTES, max_memory // (4 * WORKERS))
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


def _changes(
    net: ReferenceNet,
    layer: int,
    kind: str,
    idx: Array,
    h: Array,
    signs: Sequence[complex],
    *,
    track: bool,
    chunk_size: int | None,
    max_memory: int,
    inexact_flagged: bool = False,
) -> tuple[Array, Array]:
    """Loss changes D (S, P) and kink flags (S, P) for entries ``idx`` with steps ``h``.

    ``inexact_flagged``: the caller only uses D where F is False, which lets the relu layer
    after a weight skip its units that are off (see :func:`_column_block_change`).
    """
    complex_ = any(isinstance(s, complex) for s in signs)
    sg = np.asarray(signs, dtype=np.complex128 if complex_ else np.float64)
    S = len(signs)
    per = chunk_size or _per_chunk(net, layer, kind, S, 16 if complex_ else 8, max_memory)
    D = np.empty((S, idx.size), dtype=sg.dtype)
    F = np.zeros((S, idx.size), dtype=bool)

    # Weights: group the entries by column j, and whole columns into blocks (see
    # _column_block_change); with a relu layer the examples whose unit j is off do not change
    # at all and are skipped.
    n = idx.size
    group = kind == "weights" and layer + 1 < net.n_layers
    chunks: list[Any]
    if group:
        chunks = _column_chunks(net, layer, idx, S, 16 if complex_ else 8, chunk_size,
                                max_memory)
        net.prepare_columns(layer)
    else:
        chunks = [slice(k, k + per) for k in range(0, n, per)]

    def work(pos: Any) -> None:
        if kind == "inputs":
            d, f = _row_change(net, layer, idx[pos], h[pos], sg, track)
        else:
            d, f = _column_change(net, layer, kind, idx[pos], h[pos], sg, track, group,
                                  inexact_flagged=inexact_flagged)
        D[:, pos] = d
        F[:, pos] = f

    if kind != "inputs" and track and layer + 1 < net.n_layers and net.activations[layer + 1].kinks:
        net.crossings(layer + 1)  # fill the cache before threads share it
    workers = min(idle_workers(), len(chunks)) if len(chunks) >= 8 else 1
    with single_threaded_blas():
        if workers > 1:
            # Chunks are independent and numpy releases the GIL in its loops; one BLAS thread
            # per worker avoids oversubscribing the cores with many small matrix products.
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(work, chunks))
        else:
            for pos in chunks:
                work(pos)
    return D, F


# --------------------------------------------------------------------------------------------
# Gradient estimates.


@dataclass
class FiniteDifference:
    """A numerical gradient with what the kink handling found.

    ``estimate``: same shape as the parameter. ``kink_mask``: entries whose base stencil
    straddled a kink; ``left``/``right`` the interval the analytic value must lie in there
    (the error interval of a refined quotient; the complex-step value, or else the one-sided
    derivatives, where no step was small enough; NaN elsewhere). ``kinks``: how many;
    ``refined``: how many of those a smaller step cleared of every kink; ``at_kink``: the rest.
    """

    estimate: Array
    kink_mask: Array
    left: Array
    right: Array
    kinks: int
    refined: int
    step: float
    at_kink: int = 0


def _complex_safe(net: ReferenceNet, layer: int) -> bool:
    """Whether every activation from ``layer`` on is complex-step safe: analytic, or relu /
    leaky_relu (the reference branches on Re(z), so Im carries the piece's derivative)."""
    return all(act.smooth or type(act) in (ReLU, LeakyReLU)
               for act in net.activations[layer:])


def _kink_distance(net: ReferenceNet, layer: int, kind: str, idx: Array) -> Array:
    """Exact step at which perturbing entry ``idx`` first moves a pre-activation of ``layer``
    itself across a kink (that layer's pre-activations are linear in the step). -> (P,)"""
    act = net.activations[layer]
    out = np.full(idx.size, np.inf)
    if not act.kinks or not idx.size:
        return out
    if kind == "inputs":
        b, i = np.divmod(idx, net.weights[layer].shape[0])
        z, rate = net.zs[layer][b], np.abs(net.weights[layer][i])  # (P, n_out)
    else:
        n_out = net.weights[layer].shape[1]
        if kind == "weights":
            i, j = np.divmod(idx, n_out)
            rate = np.abs(net.acts[layer][:, i].T)  # (P, B)
        else:
            j = idx
            rate = np.ones((idx.size, net.x.shape[0]))
        z = net.zs[layer][:, j].T
    for k in act.kinks:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.abs(z - k) / rate
        d[~(rate > 0)] = np.inf
        out = np.minimum(out, d.min(axis=-1))
    return out


def _combine(method: str, D: Array, h: Array) -> Array:
    if method == "central":
        return np.real(D[0] - D[1]) / (2 * h)
    if method == "forward":
        return np.real(D[0]) / h
    return np.imag(D[0]) / h


def numerical_gradient(
    net: ReferenceNet,
    layer: int,
    kind: str,
    *,
    method: str = "central",
    step: float | None = None,
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> FiniteDifference:
    """Every entry of d loss / d ``kind`` of ``layer`` by ``method``, kink-aware.

    ``method``: ``"central"``, ``"forward"`` or ``"complex_step"``; ``step``: relative step r.
    """
    if method not in _SIGNS:
        raise ValueError(f"method must be one of {tuple(_SIGNS)}, got {method!r}")
    r = DEFAULT_STEPS[method] if step is None else float(step)
    theta = net.parameter(layer, kind)
    flat = theta.reshape(-1)
    h = r * np.maximum(1.0, np.abs(flat))
    idx = np.arange(flat.size)
    track = method != "complex_step"
    kw: dict[str, Any] = {"track": track, "chunk_size": chunk_size, "max_memory": max_memory}
    # Flagged entries are re-evaluated below, so their first values may be inexact.
    D, F = _changes(net, layer, kind, idx, h, _SIGNS[method], inexact_flagged=True, **kw)
    est = _combine(method, D, h)
    mask = np.zeros(flat.size, dtype=bool)
    left = np.full(flat.size, np.nan)
    right = np.full(flat.size, np.nan)
    flagged = np.flatnonzero(F.any(axis=0))
    n_kinks = int(flagged.size)
    todo = flagged
    s = h[todo]
    dist = _kink_distance(net, layer, kind, todo)
    floor = _FLOOR * np.maximum(1.0, np.abs(flat[todo]))
    for _ in range(_MAX_REFINE if todo.size else 0):
        s = np.maximum(np.minimum(s / 16, dist / 2), floor)
        D, F = _changes(net, layer, kind, todo, s, _SIGNS[method], inexact_flagged=True, **kw)
        ok = ~F.any(axis=0)
        if ok.any():
            # A stencil clear of every kink gives a true difference quotient again. Its error
            # (round-off grows as the step shrinks) is estimated from the same quotient at half
            # the step, and allowed for: the entry passes within [est - 2 err, est + 2 err].
            fine, s_ok = todo[ok], s[ok]
            D2, F2 = _changes(net, layer, kind, fine, s_ok / 2, _SIGNS[method], **kw)
            # (On a clear stencil the half step is clear too: the region without crossings
            # is convex. Checked anyway; an entry that is not stays to be refined.)
            ok2 = ~F2.any(axis=0)
            ok[np.flatnonzero(ok)[~ok2]] = False
            fine, s_ok, D2 = fine[ok2], s_ok[ok2], D2[:, ok2]
        if ok.any():
            e1 = _combine(method, D[:, ok], s_ok)
            noise = np.abs(e1 - _combine(method, D2, s_ok / 2))
            est[fine] = e1
            left[fine], right[fine] = e1 - 2 * noise, e1 + 2 * noise
            mask[fine] = True
        todo, s, dist, floor = todo[~ok], s[~ok], dist[~ok], floor[~ok]
        if not todo.size or np.all(s <= floor):
            break
    refined = n_kinks - int(todo.size)
    at_kink = int(todo.size)
    if todo.size and _complex_safe(net, layer):
        # A kink closer than the smallest step: a pre-activation at (or within ~1e-13 of) the
        # kink, where the loss is not differentiable and the analytic value is a convention
        # (relu'(0) = 0). The complex step differentiates exactly the piece the reference's
        # branch on Re(z) selects, which is that convention: it is the reference there.
        hc = DEFAULT_STEPS["complex_step"] * np.maximum(1.0, np.abs(flat[todo]))
        D, _ = _changes(net, layer, kind, todo, hc, (1j,), **{**kw, "track": False})
        est[todo] = left[todo] = right[todo] = np.imag(D[0]) / hc
        mask[todo] = True
    elif todo.size:
        # Unknown non-analytic activations: the one-sided derivatives at a moderate step.
        s = h[todo] / 256
        D, _ = _changes(net, layer, kind, todo, s, (1.0, -1.0), **kw)
        right[todo] = np.real(D[0]) / s
        left[todo] = -np.real(D[1]) / s
        est[todo] = (right[todo] + left[todo]) / 2 if method == "central" else right[todo]
        mask[todo] = True
    shape = theta.shape
    return FiniteDifference(
        estimate=est.reshape(shape),
        kink_mask=mask.reshape(shape),
        left=left.reshape(shape),
        right=right.reshape(shape),
        kinks=n_kinks,
        refined=refined,
        at_kink=at_kink,
        step=r,
    )


def stencil_crossings(
    net: ReferenceNet, layer: int, kind: str, *, step: float | None = None
) -> Array:
    """Entries whose central stencil ``theta +- h`` moves any pre-activation across a kink.

    Same shape as the parameter; ``step`` is the relative step r (central default).
    """
    r = DEFAULT_STEPS["central"] if step is None else float(step)
    flat = net.parameter(layer, kind).reshape(-1)
    h = r * np.maximum(1.0, np.abs(flat))
    _, F = _changes(net, layer, kind, np.arange(flat.size), h, (1.0, -1.0), track=True,
                    chunk_size=None, max_memory=DEFAULT_MAX_MEMORY, inexact_flagged=True)
    return F.any(axis=0).reshape(net.parameter(layer, kind).shape)


@dataclass
class Directional:
    """Central difference of the loss along one direction ``v`` of one layer's ``kind``.

    ``kink``: the base stencil straddled a kink, so ``derivative`` must be accepted within
    ``[left, right]`` (the error interval of a refined quotient, or the one-sided derivatives).
    """

    derivative: float
    kink: bool
    left: float
    right: float
    kinks: int
    step: float


def _direction_change(net: ReferenceNet, layer: int, kind: str, v: Array) -> Array:
    """How ``z_layer`` moves per unit step along ``v`` in ``kind``: (batch, n_out)."""
    if kind == "weights":
        return net.acts[layer] @ v
    if kind == "biases":
        return np.broadcast_to(v, net.zs[layer].shape)
    return v @ net.weights[layer]


def directional_derivatives(
    net: ReferenceNet, layer: int, directions: dict[str, Array], *, step: float | None = None
) -> dict[str, Directional]:
    """:func:`directional_derivative` for several kinds of one layer in one stacked pass.

    Kinds whose stencil straddles a kink are redone one by one with the refinement.
    """
    r = DEFAULT_STEPS["directional"] if step is None else float(step)
    kinds = list(directions)
    dzs = np.stack([_direction_change(net, layer, k, directions[k]) for k in kinds])
    steps = np.array([r * max(1.0, float(np.max(np.abs(net.parameter(layer, k)))))
                      for k in kinds])
    moves = np.concatenate([steps[:, None, None] * dzs, -steps[:, None, None] * dzs])
    yp, flags = _propagate(net, net.zs[layer][None] + moves, layer, None, True)
    D = _loss_change(net, yp, None)
    n = len(kinds)
    out = {}
    for q, kind in enumerate(kinds):
        if flags[q] or flags[n + q]:
            out[kind] = directional_derivative(net, layer, kind, directions[kind], step=r)
        else:
            deriv = float(D[q] - D[n + q]) / (2 * steps[q])
            out[kind] = Directional(deriv, kink=False, left=deriv, right=deriv, kinks=0, step=r)
    return out


def directional_derivative(
    net: ReferenceNet, layer: int, kind: str, v: Array, *, step: float | None = None
) -> Directional:
    """``d/ds L(theta + s v)`` at 0 by a kink-aware central difference (two forward passes).

    The step is ``s = r * max(1, max|theta|)`` (``r`` relative); layers before ``layer`` are
    reused.
    """
    r = DEFAULT_STEPS["directional"] if step is None else float(step)
    theta = net.parameter(layer, kind)
    dz = _direction_change(net, layer, kind, v)
    base = r * max(1.0, float(np.max(np.abs(theta))) if theta.size else 1.0)
    signs = np.array([1.0, -1.0])

    def run(s: float) -> tuple[Array, bool]:
        zp = net.zs[layer][None] + (signs * s)[:, None, None] * dz[None]
        yp, flags = _propagate(net, zp, layer, None, True)
        return _loss_change(net, yp, None), bool(flags.any())

    D, crossed = run(base)
    s = base
    kinks = int(crossed)
    if not crossed:
        deriv = float(D[0] - D[1]) / (2 * s)
        return Directional(deriv, kink=False, left=deriv, right=deriv, kinks=0, step=r)
    # As numerical_gradient: smaller steps, at most half the exact distance to the nearest kink
    # of the perturbed layer (its pre-activations move linearly, by s * dz).
    dist = np.inf
    act = net.activations[layer]
    for k in act.kinks:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.abs(net.zs[layer] - k) / np.abs(dz)
        d[~(np.abs(dz) > 0)] = np.inf
        dist = min(dist, float(d.min()))
    floor = _FLOOR * max(1.0, float(np.max(np.abs(theta))))
    for _ in range(_MAX_REFINE):
        s = max(min(s / 16, dist / 2), floor)
        D, crossed = run(s)
        if not crossed:
            D2, _ = run(s / 2)
            e1 = float(D[0] - D[1]) / (2 * s)
            noise = abs(e1 - float(D2[0] - D2[1]) / s)
            return Directional(e1, kink=True, left=e1 - 2 * noise, right=e1 + 2 * noise,
                               kinks=1, step=r)
        if s <= floor:
            break
    if _complex_safe(net, layer):  # at the kink itself: the complex step, as numerical_gradient
        hc = DEFAULT_STEPS["complex_step"]
        zp = net.zs[layer][None] + (1j * hc) * dz[None]
        yp, _ = _propagate(net, zp, layer, None, False)
        deriv = float(np.imag(_loss_change(net, yp, None))[0]) / hc
        return Directional(deriv, kink=True, left=deriv, right=deriv, kinks=kinks, step=r)
    s = base / 256
    D, _ = run(s)
    right, left = float(D[0]) / s, -float(D[1]) / s
    return Directional(
        derivative=(right + left) / 2, kink=True, left=left, right=right, kinks=kinks, step=r,
    )


# --------------------------------------------------------------------------------------------
# The plain one-parameter-at-a-time loop: the yardstick for tests and the benchmark.


def _forward_from(net: ReferenceNet, layer: int, a: Array, W: Array | None = None,
                  b: Array | None = None) -> Array:
    """Full forward from layer ``layer`` with input ``a`` (optionally replacing its W / b)."""
    for k in range(layer, net.n_layers):
        Wk = W if (k == layer and W is not None) else net.weights[k]
        bk = b if (k == layer and b is not None) else net.biases[k]
        a = net.activations[k].forward(a @ Wk + bk)
    return a


def central_loop(
    net: ReferenceNet,
    layer: int,
    kind: str,
    *,
    step: float | None = None,
    indices: Sequence[int] | None = None,
    full_forward: bool = False,
) -> Array:
    """Central differences one entry at a time, by full forward passes (slow, obviously right).

    Uses the same per-entry steps as :func:`numerical_gradient`. ``indices`` limits the loop to
    some flat indices (others are NaN). ``full_forward`` re-runs every layer from the input, as a
    naive checker would; otherwise it starts at ``layer``.
    """
    r = DEFAULT_STEPS["central"] if step is None else float(step)
    theta = net.parameter(layer, kind)
    out = np.full(theta.size, np.nan)
    which = range(theta.size) if indices is None else indices
    t, c = net.t, net.scale

    def loss_of(y: Array) -> float:
        d = y - t
        return c * float(np.sum(d * d))

    for k in which:
        p = theta.copy()
        flat = p.reshape(-1)
        h = r * max(1.0, abs(float(theta.reshape(-1)[k])))
        values = []
        for sign in (1.0, -1.0):
            flat[k] = theta.reshape(-1)[k] + sign * h
            if kind == "inputs":
                y = _forward_from(net, layer, p)
            else:
                a = net.acts[layer]
                if full_forward:  # recompute the layers before, as a naive checker does
                    a = net.x
                    for m in range(layer):
                        a = net.activations[m].forward(a @ net.weights[m] + net.biases[m])
                y = _forward_from(net, layer, a, **{"W" if kind == "weights" else "b": p})
            values.append(loss_of(y))
        out[k] = (values[0] - values[1]) / (2 * h)
    return out.reshape(theta.shape)
