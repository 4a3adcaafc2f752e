"""Loss changes for chunks of single-coordinate perturbations, evaluated structurally.

The engine under every finite difference (:mod:`verify.finite_diff`,
:mod:`verify.directional`). It evaluates the *reference* forward math (``x @ W + b`` and each
layer's ``activation.forward``) on the model's own parameters, never the model's backward, so
it is independent of what it checks.

Structure (why this is fast)
----------------------------
Perturbing ``W_l[i, j]`` by ``h`` changes only column ``j`` of ``z_l``, by ``h * x_l[:, i]``;
every activation before layer ``l`` is reused. Column ``j`` of ``a_{l+1}`` then changes by a
vector ``d`` and ``z_{l+1}`` by the rank-1 update ``d[:, None] * W_{l+1}[j, :]``; only the layers
after that are evaluated in full, for a whole chunk of perturbations at once (stacked on a
leading axis, chunk size bounded by memory). A bias is a column perturbation with ``x = 1``.
Perturbing an *input* ``a_l[b, i]`` changes only row ``b``, so only that one example is carried
through the remaining layers. The weights of hidden layers take a faster path still, whole
columns per call (:mod:`verify.column_blocks`), where a change entering a relu layer just
before a linear output (or the linear output itself) changes the loss by an exact quadratic
of that change. Kink crossings are flagged exactly on the way
(:mod:`verify.kinks`). Chunks run on worker threads where cores are idle
(:mod:`verify.threads`).

The loss is a scaled sum of squares ``c * sum((y - t)**2)`` (both conventions of
:data:`reference_mlp.LOSSES`); its change is computed directly as
``c * sum((y' - y) * ((y' - t) + (y - t)))``, so the large common part of ``L(theta + h)`` and
``L(theta)`` never has to cancel.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .column_blocks import Scratch, column_block_change, column_chunks, is_range, prepare_columns
from .kinks import crossings, flips
from .reference import ReferenceNet, forward_inplace
from .threads import WORKERS, idle_workers, single_threaded_blas, worker_pool

__all__ = ["CHUNK_BYTES", "DEFAULT_MAX_MEMORY", "loss_change", "loss_changes", "propagate"]

Array = NDArray[Any]

CHUNK_BYTES = 2 * 2**20
"""Bytes of one stacked temporary per chunk: small enough to stay in cache, large enough that
numpy's per-call overhead is amortised."""

DEFAULT_MAX_MEMORY = 256 * 2**20
"""Default bound on the bytes of temporaries of one evaluation (all worker threads)."""


def loss_changes(
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
    """Loss changes ``L(theta + s h) - L(theta)`` for the entries ``idx`` (P,) of ``kind`` of
    ``layer`` (flat indices), with steps ``h`` (P,) and every sign ``s`` of ``signs`` (S,:
    ``+1, -1`` or ``1j``). -> (D: (S, P), real or complex; F: (S, P), True where the stencil
    moved a pre-activation across a kink, when ``track``).

    ``chunk_size`` (perturbations per chunk, default from the memory budgets) and
    ``max_memory`` (bytes of temporaries) bound the memory. ``inexact_flagged``: the caller
    only uses D where F is False, which lets the relu layer after a weight skip its units that
    are off (see :func:`verify.column_blocks.column_block_change`).
    """
    complex_ = any(isinstance(s, complex) for s in signs)
    sg = np.asarray(signs, dtype=np.complex128 if complex_ else np.float64)
    S = len(signs)
    per = chunk_size or _per_chunk(net, layer, kind, S, 16 if complex_ else 8, max_memory)
    D = np.empty((S, idx.size), dtype=sg.dtype)
    F = np.zeros((S, idx.size), dtype=bool)

    # Weights: group the entries by column j, and whole columns into blocks (see
    # column_block_change); with a relu layer the examples whose unit j is off do not change
    # at all and are skipped.
    n = idx.size
    group = kind == "weights" and layer + 1 < net.n_layers
    chunks: list[Any]
    if group:
        drop = (inexact_flagged and track and not complex_ and layer + 2 < net.n_layers
                and net.activations[layer + 1].name == "relu")
        idle = idle_workers()
        chunks = column_chunks(net, layer, idx, S, 16 if complex_ else 8, chunk_size,
                               max_memory, drop, min_chunks=4 * idle if idle > 1 else 1)
        prepare_columns(net, layer)
    else:
        chunks = [slice(k, k + per) for k in range(0, n, per)]

    local = threading.local()  # one set of work buffers per thread, for this call only
    n_out = net.weights[layer].shape[1]
    # The whole tensor, row-major: each chunk of column_chunks is then a block of rows by a
    # range of columns, read and written as such (a scattered index per entry cost as much
    # as the arithmetic on 3072-1024-512-10).
    whole = group and n == net.weights[layer].size and is_range(idx)
    h2, D3, F3 = ((h.reshape(-1, n_out), D.reshape(S, -1, n_out), F.reshape(S, -1, n_out))
                  if whole else (h, D, F))

    def work(pos: Any) -> None:
        if kind == "inputs":
            d, f = _row_change(net, layer, idx[pos], h[pos], sg, track)
        elif group:
            if not hasattr(local, "scratch"):
                local.scratch = Scratch()
            rect = _rectangle(pos, n_out) if whole else None
            if rect is None:
                d, f = column_block_change(net, layer, idx[pos], h[pos], sg, track,
                                           inexact_flagged, scratch=local.scratch)
            else:
                r0, r1, c0, c1 = rect
                d, f = column_block_change(net, layer, pos, h2[r0:r1, c0:c1].T.reshape(-1), sg,
                                           track, inexact_flagged, scratch=local.scratch)
                shape = (S, c1 - c0, r1 - r0)
                D3[:, r0:r1, c0:c1] = d.reshape(shape).transpose(0, 2, 1)
                F3[:, r0:r1, c0:c1] = f.reshape(shape).transpose(0, 2, 1)
                return
        else:
            d, f = _column_change(net, layer, kind, idx[pos], h[pos], sg, track)
        D[:, pos] = d
        F[:, pos] = f

    if (kind != "inputs" and track and layer + 1 < net.n_layers
            and net.activations[layer + 1].kinks):
        crossings(net, layer + 1)  # fill the cache before threads share it
    workers = min(idle_workers(), len(chunks)) if len(chunks) >= 8 else 1
    with single_threaded_blas():
        if workers > 1:
            # Chunks are independent and numpy releases the GIL in its loops; one BLAS thread
            # per worker avoids oversubscribing the cores with many small matrix products.
            list(worker_pool(workers).map(work, chunks))
        else:
            for pos in chunks:
                work(pos)
    return D, F


def _rectangle(pos: Array, n_out: int) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)`` when the flat entries ``pos`` of a row-major (n_in, n_out) tensor
    are rows ``r0:r1`` of each column ``c0:c1`` in turn (columns ascending, rows ascending in
    each), else None."""
    r0, c0 = divmod(int(pos[0]), n_out)
    cols = pos % n_out
    P = int(np.argmax(cols != c0)) or pos.size
    J = pos.size // P
    if J * P != pos.size:
        return None
    want = (np.arange(c0, c0 + J)[:, None] + n_out * np.arange(r0, r0 + P)[None, :]).reshape(-1)
    if c0 + J > n_out or not np.array_equal(pos, want):
        return None
    return r0, r0 + P, c0, c0 + J


def propagate(
    net: ReferenceNet, zp: Array, start: int, rows: Array | None, track: bool,
    screened: bool = False,
) -> tuple[Array, Array]:
    """Carry perturbed pre-activations of layer ``start`` to the output (``zp`` is consumed).

    zp: (..., batch, n) when ``rows`` is None (the whole batch), else (..., P, n) with ``rows``
    (P,) naming each perturbation's example. ``track``: flag kink crossings; ``screened``: the
    caller already flagged those of layer ``start``.
    -> (y': same leading shape as ``zp``, n_out; flags: the leading shape)
    """
    axes: tuple[int, ...] = (-1,) if rows is not None else (-2, -1)
    flags = np.zeros(zp.shape[: zp.ndim - len(axes)], dtype=bool)
    a = zp
    for k in range(start, net.n_layers):
        act = net.activations[k]
        if track and act.kinks and not (screened and k == start):
            zref = net.zs[k] if rows is None else net.zs[k][rows]
            flags |= flips(zp, zref, act.kinks, axes)
        a = forward_inplace(act, zp)
        if k + 1 < net.n_layers:
            W = net.weights[k + 1]
            zp = (a.reshape(-1, a.shape[-1]) @ W).reshape(a.shape[:-1] + (W.shape[1],))
            zp += net.biases[k + 1]
    return a, flags


def loss_change(net: ReferenceNet, yp: Array, rows: Array | None) -> Array:
    """``L(y') - L(y)`` without cancellation; ``yp`` as returned by :func:`propagate` (it may
    be overwritten). -> the leading shape of ``yp`` without the example axes."""
    y = net.y if rows is None else net.y[rows]
    r2 = net.residual2 if rows is None else net.residual2[rows]  # 2 (y - t)
    dy = np.subtract(yp, y, out=yp) if yp.flags.writeable and yp.dtype == y.dtype else yp - y
    if rows is not None:
        return net.squared_error.change(dy, r2)
    # SquaredError.change over the whole batch at once: the cross term as one matrix-vector
    # product over the flattened (batch, n_out) axes.
    flat = dy.reshape(dy.shape[:-2] + (-1,))
    return net.squared_error.scale * (np.einsum("...k,...k->...", flat, flat)
                                      + flat @ r2.reshape(-1))


def _column_change(
    net: ReferenceNet, layer: int, kind: str, idx: Array, h: Array, signs: Array, track: bool,
) -> tuple[Array, Array]:
    """Loss changes for perturbations of ``weights``/``biases`` entries ``idx`` (flat), one
    stacked evaluation per entry (the general path; the weights of a hidden layer take
    :func:`verify.column_blocks.column_block_change`).

    -> (D: (S, P), flags: (S, P)) for the S signs (``+1, -1`` or ``1j``) and P entries.
    """
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
        flags |= flips(zc, zcol, act.kinks, (-1,))
    acol = forward_inplace(act, zc)
    # change of column j of a_{l+1}: (S, P, B)
    d = acol - np.ascontiguousarray(net.acts[layer + 1][:, j].T)
    if layer + 1 == net.n_layers:
        # The output layer itself: SquaredError.change on column j alone, in its product form
        # c * sum(dy * ((y' - t) + (y - t))).
        y = net.y[:, j].T
        t = net.t[:, j].T
        return net.squared_error.scale * np.sum(d * ((acol - t) + (y - t)), axis=-1), flags
    W = net.weights[layer + 1]
    # rank-1 update of z_{l+1}: (S, P, B, n)
    zp = np.multiply(d[..., None], W[j][None, :, None, :])
    np.add(zp, net.zs[layer + 1], out=zp)
    screened = False
    if track and net.activations[layer + 1].kinks:
        up, down = crossings(net, layer + 1)
        dr = np.real(d)
        upj, downj = up[:, :, j].transpose(0, 2, 1), down[:, :, j].transpose(0, 2, 1)
        for u_k, d_k in zip(upj, downj, strict=True):  # one per kink point: (P, B)
            flags |= ((dr >= u_k) | (dr <= d_k)).any(axis=-1)
        screened = True
    yp, f2 = propagate(net, zp, layer + 1, None, track, screened)
    return loss_change(net, yp, None), flags | f2


def _row_change(
    net: ReferenceNet, layer: int, idx: Array, h: Array, signs: Array, track: bool
) -> tuple[Array, Array]:
    """Loss changes for perturbations of layer inputs ``a_l`` entries ``idx`` (flat): only
    each entry's example is carried. -> (D: (S, P), flags: (S, P))"""
    n_in = net.weights[layer].shape[0]
    b, i = np.divmod(idx, n_in)
    W = net.weights[layer]
    zp = (signs[:, None, None] * h[None, :, None]) * W[i][None]  # (S, P, n_out)
    zp += net.zs[layer][b]
    yp, flags = propagate(net, zp, layer, b, track)
    return loss_change(net, yp, b), flags


def _per_chunk(net: ReferenceNet, layer: int, kind: str, n_signs: int, itemsize: int,
               max_memory: int) -> int:
    """Perturbations per chunk: bounded by cache-friendly and total-memory budgets."""
    widths = [W.shape[1] for W in net.weights[layer:]]
    if kind == "inputs":
        per = n_signs * max(widths) * itemsize
    else:
        per = n_signs * net.x.shape[0] * max(widths) * itemsize
    # About 4 temporaries of that size live at once, in each worker thread.
    budget = min(CHUNK_BYTES, max_memory // (4 * WORKERS))
    return max(1, min(65536, budget // max(per, 1)))
