"""Input validation for the reference and its checker: each error names what was wrong and what
was expected (:func:`as_matrix` is what ``verify.check_gradients`` validates ``x`` and ``y`` with).

Where finiteness is checked (documented in the README): the inputs of ``DenseLayer.forward``
and ``MLP.forward``, the upstream gradient of ``backward``, and both arguments of the losses.
Parameters are not checked on every call; a non-finite parameter shows up as a non-finite
output, which the next layer's input check then reports.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SUPPORTED_DTYPES", "as_matrix", "check_dtype", "check_finite", "positive_int"]

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.complex128))


def positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, or raise naming ``name`` when it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive integer, got {value!r} ({type(value).__name__})"
        )
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a numpy dtype, or raise if the reference does not support it."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in SUPPORTED_DTYPES:
        valid = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of {valid}")
    return dt


def as_matrix(value: Any, name: str, *, columns: int | None = None) -> NDArray[Any]:
    """Return ``value`` as a finite 2-D array ``(batch, columns)``; never broadcast silently."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular 2-D array (batch, width): {exc}") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        want = f"(batch, {columns})" if columns is not None else "(batch, width)"
        raise ValueError(f"{name} must be 2-D with shape {want}, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row, got shape {arr.shape}")
    if columns is not None and arr.shape[1] != columns:
        raise ValueError(
            f"{name} has {arr.shape[1]} columns but {columns} were expected: "
            f"shape {arr.shape}, expected (batch, {columns})"
        )
    check_finite(arr, name)
    return arr


def check_finite(arr: NDArray[Any], name: str) -> None:
    """Raise ``ValueError`` naming the first non-finite entry of ``arr``."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = tuple(int(i) for i in np.argwhere(~finite)[0])
        count = int((~finite).sum())
        raise ValueError(
            f"{name} contains {count} non-finite value(s) (NaN or inf); first at {bad}: {arr[bad]}"
        )
