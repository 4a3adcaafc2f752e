"""Records, tolerances and messages: the one place every check, report and grade reads from.

Compute first, assert second: every comparison returns a :class:`GradientRecord`; reports,
``assert_gradients_close`` and the grader all read the same records.

Tolerances
----------
One table, :data:`TOLERANCES`, per dtype and method. An entry passes when
``|analytic - reference| <= atol * S + rtol * |reference| + allowance`` (as in
``torch.testing``, with the absolute part scaled): ``S`` is the row's largest ``|reference|``,
so the comparison follows the size of the gradients (gradients of 1e-9 are compared at the
1e-16 level, not passed by an absolute 1e-7), and ``allowance`` is, per entry, what the numbers
themselves cannot resolve: the rounding error of the analytic gradient in its dtype and of the
reference's own float64 evaluation (:mod:`verify.rounding`, from the magnitude of what was
summed), plus, where a difference quotient was refined, :data:`ERROR_FACTOR` times the refined
value's estimated error. A tolerance the caller gives as an ``(atol, rtol)`` pair is absolute
and taken as given: nothing is added to it, and no row is called inconclusive.

Why these numbers (``eps`` is the dtype's machine epsilon, ``h`` the step):

* ``central``: truncation error ``~ h**2 |f'''| / 6`` and round-off ``~ eps |f| / h``; the step
  ``h ~ eps**(1/3)`` (scaled to the parameter) balances them at ``~ eps**(2/3)`` relative:
  about ``4e-11`` in float64. We allow ``1e-7 S + 1e-6 |ref|``: three orders of margin for
  curvature and loss scale, yet a 1% error in any entry above 1.0001e-5 S still fails (a
  0.01% error above about 1.01e-3 S), before allowances. An entry that fails is first refined
  (:func:`verify.finite_diff.refine_entries`: the complex step where the network allows it,
  else Richardson extrapolation over two smaller steps) and fails only if it still differs.
* ``forward``: error ``~ h |f''| / 2 + eps |f| / h``, balanced at ``h ~ sqrt(eps)``, error
  ``~ sqrt(eps) ~ 1.5e-8``: tolerance ``1e-5 S + 1e-4 |ref|``; refined like central.
* ``complex_step``: no subtraction, so no cancellation: ``h = 1e-200`` gives the derivative to
  round-off, ``~ eps`` relative. Tolerance ``1e-12 S + 1e-9 |ref|``, loose only for the
  round-off of the analytic backward itself (sums over the batch).
* ``directional``: a central difference along one direction against the analytic ``g . v``;
  the row has one entry, so ``S = |ref|`` and the tolerance is ``1.1e-6 |ref|``, plus the
  difference's own error, estimated from the same difference at half the step
  (:mod:`verify.directional`), and the rounding of ``g`` projected on ``v``.
* ``autograd``: two analytic computations in the same dtype differ only by round-off in a
  different summation order: ``1e-12 S + 1e-10 |ref|`` in float64.

float32 networks are checked against a float64 evaluation of the same float32 weights (so
the finite difference itself is not the limit); what is left is the float32 round-off of the
analytic backward, which the allowance bounds per entry from the magnitude of what was summed,
on top of ``1e-5 S + 1e-4 |ref|``. complex128 networks are checked like float64.

Verdicts
--------
A row is a ``"match"`` when every entry passes and the check could tell right from wrong: its
largest allowance is below :data:`INCONCLUSIVE_FRACTION` of ``S``. It is ``"inconclusive"``
(never a match) when its entries agree only within an allowance that large: the gradients are
too small next to what the method and the dtype resolve. ``"mismatch"``: an entry differs by
more than its allowance and its estimated error. ``"missing"``: ``backward`` did not produce
the gradient.

The tolerances themselves (:class:`Tolerance`, :data:`TOLERANCES`, :func:`tolerance_for`,
:func:`row_scale`, the methods and their references) are in :mod:`verify.tolerance`, and
re-exported here. What stays (~600 lines, over the project's ~500) is one piece on purpose: the
comparison and the two records it fills, :class:`GradientRecord` and :class:`GradientCheck`,
whose fields and verdicts are defined by what :func:`compare` measures.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .tolerance import (
    ERROR_FACTOR,
    INCONCLUSIVE_FRACTION,
    METHODS,
    REFERENCE_NAMES,
    TOLERANCES,
    Tolerance,
    row_scale,
    tolerance_for,
)

__all__ = [
    "ERROR_FACTOR",
    "INCONCLUSIVE_FRACTION",
    "METHODS",
    "PARAMETERS",
    "REFERENCE_NAMES",
    "TOLERANCES",
    "GradientCheck",
    "GradientRecord",
    "Tolerance",
    "STATUSES",
    "compare",
    "exceeds",
    "format_value",
    "row_scale",
    "tolerance_for",
]


PARAMETERS = ("weights", "biases", "inputs")
"""What each layer's rows are about: its two parameters and the gradient w.r.t. its input."""


STATUSES = ("match", "mismatch", "inconclusive", "missing")
"""A row's verdict (:attr:`GradientRecord.verdict`); see the module docstring."""


def format_value(value: float, other: float | None = None) -> str:
    """Format ``value`` with enough significant digits to tell it from ``other``."""
    for digits in (4, 6, 8, 10, 12, 17):
        text = f"{value:.{digits}g}"
        if other is None or text != f"{other:.{digits}g}":
            return text
    return f"{value:.17g}"


@dataclass(frozen=True)
class GradientRecord:
    """One gradient (a layer's ``weights``, ``biases`` or ``inputs``) checked by one method.

    ``status`` is the verdict (:data:`STATUSES`; empty in records made elsewhere, where
    :attr:`verdict` derives it from ``passed``); ``allowance`` the allowance added to the
    tolerance at the worst entry (rounding, and the refined value's error); ``unresolved`` how
    many entries agree only within their estimated error; ``resolution`` the largest allowed
    error of the row as a fraction of its largest ``|reference|`` (scale-aware tolerances).
    """

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
    status: str = ""
    allowance: float = 0.0
    unresolved: int = 0
    resolution: float = 0.0
    checked: int | None = None
    """How many of the ``size`` entries were compared: None for all of them; a count for a
    sampled check (:mod:`verify.sampling`), whose verdict covers those entries only."""

    @property
    def verdict(self) -> str:
        """``"match"``, ``"mismatch"``, ``"inconclusive"`` or ``"missing"``."""
        return self.status or ("match" if self.passed else "mismatch")

    @property
    def sampled(self) -> bool:
        """Whether only some entries were compared (``checked < size``)."""
        return self.checked is not None and self.checked < self.size

    def message(self, *, errors: bool = False, value_name: str = "analytic") -> str:
        """One line naming the place, the count, the worst index, both values and the tolerance.

        ``errors``: a failing row also gives the worst entry's absolute and relative error.
        ``value_name`` is what the checked value is called (the grader says ``your value``).
        """
        if self.note and self.size == 0:
            return f"{self.path}: {self.note}"
        if self.sampled:
            return self._sampled_message()
        if self.verdict == "missing" or (self.verdict == "inconclusive"
                                         and not math.isfinite(self.reference)):
            return f"{self.path}: {self.verdict} ({self.size} entries): {self.note}"
        if not self.worst_index and self.size and self.note and math.isnan(self.analytic) \
                and math.isnan(self.reference):  # nothing compared entry by entry (a shape)
            return f"{self.path}: {self.mismatched} / {self.size} mismatched: {self.note}"
        ref = self.tolerance.reference_name
        where = f"at {self.worst_index}" if self.worst_index else ""
        values = (
            f"{value_name} {format_value(self.analytic, self.reference)}, "
            f"{ref} {format_value(self.reference, self.analytic)}"
        )
        kinks = f"; {self.kinks} at a kink" if self.kinks else ""
        note = f"; {self.note}" if self.note else ""
        allowed = f"allowed {self.tolerance}"
        if self.allowance > 0:
            allowed += f" + {self.allowance:.2g}"
        if self.passed:
            head = (
                f"{self.path}: ok, {self.size} entries, max abs error "
                f"{self.max_abs_error:.3g} {where}"
            )
            return f"{head} ({values}; {allowed}){kinks}{note}"
        if errors and math.isfinite(self.analytic) and math.isfinite(self.reference):
            abs_err = abs(self.analytic - self.reference)
            scale = max(abs(self.analytic), abs(self.reference))
            rel = abs_err / scale if scale > 0 else 0.0
            allowed = f"abs error {abs_err:.2g}, rel error {rel:.2g}; {allowed}"
        if self.verdict == "inconclusive":
            return (
                f"{self.path}: inconclusive, {self.size} entries; largest allowance "
                f"{self.resolution:.2g} of the largest |{ref}|; worst {where}: {values} "
                f"({allowed}){kinks}{note}"
            )
        return (
            f"{self.path}: {self.mismatched} / {self.size} mismatched; worst {where}: {values} "
            f"({allowed}){kinks}{note}"
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
        d["tolerance"] = {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol,
                          "relative_atol": self.tolerance.relative_atol}
        d["status"] = self.verdict
        for key in ("max_abs_error", "max_rel_error", "analytic", "reference", "resolution"):
            value = d[key]
            d[key] = value if math.isfinite(value) else str(value)
        return d


def exceeds(
    analytic: ArrayLike, reference: ArrayLike, tolerance: Tolerance, *,
    allowance: ArrayLike | None = None, scale: float | None = None,
) -> NDArray[np.bool_]:
    """Where ``|analytic - reference|`` exceeds ``tolerance`` (plus ``allowance``): a boolean
    array of the reference's shape (non-finite differences exceed)."""
    # No copies of float64 inputs, and the temporaries reused: the arrays can be large.
    a = np.real(np.asarray(analytic)).astype(np.float64, copy=False)
    r = np.real(np.asarray(reference)).astype(np.float64, copy=False)
    allowed = tolerance.allowed(r, scale)
    if allowance is not None:
        extra = np.asarray(allowance, dtype=np.float64)
        if np.broadcast_shapes(allowed.shape, extra.shape) == allowed.shape:
            allowed += extra
        else:
            allowed = allowed + extra
    with np.errstate(invalid="ignore", over="ignore"):
        diff = a - r
        np.abs(diff, out=diff)
        return ~(diff <= allowed)


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
    allowance: ArrayLike | None = None,
    error: ArrayLike | None = None,
    scale: float | None = None,
    checked: ArrayLike | None = None,
) -> GradientRecord:
    """Compare an analytic gradient with a reference one, entry by entry, into a record.

    ``checked``: compare only these entries (flat indices into the arrays, distinct), a
    sample; the record's ``checked`` says how many, its worst index is in the full shape.

    Where ``kink_mask`` is True the reference is not a derivative (a finite-difference stencil
    straddles a kink): the entry passes when the analytic value lies between the one-sided
    derivatives ``kink_bounds = (left, right)`` (in either order), up to the tolerance. Its error
    is the distance from that interval.

    ``allowance`` (per entry, absolute) is added to what the tolerance allows (rounding, see
    :mod:`verify.rounding`); ``error`` (per entry) is the reference's estimated error: an entry
    beyond its tolerance but within :data:`ERROR_FACTOR` times its error is *unresolved*, not a
    mismatch. ``scale``: the row's ``S`` (default: :func:`row_scale` over the entries not at a
    kink). With a scale-aware tolerance (``relative_atol``) a row whose largest allowed error
    is :data:`INCONCLUSIVE_FRACTION` of ``S`` or more is ``"inconclusive"``, not a match.

    Non-finite analytic values and a shape that differs from the reference's are mismatches.
    """
    a = np.asarray(analytic)
    r = np.asarray(reference)
    dt = str(np.dtype(dtype).name) if dtype is not None else a.dtype.name
    if a.shape != r.shape:
        return _shape_mismatch(a, r, path=path, layer=layer, activation=activation,
                               parameter=parameter, method=method, dt=dt, tolerance=tolerance,
                               note=note)
    if checked is not None:
        return _compare_sample(a, r, np.asarray(checked, dtype=np.intp), path=path, layer=layer,
                               activation=activation, parameter=parameter, method=method,
                               tolerance=tolerance, dtype=dtype, kink_mask=kink_mask,
                               kink_bounds=kink_bounds, note=note)
    a = np.real(a).astype(np.float64, copy=False)  # read only: no copy of a float64 array
    r = np.real(r).astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        err, mask, n_kinks = _entry_errors(a, r, kink_mask, kink_bounds)
        S = row_scale(r, mask) if scale is None else float(scale)
        extra, allowed, slack, unresolved, bad = _allowed(r, err, S, tolerance, allowance, error)
        max_rel = _max_relative(a, r, err)
        # Worst = the entry furthest beyond what it is allowed (most informative in a failure).
        ratio = np.divide(err, allowed, out=np.full_like(err, np.inf), where=allowed > 0)
        ratio[(allowed == 0) & (err == 0)] = 0.0
        top = _unresolvable(r, allowed, slack, unresolved, mask)
    resolution = top / S if S > 0 else (0.0 if top == 0 else math.inf)
    worst, max_abs, a_w, r_w, extra_w = _worst(a, r, err, ratio, extra, slack, unresolved)
    mismatched = int(bad.sum())
    if mismatched:
        status = "mismatch"
    elif tolerance.relative_atol and resolution >= INCONCLUSIVE_FRACTION and max_abs > 0:
        status = "inconclusive"
    else:
        status = "match"
    return GradientRecord(
        path=path, layer=layer, activation=activation, parameter=parameter,
        shape=tuple(int(s) for s in r.shape), method=method, dtype=dt, max_abs_error=max_abs,
        max_rel_error=max_rel, worst_index=worst, analytic=a_w, reference=r_w,
        tolerance=tolerance, mismatched=mismatched, size=int(r.size), kinks=n_kinks,
        passed=status == "match", note=note, status=status, allowance=extra_w,
        unresolved=int(unresolved.sum()), resolution=resolution,
    )


def _shape_mismatch(a: NDArray[Any], r: NDArray[Any], *, path: str, layer: int,
                    activation: str, parameter: str, method: str, dt: str,
                    tolerance: Tolerance, note: str) -> GradientRecord:
    """The record of an analytic gradient whose shape is not the reference's."""
    return GradientRecord(
        path=path, layer=layer, activation=activation, parameter=parameter,
        shape=tuple(r.shape), method=method, dtype=dt, max_abs_error=math.inf,
        max_rel_error=math.inf, worst_index=(), analytic=math.nan, reference=math.nan,
        tolerance=tolerance, mismatched=int(r.size), size=int(r.size), kinks=0, passed=False,
        note=f"shape {tuple(a.shape)} does not match the expected {tuple(r.shape)}"
        + (f"; {note}" if note else ""), status="mismatch",
    )


def _entry_errors(a: NDArray[np.float64], r: NDArray[np.float64],
                  kink_mask: ArrayLike | None,
                  kink_bounds: tuple[ArrayLike, ArrayLike] | None
                  ) -> tuple[NDArray[np.float64], NDArray[np.bool_], int]:
    """Each entry's error (inf where not finite; at a kink, the distance from the one-sided
    derivatives' interval), the kink mask and how many entries it has."""
    mask = np.zeros(r.shape, dtype=bool)
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
    return err, mask, n_kinks


def _allowed(r: NDArray[np.float64], err: NDArray[np.float64], S: float, tolerance: Tolerance,
             allowance: ArrayLike | None, error: ArrayLike | None
             ) -> tuple[NDArray[np.float64] | None, NDArray[np.float64],
                        NDArray[np.float64] | None, NDArray[np.bool_], NDArray[np.bool_]]:
    """(the allowance per entry or None, what each entry is allowed, the slack its estimated
    error gives or None, the unresolved entries, the mismatched ones)."""
    # Few arrays of the gradient's size at a time, updated in place: on a large layer
    # (3072 x 1024) each is 25 MB, and this runs once per tensor and method.
    extra = (None if allowance is None
             else np.broadcast_to(np.asarray(allowance, dtype=np.float64), r.shape))
    allowed = tolerance.allowed(r, S)
    if extra is not None:
        allowed += extra
    beyond = ~(err <= allowed)
    unresolved = np.zeros(r.shape, dtype=bool)
    slack = None
    if error is not None:
        slack = ERROR_FACTOR * np.broadcast_to(np.asarray(error, dtype=np.float64), r.shape)
        slack = np.where(np.isfinite(slack), slack, np.inf)
        unresolved = beyond & (err <= allowed + slack)
    bad = beyond & ~unresolved
    return extra, allowed, slack, unresolved, bad


def _max_relative(a: NDArray[np.float64], r: NDArray[np.float64],
                  err: NDArray[np.float64]) -> float:
    """The largest relative error, err / max(|a|, |r|) (inf where that is 0 but err is not)."""
    rel = np.abs(a)
    np.maximum(rel, np.abs(r), out=rel)  # max(|a|, |r|), then err over it
    positive, zero = rel > 0, rel == 0
    np.divide(err, rel, out=rel, where=positive)
    rel[~positive] = 0.0
    rel[zero & (err > 0)] = np.inf
    return float(rel.max()) if r.size else 0.0


def _unresolvable(r: NDArray[np.float64], allowed: NDArray[np.float64],
                  slack: NDArray[np.float64] | None, unresolved: NDArray[np.bool_],
                  mask: NDArray[np.bool_]) -> float:
    """What the row cannot resolve: its largest allowed error (plus the estimated errors of
    the entries that needed them), before it is divided by S."""
    if not r.size:
        return 0.0
    if slack is None and not mask.any():
        return float(allowed.max())
    more = 0.0 if slack is None else np.where(unresolved, slack, 0.0)
    return float(np.where(mask, 0.0, allowed + more).max())


def _worst(a: NDArray[np.float64], r: NDArray[np.float64], err: NDArray[np.float64],
           ratio: NDArray[np.float64], extra: NDArray[np.float64] | None,
           slack: NDArray[np.float64] | None, unresolved: NDArray[np.bool_]
           ) -> tuple[tuple[int, ...], float, float, float, float]:
    """(the worst entry's index, the largest absolute error, the worst entry's analytic and
    reference values, what was allowed beyond the tolerance there)."""
    if not r.size:
        return (), 0.0, math.nan, math.nan, 0.0
    ratio[np.isnan(ratio)] = np.inf
    flat = int(np.argmax(ratio))
    worst = tuple(int(i) for i in np.unravel_index(flat, r.shape))
    max_abs = float(err.max())
    a_w, r_w = float(a[worst]), float(r[worst])
    extra_w = float((0.0 if extra is None else extra[worst])
                    + (slack[worst] if slack is not None and unresolved[worst] else 0.0))
    return worst, max_abs, a_w, r_w, extra_w


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

    ``root_causes`` holds the records of the checks that isolate a cause and failed: the
    layer-local checks (each layer's backward fed the true upstream gradient), the loss
    derivative, and ``network.backward`` when the walk itself was seen to call the layers out of
    order or to hand a layer something other than what the layer after it returned. ``findings``
    are facts the check observed that are not gradient mismatches (a layer that changed its
    argument in place, a stored ``d_inputs`` that differs from what ``backward`` returned).
    """

    method: str
    rows: list[GradientRecord]
    seed: int | None = None
    root_causes: list[GradientRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[GradientRecord]:
        return [row for row in self.rows if not row.passed]

    @property
    def inconclusive(self) -> list[GradientRecord]:
        """The rows that could not tell right from wrong (none of them a match)."""
        return [row for row in self.rows if row.verdict == "inconclusive"]

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

    def message(self, *, errors: bool = False) -> str:
        """Every failing row's message, then the root cause; or a one-line pass summary.
        Findings follow as ``note:`` lines. ``errors``: each failing row also gives its worst
        entry's absolute and relative error."""
        notes = [f"note: {text}" for text in self.findings]
        if self.passed:
            worst = max(self.rows, key=lambda row: row.max_abs_error, default=None)
            tail = f"; largest abs error {worst.max_abs_error:.3g} in {worst.path}" if worst else ""
            budget = self._budget_note()
            if self.sampled:
                checked, total = self.entries
                seed = f", seed {self.seed}" if self.seed is not None else ""
                return "\n".join(
                    [f"{self.method}: {len(self.rows)} gradients, no mismatch in a seeded "
                     f"sample: checked {checked:,} of {total:,} entries{seed}; "
                     f"{total - checked:,} entries not checked{tail}{budget}"] + notes)
            return "\n".join([f"{self.method}: all {len(self.rows)} gradients match{tail}{budget}"]
                             + notes)
        counts = {v: sum(row.verdict == v for row in self.rows)
                  for v in ("mismatch", "missing", "inconclusive")}
        n = len(self.rows)
        if counts["mismatch"] or not (counts["missing"] or counts["inconclusive"]):
            head = f"{self.method}: {counts['mismatch']} / {n} gradients mismatched"
        elif counts["missing"]:
            head = f"{self.method}: {counts['missing']} / {n} gradients missing"
            counts["missing"] = 0
        else:
            head = (f"{self.method}: {counts['inconclusive']} / {n} gradients inconclusive (the "
                    f"check could not tell right from wrong), none mismatched")
            counts["inconclusive"] = 0
        for verdict in ("missing", "inconclusive"):
            if counts[verdict]:
                head += f", {counts[verdict]} {verdict}"
        if self.sampled:
            checked, total = self.entries
            head += f" (a seeded sample was checked: {checked:,} of {total:,} entries)"
        head += self._budget_note()
        lines = [head]
        lines += [f"  {row.message(errors=errors)}" for row in self.failures]
        if self.root_causes:
            lines.append("root cause (layer-local check, true upstream gradient):")
            lines += [f"  {row.message(errors=errors)}" for row in self.root_causes]
        elif self.info.get("diagnosis") and any(
                row.note != self.info["diagnosis"] for row in self.failures):
            lines.append(f"note: {self.info['diagnosis']}")
        return "\n".join(lines + notes)

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
            "findings": list(self.findings),
            "info": dict(self.info),
        }
