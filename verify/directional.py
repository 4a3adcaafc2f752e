"""Directional derivatives of the reference: the loss along one direction, kink-aware.

``check_gradients(method="directional")`` compares, per row, the analytic gradient's
projection on one seeded Gaussian direction ``v`` with ``d/ds L(theta + s v)`` at 0, a central
difference of two forward passes from the perturbed layer on (a screen, not a proof: an error
orthogonal to ``v`` goes unseen). Stencils that straddle a kink are refined as in
:func:`verify.finite_diff.numerical_gradient` (see :mod:`verify.kinks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .finite_diff import DEFAULT_STEPS
from .kinks import MAX_REFINE, STEP_FLOOR, complex_safe
from .reference import ReferenceNet
from .structured import loss_change, propagate

__all__ = ["Directional", "directional_derivative", "directional_derivatives"]

Array = NDArray[Any]


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


def _loss_change(net: ReferenceNet, yp: Array) -> Array:
    """``L(y') - L(y)`` for whole-batch predictions ``yp`` (..., batch, n_out), any loss."""
    if net.is_squared_error:
        return loss_change(net, yp, None)
    return net.loss_function.batch_change(net.y, yp, net.t)


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
    yp, flags = propagate(net, net.zs[layer][None] + moves, layer, None, True)
    D = _loss_change(net, yp)
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
        yp, flags = propagate(net, zp, layer, None, True)
        return _loss_change(net, yp), bool(flags.any())

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
    floor = STEP_FLOOR * max(1.0, float(np.max(np.abs(theta))))
    for _ in range(MAX_REFINE):
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
    if complex_safe(net, layer) and net.loss_function.complex_ok:  # at the kink itself: the
        hc = DEFAULT_STEPS["complex_step"]  # complex step, as numerical_gradient
        zp = net.zs[layer][None] + (1j * hc) * dz[None]
        yp, _ = propagate(net, zp, layer, None, False)
        deriv = float(np.imag(_loss_change(net, yp))[0]) / hc
        return Directional(deriv, kink=True, left=deriv, right=deriv, kinks=kinks, step=r)
    s = base / 256
    D, _ = run(s)
    right, left = float(D[0]) / s, -float(D[1]) / s
    return Directional(
        derivative=(right + left) / 2, kink=True, left=left, right=right, kinks=kinks, step=r,
    )
