"""``check_function``: the gradient of any scalar function of NumPy arrays, checked.

Like ``torch.autograd.gradcheck`` or JAX's ``check_grads``, for NumPy: ``f(*inputs)`` returns
a real scalar, ``grad(*inputs)`` the gradients with respect to each input (same shapes), and
each input gets one row, ``inputs[0]``, ``inputs[1]``, ..., compared with difference quotients
of ``f`` itself (:mod:`verify.generic`), with the tolerances, refinement and verdicts of
:mod:`verify.compare`.
"""

from __future__ import annotations

import dataclasses
import numbers
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .compare import (
    REFERENCE_NAMES,
    GradientCheck,
    GradientRecord,
    Tolerance,
    compare,
    tolerance_for,
)
from .finite_diff import Refined
from .generic import (
    complex_probe,
    difference_quotients,
    directional,
    failing_kinks,
    kinks_only,
    measured_rounding,
    refine,
    refine_directional,
    refine_failing,
)
from .methods import NotApplicable
from .rounding import gamma, unit_roundoff

__all__ = ["FUNCTION_METHODS", "check_function"]

Array = NDArray[Any]

FUNCTION_METHODS = ("central", "forward", "complex_step", "directional")
"""The methods that apply to a function (``autograd`` needs a torch twin: reference models)."""


def _inputs(inputs: Any) -> list[Array]:
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if not isinstance(inputs, Sequence) or isinstance(inputs, (str, bytes)) or not inputs:
        raise TypeError("inputs must be a non-empty sequence of NumPy arrays (or one array)")
    out = []
    for i, value in enumerate(inputs):
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"inputs[{i}] must be a float32 or float64 array, got dtype "
                            f"{arr.dtype} (a gradient with respect to it needs real numbers)")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"inputs[{i}] contains non-finite values")
        out.append(arr)
    return out


def _scalar(value: Any, what: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or np.iscomplexobj(arr) or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{what} must return a real scalar, got {type(value).__name__} "
                        f"of shape {arr.shape} and dtype {arr.dtype}")
    return float(arr.reshape(()))


def _gradients(grad: Any, xs: list[Array]) -> list[Array | None]:
    got = grad(*xs) if callable(grad) else grad
    if isinstance(got, np.ndarray) and len(xs) == 1 and got.shape == xs[0].shape:
        got = [got]
    if isinstance(got, np.ndarray) or not isinstance(got, Sequence) or len(got) != len(xs):
        n = "?" if not isinstance(got, Sequence) else len(got)
        raise ValueError(f"grad must give one gradient per input ({len(xs)}), got {n}: "
                         f"{type(got).__name__}")
    return [None if g is None else np.asarray(g) for g in got]


def _refiner(g: Callable[[Array], Any], x: Array, *, complex_ok: bool, noise: float
             ) -> Callable[[Array], Refined]:
    def refine_at(idx: Array) -> Refined:
        return refine(g, x, idx, complex_ok=complex_ok, noise=noise)

    return refine_at


def check_function(
    f: Callable[..., Any],
    inputs: Sequence[Any] | Array,
    grad: Callable[..., Sequence[Any]] | Sequence[Any],
    *,
    method: str = "central",
    tolerance: Tolerance | tuple[float, float] | None = None,
    step: float | None = None,
    seed: int | None = None,
) -> GradientCheck:
    """Check ``grad`` against difference quotients of ``f``; one row per input.

    ``f(*inputs) -> float``: a real scalar. ``inputs``: NumPy float arrays (float32 or
    float64), any shapes. ``grad(*inputs)``: the gradient of ``f`` with respect to each input
    (the same shapes), or those arrays themselves. ``method``: ``"central"`` (default),
    ``"forward"``, ``"complex_step"`` (only when ``f`` computes in complex: probed; otherwise
    ``ValueError``) or ``"directional"`` (one seeded Gaussian direction per input: a screen).
    ``tolerance``: a :class:`~verify.compare.Tolerance` or an absolute ``(atol, rtol)`` pair
    instead of :data:`verify.compare.TOLERANCES` (float32 inputs take its float32 row).
    ``step``: the relative step r (``h = r * max(1, |x|)``); ``seed``: the directions.

    Returns a :class:`~verify.compare.GradientCheck` with rows ``inputs[0]``, ``inputs[1]``,
    ...; ``f`` is evaluated in float64 (inputs upcast exactly) and the gradients' rounding is
    measured (:func:`verify.generic.measured_rounding`). Raises ``TypeError`` for inputs that
    are not float arrays or an ``f`` that does not return a real scalar, ``ValueError`` for an
    unknown method, a gradient count that does not match, or bad options.
    """
    t0 = time.perf_counter()
    xs, dtype, tol = _options(inputs, method, tolerance, step, seed)
    analytic = _gradients(grad, xs)
    x64 = [x.astype(np.float64) for x in xs]
    f0 = _scalar(f(*x64), "f")
    noise = 8 * unit_roundoff(np.float64) * abs(f0)  # the round-off of f(x') - f(x)
    change = _changes(f, x64, f0)
    rng = np.random.default_rng(20240612)
    complex_why = {i: complex_probe(change(i), x64[i], rng) for i in range(len(xs))}
    if method == "complex_step" and any(complex_why.values()):
        i, why = next((i, w) for i, w in complex_why.items() if w)
        raise NotApplicable(f"complex_step does not apply to f (inputs[{i}]): {why}; use central, "
                         f"forward or directional")
    allowances = _allowances(grad, analytic, xs, tol, dtype)
    seed_used = None
    if method == "directional":
        from .methods import _fresh_seed

        seed_used = _fresh_seed() if seed is None else int(seed)
    dir_rng = np.random.default_rng(seed_used)
    rows: list[GradientRecord] = []
    n_kinks = 0
    for i, x in enumerate(x64):
        g, a = change(i), analytic[i]
        common: dict[str, Any] = {"path": f"inputs[{i}]", "layer": -1, "activation": "",
                                  "parameter": f"inputs[{i}]", "method": method,
                                  "dtype": dtype.name}
        if method == "directional":
            rows.append(_directional_row(g, x, a, dir_rng.standard_normal(x.shape), tol, step,
                                         noise, seed_used, allowances.get(i),
                                         not complex_why[i], common))
            continue
        rec, kinks = _quotient_row(g, x, a, method, tol, step, noise, allowances.get(i),
                                   not complex_why[i], common)
        n_kinks += kinks
        rows.append(rec)
    info: dict[str, Any] = {
        "method": method, "dtype": dtype.name, "loss": None,
        "n_parameters": int(sum(x.size for x in xs)), "step": step, "kinks": n_kinks,
        "reference": "finite differences of f", "reference_dtype": "float64",
        "complex_step": "applies" if not any(complex_why.values()) else "does not apply",
        "seconds": time.perf_counter() - t0,
    }
    if seed_used is not None:
        info["seed"] = seed_used
    return GradientCheck(method, rows, seed=seed_used, info=info)


def _options(inputs: Sequence[Any] | Array, method: str,
             tolerance: Tolerance | tuple[float, float] | None, step: float | None,
             seed: int | None) -> tuple[list[Array], np.dtype[Any], Tolerance]:
    """:func:`check_function`'s arguments checked: the inputs, their dtype, the tolerance."""
    if method == "autograd":
        raise NotApplicable("method 'autograd' needs a reference model (a torch twin); for a "
                            f"function use one of {', '.join(FUNCTION_METHODS)}")
    if method not in FUNCTION_METHODS:
        raise ValueError(f"unknown method {method!r} for a function; expected one of "
                         f"{', '.join(FUNCTION_METHODS)}")
    xs = _inputs(inputs)
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Real)
                             or not (np.isfinite(step) and step > 0)):
        raise ValueError(f"step must be a finite number > 0 (a relative step), got {step!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    dtype = np.dtype(np.float32) if any(x.dtype == np.float32 for x in xs) else \
        np.dtype(np.float64)
    if tolerance is None:
        tol = tolerance_for(dtype, method)
    elif isinstance(tolerance, Tolerance):
        tol = tolerance
    elif isinstance(tolerance, tuple) and len(tolerance) == 2:
        tol = Tolerance(float(tolerance[0]), float(tolerance[1]), REFERENCE_NAMES[method])
    else:
        raise TypeError(f"tolerance must be a Tolerance or an (atol, rtol) tuple, got "
                        f"{tolerance!r}")
    return xs, dtype, tol


def _changes(f: Callable[..., Any], x64: list[Array],
             f0: float) -> Callable[[int], Callable[[Array], Any]]:
    """``change(i)``: f's change from ``f0`` as a function of input i alone."""
    def change(i: int) -> Callable[[Array], Any]:
        def g(theta: Array) -> Any:
            args = [theta if k == i else x for k, x in enumerate(x64)]
            with np.errstate(all="ignore"):
                value = np.asarray(f(*args))
            return value.reshape(()) - f0 if np.iscomplexobj(value) else float(
                value.reshape(())) - f0
        return g

    return change


def _allowances(grad: Callable[..., Sequence[Any]] | Sequence[Any], analytic: list[Array | None],
                xs: list[Array], tol: Tolerance, dtype: np.dtype[Any]) -> dict[Any, Array]:
    """The gradients' measured rounding per input (a callable ``grad``, a scale-aware
    tolerance), else none."""
    allowances: dict[Any, Array] = {}
    if tol.relative_atol and callable(grad):
        base = {i: g for i, g in enumerate(analytic)}

        def recompute(gen: np.random.Generator, rel: float) -> dict[Any, Array | None]:
            moved = [(x * (1 + rel * gen.uniform(-1, 1, x.shape))).astype(x.dtype) for x in xs]
            return dict(enumerate(_gradients(grad, moved)))

        allowances = measured_rounding(recompute, base, dtype)
    return allowances


def _directional_row(g: Callable[[Array], Any], x: Array, a: Array | None, v: Array,
                     tol: Tolerance, step: float | None, noise: float, seed_used: int | None,
                     measured: Array | None, complex_ok: bool,
                     common: dict[str, Any]) -> GradientRecord:
    """One input's row by a directional derivative along ``v``."""
    deriv, err = directional(g, x, v, r=step, noise=noise)
    note = f"directional derivative along a Gaussian direction (seed {seed_used})"
    if a is None or a.shape != x.shape:
        rec = compare(np.array([np.nan]), np.array([deriv]), tolerance=tol,
                      note=f"grad gave {None if a is None else a.shape}, expected "
                           f"shape {x.shape}", **common)
        return dataclasses.replace(rec, status="missing" if a is None else "mismatch")
    terms = np.real(a).astype(np.float64) * v
    allowance, error, scale = None, None, None
    if tol.relative_atol:
        allowance = gamma(terms.size, unit_roundoff(np.float64)) * float(
            np.abs(terms).sum())
        if measured is not None:
            allowance += float(np.sqrt(np.sum((measured * v) ** 2)))
        error = np.array([err])
        scale = max(abs(deriv), float(np.sqrt(np.sum(terms**2))))
    rec = compare(np.array([np.sum(terms)]), np.array([deriv]), tolerance=tol,
                  allowance=allowance, error=error, scale=scale, note=note, **common)
    if tol.relative_atol and rec.verdict != "match" and np.isfinite(rec.analytic):
        better = refine_directional(g, x, v, complex_ok=complex_ok, noise=noise)
        rec = compare(np.array([np.sum(terms)]), better.estimate, tolerance=tol,
                      allowance=allowance, error=better.error,
                      scale=max(abs(float(better.estimate[0])),
                                float(np.sqrt(np.sum(terms**2)))),
                      note=f"{note}; refined by {better.how}", **common)
    return rec


def _quotient_row(g: Callable[[Array], Any], x: Array, a: Array | None, method: str,
                  tol: Tolerance, step: float | None, noise: float, measured: Array | None,
                  complex_ok: bool, common: dict[str, Any]) -> tuple[GradientRecord, int]:
    """One input's row by difference quotients, and how many of its entries are at a kink."""
    est = difference_quotients(g, x, method, r=step)
    if a is None:
        rec = compare(np.full(x.shape, np.nan), est, tolerance=tol,
                      note="grad gave None for this input", **common)
        return dataclasses.replace(rec, status="missing"), 0
    bound = measured if tol.relative_atol else None
    error, note = None, ""
    if tol.relative_atol and a.shape == est.shape and method != "complex_step":
        est, error, note = refine_failing(
            a, est, tol, bound, _refiner(g, x, complex_ok=complex_ok, noise=noise))
    kink_mask, bounds = None, None
    n_kinks = 0
    if tol.relative_atol and a.shape == est.shape and method in ("central", "forward"):
        kink_mask, bounds = failing_kinks(g, x, a, est, tol, bound, noise=noise)
        n_kinks += 0 if kink_mask is None else int(kink_mask.sum())
    rec = compare(a, est, tolerance=tol, allowance=bound, error=error, note=note,
                  kink_mask=kink_mask, kink_bounds=bounds, **common)
    return kinks_only(rec, a, est, tol, bound, kink_mask), n_kinks
