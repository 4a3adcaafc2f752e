"""The tolerances: how far an analytic gradient may be from its reference, per dtype and method.

:class:`Tolerance` (absolute and relative, optionally scale-aware), the table
:data:`TOLERANCES` and :func:`tolerance_for`, a row's scale :func:`row_scale`, and the
checking methods with what each compares against. Re-exported by :mod:`verify.compare`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

METHODS = ("central", "forward", "complex_step", "directional", "autograd")
"""Every way a gradient can be checked."""


REFERENCE_NAMES: dict[str, str] = {
    "central": "numerical",
    "forward": "numerical",
    "complex_step": "complex-step",
    "directional": "numerical",
    "autograd": "autograd",
    "reference": "reference",
}
"""What the value an analytic gradient is compared with is called in messages, per method."""


ERROR_FACTOR = 3.0
"""An entry whose reference value comes with an estimated error ``e`` (a refined difference
quotient, a directional derivative) is not a mismatch while its difference is within
``ERROR_FACTOR * e`` beyond its tolerance: error estimates from step halving are rough."""


INCONCLUSIVE_FRACTION = 0.1
"""A row whose entries agree only within an allowance of this fraction of its largest
``|reference|`` or more is inconclusive, not a match (scale-aware tolerances only)."""


def row_scale(reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """``S``: the largest finite ``|reference|`` (over the entries not masked out), 0 if none."""
    r = np.abs(np.real(np.asarray(reference))).astype(np.float64)
    keep = np.isfinite(r)
    if mask is not None:
        keep &= ~np.broadcast_to(np.asarray(mask, dtype=bool), r.shape)
    return float(r[keep].max()) if keep.any() else 0.0


@dataclass(frozen=True)
class Tolerance:
    """Entry passes when ``|analytic - reference| <= atol + rtol * |reference|``.

    With ``relative_atol`` (the table's tolerances) ``atol`` is a fraction of the row's scale
    ``S`` (its largest ``|reference|``, :func:`row_scale`): ``atol * S + rtol * |reference|``,
    and the checks add their per-entry allowances (see the module docstring). Without it (a
    tolerance the caller gives) ``atol`` is absolute and nothing is added.
    """

    atol: float
    rtol: float
    reference_name: str = "numerical"
    relative_atol: bool = False

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, numbers.Real) and math.isfinite(value) and float(value) >= 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def allowed(self, reference: ArrayLike, scale: float | None = None) -> NDArray[np.float64]:
        """The allowed absolute error at each entry of ``reference`` (``scale``: the row's
        ``S`` for a relative atol, default :func:`row_scale` of ``reference``)."""
        r = np.abs(np.real(np.asarray(reference))).astype(np.float64, copy=False)
        atol = self.atol
        if self.relative_atol:
            atol *= row_scale(r) if scale is None else scale
        r *= self.rtol  # in place: r is this function's own array (np.abs made it)
        r += atol
        return r

    def with_reference_name(self, name: str) -> Tolerance:
        return Tolerance(self.atol, self.rtol, name, self.relative_atol)

    def absolute(self) -> Tolerance:
        """The same numbers with ``atol`` absolute (as the table's were before it scaled)."""
        return Tolerance(self.atol, self.rtol, self.reference_name, relative_atol=False)

    def __str__(self) -> str:
        scale = f"*max|{self.reference_name}|" if self.relative_atol else ""
        return f"{self.atol:g}{scale} + {self.rtol:g}*|{self.reference_name}|"


def _tol(atol: float, rtol: float, method: str) -> Tolerance:
    return Tolerance(atol, rtol, REFERENCE_NAMES[method], relative_atol=True)


_FLOAT64 = {
    "central": _tol(1e-7, 1e-6, "central"),
    "forward": _tol(1e-5, 1e-4, "forward"),
    "complex_step": _tol(1e-12, 1e-9, "complex_step"),
    "directional": _tol(1e-7, 1e-6, "directional"),
    "autograd": _tol(1e-12, 1e-10, "autograd"),
}


_FLOAT32 = {method: _tol(1e-5, 1e-4, method) for method in METHODS}


TOLERANCES: dict[tuple[str, str], Tolerance] = {
    **{("float64", m): t for m, t in _FLOAT64.items()},
    **{("complex128", m): t for m, t in _FLOAT64.items()},
    **{("float32", m): t for m, t in _FLOAT32.items()},
}
"""The tolerance table, keyed by ``(dtype name, method)``. See the module docstring for why."""


def tolerance_for(dtype: Any, method: str) -> Tolerance:
    """Look up the tolerance for ``dtype`` (a numpy dtype or its name) and ``method``."""
    name = np.dtype(dtype).name
    try:
        return TOLERANCES[(name, method)]
    except KeyError:
        dtypes = sorted({d for d, _ in TOLERANCES})
        raise ValueError(
            f"no tolerance for dtype {name!r} and method {method!r}; "
            f"expected a dtype in {dtypes} and a method in {list(METHODS)}"
        ) from None
