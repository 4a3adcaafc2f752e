"""Finite differences of anyone's code: a model's own forward, or any function of arrays.

For a model that follows :mod:`verify.protocol` but is not built from reference layers, and for
:func:`verify.check_function`, there is no reference network to evaluate: the numerical
gradient is taken of the *model's own forward* (or the function itself), entry by entry.

* The model is copied and, where its forward allows it, evaluated in float64 (its float32
  arrays upcast exactly): the difference quotients are float64's even for a float32 model.
  A forward that still returns float32 is differentiated in float32, with the error that
  brings (the refinement below sees it).
* :func:`difference_quotients`: central ``(f(t + h) - f(t - h)) / 2h``, forward
  ``(f(t + h) - f(t)) / h`` or the complex step ``Im f(t + ih) / h`` per entry, ``h = r *
  max(1, |t|)`` with the steps of :data:`verify.finite_diff.DEFAULT_STEPS`. The model's loss
  change is computed as :mod:`verify.losses` does (without cancellation for squared error and
  cross-entropy, given the two predictions).
* :func:`refine`: an entry that fails is re-estimated before it is called wrong: by the complex
  step where the code computes in complex (probed: :func:`complex_probe`), else by Richardson
  extrapolation of central differences at ``h/2`` and ``h/4``, with an error estimate.
* :func:`directional`: one direction ``v``: ``(f(t + sv) - f(t - sv)) / 2s`` and its error,
  estimated from the same difference at ``s/2``.
* :func:`measured_rounding`: how far a correct analytic gradient may be from the exact one by
  rounding, for code whose arithmetic the checker cannot see: the analytic gradient recomputed
  four times on inputs and parameters moved by about one unit in the last place, the spread
  times 16 (plus 4 times the row's largest spread). A measured estimate, not a bound: on the
  float32 reference networks of the tests, the actual error of the float32 gradient stayed
  within 5.3 times the spread.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .compare import GradientRecord, Tolerance, exceeds, row_scale
from .finite_diff import DEFAULT_STEPS, Refined

__all__ = [
    "FloatCopy",
    "Refined",
    "complex_probe",
    "difference_quotients",
    "directional",
    "failing_kinks",
    "kinks_at",
    "kinks_only",
    "measured_rounding",
    "refine",
    "refine_directional",
    "refine_failing",
    "upcast",
]

Array = NDArray[Any]
Scalar = Callable[[Array], Any]  # theta (real or complex, the parameter's shape) -> change

MEASURE_RUNS = 4
"""How many perturbed recomputations :func:`measured_rounding` makes."""

MEASURE_FACTOR = 16.0
"""The factor on the measured spread (see the module docstring)."""


def _steps(theta: Array, idx: Array, r: float) -> Array:
    return r * np.maximum(1.0, np.abs(theta.reshape(-1)[idx]))


def _at(theta: Array, k: int, delta: complex) -> Array:
    out = theta.astype(np.complex128 if isinstance(delta, complex) else theta.dtype, copy=True)
    out.reshape(-1)[k] += delta
    return out


def difference_quotients(f: Scalar, theta: Array, method: str, *, r: float | None = None,
                         idx: Array | None = None) -> Array:
    """The difference quotient of ``method`` (``"central"``, ``"forward"``,
    ``"complex_step"``) of ``f`` at ``theta`` for each flat entry ``idx`` (default: all);
    ``f(theta')`` returns the change of the scalar from ``theta`` (so ``f(theta) = 0``).
    -> float64 array of the entries' shape (theta's shape when ``idx`` is None)."""
    r = DEFAULT_STEPS[method] if r is None else r
    which = np.arange(theta.size) if idx is None else idx
    h = _steps(theta, which, r)
    out = np.empty(which.size)
    for q, (k, hk) in enumerate(zip(which, h, strict=True)):
        if method == "central":
            out[q] = (np.real(f(_at(theta, k, hk))) - np.real(f(_at(theta, k, -hk)))) / (2 * hk)
        elif method == "forward":
            out[q] = np.real(f(_at(theta, k, hk))) / hk
        elif method == "complex_step":
            out[q] = np.imag(f(_at(theta, k, 1j * hk))) / hk
        else:
            raise ValueError(f"method must be central, forward or complex_step, got {method!r}")
    return out.reshape(theta.shape) if idx is None else out


def refine(f: Scalar, theta: Array, idx: Array, *, complex_ok: bool, noise: float = 0.0
           ) -> Refined:
    """Re-estimate the derivative at the flat entries ``idx``: the complex step when
    ``complex_ok`` (error 0), else Richardson extrapolation of central differences at ``h/2``
    and ``h/4``, error its distance from the extrapolation at ``h`` and ``h/2``, and at least
    its round-off, about ``6 noise / h`` (``noise``: the absolute round-off of a value of
    ``f``)."""
    if complex_ok:
        est = difference_quotients(f, theta, "complex_step", idx=idx)
        return Refined(est, np.zeros(idx.size), "the complex step")
    r = DEFAULT_STEPS["central"]
    q1, q2, q4 = (difference_quotients(f, theta, "central", r=r / k, idx=idx) for k in (1, 2, 4))
    coarse, fine = (4 * q2 - q1) / 3, (4 * q4 - q2) / 3
    error = np.maximum(np.abs(fine - coarse), 6 * noise / _steps(theta, idx, r))
    return Refined(fine, error, "Richardson extrapolation")


KINK_SHRINK = 16.0
""":func:`kinks_at` looks at one-sided quotients with steps ``h`` and ``h / KINK_SHRINK``."""


def kinks_at(f: Scalar, theta: Array, idx: Array, *, noise: float = 0.0
             ) -> tuple[Array, Array, Array]:
    """Which flat entries ``idx`` sit at a kink of ``f`` (a jump of the derivative, e.g. a relu
    whose pre-activation is exactly 0): the one-sided quotients ``f(t + s) / s`` and
    ``-f(t - s) / s`` differ by as much at ``s = h / KINK_SHRINK`` as at ``s = h`` (a
    curvature's difference would shrink 16 times, a kink further than ``h / 16`` away would not
    be seen at the smaller step), and by more than 16 times their round-off.
    -> (is a kink (P,), left (P,), right (P,)), the quotients at the smaller step; there the
    loss has no derivative and an analytic value between them is a valid one-sided choice.

    ``noise`` is a floor on the round-off, not a bound: a large prediction (a raw pixel through
    a wide layer) makes it large beside the jump of a relu fed exactly 0 at the smaller step,
    though the quotients themselves agree to many digits. So a jump is also accepted when it
    is 16 times the noise at the larger step and 16 times the measured disagreement of each
    one-sided quotient between the two steps (its round-off, seen; a kink at exactly ``t``
    leaves each side's quotient unchanged, a curvature or noise changes it)."""
    h = _steps(theta, idx, DEFAULT_STEPS["central"])
    kink = np.zeros(idx.size, dtype=bool)
    left, right = np.zeros(idx.size), np.zeros(idx.size)
    for q, (k, hk) in enumerate(zip(idx, h, strict=True)):
        sides = []
        for s in (hk, hk / KINK_SHRINK):
            with np.errstate(all="ignore"):
                r = float(np.real(f(_at(theta, k, s)))) / s
                lft = -float(np.real(f(_at(theta, k, -s)))) / s
            sides.append((r, lft))
        (r0, l0), (r, lft) = sides
        j0, j1 = abs(r0 - l0), abs(r - lft)
        rel = 1e-8 * max(abs(r), abs(lft))
        spread = max(abs(r - r0), abs(lft - l0))
        kink[q] = bool(j1 > 0.5 * j0
                       and (j1 > 16 * noise / s + rel
                            or (j0 > 16 * noise / hk + rel and j1 > 16 * spread + rel)))
        left[q], right[q] = lft, r
        if not kink[q]:
            # A kink beside a strong curvature (a direction that also moves a huge prediction):
            # the jump r - l = (f(s) + f(-s)) / s is J + c s + O(s**3) for a kink J and a
            # curvature c. Extrapolated to s = 0 the curvature goes, and a smooth function's
            # jump with it; a kink's stays. Accepted when it is over 32 times the round-off of
            # the smaller step's jump (2 noise / s) and a quarter of that jump, of its sign.
            d0, d1 = r0 - l0, r - lft
            jx = (KINK_SHRINK * d1 - d0) / (KINK_SHRINK - 1)
            if abs(jx) > 0.25 * abs(d1) and jx * d1 > 0 and abs(jx) > 32 * 2 * noise / s + rel:
                kink[q] = True
                right[q] = (KINK_SHRINK * r - r0) / (KINK_SHRINK - 1)
                left[q] = (KINK_SHRINK * lft - l0) / (KINK_SHRINK - 1)
    return kink, left, right


def failing_kinks(f: Scalar, theta: Array, a: Array, est: Array, tol: Tolerance,
                  allowance: Array | None, *, noise: float = 0.0
                  ) -> tuple[Array | None, tuple[Array, Array] | None]:
    """The entries of the analytic gradient ``a`` that still fail against the estimate ``est``
    (both of ``theta``'s shape) and sit at a kink of ``f`` (:func:`kinks_at`): (a boolean mask,
    (left, right) one-sided derivatives, arrays of ``theta``'s shape) for the ``kink_mask`` and
    ``kink_bounds`` of :func:`verify.compare.compare`, or (None, None) when there are none."""
    finite = np.isfinite(np.real(np.asarray(a, dtype=np.complex128)))
    bad = exceeds(a, est, tol, allowance=allowance, scale=row_scale(est)) & finite
    if not bad.any():
        return None, None
    idx = np.flatnonzero(bad)
    kink, left, right = kinks_at(f, theta, idx, noise=noise)
    if not kink.any():
        return None, None
    mask = np.zeros(est.shape, dtype=bool)
    lo, hi = est.astype(np.float64, copy=True), est.astype(np.float64, copy=True)
    mask.reshape(-1)[idx[kink]] = True
    lo.reshape(-1)[idx[kink]] = left[kink]
    hi.reshape(-1)[idx[kink]] = right[kink]
    return mask, (lo, hi)


KINK_NOTE = ("the mismatched entries sit at a kink of the code's own forward (a relu fed exactly "
             "0, say), where it has no derivative: a value outside the one-sided derivatives "
             "is not shown wrong there (backprop's conventions at several kinks at once can "
             "give one)")
"""The note of a row that fails only at kinks (:func:`kinks_only`)."""


def kinks_only(rec: GradientRecord, a: Array, est: Array, tol: Tolerance,
               allowance: Array | float | None, kink_mask: Array | None) -> GradientRecord:
    """``rec`` (a row compared with ``kink_mask``) made ``inconclusive`` when every entry that
    fails sits at a kink (``kink_mask``, of ``est``'s shape): not differentiable there, so a
    value outside the one-sided derivatives proves nothing. Otherwise ``rec`` unchanged."""
    if rec.verdict != "mismatch" or kink_mask is None or not np.any(kink_mask):
        return rec
    mask = np.asarray(kink_mask, dtype=bool)
    finite = np.isfinite(np.real(np.asarray(a, dtype=np.complex128)))
    bad = exceeds(a, est, tol, allowance=allowance, scale=row_scale(est, mask))
    if np.any((bad | ~finite) & ~mask):
        return rec
    note = f"{rec.note}; {KINK_NOTE}" if rec.note else KINK_NOTE
    return dataclasses.replace(rec, status="inconclusive", passed=False, mismatched=0,
                               unresolved=rec.mismatched, note=note)


def refine_failing(analytic: Array, estimate: Array, tolerance: Tolerance,
                   allowance: Array | None, refine_at: Callable[[Array], Refined], *,
                   kink_mask: Array | None = None, rounds: int = 3
                   ) -> tuple[Array, Array | None, str]:
    """Refine the entries of ``estimate`` that ``analytic`` exceeds the tolerance at (not at a
    kink), before they are called wrong: ``refine_at(flat indices) -> Refined``. The row's
    scale ``S`` follows the refined values, so an entry that passed only against a spoiled
    ``S`` is refined in a further round (at most ``rounds``). -> (estimate, error or None when
    nothing was refined, a note)."""
    # Copied (and error, done allocated) only once an entry is refined: most rows pass, and a
    # large layer's arrays are tens of MB each.
    est = np.asarray(estimate, dtype=np.float64)
    mask = np.zeros(est.shape, dtype=bool) if kink_mask is None else np.asarray(kink_mask)
    given = np.asarray(analytic)
    if given.dtype.kind not in "biufc":  # e.g. an object array: numbers as complex
        given = np.asarray(analytic, dtype=np.complex128)
    finite = np.isfinite(np.real(given))
    del given
    error: Array | None = None
    done: Array | None = None
    how = ""
    for _ in range(rounds):
        bad = exceeds(analytic, est, tolerance, allowance=allowance,
                      scale=row_scale(est, mask))
        bad &= ~mask
        bad &= finite
        if done is not None:
            bad &= ~done
        if not bad.any():
            break
        if error is None or done is None:
            est = np.array(est, copy=True)
            error = np.zeros(est.shape)
            done = np.zeros(est.shape, dtype=bool)
        idx = np.flatnonzero(bad)
        refined = refine_at(idx)
        est.reshape(-1)[idx] = refined.estimate
        error.reshape(-1)[idx] = refined.error
        done.reshape(-1)[idx] = True
        how = refined.how
    n = 0 if done is None else int(done.sum())
    if not n or error is None:
        return est, None, ""
    return est, error, f"{n} entr{'y' if n == 1 else 'ies'} refined by {how}"


def _dir_step(theta: Array, r: float) -> float:
    return r * max(1.0, float(np.max(np.abs(theta))) if theta.size else 1.0)


def directional(f: Scalar, theta: Array, v: Array, *, r: float | None = None,
                noise: float = 0.0) -> tuple[float, float]:
    """``d/ds f(theta + s v)`` at 0 by a central difference with ``s = r * max(1, max|theta|)``,
    and its estimated error ``|D(s) - D(s/2)|``, at least ``noise / s`` (``noise``: the absolute
    round-off of a value of ``f``)."""
    s = _dir_step(theta, DEFAULT_STEPS["directional"] if r is None else r)

    def quotient(step: float) -> float:
        return float(np.real(f(theta + step * v)) - np.real(f(theta - step * v))) / (2 * step)

    d1 = quotient(s)
    return d1, max(abs(d1 - quotient(s / 2)), noise / s)


def refine_directional(f: Scalar, theta: Array, v: Array, *, complex_ok: bool,
                       noise: float = 0.0) -> Refined:
    """A better directional derivative along ``v``: the complex step when ``complex_ok``, else
    Richardson extrapolation (as :func:`refine`, along ``v``). Arrays of one entry."""
    if complex_ok:
        h = DEFAULT_STEPS["complex_step"]
        return Refined(np.array([float(np.imag(f(theta + 1j * h * v))) / h]), np.zeros(1),
                       "the complex step")
    s = _dir_step(theta, DEFAULT_STEPS["directional"])

    def quotient(step: float) -> float:
        return float(np.real(f(theta + step * v)) - np.real(f(theta - step * v))) / (2 * step)

    q1, q2, q4 = (quotient(s / k) for k in (1, 2, 4))
    coarse, fine = (4 * q2 - q1) / 3, (4 * q4 - q2) / 3
    return Refined(np.array([fine]), np.array([max(abs(fine - coarse), 6 * noise / s)]),
                   "Richardson extrapolation")


def complex_probe(f: Scalar, theta: Array, rng: np.random.Generator) -> str:
    """Whether the complex step may be taken through ``f`` at ``theta``: ``""`` when it may,
    else why not. ``f`` must accept a complex ``theta`` and return a complex change whose
    imaginary part, along a random direction, is the central difference's derivative (to 1e-6
    relative, 1e-12 of the scale): code that drops the imaginary part (``abs``, ``float()``,
    ``np.real``) or is not analytic fails this."""
    if not theta.size:
        return ""
    v = rng.standard_normal(theta.shape)
    h = DEFAULT_STEPS["complex_step"]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. ComplexWarning from float() of a complex
            c = f(theta + 1j * h * v)
    except Exception as exc:  # noqa: BLE001 - code that cannot take complex numbers
        return f"it raised {type(exc).__name__} on complex input: {exc}"
    if not np.iscomplexobj(np.asarray(c)):
        return "it returned a real value for complex input (the imaginary part is dropped)"
    cs = float(np.imag(c)) / h
    central, err = directional(f, theta, v)
    scale = max(abs(central), abs(cs))
    if not math.isfinite(cs):
        return (f"its complex-step derivative is {cs} (central differences: {central:.6g}): "
                f"the forward overflows or is undefined in complex arithmetic here")
    if not abs(cs - central) <= 1e-6 * scale + 1e-12 + 3 * err:
        return (f"its complex-step derivative ({cs:.6g}) differs from central differences "
                f"({central:.6g}) along a random direction: it is not complex-analytic")
    return ""


def upcast(obj: Any) -> None:
    """Cast, in place, every float32 array attribute of ``obj`` (an object's ``__dict__``) to
    float64: exact, so the float64 evaluation sees the very same numbers."""
    for name, value in list(getattr(obj, "__dict__", {}).items()):
        if isinstance(value, np.ndarray) and value.dtype == np.float32:
            setattr(obj, name, value.astype(np.float64))


class FloatCopy:
    """A deep copy of a list of layers, upcast to float64 where ``forward`` allows it."""

    def __init__(self, layers: list[Any]) -> None:
        self.layers = copy.deepcopy(layers)
        for layer in self.layers:
            upcast(layer)

    def forward(self, a: Array, start: int = 0) -> Array:
        for layer in self.layers[start:]:
            a = np.asarray(layer.forward(a))
        return a


def measured_rounding(recompute: Callable[[np.random.Generator, float], dict[Any, Array | None]],
                      base: dict[Any, Array | None], dtype: Any, *, seed: int = 0
                      ) -> dict[Any, Array]:
    """Per key of ``base`` (the analytic gradients), :data:`MEASURE_FACTOR` times the largest
    change of the gradient over :data:`MEASURE_RUNS` recomputations ``recompute(rng, rel)`` on
    inputs and parameters moved by a relative ``rel`` (two units of roundoff of ``dtype``), plus
    4 times the row's largest change. Keys whose gradient is missing are left out."""
    real = np.real(np.zeros((), dtype=np.dtype(dtype))).dtype
    u = float(np.finfo(real).eps) / 2
    rng = np.random.default_rng(seed)
    spread = {k: np.zeros(np.shape(v)) for k, v in base.items() if v is not None}
    for _ in range(MEASURE_RUNS):
        try:
            again = recompute(rng, 2 * u)
        except Exception:  # noqa: BLE001 - a recomputation that fails adds nothing
            continue
        for k in spread:
            g = again.get(k)
            if g is None or np.shape(g) != spread[k].shape:
                continue
            with np.errstate(invalid="ignore", over="ignore"):
                d = np.abs(np.real(np.asarray(g, dtype=np.complex128))
                           - np.real(np.asarray(base[k], dtype=np.complex128)))
            spread[k] = np.maximum(spread[k], np.where(np.isfinite(d), d, 0.0))
    tiny = 4 * float(np.finfo(real).tiny)
    return {k: MEASURE_FACTOR * s + 4 * (float(s.max()) if s.size else 0.0) + tiny
            for k, s in spread.items()}
