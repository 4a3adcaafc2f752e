"""Decoding what a child sent: the only place untrusted data is turned into numbers.

Everything here raises :class:`MalformedResult` (and nothing else) for data that does not have
the protocol's shape, so that the grader can tell "the submission sent garbage" (the student's
problem, reported as such) from a fault in the grader's own code (an internal error, never
blamed on the student).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MalformedResult", "field", "matrix", "number", "obj", "rows"]

Array = NDArray[np.float64]
_MAX_ELEMENTS = 1_000_000


class MalformedResult(ValueError):
    """A child's answer that does not follow PROTOCOL.md."""


def number(v: Any) -> float:
    """A protocol number: a JSON number or ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(v, bool):
        raise MalformedResult("booleans are not numbers here")
    if isinstance(v, (int, float)):
        return float(v)
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise MalformedResult(f"expected a number, got {_short(v)}")


def matrix(value: Any) -> Array | None:
    """A protocol matrix (or a scalar, as ``(1, 1)``) as a float64 array; None stays None."""
    if value is None:
        return None
    if isinstance(value, (int, float, str)):
        return np.asarray(number(value), dtype=np.float64).reshape(1, 1)
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise MalformedResult(f"expected a matrix (a list of rows), got {type(value).__name__}")
    if len({len(r) for r in value}) > 1:
        raise MalformedResult("ragged matrix (rows of different lengths)")
    if sum(len(r) for r in value) > _MAX_ELEMENTS:
        raise MalformedResult(f"a matrix of more than {_MAX_ELEMENTS} entries")
    out = np.asarray([[number(v) for v in row] for row in value], dtype=np.float64)
    return out.reshape(len(value), -1) if out.ndim != 2 else out


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedResult(f"{what}: expected an object, got {type(value).__name__}")
    return value


def rows(value: Any, n: int, what: str) -> list[Any]:
    """A list of exactly ``n`` items."""
    if not isinstance(value, list) or len(value) != n:
        got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
        raise MalformedResult(f"{what}: expected {n} items, got {got}")
    return value


def field(value: dict[str, Any], key: str) -> Array | None:
    """``value[key]`` decoded as a matrix (a missing key is None)."""
    return matrix(value.get(key))


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
