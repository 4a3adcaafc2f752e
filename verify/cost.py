"""What a structured finite-difference check needs: its arithmetic, counted per entry.

The benchmark (``python -m verify bench``) divides these counts by the machine's measured
matrix-product rate to get the time bound it compares the checker with, and
``check_gradients(..., budget_s=...)`` uses them to predict how long a full check would take.

The count (floating-point operations, a multiply-add is 2, an activation 1 per unit, except
the linear one, which is free) is the *least* arithmetic with which every perturbed loss is
still evaluated through the forward math, given the structure of :mod:`verify.structured` and
:mod:`verify.column_blocks`. For one perturbation of one entry, with one sign:

* ``W_l[i, j]`` or ``b_l[j]`` of a hidden layer l: column j of ``z_l`` is evaluated in the
  examples whose ``a_{l+1}[b, j]`` can change, ``E_j`` of them (the units that are on, for a
  relu layer; all B otherwise): ``4 E_j`` (``3 E_j`` for a bias: no product); each of those
  examples then carries a rank-1 change into layer l+1, :func:`rank1_flops`;
* ``W_{L-1}[i, j]`` or ``b_{L-1}[j]`` of the output layer: column j over the batch, ``4 B``
  (``3 B``) plus its activation, and the loss change on that column, ``5 B``;
* an input ``a_l[b, i]``: row b of ``z_l`` changes by a rank-1 step, :func:`rank1_flops`.

:func:`rank1_flops` of layer k in example b: for the weights of layer k - 1 (whose
perturbations take :mod:`verify.column_blocks`; biases and inputs take the general path,
counted as below), when k is a linear output layer, or a relu hidden layer just before a
linear output layer, the loss change is an exact quadratic
``alpha d**2 + beta d`` of the change d (``y' - y = d v``, with ``v = W_k[j]``, or
``W_k[j, on] @ W_{k+1}[on]`` for the relu layer, since relu is the identity on the units that
stay on: :func:`verify.column_blocks.quadratic_terms`): 4, and once per check the ``alpha`` and
``beta`` of every example and unit (:func:`setup_flops`). When k is another output layer,
``2 m`` for ``z + d w`` (m units), the activation, and the loss change ``5 m`` (``y' - y``,
``dy . dy`` and ``dy . 2 (y - t)``). When layer k is another relu hidden layer, only its K
units that are on in
example b are carried (an unflagged stencil crosses no kink, so the others stay 0 and these
stay positive, where relu is the identity): ``2 K`` for the rank-1 change, ``2 K m'`` for the
next layer's product, ``m'`` for its bias, then the rest of the network from a full row.
Otherwise ``2 m`` and the activation, then the rest of the network. The rest from a full row
of layer k: ``2 n m`` for the product, ``m`` for the bias, the activation, and so on to the
loss change ``5 m_out``. A central difference needs both signs: twice all of this.

Not counted: comparisons (kink screens), index bookkeeping, data movement. Entries whose
stencil crosses a kink are re-evaluated with smaller steps: not counted either (they are few).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import Linear, ReLU

from .column_blocks import linear_output, quadratic_layer
from .reference import KINDS, ReferenceNet

__all__ = ["check_flops", "column_flops", "rank1_flops", "setup_flops", "tensor_flops"]

Array = NDArray[Any]

_LOSS = 5  # per output: y' - y, dy * dy and dy * 2 (y - t) (two multiply-adds)
_QUADRATIC = 4  # alpha d**2 + beta d, summed over the examples: d alpha, + beta, * d, +


def setup_flops(net: ReferenceNet, k: int) -> float:
    """FLOPs computed once per check for the quadratics of layer k's input (0 where there are
    none): for a linear output layer, ``alpha = W[j] . W[j]`` per unit j of its input and
    ``beta = W[j] . 2 (y[b] - t[b])`` per example too (``2 n m (1 + B)``); for a relu layer
    just before it (:func:`verify.column_blocks.quadratic_terms`), per example b with K_b units
    on, ``W_k[:, on] @ W_{k+1}[on]`` (``2 n K_b m``) and the two inner products of m terms per
    unit of its input (``4 n m``)."""
    if linear_output(net, k):
        n, m = net.weights[k].shape
        return 2.0 * n * m * (1 + net.x.shape[0])
    if not quadratic_layer(net, k):
        return 0.0
    n = net.weights[k].shape[0]
    m = net.weights[k + 1].shape[1]
    K = float((np.real(net.zs[k]) > 0).sum())
    return 2.0 * n * K * m + 4.0 * n * m * net.x.shape[0]


def _act(net: ReferenceNet, k: int) -> int:
    """FLOPs of layer k's activation per unit: 0 for linear, else 1."""
    return 0 if type(net.activations[k]) is Linear else 1


def _full_row_flops(net: ReferenceNet, k: int) -> float:
    """Carrying a changed full row of ``a_k`` (the input of layer k) to the loss change."""
    L = net.n_layers
    total = 0.0
    for m in range(k, L):
        n_in, n_out = net.weights[m].shape
        total += 2 * n_in * n_out + n_out + _act(net, m) * n_out
    return total + _LOSS * net.weights[-1].shape[1]


def rank1_flops(net: ReferenceNet, k: int, quadratic: bool = True) -> Array:
    """Per example b (batch,): FLOPs to carry a rank-1 change of row b's input of layer k
    (``z_k[b] + d * W_k[j]``) to the loss change (see the module docstring). ``quadratic``:
    whether the quadratic of the last two layers is used (it is for weights; biases and
    inputs take the general path)."""
    L = net.n_layers
    B = net.x.shape[0]
    m = net.weights[k].shape[1]
    if quadratic and (linear_output(net, k) or quadratic_layer(net, k)):
        return np.full(B, float(_QUADRATIC))
    if k == L - 1:
        return np.full(B, (2 + _act(net, k) + _LOSS) * float(m))
    if type(net.activations[k]) is ReLU:
        K = (np.real(net.zs[k]) > 0).sum(axis=1).astype(np.float64)  # units on, per example
        m2 = net.weights[k + 1].shape[1]
        after = _act(net, k + 1) * m2 + (
            _LOSS * m2 if k + 1 == L - 1 else _full_row_flops(net, k + 2))
        return 2 * K + 2 * K * m2 + m2 + after
    return np.full(B, (2 + _act(net, k)) * float(m) + _full_row_flops(net, k + 1))


def column_flops(net: ReferenceNet, layer: int, kind: str) -> Array:
    """FLOPs of one perturbation (one sign) of an entry in each column j of ``kind``
    (``"weights"`` or ``"biases"``) of ``layer``: (n_out,)."""
    L = net.n_layers
    B = net.x.shape[0]
    per_example = 4 if kind == "weights" else 3
    z = np.real(net.zs[layer])  # (B, n_out)
    if layer == L - 1:
        return np.full(z.shape[1], (per_example + _act(net, layer) + _LOSS) * float(B))
    live = z > 0 if type(net.activations[layer]) is ReLU else np.ones(z.shape, dtype=bool)
    carry = rank1_flops(net, layer + 1, quadratic=kind == "weights")  # (B,)
    return per_example * live.sum(axis=0) + carry @ live


def tensor_flops(net: ReferenceNet, layer: int, kind: str, indices: Array | None = None,
                 n_signs: int = 2) -> float:
    """FLOPs of a finite difference with ``n_signs`` perturbations per entry (2 for central)
    of the entries ``indices`` (flat; all by default) of ``kind`` of ``layer``, and what is
    computed once for them (:func:`setup_flops`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "inputs":
        per = rank1_flops(net, layer, quadratic=False)  # (B,), each example's n_in alike
        n_in = net.weights[layer].shape[0]
        counts = (np.full(per.size, n_in) if indices is None
                  else np.bincount(np.asarray(indices) // n_in, minlength=per.size))
    else:
        per = column_flops(net, layer, kind)
        n_out = per.size
        rows = net.weights[layer].shape[0] if kind == "weights" else 1
        counts = (np.full(n_out, rows) if indices is None
                  else np.bincount(np.asarray(indices) % n_out, minlength=n_out))
    total = float(n_signs * (per @ counts))
    uses = kind == "weights" and layer + 1 < net.n_layers  # the quadratic of layer + 1
    return total + (setup_flops(net, layer + 1) if uses else 0.0)


def check_flops(net: ReferenceNet, kinds: tuple[str, ...] = KINDS, n_signs: int = 2) -> float:
    """FLOPs of a full check of ``kinds`` (every entry) by central differences: each
    tensor's (each layer's :func:`setup_flops` is counted once, with the weights before it)."""
    return sum(tensor_flops(net, layer, kind, n_signs=n_signs)
               for layer in range(net.n_layers) for kind in kinds)
