"""Records, tolerances and messages: the one place every check, report and grade reads from.

Compute first, assert second: every comparison returns a :class:`GradientRecord`; reports,
``assert_gradients_close`` and the grader all read the same records.

Tolerances
----------
One table, :data:`TOLERANCES`, per dtype and method. An entry passes when
``|analytic - reference| <= atol + rtol * |reference|`` (as in ``torch.testing``).

Why these numbers (``eps`` is the dtype's machine epsilon, ``h`` the step):

* ``central``: truncation error ``~ h**2 |f'''| / 6`` and round-off ``~ eps |f| / h``; the step
  ``h ~ eps**(1/3)`` (scaled to the parameter) balances them at ``~ eps**(2/3)`` relative:
  about ``4e-11`` in float64. We allow ``1e-7 + 1e-6 |ref|``: four orders of margin for
  curvature and loss scale, yet a 1% error in a gradient of size 1e-3 or more still fails
  (and a 0.01% error from a gradient of about 1.01e-3 up).
* ``forward``: error ``~ h |f''| / 2 + eps |f| / h``, balanced at ``h ~ sqrt(eps)``, error
  ``~ sqrt(eps) ~ 1.5e-8``: tolerance ``1e-5 + 1e-4 |ref|``.
* ``complex_step``: no subtraction, so no cancellation: ``h = 1e-200`` gives the derivative to
  round-off, ``~ eps`` relative. Tolerance ``1e-12 + 1e-9 |ref|``, loose only for the
  round-off of the analytic backward itself (sums over the batch).
* ``directional``: a central difference along one direction, compared with the analytic
  directional derivative: as ``central``.
* ``autograd``: two analytic computations in the same dtype differ only by round-off in a
  different summation order: ``1e-12 + 1e-10 |ref|`` in float64.

float32 networks are checked against a float64 evaluation of the same float32 weights (so
the finite difference itself is not the limit); what is left is the float32 round-off of the
analytic backward, ``~ 1e-7`` relative per operation, accumulated: ``1e-5 + 1e-4 |ref|``.
complex128 networks are checked like float64.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "METHODS",
    "PARAMETERS",
    "REFERENCE_NAMES",
    "TOLERANCES",
    "GradientCheck",
    "GradientRecord",
    "Tolerance",
    "compare",
    "format_value",
    "tolerance_for",
]

METHODS = ("central", "forward", "complex_step", "directional", "autograd")
"""Every way a gradient can be checked."""

PARAMETERS = ("weights", "biases", "inputs")
"""What each layer's rows are about: its two parameters and the gradient w.r.t. its input."""

REFERENCE_NAMES: dict[str, str] = {
    "central": "numerical",
    "forward": "numerical",
    "complex_step": "complex-step",
    "directional": "numerical",
    "autograd": "autograd",
    "reference": "reference",
}
"""What the value an analytic gradient is compared with is called in messages, per method."""


@dataclass(frozen=True)
class Tolerance:
    """Entry passes when ``|analytic - reference| <= atol + rtol * |reference|``."""

    atol: float
    rtol: float
    reference_name: str = "numerical"

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, numbers.Real) and math.isfinite(value) and float(value) >= 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def allowed(self, reference: ArrayLike) -> NDArray[np.float64]:
        """The allowed absolute error at each entry of ``reference``."""
        return self.atol + self.rtol * np.abs(np.asarray(reference, dtype=np.float64))

    def with_reference_name(self, name: str) -> Tolerance:
        return Tolerance(self.atol, self.rtol, name)

    def __str__(self) -> str:
        return f"{self.atol:g} + {self.rtol:g}*|{self.reference_name}|"


def _tol(atol: float, rtol: float, method: str) -> Tolerance:
    return Tolerance(atol, rtol, REFERENCE_NAMES[method])


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


def format_value(value: float, other: float | None = None) -> str:
    """Format ``value`` with enough significant digits to tell it from ``other``."""
    for digits in (4, 6, 8, 10, 12, 17):
        text = f"{value:.{digits}g}"
        if other is None or text != f"{other:.{digits}g}":
            return text
    return f"{value:.17g}"


@dataclass(frozen=True)
class GradientRecord:
    """One gradient (a layer's ``weights``, ``biases`` or ``inputs``) checked by one method."""

    path: str
    layer: int
    activation: str
    parameter: str
    shape: tuple[int, ...]
    method: str
    dtype: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    reference: float
    tolerance: Tolerance
    mismatched: int
    size: int
    kinks: int
    passed: bool
    note: str = ""
    checked: int | None = None
    """How many of the ``size`` entries were compared: None for all of them; a count for a
    sampled check (:mod:`verify.sampling`), whose verdict covers those entries only."""

    @property
    def sampled(self) -> bool:
        """Whether only some entries were compared (``checked < size``)."""
        return self.checked is not None and self.checked < self.size

    def message(self, *, value_name: str = "analytic") -> str:
        """One line naming the place, the count, the worst index, both values and the tolerance.

        ``value_name`` is what the checked value is called (the grader says ``your value``)."""
        if self.note and self.size == 0:
            return f"{self.path}: {self.note}"
        if self.sampled:
            return self._sampled_message()
        ref = self.tolerance.reference_name
        where = f"at {self.worst_index}" if self.worst_index else ""
        values = (
            f"{value_name} {format_value(self.analytic, self.reference)}, "
            f"{ref} {format_value(self.reference, self.analytic)}"
        )
        kinks = f"; {self.kinks} at a kink" if self.kinks else ""
        note = f"; {self.note}" if self.note else ""
        if self.passed:
            head = (
                f"{self.path}: ok, {self.size} entries, max abs error "
                f"{self.max_abs_error:.3g} {where}"
            )
            return f"{head} ({values}; allowed {self.tolerance}){kinks}{note}"
        return (
            f"{self.path}: {self.mismatched} / {self.size} mismatched; worst {where}: {values} "
            f"(allowed {self.tolerance}){kinks}{note}"
        )

    def _sampled_message(self) -> str:
        ref = self.tolerance.reference_name
        values = (
            f"analytic {format_value(self.analytic, self.reference)}, "
            f"{ref} {format_value(self.reference, self.analytic)}"
        )
        kinks = f"; {self.kinks} at a kink" if self.kinks else ""
        note = f"; {self.note}" if self.note else ""
        checked = self.size if self.checked is None else self.checked
        sample = (f"checked {checked:,} of {self.size:,} entries (a seeded sample; "
                  f"the other {self.size - checked:,} not checked)")
        if self.passed:
            return (
                f"{self.path}: ok, {sample}; max abs error "
                f"{self.max_abs_error:.3g} at {self.worst_index} ({values}; allowed "
                f"{self.tolerance}){kinks}{note}"
            )
        return (
            f"{self.path}: {self.mismatched:,} / {checked:,} checked entries mismatched "
            f"({sample}); worst at {self.worst_index}: {values} (allowed {self.tolerance})"
            f"{kinks}{note}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists, the tolerance a dict)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["worst_index"] = list(self.worst_index)
        d["tolerance"] = {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol}
        for key in ("max_abs_error", "max_rel_error", "analytic", "reference"):
            value = d[key]
            d[key] = value if math.isfinite(value) else str(value)
        return d


def compare(
    analytic: ArrayLike,
    reference: ArrayLike,
    *,
    path: str,
    layer: int,
    activation: str,
    parameter: str,
    method: str,
    tolerance: Tolerance,
    dtype: Any = None,
    kink_mask: ArrayLike | None = None,
    kink_bounds: tuple[ArrayLike, ArrayLike] | None = None,
    note: str = "",
    checked: ArrayLike | None = None,
) -> GradientRecord:
    """Compare an analytic gradient with a reference one, entry by entry, into a record.

    ``checked``: compare only these entries (flat indices into the arrays, distinct), a
    sample; the record's ``checked`` says how many, its worst index is in the full shape.

    Where ``kink_mask`` is True the reference is not a derivative (a finite-difference stencil
    straddles a kink): the entry passes when the analytic value lies between the one-sided
    derivatives ``kink_bounds = (left, right)`` (in either order), up to the tolerance. Its error
    is the distance from that interval.

    Non-finite analytic values and a shape that differs from the reference's are mismatches.
    """
    a = np.asarray(analytic)
    r = np.asarray(reference)
    dt = str(np.dtype(dtype).name) if dtype is not None else a.dtype.name
    if a.shape != r.shape:
        return GradientRecord(
            path=path, layer=layer, activation=activation, parameter=parameter,
            shape=tuple(r.shape), method=method, dtype=dt, max_abs_error=math.inf,
            max_rel_error=math.inf, worst_index=(), analytic=math.nan, reference=math.nan,
            tolerance=tolerance, mismatched=int(r.size), size=int(r.size), kinks=0, passed=False,
            note=f"shape {tuple(a.shape)} does not match the expected {tuple(r.shape)}"
            + (f"; {note}" if note else ""),
        )
    if checked is not None:
        return _compare_sample(a, r, np.asarray(checked, dtype=np.intp), path=path, layer=layer,
                               activation=activation, parameter=parameter, method=method,
                               tolerance=tolerance, dtype=dtype, kink_mask=kink_mask,
                               kink_bounds=kink_bounds, note=note)
    a = np.real(a).astype(np.float64, copy=False)  # read only: no copy of a float64 array
    r = np.real(r).astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - r)
        err[~np.isfinite(err)] = np.inf
        n_kinks = 0
        if kink_mask is not None:
            mask = np.broadcast_to(np.asarray(kink_mask, dtype=bool), r.shape)
            n_kinks = int(mask.sum())
            if n_kinks:
                if kink_bounds is None:
                    raise ValueError("kink_mask needs kink_bounds (the one-sided derivatives)")
                # Only the entries at a kink: a large tensor has few of them.
                left = np.real(np.broadcast_to(kink_bounds[0], r.shape)[mask]).astype(np.float64)
                right = np.real(np.broadcast_to(kink_bounds[1], r.shape)[mask]).astype(np.float64)
                lo, hi = np.minimum(left, right), np.maximum(left, right)
                am = a[mask]
                outside = np.maximum(lo - am, am - hi).clip(min=0.0)
                outside[~np.isfinite(am)] = np.inf
                err[mask] = outside
        allowed = tolerance.allowed(r)
        bad = ~(err <= allowed)
        scale = np.maximum(np.abs(a), np.abs(r))
        rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)
        rel[(scale == 0) & (err > 0)] = np.inf
        # Worst = the entry furthest beyond what it is allowed (most informative in a failure).
        ratio = np.divide(err, allowed, out=np.full_like(err, np.inf), where=allowed > 0)
        ratio[(allowed == 0) & (err == 0)] = 0.0
    if r.size:
        ratio[np.isnan(ratio)] = np.inf
        flat = int(np.argmax(ratio))
        worst = tuple(int(i) for i in np.unravel_index(flat, r.shape))
        max_abs = float(err.max())
        max_rel = float(rel.max())
        a_w, r_w = float(a[worst]), float(r[worst])
    else:
        worst, max_abs, max_rel, a_w, r_w = (), 0.0, 0.0, math.nan, math.nan
    mismatched = int(bad.sum())
    return GradientRecord(
        path=path, layer=layer, activation=activation, parameter=parameter,
        shape=tuple(int(s) for s in r.shape), method=method, dtype=dt, max_abs_error=max_abs,
        max_rel_error=max_rel, worst_index=worst, analytic=a_w, reference=r_w,
        tolerance=tolerance, mismatched=mismatched, size=int(r.size), kinks=n_kinks,
        passed=mismatched == 0, note=note,
    )


def _compare_sample(a: NDArray[Any], r: NDArray[Any], idx: NDArray[np.intp], *,
                    kink_mask: ArrayLike | None,
                    kink_bounds: tuple[ArrayLike, ArrayLike] | None,
                    **kw: Any) -> GradientRecord:
    """:func:`compare` on the entries ``idx`` (flat) only, reported in the full shape."""
    shape = r.shape
    mask = bounds = None
    if kink_mask is not None:
        mask = np.broadcast_to(np.asarray(kink_mask, dtype=bool), shape).reshape(-1)[idx]
        if kink_bounds is not None:
            bounds = (np.broadcast_to(kink_bounds[0], shape).reshape(-1)[idx],
                      np.broadcast_to(kink_bounds[1], shape).reshape(-1)[idx])
    rec = compare(a.reshape(-1)[idx], r.reshape(-1)[idx], kink_mask=mask, kink_bounds=bounds,
                  **kw)
    worst = (tuple(int(i) for i in np.unravel_index(idx[rec.worst_index[0]], shape))
             if rec.worst_index else ())
    return replace(rec, shape=tuple(int(s) for s in shape), size=int(np.prod(shape)),
                   worst_index=worst, checked=int(idx.size))


@dataclass
class GradientCheck:
    """The result of checking a model: one record per layer and parameter, plus context.

    ``root_causes`` holds the records of the layer-local checks (each layer's backward fed the
    true upstream gradient) that failed: the layers whose own backward is wrong, as opposed to
    layers that are only wrong because a later layer sent them a wrong gradient.
    """

    method: str
    rows: list[GradientRecord]
    seed: int | None = None
    root_causes: list[GradientRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[GradientRecord]:
        return [row for row in self.rows if not row.passed]

    def __iter__(self) -> Iterator[GradientRecord]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, path: str) -> GradientRecord:
        for row in self.rows:
            if row.path == path:
                return row
        raise KeyError(f"no row for {path!r}; rows: {[row.path for row in self.rows]}")

    @property
    def sampled(self) -> bool:
        """Whether some row compared only a sample of its entries (see :attr:`entries`)."""
        return any(row.sampled for row in self.rows)

    @property
    def entries(self) -> tuple[int, int]:
        """(entries compared, entries in all rows): equal unless the check was sampled."""
        return (sum(row.size if row.checked is None else row.checked for row in self.rows),
                sum(row.size for row in self.rows))

    def message(self) -> str:
        """Every failing row's message, then the root cause; or a one-line pass summary."""
        if self.passed:
            worst = max(self.rows, key=lambda row: row.max_abs_error, default=None)
            tail = f"; largest abs error {worst.max_abs_error:.3g} in {worst.path}" if worst else ""
            budget = self._budget_note()
            if self.sampled:
                checked, total = self.entries
                seed = f", seed {self.seed}" if self.seed is not None else ""
                return (f"{self.method}: {len(self.rows)} gradients, no mismatch in a seeded "
                        f"sample: checked {checked:,} of {total:,} entries{seed}; "
                        f"{total - checked:,} entries not checked{tail}{budget}")
            return f"{self.method}: all {len(self.rows)} gradients match{tail}{budget}"
        lines = [f"{self.method}: {len(self.failures)} / {len(self.rows)} gradients mismatched"]
        if self.sampled:
            checked, total = self.entries
            lines[0] += f" (a seeded sample was checked: {checked:,} of {total:,} entries)"
        lines[0] += self._budget_note()
        lines += [f"  {row.message()}" for row in self.failures]
        if self.root_causes:
            lines.append("root cause (layer-local check, true upstream gradient):")
            lines += [f"  {row.message()}" for row in self.root_causes]
        elif self.info.get("diagnosis"):
            lines.append(f"note: {self.info['diagnosis']}")
        return "\n".join(lines)

    def _budget_note(self) -> str:
        """What a time budget chose (``info["budget"]``, see :func:`verify.check_gradients`)."""
        budget = self.info.get("budget")
        if not budget:
            return ""
        return (f" (budget {budget['budget_s']:g} s: {budget['mode']} check; the full check "
                f"was predicted at {budget['predicted_full_s']:.3g} s)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "passed": self.passed,
            "seed": self.seed,
            "rows": [row.to_dict() for row in self.rows],
            "root_causes": [row.to_dict() for row in self.root_causes],
            "info": dict(self.info),
        }

