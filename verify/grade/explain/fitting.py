"""Fitting and naming constant factors, and comparing values to the grading tolerance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..diagnosis import close

Array = NDArray[np.float64]


def _arr(v: Any) -> Array | None:
    return None if v is None else np.asarray(v, dtype=np.float64)


def _close_nan(a: Any, b: Any) -> bool:
    """Same shape, non-finite exactly where the other is, finite entries within tolerance."""
    if a is None or b is None:
        return False
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or fa.all():
        return False
    return close(np.where(fa, a, 0.0), np.where(fb, b, 0.0))


def _same(a: Any, b: Any) -> bool:
    return close(a, b) or _close_nan(a, b)


def _fit(student: Any, base: Any) -> float | None:
    """The factor c with student ~ c * base (least squares), or None."""
    if student is None or base is None:
        return None
    s, e = np.asarray(student, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if s.shape != e.shape or not np.isfinite(s).all() or not np.isfinite(e).all():
        return None
    den = float(np.sum(e * e))
    if den < 1e-24:
        return None
    return float(np.sum(s * e)) / den


_CONSTANTS: tuple[tuple[str, float], ...] = (
    ("2", 2.0), ("1/2", 0.5), ("-1", -1.0), ("-2", -2.0), ("-1/2", -0.5), ("4", 4.0),
    ("1/4", 0.25), ("10", 10.0), ("1/10", 0.1), ("100", 100.0), ("1/100", 0.01),
)


def _named(c: float, sizes: dict[str, int]) -> list[tuple[str, float]]:
    """Names of the constant ``c`` (``1/batch``, ``2``, ...): every one it matches."""
    out: list[tuple[str, float]] = []
    for name, n in sizes.items():
        if n > 1:
            for label, value in ((name, float(n)), (f"1/{name}", 1.0 / n),
                                 (f"2/{name}", 2.0 / n), (f"-1/{name}", -1.0 / n)):
                if abs(c - value) <= 1e-3 * abs(value):
                    out.append((label, value))
    for label, value in _CONSTANTS:
        if abs(c - value) <= 1e-3 * abs(value):
            out.append((label, value))
    return out


def _size_words(label: str, sizes: dict[str, int]) -> tuple[str, int] | None:
    """``1/batch`` -> ("1/the batch size", 5) with the batch of 5; None for a constant."""
    for name, n in sizes.items():
        if name in label:
            return label.replace(name, _SIZE_WORDS.get(name, name)), n
    return None


def format_factor(label: str, value: float, sizes: dict[str, int], hide: bool) -> str:
    """One reading of a factor: ``2`` for a constant; for a size, the number, then the size it
    equals here (``1/5 (equal here to 1/the batch size, which is 5)``); hidden tests without
    the number (``1/the batch size``)."""
    if label in dict(_CONSTANTS):
        return label
    sized = _size_words(label, sizes)
    if sized is None:
        return label if hide else f"{value:.4g}"
    words, n = sized
    return words if hide else f"{_fraction(value)} (equal here to {words}, which is {n})"


_SIZE_WORDS = {"batch": "the batch size", "n_outputs": "the number of outputs (neurons)",
               "n_inputs": "the number of inputs", "n_elements": "the number of elements",
               "n_layers": "the number of layers"}


def _fraction(v: float) -> str:
    for den in range(1, 101):
        num = v * den
        if abs(num - round(num)) < 1e-6 * max(1.0, abs(num)):
            return f"{int(round(num))}/{den}" if den > 1 else f"{int(round(num))}"
    return f"{v:.4g}"


def _factor_param(c: float, sizes: dict[str, int]) -> tuple[str, float] | None:
    """The tag parameter and the exact value of a fitted factor; None for ~1 (no factor)."""
    if not math.isfinite(c) or abs(c - 1.0) < 1e-3 or abs(c) < 1e-9:
        return None
    names = _named(c, sizes)
    if names:
        return "|".join(n for n, _ in names), names[0][1]
    return "other", c


def _factor_words(param: str, value: float, sizes: dict[str, int], hide: bool) -> str:
    """The factor as stated: the number first (what the fit shows), then the sizes it equals
    here, as what they are, coincidences of this place, not the cause: a hard-coded 3 is not
    "the number of inputs" because one layer has 3 (``3 (equal here to the number of inputs,
    which is 3)``). Hidden tests: a named constant (``2``), else "a constant factor" and the
    sizes it equals in that test."""
    if param == "other":
        return "a constant factor" if hide else f"{value:.4g}"
    labels = param.split("|")
    constants = [lb for lb in labels if lb in dict(_CONSTANTS)]
    sized = [w for w in (_size_words(lb, sizes) for lb in labels if lb not in constants) if w]
    if hide:
        lead = constants[0] if constants else "a constant factor"
        also = " and to ".join(w for w, _ in sized)
        return f"{lead} (equal to {also} in this test)" if sized else lead
    lead = constants[0] if constants else _fraction(value)
    also = ", and to ".join(f"{w}, which is {n}" for w, n in sized)
    return f"{lead} (equal here to {also})" if sized else lead
