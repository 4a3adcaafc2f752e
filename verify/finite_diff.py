"""Numerical gradients of the reference, entry by entry, exactly at kinks.

The numbers an analytic gradient is checked against (``check_gradients`` with ``central``,
``forward`` or ``complex_step``). :func:`numerical_gradient` estimates every entry of one
layer's weights, biases or input gradient from the loss changes of the structured evaluator
(:mod:`verify.structured` for a squared-error loss, :mod:`verify.perturbed` for any other; both
evaluate the reference forward math, never the model's backward), and refines the entries
whose stencil straddles a kink (:mod:`verify.kinks`).
Directional derivatives are in :mod:`verify.directional`, the plain per-entry loop in
:mod:`verify.loop`.

Steps
-----
Each coordinate's step is ``h = r * max(1, |theta|)`` with a relative step ``r`` (see
:data:`DEFAULT_STEPS`): ``eps**(1/3)`` for central differences, ``sqrt(eps)`` for forward ones,
``1e-200`` for the complex step (Squire & Trapp, SIAM Review 40(1), 1998: no subtraction, so no
round-off limit). float32 models are evaluated in float64 on their exactly upcast weights and
data (the finite difference is then not the limit; the float32 analytic gradient is).

Quotients: central ``(L(theta + h) - L(theta - h)) / 2h``, forward
``(L(theta + h) - L(theta)) / h``, complex step ``Im L(theta + ih) / h``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .kinks import MAX_REFINE, STEP_FLOOR, change_roundoff, complex_safe, kink_distance
from .perturbed import loss_changes_any
from .reference import ReferenceNet
from .structured import DEFAULT_MAX_MEMORY, loss_changes

__all__ = ["DEFAULT_STEPS", "STENCILS", "FiniteDifference", "Refined", "numerical_gradient",
           "refine_entries", "stencil_crossings"]

Array = NDArray[Any]

_EPS64 = float(np.finfo(np.float64).eps)

DEFAULT_STEPS: dict[str, float] = {
    "central": _EPS64 ** (1 / 3),  # 6.1e-6: truncation h**2 vs round-off eps/h
    "forward": _EPS64 ** 0.5,  # 1.5e-8: truncation h vs round-off eps/h
    "complex_step": 1e-200,  # no subtraction, so no round-off limit on h
    "directional": _EPS64 ** (1 / 3),
}
"""Default relative step ``r`` per method (the evaluation is always float64 or complex128): the
step that balances truncation and round-off error (Nocedal & Wright, *Numerical Optimization*,
2nd ed., section 8.1); the complex step has no round-off term (Squire & Trapp 1998)."""

STENCILS: dict[str, tuple[complex, ...]] = {
    "central": (1.0, -1.0),
    "forward": (1.0,),
    "complex_step": (1j,),
}
"""The multiples of the step ``h`` each method evaluates the loss at (besides ``theta``)."""

# Loss changes of entries with steps and stencil signs: (D, flags), as verify.structured's.
_Evaluate = Callable[..., tuple[Array, Array]]


@dataclass
class FiniteDifference:
    """A numerical gradient with what the kink handling found.

    ``estimate``: same shape as the parameter. ``kink_mask``: entries whose base stencil
    straddled a kink; ``left``/``right`` the interval the analytic value must lie in there
    (the error interval of a refined quotient; the complex-step value, or else the one-sided
    derivatives, where no step was small enough; NaN elsewhere, a read-only view when no
    entry is at a kink). ``kinks``: how many;
    ``refined``: how many of those a smaller step cleared of every kink; ``at_kink``: the rest.
    ``step``: the relative step r.
    """

    estimate: Array
    kink_mask: Array
    left: Array
    right: Array
    kinks: int
    refined: int
    step: float
    at_kink: int = 0


def _quotient(method: str, D: Array, h: Array) -> Array:
    """The difference quotient of ``method`` from the loss changes D (S, P) at steps h (P,)."""
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
    indices: Array | None = None,
) -> FiniteDifference:
    """Every entry of d loss / d ``kind`` of ``layer`` by ``method``, kink-aware.

    ``kind``: ``"weights"`` (n_in, n_out), ``"biases"`` (1, n_out) or ``"inputs"``
    (batch, n_in); ``method``: ``"central"``, ``"forward"`` or ``"complex_step"`` (else
    ``ValueError``); ``step``: the relative step r (default :data:`DEFAULT_STEPS`);
    ``chunk_size`` and ``max_memory`` (bytes) bound the temporaries. ``indices``: only these
    entries (flat, distinct), e.g. a sample (:mod:`verify.sampling`); the others are NaN in
    ``estimate``.
    """
    if method not in STENCILS:
        raise ValueError(f"method must be one of {tuple(STENCILS)}, got {method!r}")
    r = DEFAULT_STEPS[method] if step is None else float(step)
    theta = net.parameter(layer, kind)
    flat = theta.reshape(-1)
    idx = np.arange(flat.size) if indices is None else np.asarray(indices, dtype=np.intp)
    h = r * np.maximum(1.0, np.abs(flat[idx]))  # the step of each entry of idx
    track = method != "complex_step"

    changes = _changes(net)

    def evaluate(idx: Array, steps: Array, signs: tuple[complex, ...], *, track: bool = track,
                 inexact_flagged: bool = False) -> tuple[Array, Array]:
        return changes(net, layer, kind, idx, steps, signs, track=track,
                       chunk_size=chunk_size, max_memory=max_memory,
                       inexact_flagged=inexact_flagged)

    # Flagged entries are re-evaluated below, so their first values may be inexact.
    D, F = evaluate(idx, h, STENCILS[method], inexact_flagged=True)
    at = np.flatnonzero(F.any(axis=0))  # positions in idx
    flagged = idx[at]
    estimate = _quotient(method, D, h)
    if indices is not None:
        estimate, sampled = np.full(flat.size, np.nan), estimate
        estimate[idx] = sampled
    out = _Bounds(estimate, flat.size, bool(flagged.size))
    del D, F
    floor = STEP_FLOOR * np.maximum(1.0, np.abs(flat[flagged]))
    todo = _refine(evaluate, method, flagged, h[at],
                   kink_distance(net, layer, kind, flagged), floor, out,
                   change_roundoff(net) if flagged.size else 0.0)
    if todo.size:
        _at_kink(evaluate, method, todo, r * np.maximum(1.0, np.abs(flat[todo])),
                 np.abs(flat[todo]), complex_safe(net, layer) and net.loss_function.complex_ok,
                 out)
    shape = theta.shape
    return FiniteDifference(
        estimate=out.estimate.reshape(shape),
        kink_mask=out.mask.reshape(shape),
        left=out.left.reshape(shape),
        right=out.right.reshape(shape),
        kinks=int(flagged.size),
        refined=int(flagged.size - todo.size),
        at_kink=int(todo.size),
        step=r,
    )


def _changes(net: ReferenceNet) -> _Evaluate:
    """The loss-change evaluator for ``net``'s loss: structured for squared error, the
    perturbed forward pass otherwise."""
    return loss_changes if net.is_squared_error else loss_changes_any


class _Bounds:
    """The flat estimate of :func:`numerical_gradient` and, per entry at a kink, the interval
    the analytic value must lie in (``mask`` marks those entries)."""

    def __init__(self, estimate: Array, size: int, kinks: bool = True) -> None:
        self.estimate = estimate
        self.mask = np.zeros(size, dtype=bool)
        # Without kinks the intervals are all NaN: a read-only view, no memory.
        nan = np.broadcast_to(np.nan, (size,))
        self.left = np.full(size, np.nan) if kinks else nan
        self.right = np.full(size, np.nan) if kinks else nan


def _refine(evaluate: _Evaluate, method: str, todo: Array, s: Array, dist: Array, floor: Array,
            out: _Bounds, floor_d: float = 0.0) -> Array:
    """Re-evaluate the flagged entries ``todo`` with smaller steps (see :mod:`verify.kinks`)
    until their stencils clear every kink; -> the entries no step cleared."""
    signs = STENCILS[method]
    for _ in range(MAX_REFINE if todo.size else 0):
        s = np.maximum(np.minimum(s / 16, dist / 2), floor)
        D, F = evaluate(todo, s, signs, inexact_flagged=True)
        ok = ~np.any(F, axis=0)
        if ok.any():
            # A stencil clear of every kink gives a true difference quotient again. Its error
            # (round-off grows as the step shrinks) is estimated from the same quotient at half
            # the step, and allowed for: the entry passes within [est - 2 err, est + 2 err].
            fine, s_ok = todo[ok], s[ok]
            D2, F2 = evaluate(fine, s_ok / 2, signs)
            # (On a clear stencil the half step is clear too: the region without crossings
            # is convex. Checked anyway; an entry that is not stays to be refined.)
            ok2 = ~np.any(F2, axis=0)
            ok[np.flatnonzero(ok)[~ok2]] = False
            fine, s_ok, D2 = fine[ok2], s_ok[ok2], D2[:, ok2]
        if ok.any():
            e1 = _quotient(method, D[:, ok], s_ok)
            noise = np.maximum(np.abs(e1 - _quotient(method, D2, s_ok / 2)), floor_d / s_ok)
            out.estimate[fine] = e1
            out.left[fine], out.right[fine] = e1 - 2 * noise, e1 + 2 * noise
            out.mask[fine] = True
        todo, s, dist, floor = todo[~ok], s[~ok], dist[~ok], floor[~ok]
        if not todo.size or np.all(s <= floor):
            break
    return todo


def _at_kink(evaluate: _Evaluate, method: str, todo: Array, h: Array, abs_theta: Array,
             complex_ok: bool, out: _Bounds) -> None:
    """The entries ``todo`` whose kink is closer than the smallest step: the complex step where
    it goes through every later activation (``complex_ok``), else the one-sided derivatives."""
    if complex_ok:
        # A pre-activation at (or within ~1e-13 of) the kink, where the loss is not
        # differentiable and the analytic value is a convention (relu'(0) = 0). The complex
        # step differentiates exactly the piece the reference's branch on Re(z) selects, which
        # is that convention: it is the reference there.
        hc = DEFAULT_STEPS["complex_step"] * np.maximum(1.0, abs_theta)
        D, _ = evaluate(todo, hc, (1j,), track=False)
        out.estimate[todo] = out.left[todo] = out.right[todo] = np.imag(D[0]) / hc
    else:
        # Unknown non-analytic activations: the one-sided derivatives at a moderate step.
        s = h / 256
        D, _ = evaluate(todo, s, (1.0, -1.0))
        out.right[todo] = np.real(D[0]) / s
        out.left[todo] = -np.real(D[1]) / s
        out.estimate[todo] = ((out.right[todo] + out.left[todo]) / 2 if method == "central"
                              else out.right[todo])
    out.mask[todo] = True


@dataclass
class Refined:
    """Better estimates of some entries (:func:`refine_entries`): ``estimate`` and ``error``
    (its estimated absolute error) of shape (P,), and ``how`` they were obtained."""

    estimate: Array
    error: Array
    how: str


def refine_entries(
    net: ReferenceNet,
    layer: int,
    kind: str,
    idx: Array,
    *,
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> Refined:
    """Re-estimate the derivative at the flat entries ``idx`` of ``kind`` of ``layer`` more
    accurately, before a check calls them wrong.

    Where every activation from ``layer`` on and the loss are complex-step safe
    (:func:`verify.kinks.complex_safe`), by the complex step ``Im L(theta + ih) / h`` with
    ``h = 1e-200 * max(1, |theta|)``: exact to round-off (Squire & Trapp 1998), error 0 (the
    rounding allowance covers its round-off). Otherwise by Richardson extrapolation of central
    differences at ``h/2`` and ``h/4`` (``h`` the default central step): ``(4 D(h/4) - D(h/2))
    / 3``, whose error is estimated as its distance from the same extrapolation one step
    coarser (Richardson 1911; Nocedal & Wright, section 8.1), and at least its round-off
    (:func:`verify.kinks.change_roundoff`). Entries whose stencils straddle a
    kink are not refined here (their interval is :func:`numerical_gradient`'s business).
    """
    theta = net.parameter(layer, kind).reshape(-1)
    changes = _changes(net)
    scale = np.maximum(1.0, np.abs(theta[idx]))

    def quotient(h: Array, signs: tuple[complex, ...]) -> Array:
        D, _ = changes(net, layer, kind, idx, h, signs, track=False, chunk_size=chunk_size,
                       max_memory=max_memory)
        return np.imag(D[0]) / h if signs == (1j,) else np.real(D[0] - D[1]) / (2 * h)

    if complex_safe(net, layer) and net.loss_function.complex_ok:
        est = quotient(DEFAULT_STEPS["complex_step"] * scale, (1j,))
        return Refined(est, np.zeros(idx.size), "the complex step")
    h = DEFAULT_STEPS["central"] * scale
    q1, q2, q4 = (quotient(h / k, (1.0, -1.0)) for k in (1, 2, 4))
    coarse, fine = (4 * q2 - q1) / 3, (4 * q4 - q2) / 3
    # (4 q4 - q2) / 3 carries about 6 times the round-off of one quotient at h.
    error = np.maximum(np.abs(fine - coarse), 6 * change_roundoff(net) / h)
    return Refined(fine, error, "Richardson extrapolation")


def stencil_crossings(
    net: ReferenceNet, layer: int, kind: str, *, step: float | None = None
) -> Array:
    """Entries whose central stencil ``theta +- h`` moves any pre-activation across a kink.

    A boolean array of the parameter's shape; ``step`` is the relative step r (central default).
    """
    r = DEFAULT_STEPS["central"] if step is None else float(step)
    flat = net.parameter(layer, kind).reshape(-1)
    h = r * np.maximum(1.0, np.abs(flat))
    _, F = _changes(net)(net, layer, kind, np.arange(flat.size), h, (1.0, -1.0), track=True,
                         chunk_size=None, max_memory=DEFAULT_MAX_MEMORY, inexact_flagged=True)
    return np.any(F, axis=0).reshape(net.parameter(layer, kind).shape)
