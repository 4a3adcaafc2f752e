"""Kinks: where a stencil crosses a point at which relu or leaky_relu is not differentiable.

For activations with kinks (``relu``, ``leaky_relu``: their ``kinks`` attribute) every
pre-activation of the reference is known, so a stencil that moves any pre-activation (in the
perturbed layer or any later one) across a kink is detected exactly, and counted:

* :func:`flips`: evaluated pre-activations compared with the reference's, side by side;
* :func:`crossings`: an exact screen, without evaluating anything, for the rank-1 change that a
  perturbed column of a layer's input makes to that layer's pre-activations;
* :func:`kink_distance`: the exact step at which a perturbation first reaches a kink of the
  perturbed layer itself (whose pre-activations move linearly with the step).

What is done with a flagged stencil (:func:`verify.finite_diff.numerical_gradient`,
:func:`verify.directional.directional_derivative`): it is re-evaluated with smaller steps, each
at most 1/16 of the previous one and at most half the exact kink distance, down to
``STEP_FLOOR * max(1, |theta|)``, at most :data:`MAX_REFINE` times. Once a stencil is clear of
every kink its quotient is a true derivative estimate again (on relu's linear pieces even an
exact one, up to round-off); its round-off, which grows as the step shrinks, is estimated by
repeating the quotient at half the step (and is at least the round-off of the outputs the loss
change is computed from, :func:`change_roundoff`), and the analytic value passes within two such
errors of it. Only a kink closer than the smallest step (a pre-activation at exactly 0, say) is
left. There the loss is not differentiable and the analytic value is a convention (``relu'(0) =
0``); the complex step, whose branch follows ``Re(z)``, differentiates exactly the piece that
convention selects, so it is the reference there (:func:`complex_safe`; for activations it
cannot go through, the analytic value must lie between the one-sided derivatives). Several
pre-activations crossing at once in opposite directions (so that neither one-sided quotient is
the slope of the current piece) is thereby handled too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import LeakyReLU, ReLU

from .reference import ReferenceNet

__all__ = ["MAX_REFINE", "SCREEN_BYTES", "STEP_FLOOR", "change_roundoff", "complex_safe",
           "crossings", "flips",
           "kink_distance"]

Array = NDArray[Any]

MAX_REFINE = 6
"""Most re-evaluations, with ever smaller steps, of a stencil that straddles a kink."""

STEP_FLOOR = 1e-13
"""The smallest relative step of a re-evaluation: steps stay above
``STEP_FLOOR * max(1, |theta|)``."""

_TINY = float(np.finfo(np.float64).smallest_subnormal)

_NEAR_KINK = 1.0 / float(np.finfo(np.float64).max)  # 5.6e-309: 1 / x overflows below it

SCREEN_BYTES = 2 * 2**20
"""Bytes of each temporary of :func:`crossings` (it evaluates the weights in blocks of rows)."""


def flips(zp: Array, zref: Array, kinks: Sequence[float], axes: tuple[int, ...]) -> Array:
    """True where any entry of ``zp`` lies on the other side of a kink than ``zref``.

    ``zp`` and ``zref`` broadcast against each other (the side is that of the real part);
    the entries are reduced over ``axes``. ``kinks`` must not be empty.
    """
    out = None
    rp, rr = np.real(zp), np.real(zref)
    for k in kinks:
        f = (rp > k) != (rr > k)
        out = f if out is None else out | f
    assert out is not None
    return out.any(axis=axes)


def crossings(net: ReferenceNet, layer: int) -> tuple[Array, Array]:
    """Where a rank-1 change of ``z_layer`` moves an entry across a kink.

    Changing column ``j`` of the layer's input by ``d`` (per row) adds
    ``d * weights[layer][j, :]`` to row ``b`` of ``z_layer``; every entry stays on its side
    of kink ``k`` while ``down[k, b, j] < d < up[k, b, j]`` (with a small safety margin).
    -> (up, down): (n_kinks, batch, n_in), cached in ``net.cache``. Evaluated in blocks of
    rows of the weights, so its temporaries stay within :data:`SCREEN_BYTES` each.
    """
    key = ("crossings", layer)
    if key not in net.cache:
        W = net.weights[layer]  # (n_in, n_out)
        B, (n_in, n_out) = net.zs[layer].shape[0], W.shape
        kinks = net.activations[layer].kinks
        ups, downs = np.empty((len(kinks), B, n_in)), np.empty((len(kinks), B, n_in))
        rows = max(1, SCREEN_BYTES // (8 * B * n_out))
        for n, k in enumerate(kinks):
            # Entry (b, u) reaches the kink at d = tau = -(z[b, u] - k) / W[j, u]. The nearest
            # tau > 0 is 1 / max(W[j, u] q[b, u]) over the positive products, q = -1 / (z - k),
            # and the nearest tau < 0 1 / min(...) over the negative ones: one product and two
            # reductions per entry (three roundings: far inside the 1e-9 margin below).
            zk = np.real(net.zs[layer]) - k  # (B, n_out)
            # At the kink, or so near it that 1 / (z - k) would overflow (a subnormal z - k):
            # counted as at the kink, tau = 0 for any W[j, u] != 0, so any change crosses there.
            at = np.abs(zk) <= _NEAR_KINK
            q = np.where(at, 0.0, -1.0 / np.where(at, 1.0, zk))
            touch = at.astype(np.float64) @ (W != 0).T.astype(np.float64) > 0  # (B, n_in)
            R = np.empty((B, min(rows, n_in), n_out))
            for j0 in range(0, n_in, rows):
                r = R[:, : min(rows, n_in - j0)]
                # W q may overflow to +-inf (tau 0: any change crosses, conservative), and
                # 1 / a subnormal max to inf (tau beyond any finite step).
                with np.errstate(over="ignore"):
                    np.multiply(W[None, j0 : j0 + rows, :], q[:, None, :], out=r)
                hi, lo = r.max(axis=-1), r.min(axis=-1)  # (B, rows)
                with np.errstate(divide="ignore", over="ignore"):
                    up = np.where(hi > 0, 1.0 / np.where(hi > 0, hi, 1.0), np.inf)
                    down = np.where(lo < 0, 1.0 / np.where(lo < 0, lo, -1.0), -np.inf)
                ups[n, :, j0 : j0 + rows] = up * (1 - 1e-9) - 1e-300
                downs[n, :, j0 : j0 + rows] = down * (1 - 1e-9) + 1e-300
            ups[n][touch] = 0.0
            downs[n][touch] = 0.0
        # A change of exactly 0 crosses nothing; any other change past a kink at exactly 0
        # does: the thresholds are kept strictly away from 0.
        net.cache[key] = (np.maximum(ups, _TINY, out=ups), np.minimum(downs, -_TINY, out=downs))
    return net.cache[key]


def kink_distance(net: ReferenceNet, layer: int, kind: str, idx: Array) -> Array:
    """Exact step at which perturbing entry ``idx`` (flat, of ``kind``) first moves a
    pre-activation of ``layer`` itself across a kink (that layer's pre-activations are linear
    in the step). -> (P,); ``inf`` where no kink can be reached."""
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


def complex_safe(net: ReferenceNet, layer: int) -> bool:
    """Whether every activation from ``layer`` on is complex-step safe: analytic, or relu /
    leaky_relu (the reference branches on Re(z), so Im carries the piece's derivative)."""
    return all(act.smooth or type(act) in (ReLU, LeakyReLU)
               for act in net.activations[layer:])


def change_roundoff(net: ReferenceNet) -> float:
    """A floor on the round-off of a loss change: ``4 (L + 1) u sum |y * dL/dy|`` (u the unit
    roundoff of float64, L the number of layers). A perturbed prediction ``y'`` is recomputed
    through up to L layers, each rounding it by about ``u |y|``, and the change is read from
    ``y' - y``; divided by a step it bounds a difference quotient's round-off from below, where
    two quotients at neighbouring steps may agree by chance."""
    g = net.loss_function.gradient(net.y, net.t)
    u = float(np.finfo(np.float64).eps) / 2
    return 4 * (net.n_layers + 1) * u * float(np.sum(np.abs(net.y) * np.abs(g)))
