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


def format_factor(label: str, value: float, sizes: dict[str, int], hide: bool) -> str:
    """``1/5 (1/batch: the batch here is 5)``; without the number for hidden tests."""
    if label in dict(_CONSTANTS):
        return label
    for name, n in sizes.items():
        if name in label:
            words = label.replace(name, _SIZE_WORDS.get(name, name))
            size = _SIZE_WORDS.get(name, name)
            return words if hide else f"{_fraction(value)} ({words}; {size} is {n} here)"
    return label if hide else f"{value:.4g}"


_SIZE_WORDS = {"batch": "the batch size", "n_outputs": "the number of outputs (neurons)",
               "n_inputs": "the number of inputs", "n_elements": "the number of elements"}


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
    if param == "other":
        return "a constant factor" if hide else f"{value:.4g}"
    first = param.split("|")[0]
    text = format_factor(first, value, sizes, hide)
    if "|" in param:
        others = ", ".join(p for p in param.split("|")[1:])
        text += f" (equally {others} here)"
    return text
