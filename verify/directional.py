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
from .kinks import MAX_REFINE, STEP_FLOOR, change_roundoff, complex_safe
from .reference import ReferenceNet
from .structured import loss_change, propagate

__all__ = ["Directional", "directional_derivative", "directional_derivatives",
           "refine_directional"]

Array = NDArray[Any]


@dataclass
class Directional:
    """Central difference of the loss along one direction ``v`` of one layer's ``kind``.

    ``kink``: the base stencil straddled a kink, so ``derivative`` must be accepted within
    ``[left, right]`` (the error interval of a refined quotient, or the one-sided derivatives).
    ``error``: the estimated error of ``derivative``, ``|D(s) - D(s/2)|`` for the quotients
    ``D`` at the step and half of it (about ``3/4`` of the truncation error ``~ s**2``, plus
    both round-offs), at least the round-off floor :func:`verify.kinks.change_roundoff` over
    the step; 0 at a kink (the interval holds the uncertainty there).
    """

    derivative: float
    kink: bool
    left: float
    right: float
    kinks: int
    step: float
    error: float = 0.0


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
    """:func:`directional_derivative` for several kinds of one layer in one stacked pass, each
    at the step and at half of it (for its error estimate).

    Kinds whose stencil straddles a kink are redone one by one with the refinement.
    """
    r = DEFAULT_STEPS["directional"] if step is None else float(step)
    kinds = list(directions)
    dzs = np.stack([_direction_change(net, layer, k, directions[k]) for k in kinds])
    steps = np.array([r * max(1.0, float(np.max(np.abs(net.parameter(layer, k)))))
                      for k in kinds])
    moves = np.concatenate([f * steps[:, None, None] * dzs for f in (1.0, -1.0, 0.5, -0.5)])
    yp, flags = propagate(net, net.zs[layer][None] + moves, layer, None, True)
    D = _loss_change(net, yp)
    n = len(kinds)
    out = {}
    floor = change_roundoff(net)  # the quotients' round-off is at least this over the step
    for q, kind in enumerate(kinds):
        if flags[q] or flags[n + q]:
            out[kind] = directional_derivative(net, layer, kind, directions[kind], step=r)
        else:
            deriv = float(np.real(D[q] - D[n + q])) / (2 * steps[q])
            half = float(np.real(D[2 * n + q] - D[3 * n + q])) / steps[q]
            out[kind] = Directional(deriv, kink=False, left=deriv, right=deriv, kinks=0, step=r,
                                    error=max(abs(deriv - half), floor / steps[q]))
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
        D2, _ = run(s / 2)
        return Directional(deriv, kink=False, left=deriv, right=deriv, kinks=0, step=r,
                           error=max(abs(deriv - float(D2[0] - D2[1]) / s),
                                     change_roundoff(net) / s))
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
            noise = max(abs(e1 - float(D2[0] - D2[1]) / s), change_roundoff(net) / s)
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


def refine_directional(net: ReferenceNet, layer: int, kind: str, v: Array
                       ) -> tuple[float, float, str]:
    """A better ``d/ds L(theta + s v)`` at 0 than the central difference, before a screen calls
    it wrong: ``(derivative, estimated error, how)``. The complex step along ``v`` where every
    activation from ``layer`` on and the loss allow it (error 0: exact to round-off), else
    Richardson extrapolation of central differences at ``s/2`` and ``s/4`` (its error
    estimated from the same extrapolation one step coarser, at least its round-off)."""
    theta = net.parameter(layer, kind)
    dz = _direction_change(net, layer, kind, v)
    base = DEFAULT_STEPS["directional"] * max(1.0, float(np.max(np.abs(theta))) if theta.size
                                              else 1.0)
    if complex_safe(net, layer) and net.loss_function.complex_ok:
        hc = DEFAULT_STEPS["complex_step"]
        yp, _ = propagate(net, net.zs[layer][None] + (1j * hc) * dz[None], layer, None, False)
        return float(np.imag(_loss_change(net, yp))[0]) / hc, 0.0, "the complex step"
    signs = np.array([1.0, -1.0])

    def quotient(step: float) -> float:
        zp = net.zs[layer][None] + (signs * step)[:, None, None] * dz[None]
        yp, _ = propagate(net, zp, layer, None, False)
        D = _loss_change(net, yp)
        return float(np.real(D[0] - D[1])) / (2 * step)

    q1, q2, q4 = (quotient(base / k) for k in (1, 2, 4))
    coarse, fine = (4 * q2 - q1) / 3, (4 * q4 - q2) / 3
    error = max(abs(fine - coarse), 6 * change_roundoff(net) / base)
    return fine, error, "Richardson extrapolation"
