"""Loss changes of perturbed forward passes, for any loss: beside the structured path.

:mod:`verify.structured` and :mod:`verify.column_blocks` compute loss changes for a scaled sum
of squares only (their rank-1 updates fold the squared error's algebra into the matrix products).
For any other loss of :mod:`verify.losses` (softmax cross-entropy, a value function),
:func:`loss_changes_any` evaluates the same single-coordinate perturbations more plainly, with
the same signature and results: perturbing ``W_l[i, j]`` (or ``b_l[j]``) adds ``h * x_l[:, i]``
(or ``h``) to column ``j`` of ``z_l``, and the perturbed pre-activations of a chunk of entries
are carried to the output by :func:`verify.structured.propagate` (which also flags kink
crossings exactly); perturbing an input ``a_l[b, i]`` moves only example ``b``. The loss change
is then the loss's own ``batch_change`` / ``row_change`` (for cross-entropy without cancelling
``L(y')`` against ``L(y)``). Every layer before ``l`` is reused, nothing is linearised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .reference import ReferenceNet
from .structured import CHUNK_BYTES, propagate

__all__ = ["loss_changes_any"]

Array = NDArray[Any]


def loss_changes_any(
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
    """``L(theta + s h) - L(theta)`` for the entries ``idx`` (P,) of ``kind`` of ``layer``
    (flat indices), steps ``h`` (P,) and every sign ``s`` of ``signs`` (S,: ``+1, -1`` or
    ``1j``), for any loss of :mod:`verify.losses`. -> (D: (S, P), real or complex; F: (S, P),
    True where the stencil moved a pre-activation across a kink, when ``track``).

    As :func:`verify.structured.loss_changes` (``inexact_flagged`` is accepted and ignored:
    every value here is exact); ``chunk_size`` and ``max_memory`` (bytes) bound the memory.
    """
    complex_ = any(isinstance(s, complex) for s in signs)
    sg = np.asarray(signs, dtype=np.complex128 if complex_ else np.float64)
    S, n = len(signs), idx.size
    D = np.empty((S, n), dtype=sg.dtype)
    F = np.zeros((S, n), dtype=bool)
    loss = net.loss_function
    B = net.x.shape[0]
    width = max(W.shape[1] for W in net.weights[layer:])
    per_entry = S * (1 if kind == "inputs" else B) * width * (16 if complex_ else 8) * 4
    budget = min(CHUNK_BYTES, max(max_memory // 4, 1))
    per = chunk_size or max(1, min(4096, budget // per_entry))
    W = net.weights[layer]
    n_in, n_out = W.shape
    for start in range(0, n, per):
        ix, hh = idx[start:start + per], h[start:start + per]
        P = ix.size
        steps = sg[:, None] * hh[None, :]  # (S, P)
        if kind == "inputs":
            b, i = np.divmod(ix, n_in)
            zp = net.zs[layer][b][None] + steps[..., None] * W[i][None]  # (S, P, n_out)
            yp, flags = propagate(net, zp, layer, b, track)
            d = loss.row_change(net.y, yp, net.t, b)
        else:
            if kind == "weights":
                i, j = np.divmod(ix, n_out)
                u = net.acts[layer][:, i].T  # (P, B)
            else:
                j = ix
                u = np.ones((P, B))
            zp = np.empty((S, P, B, n_out), dtype=sg.dtype)
            zp[...] = net.zs[layer]
            moved: Array = zp.transpose(1, 3, 0, 2)  # a view: (P, n_out, S, B)
            moved[np.arange(P), j] += steps.T[..., None] * u[:, None, :]
            yp, flags = propagate(net, zp, layer, None, track)
            d = loss.batch_change(net.y, yp, net.t)
        D[:, start:start + P] = d
        F[:, start:start + P] = flags
    return D, F
