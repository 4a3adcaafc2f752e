"""Running the report's suite: each case variant checked by every method, into a :class:`Report`.

:func:`run_variant` builds one variant of a case (:mod:`verify.report.suite`) and runs
``verify.check_gradients`` once per method (:func:`check_problem`; a check that raises becomes a
failing row, nothing is lost); :func:`run_fuzz` does the same for hypothesis-generated networks.
The results (:class:`CaseResult`, per-method :class:`MethodSummary`) make up the
:class:`Report` every renderer (:mod:`verify.report.render`) reads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verify.compare import METHODS, GradientCheck, GradientRecord, Tolerance, tolerance_for

from .suite import DTYPES, LOSS_NOTES, Problem, Variant, describe_network, loss_convention_ratio

__all__ = [
    "DEFAULT_METHODS",
    "SAMPLED_METHODS",
    "CaseResult",
    "MethodSummary",
    "Report",
    "check_problem",
    "error_check",
    "fuzz_specs",
    "load_factory",
    "model_problem",
    "run_fuzz",
    "run_model_case",
    "run_variant",
    "summarize",
]

DEFAULT_METHODS = ("central", "complex_step", "directional", "autograd")
"""What the report runs unless ``--methods`` says otherwise (``forward`` is opt-in)."""

SAMPLED_METHODS = ("central", "forward", "complex_step")
"""The methods ``--entries`` applies to: those that check entry by entry."""


@dataclass
class CaseResult:
    """One variant of a case, checked by every method. ``checks`` in method order."""

    label: str
    case: str
    description: str
    network: str
    loss: str
    dtype: str
    checks: list[GradientCheck]
    seconds: dict[str, float] = field(default_factory=dict)
    note: str = ""
    fuzz: bool = False

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def rows(self) -> list[GradientRecord]:
        return [row for check in self.checks for row in check.rows]


@dataclass
class MethodSummary:
    """The worst a method did over a set of rows (one dtype)."""

    method: str
    dtype: str
    rows: int
    failed: int
    kinks: int
    max_abs_error: float
    max_abs_at: str
    max_rel_error: float
    max_rel_at: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("max_abs_error", "max_rel_error"):
            d[key] = d[key] if math.isfinite(d[key]) else str(d[key])
        return d


def summarize(results: Sequence[CaseResult]) -> list[MethodSummary]:
    """Per method and dtype: row and failure counts, the largest errors and where they are."""
    groups: dict[tuple[str, str], list[tuple[CaseResult, GradientCheck, GradientRecord]]] = {}
    seconds: dict[tuple[str, str], float] = {}
    for result in results:
        for check in result.checks:
            key = (check.method, result.dtype)
            groups.setdefault(key, [])
            seconds[key] = seconds.get(key, 0.0) + result.seconds.get(check.method, 0.0)
            groups[key] += [(result, check, row) for row in check.rows]
    out = []
    for (method, dtype), items in groups.items():
        if items:
            abs_r, _, abs_row = max(items, key=lambda t: _sortable(t[2].max_abs_error))
            rel_r, _, rel_row = max(items, key=lambda t: _sortable(t[2].max_rel_error))
            max_abs, abs_at = abs_row.max_abs_error, f"{abs_r.label} {abs_row.path}"
            max_rel, rel_at = rel_row.max_rel_error, f"{rel_r.label} {rel_row.path}"
        else:
            max_abs = max_rel = 0.0
            abs_at = rel_at = ""
        out.append(
            MethodSummary(
                method=method, dtype=dtype, rows=len(items),
                failed=sum(not row.passed for _, _, row in items),
                kinks=sum(row.kinks for _, _, row in items),
                max_abs_error=max_abs, max_abs_at=abs_at, max_rel_error=max_rel,
                max_rel_at=rel_at, seconds=seconds[(method, dtype)],
            )
        )
    order = {m: i for i, m in enumerate(METHODS)}
    out.sort(key=lambda s: (order.get(s.method, len(order)), DTYPES.index(s.dtype)
                            if s.dtype in DTYPES else len(DTYPES)))
    return out


def _sortable(value: float) -> float:
    return math.inf if math.isnan(value) else value


@dataclass
class Report:
    """Everything a renderer needs. ``plots`` maps a case label to its PNG file."""

    results: list[CaseResult]
    methods: tuple[str, ...]
    seed: int
    command: str
    environment: dict[str, Any]
    seconds: float = 0.0
    tolerance: tuple[float | None, float | None] = (None, None)
    fuzz: list[CaseResult] = field(default_factory=list)
    fuzz_requested: int = 0
    plots: dict[str, Path] = field(default_factory=dict)

    @property
    def all_results(self) -> list[CaseResult]:
        return self.results + self.fuzz

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.all_results)

    def failures(self) -> list[tuple[CaseResult, GradientCheck]]:
        return [(r, c) for r in self.all_results for c in r.checks if not c.passed]

    def summary(self) -> list[MethodSummary]:
        return summarize(self.results)

    def fuzz_summary(self) -> list[MethodSummary]:
        return summarize(self.fuzz)


def error_check(method: str, label: str, error: BaseException) -> GradientCheck:
    """A failed check standing for a check that raised: the report shows it, nothing is lost."""
    record = GradientRecord(
        path="(whole check)", layer=-1, activation="", parameter="", shape=(), method=method,
        dtype="",
        max_abs_error=math.nan, max_rel_error=math.nan, worst_index=(), analytic=math.nan,
        reference=math.nan, tolerance=Tolerance(0.0, 0.0), mismatched=0, size=0, kinks=0,
        passed=False, note=f"the {method} check of {label} raised {type(error).__name__}: {error}",
    )
    return GradientCheck(method=method, rows=[record])


def check_problem(
    problem: Problem,
    methods: Sequence[str],
    *,
    label: str,
    seed: int,
    tolerance: tuple[float | None, float | None] = (None, None),
    on_done: Callable[[str], None] | None = None,
    skipped: dict[str, str] | None = None,
    entries: int | float | None = None,
) -> tuple[list[GradientCheck], dict[str, float]]:
    """Run ``verify.check_gradients`` once per method; a check that raises becomes a failed row.

    ``skipped``: when given, a method that does not apply to the problem
    (:class:`verify.methods.NotApplicable`) is left out and recorded there with the reason,
    instead of becoming a failed row. ``entries``: the per-entry methods (central, forward,
    complex_step) check a seeded sample of each gradient (``check_gradients(entries=...)``);
    the others are unaffected."""
    from verify import check_gradients
    from verify.methods import NotApplicable

    checks, seconds = [], {}
    for method in methods:
        tol = _tolerance(tolerance, problem.dtype, method)
        sample = entries if method in SAMPLED_METHODS else None
        start = time.perf_counter()
        try:
            check = check_gradients(
                problem.model, problem.x, problem.y, method=method, loss=problem.loss,
                tolerance=tol, seed=seed, entries=sample,
            )
        except NotApplicable as error:
            if skipped is None:
                check = error_check(method, label, error)
            else:
                skipped[method] = str(error)
                continue
        except Exception as error:  # noqa: BLE001 - reported as a failing row, not swallowed
            check = error_check(method, label, error)
        seconds[method] = time.perf_counter() - start
        checks.append(check)
        if on_done is not None:
            on_done(f"{label} {method}")
    return checks, seconds


def _tolerance(
    override: tuple[float | None, float | None], dtype: str, method: str
) -> Tolerance | None:
    atol, rtol = override
    if atol is None and rtol is None:
        return None
    base = tolerance_for(dtype, method)
    return Tolerance(
        base.atol if atol is None else atol, base.rtol if rtol is None else rtol,
        base.reference_name,
    )


def run_variant(
    variant: Variant,
    methods: Sequence[str],
    *,
    seed: int,
    tolerance: tuple[float | None, float | None] = (None, None),
    on_done: Callable[[str], None] | None = None,
    entries: int | float | None = None,
) -> CaseResult:
    """Build one variant of a case and check it with every method (``entries``: see
    :func:`check_problem`)."""
    problem = variant.build(seed)
    note = ""
    if len(variant.case.losses) > 1:
        ratio = loss_convention_ratio(problem)
        note = (
            f"{LOSS_NOTES[variant.loss]}. Measured here: the lesson's output gradient is "
            f"{ratio:.6g}x the exact one (n_outputs = {problem.y.shape[1]})."
        )
    checks, seconds = check_problem(
        problem, methods, label=variant.label, seed=seed, tolerance=tolerance, on_done=on_done,
        entries=entries,
    )
    return CaseResult(
        label=variant.label, case=variant.case.name, description=variant.case.description,
        network=problem.network, loss=variant.loss, dtype=problem.dtype, checks=checks,
        seconds=seconds, note=note,
    )


def fuzz_specs(n: int, *, seed: int, dtype: str | None = None) -> list[Any]:
    """``n`` distinct :class:`verify.strategies.NetworkSpec` drawn by hypothesis, seeded.

    ``strategy.example()`` cannot be seeded, so the specs are collected by a ``@given`` function
    run under ``@hypothesis.seed(seed)``, generation phase only, no example database: the same
    seed (and hypothesis version) gives the same networks. Hypothesis starts from small,
    simple networks and moves on to larger random ones; duplicates are skipped.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from verify.strategies import network_specs

    dtypes = (dtype,) if dtype else DTYPES
    strategy = network_specs(max_layers=4, max_width=8, max_batch=8, dtypes=dtypes)
    found: dict[Any, None] = {}
    for attempt in range(8):
        if len(found) >= n:
            break

        @hypothesis_seed(seed * 1009 + attempt)
        @settings(max_examples=2 * n, phases=[Phase.generate], database=None, deadline=None,
                  derandomize=False, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(spec: Any) -> None:
            if len(found) < n:
                found.setdefault(spec)

        collect()
    return list(found)[:n]


def run_fuzz(
    n: int,
    methods: Sequence[str],
    *,
    seed: int,
    dtype: str | None = None,
    tolerance: tuple[float | None, float | None] = (None, None),
    on_done: Callable[[str], None] | None = None,
    entries: int | float | None = None,
) -> list[CaseResult]:
    """Check ``n`` hypothesis-generated networks (exact loss) with every method."""
    results = []
    width = len(str(max(n - 1, 0)))
    for i, spec in enumerate(fuzz_specs(n, seed=seed, dtype=dtype)):
        model, x, y = spec.problem()
        dt = np.dtype(spec.dtype).name
        problem = Problem(model, x, y, "exact", dt, describe_network(model, x))
        label = f"fuzz-{i:0{width}d}"
        checks, seconds = check_problem(problem, methods, label=label, seed=seed,
                                        tolerance=tolerance, on_done=on_done, entries=entries)
        results.append(CaseResult(
            label=label, case="fuzz", description=repr(spec), network=problem.network,
            loss="exact", dtype=dt, checks=checks, seconds=seconds, fuzz=True,
        ))
    return results


def load_factory(spec: str) -> tuple[str, Callable[[], Any]]:
    """``MODULE:FACTORY`` (an importable module, or a ``.py`` file) -> (label, factory).

    Raises ``ValueError`` naming what is wrong: no colon, a module that cannot be imported (the
    import error is given), no such attribute, or one that is not callable.
    """
    import importlib
    import importlib.util
    import sys

    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"expected MODULE:FACTORY (e.g. mymodels:make or path/to/net.py:make), "
                         f"got {spec!r}")
    try:
        if where.endswith(".py") or "/" in where:
            path = Path(where)
            spec_obj = importlib.util.spec_from_file_location(path.stem, path)
            if spec_obj is None or spec_obj.loader is None or not path.is_file():
                raise ImportError(f"no Python file {where!r}")
            module = importlib.util.module_from_spec(spec_obj)
            sys.modules.setdefault(path.stem, module)
            spec_obj.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except Exception as error:  # noqa: BLE001 - any import failure is the user's to see
        raise ValueError(f"cannot import {where!r}: {type(error).__name__}: {error}") from None
    factory: Any = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
    if factory is None:
        raise ValueError(f"{where!r} has no attribute {attr!r}")
    if not callable(factory):
        raise ValueError(f"{spec!r} is not callable: FACTORY() must return (model, x, y) or "
                         f"(model, x, y, loss)")
    return attr, factory


def model_problem(factory: Callable[[], Any], label: str) -> Problem:
    """Call ``factory()`` -> ``(model, x, y)`` or ``(model, x, y, loss)`` (a tuple, list or dict
    with those keys) and make it a :class:`Problem`. Raises ``ValueError`` for anything else."""
    try:
        made = factory()
    except Exception as error:  # noqa: BLE001 - the user's factory: say what it raised
        raise ValueError(f"{label}() raised {type(error).__name__}: {error}") from error
    if isinstance(made, dict):
        made = tuple(made[k] for k in ("model", "x", "y", "loss") if k in made)
    if not isinstance(made, (tuple, list)) or len(made) not in (3, 4):
        raise ValueError(f"{label}() must return (model, x, y) or (model, x, y, loss), got "
                         f"{type(made).__name__}")
    model, x, y, *rest = made
    loss = rest[0] if rest else "exact"
    from verify.protocol import PARAMETER_NAMES, layers_of

    arrays = [getattr(layer, name, None) for layer in layers_of(model)
              for names in PARAMETER_NAMES.values() for name in names]
    dtype = "float32" if any(isinstance(a, np.ndarray) and a.dtype == np.float32
                             for a in arrays) else "float64"
    return Problem(model, np.asarray(x), y, loss, dtype, describe_network(model, np.asarray(x)))


def run_model_case(
    spec: str,
    methods: Sequence[str],
    *,
    seed: int,
    explicit: bool,
    tolerance: tuple[float | None, float | None] = (None, None),
    on_done: Callable[[str], None] | None = None,
) -> CaseResult:
    """Report on a user's model: ``spec`` is ``MODULE:FACTORY`` (:func:`load_factory`).

    With the default methods (``explicit`` False) a method that does not apply (autograd on a
    model not built from reference layers, the complex step through code that does not compute
    in complex) is left out, and the case's note says why; named with ``--methods`` it is a
    failed row instead.
    """
    label, factory = load_factory(spec)
    problem = model_problem(factory, label)
    skipped: dict[str, str] = {}
    checks, seconds = check_problem(problem, methods, label=label, seed=seed,
                                    tolerance=tolerance, on_done=on_done,
                                    skipped=None if explicit else skipped)
    loss = problem.loss if isinstance(problem.loss, str) else getattr(problem.loss, "name",
                                                                      "custom")
    note = "; ".join(f"{method} skipped: {why}" for method, why in skipped.items())
    return CaseResult(label=label, case="model", description=spec, network=problem.network,
                      loss=str(loss), dtype=problem.dtype, checks=checks, seconds=seconds,
                      note=note)
