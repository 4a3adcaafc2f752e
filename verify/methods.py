"""The checking methods, one small object each, looked up by name in :data:`CHECK_METHODS`.

As with :data:`reference_mlp.activations.ACTIVATIONS`, :func:`verify.check_gradients` looks the
method up by name and calls its ``run``, which turns a :class:`CheckContext` (the model, its
analytic gradients, the float64 reference and the options) into one
:class:`~verify.compare.GradientRecord` per layer and kind, in row order, plus what the method
adds to ``GradientCheck.info``. :mod:`verify.compare` owns the records, the tolerances and the
messages; a method only chooses its reference values, its tolerance row and its notes.

* ``central``, ``forward``, ``complex_step`` (:class:`FiniteDifferenceMethod`): every entry
  (or a seeded sample of them, :mod:`verify.sampling`), by
  :func:`verify.finite_diff.numerical_gradient`; kinks are accepted within their intervals;
* ``directional`` (:class:`DirectionalMethod`): one seeded Gaussian direction per row,
  :func:`verify.directional.directional_derivatives` (a screen, not a proof);
* ``autograd`` (:class:`AutogradMethod`): a PyTorch twin with the same weights
  (:func:`verify.autograd.autograd_gradients`; torch is imported only then).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP
from reference_mlp.activations import Activation

from .compare import GradientRecord, Tolerance, compare, tolerance_for
from .directional import directional_derivatives, refine_directional
from .finite_diff import (
    DEFAULT_STEPS,
    FiniteDifference,
    Refined,
    numerical_gradient,
    refine_entries,
)
from .generic import refine_failing
from .reference import KINDS, ReferenceNet
from .rounding import gamma, rounding_bounds, unit_roundoff
from .structured import DEFAULT_MAX_MEMORY

__all__ = [
    "CHECK_METHODS",
    "NotApplicable",
    "AutogradMethod",
    "CheckContext",
    "CheckMethod",
    "DirectionalMethod",
    "FiniteDifferenceMethod",
    "MethodResult",
]

Array = NDArray[Any]

_NOTE_COMPLEX_KINK = (
    "complex step through {act}: the branch follows Re(z), so it differentiates the same "
    "piece the analytic derivative uses (valid at and near kinks)"
)
_NOTE_COMPLEX_INVALID = (
    "{act} is not analytic: the complex step may not be its derivative; prefer central"
)


class NotApplicable(ValueError):
    """A checking method that does not apply to this model, loss or function (autograd on a
    model not built from reference layers, the complex step through code that does not compute
    in complex): the message says why and what applies instead."""


@dataclass(frozen=True)
class CheckContext:
    """What every method checks, validated by :func:`verify.check_gradients`.

    ``analytic``: the model's own gradients by ``(layer, kind)`` (None where ``backward`` did
    not set one); ``dtype``: the model's real dtype (float32 or float64); ``tolerance``: the
    caller's override of the :data:`verify.compare.TOLERANCES` row, or None; ``step``: the
    relative step; ``seed``: the directional seed; ``twin_dtype``: the torch twin's dtype;
    ``chunk_size`` and ``max_memory`` (bytes) bound the finite differences' temporaries.
    ``allowances``: per ``(layer, kind)``, how far a correct analytic gradient may be from the
    exact one by rounding alone (:mod:`verify.rounding`), added to scale-aware tolerances;
    ``missing``: per ``(layer, kind)``, why the gradient is missing (``backward`` returned
    None, ...), for the row's note.
    ``sample``: per ``(layer, kind)``, the flat indices a sampled check compares (None: all;
    :mod:`verify.sampling`); None when every entry is checked.
    """

    model: MLP
    net: ReferenceNet
    analytic: dict[tuple[int, str], Array | None]
    kinds: tuple[str, ...] = KINDS
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))
    tolerance: Tolerance | None = None
    step: float | None = None
    seed: int | None = None
    twin_dtype: Any = None
    chunk_size: int | None = None
    max_memory: int = DEFAULT_MAX_MEMORY
    allowances: dict[tuple[int, str], Array] | None = None
    missing: dict[tuple[int, str], str] = field(default_factory=dict)

    def allowance(self, layer: int, kind: str, tolerance: Tolerance) -> Array | None:
        """The rounding allowance of ``(layer, kind)`` under a scale-aware ``tolerance`` (a
        caller's absolute tolerance is taken as given: None)."""
        if not tolerance.relative_atol or self.allowances is None:
            return None
        return self.allowances.get((layer, kind))
    sample: dict[tuple[int, str], Array | None] | None = None

    def indices(self, layer: int, kind: str) -> Array | None:
        """The entries of ``(layer, kind)`` to check: flat indices, or None for all."""
        return None if self.sample is None else self.sample.get((layer, kind))

    def tolerance_for(self, method: str, dtype: Any = None) -> Tolerance:
        """The override, else the table's row for ``dtype`` (default: the model's)."""
        if self.tolerance is not None:
            return self.tolerance
        return tolerance_for(self.dtype if dtype is None else dtype, method)

    def record(self, layer: int, kind: str, reference: Array, *, method: str,
               tolerance: Tolerance, **kw: Any) -> GradientRecord:
        """The row of ``(layer, kind)``: its analytic gradient compared with ``reference``."""
        return self.compare(layer, kind, self.analytic[(layer, kind)], reference,
                            method=method, tolerance=tolerance, **kw)

    def compare(self, layer: int, kind: str, analytic: Array | None, reference: Array, *,
                method: str, tolerance: Tolerance, **kw: Any) -> GradientRecord:
        """:func:`verify.compare.compare` of ``analytic`` with ``reference`` as the row of
        ``(layer, kind)`` (``kw``: its kink arguments); an ``analytic`` of None (a gradient
        ``backward`` did not set) is a failing row saying so."""
        path = f"layers[{layer}].{kind}"
        act = self.model.layers[layer].activation.name
        if analytic is None:
            why = self.missing.get((layer, kind),
                                   f"layers[{layer}].d_{kind} was not set by backward()")
            rec = compare(np.full(np.shape(reference), np.nan), reference, path=path,
                          layer=layer, activation=act, parameter=kind, method=method,
                          tolerance=tolerance, dtype=self.dtype.name, note=why)
            return dataclasses.replace(rec, status="missing")
        return compare(analytic, reference, path=path, layer=layer, activation=act,
                       parameter=kind, method=method, tolerance=tolerance,
                       dtype=self.dtype.name, **kw)


@dataclass
class MethodResult:
    """A method's rows (one per layer and kind, in row order), its additions to
    ``GradientCheck.info`` and the directional seed it used (None for the others)."""

    rows: list[GradientRecord]
    info: dict[str, Any]
    seed: int | None = None


class CheckMethod(Protocol):
    """A checking method: ``name`` (a key of :data:`verify.compare.METHODS`) and ``run``."""

    @property
    def name(self) -> str: ...

    def run(self, ctx: CheckContext) -> MethodResult: ...


def _fresh_seed() -> int:
    """A seed from the OS's entropy (as NumPy draws one), cut to 32 bits."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # a SeedSequence made without entropy draws one int
    return entropy % 2**32


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


@dataclass(frozen=True)
class FiniteDifferenceMethod:
    """``central``, ``forward`` or ``complex_step`` differences of every entry (of the
    sampled ones when ``ctx.sample`` says so)."""

    name: str

    def run(self, ctx: CheckContext) -> MethodResult:
        tol = ctx.tolerance_for(self.name)
        r = DEFAULT_STEPS[self.name] if ctx.step is None else float(ctx.step)
        rows, n_kinks, n_refined = [], 0, 0
        for layer in range(ctx.net.n_layers):
            note = self._activation_note(ctx.model.layers[layer].activation)
            for kind in ctx.kinds:
                fd = numerical_gradient(ctx.net, layer, kind, method=self.name, step=r,
                                        chunk_size=ctx.chunk_size, max_memory=ctx.max_memory,
                                        indices=ctx.indices(layer, kind))
                n_kinks += fd.kinks
                n_refined += fd.refined
                rows.append(self._row(ctx, layer, kind, fd, tol, note))
        return MethodResult(rows, {"step": r, "kinks": n_kinks, "kinks_refined": n_refined})

    def _activation_note(self, act: Activation) -> str:
        if self.name != "complex_step" or act.smooth:
            return ""
        template = (_NOTE_COMPLEX_KINK if act.name in ("relu", "leaky_relu")
                    else _NOTE_COMPLEX_INVALID)
        return template.format(act=act.name)

    def _row(self, ctx: CheckContext, layer: int, kind: str, fd: FiniteDifference,
             tol: Tolerance, note: str) -> GradientRecord:
        kw: dict[str, Any] = {}
        if fd.kink_mask.any():
            kw = {"kink_mask": fd.kink_mask, "kink_bounds": (fd.left, fd.right)}
        kink_note = ""
        if fd.kinks:
            kink_note = f"{fd.kinks} stencil(s) straddled a kink: {fd.refined} cleared"
            kink_note += " by a smaller step"
            if fd.at_kink:
                kink_note += (f", {fd.at_kink} on the kink itself (checked against the "
                              f"complex step, which follows relu'(0) = 0)")
        indices = ctx.indices(layer, kind)
        if indices is not None:  # a sampled check: compared as given, on its sample
            kw["checked"] = indices
            rec = ctx.record(layer, kind, fd.estimate, method=self.name, tolerance=tol, **kw)
            return dataclasses.replace(rec, kinks=fd.kinks, note=_join(rec.note, note, kink_note))
        allowance = ctx.allowance(layer, kind, tol)
        estimate, error, refined_note = self._refine(ctx, layer, kind, fd, tol, allowance)
        rec = ctx.record(layer, kind, estimate, method=self.name, tolerance=tol,
                         allowance=allowance, error=error, **kw)
        return dataclasses.replace(rec, kinks=fd.kinks,
                                   note=_join(rec.note, note, kink_note, refined_note))

    def _refine(self, ctx: CheckContext, layer: int, kind: str, fd: FiniteDifference,
                tol: Tolerance, allowance: Array | None) -> tuple[Array, Array | None, str]:
        """Refine the entries that fail (not at a kink) before they are called wrong: better
        estimates and their estimated errors (:func:`verify.finite_diff.refine_entries`).
        Only under a scale-aware tolerance; a caller's tolerance is taken as given."""
        a = ctx.analytic[(layer, kind)]
        est = fd.estimate
        if not tol.relative_atol or a is None or np.shape(a) != est.shape \
                or self.name == "complex_step":
            return est, None, ""

        def refine_at(idx: Array) -> Refined:
            return refine_entries(ctx.net, layer, kind, idx, chunk_size=ctx.chunk_size,
                                  max_memory=ctx.max_memory)

        return refine_failing(a, est, tol, allowance, refine_at, kink_mask=fd.kink_mask)


@dataclass(frozen=True)
class DirectionalMethod:
    """One seeded Gaussian direction ``v`` per row: the analytic ``g . v`` against a central
    difference of the loss along ``v``. The seed is drawn (and recorded) when none is given."""

    name: str = "directional"

    def run(self, ctx: CheckContext) -> MethodResult:
        tol = ctx.tolerance_for(self.name)
        r = DEFAULT_STEPS[self.name] if ctx.step is None else float(ctx.step)
        seed = _fresh_seed() if ctx.seed is None else ctx.seed
        rng = np.random.default_rng(seed)
        net, rows, n_kinks = ctx.net, [], 0
        note = f"directional derivative along a Gaussian direction (seed {seed})"
        for layer in range(net.n_layers):
            # Directions are drawn for every kind, so a seed means the same directions whatever
            # ``kinds`` selects.
            vs = {kind: rng.standard_normal(net.parameter(layer, kind).shape) for kind in KINDS}
            vs = {kind: vs[kind] for kind in ctx.kinds}
            dds = directional_derivatives(net, layer, vs, step=r)
            for kind in ctx.kinds:
                theta = net.parameter(layer, kind)
                a = ctx.analytic[(layer, kind)]
                if a is None or a.shape != theta.shape:
                    rows.append(ctx.record(layer, kind, np.zeros(theta.shape), method=self.name,
                                           tolerance=tol))
                    continue
                dd = dds[kind]
                n_kinks += dd.kinks
                kw: dict[str, Any] = {}
                if dd.kink:
                    kw = {"kink_mask": np.ones(1, dtype=bool),
                          "kink_bounds": (np.array([dd.left]), np.array([dd.right]))}
                terms = np.real(a).astype(np.float64) * vs[kind]
                allowance, error, scale = None, None, None
                if tol.relative_atol:
                    # The projection g . v is summed in float64 (its rounding: gamma(n) times
                    # the sum of |terms|); the gradient's own rounding projects on v (the
                    # allowances are LAMBDA standard deviations of independent errors); the
                    # difference quotient's error is estimated from half the step. The row's
                    # scale is the larger of |reference| and the root-sum-square of the terms
                    # (the typical size of g . v over random directions).
                    bound = ctx.allowance(layer, kind, tol)
                    allowance = gamma(terms.size, unit_roundoff(np.float64)) * float(
                        np.abs(terms).sum())
                    if bound is not None:
                        allowance += float(np.sqrt(np.sum((bound * vs[kind]) ** 2)))
                    error = np.array([dd.error])
                    scale = max(abs(dd.derivative), float(np.sqrt(np.sum(terms**2))))
                rec = ctx.compare(layer, kind, np.array([np.sum(terms)]),
                                  np.array([dd.derivative]), method=self.name,
                                  tolerance=tol, allowance=allowance, error=error, scale=scale,
                                  **kw)
                refined = ""
                if tol.relative_atol and not dd.kink and rec.verdict != "match" \
                        and np.isfinite(rec.analytic):
                    # Refine before calling it wrong (or inconclusive), as central does.
                    better, err, how = refine_directional(net, layer, kind, vs[kind])
                    rec = ctx.compare(layer, kind, np.array([np.sum(terms)]), np.array([better]),
                                      method=self.name, tolerance=tol, allowance=allowance,
                                      error=np.array([err]),
                                      scale=max(abs(better), float(np.sqrt(np.sum(terms**2)))))
                    refined = f"refined by {how}"
                rows.append(dataclasses.replace(rec, kinks=dd.kinks,
                                                note=_join(rec.note, note, refined)))
        return MethodResult(rows, {"step": r, "kinks": n_kinks, "seed": seed}, seed=seed)


@dataclass(frozen=True)
class AutogradMethod:
    """A PyTorch twin of the reference (``ctx.twin_dtype``, float64 by default) differentiated
    by ``backward()``; the tolerance is the float32 row when the model or the twin is float32."""

    name: str = "autograd"

    def run(self, ctx: CheckContext) -> MethodResult:
        from .autograd import autograd_gradients, torch_dtype

        tdt = torch_dtype(ctx.twin_dtype)
        twin = str(tdt).replace("torch.", "")
        worst_dtype = "float32" if "float32" in (ctx.dtype.name, twin) else "float64"
        tol = ctx.tolerance_for(self.name, worst_dtype)
        grads = autograd_gradients(ctx.net, dtype=tdt)
        # The twin rounds too, in its own dtype, and computes sigmoid' and tanh' from their
        # outputs (absolute error ~u however small the derivative: saturated units).
        twin_bounds = rounding_bounds(ctx.net, np.dtype(twin), cancelling=True)
        rows = []
        for layer in range(ctx.net.n_layers):
            for kind in ctx.kinds:
                allowance = ctx.allowance(layer, kind, tol)
                if allowance is not None:
                    allowance = allowance + twin_bounds[(layer, kind)]
                rows.append(ctx.record(layer, kind, grads[(layer, kind)], method=self.name,
                                       tolerance=tol, allowance=allowance))
        return MethodResult(rows, {"step": None, "kinks": 0, "twin_dtype": twin})


CHECK_METHODS: dict[str, CheckMethod] = {
    method.name: method
    for method in (
        FiniteDifferenceMethod("central"),
        FiniteDifferenceMethod("forward"),
        FiniteDifferenceMethod("complex_step"),
        DirectionalMethod(),
        AutogradMethod(),
    )
}
"""Every checking method by name, in the order of :data:`verify.compare.METHODS`."""
