"""The report's suite: named, documented cases, each a network, data and a loss convention.

Every case is built from one seed (``--seed``, default 42, the walkthrough's) so the whole
report is reproducible. A case may run in several *variants*: ``several-outputs`` runs under both
loss conventions (``exact`` and ``lesson``, which differ when there is more than one output), and
``float32-vs-float64`` runs the same network in both dtypes side by side.

Builders take ``(seed, dtype)`` and return ``(model, x, y)``; :meth:`Case.build` wraps that
into a :class:`Problem` together with the loss convention and a one-line description of the
network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP, DenseLayer, get_loss
from verify.compare import METHODS, GradientCheck, GradientRecord, Tolerance, tolerance_for

__all__ = [
    "CASES",
    "DEFAULT_METHODS",
    "DTYPES",
    "LOSS_NOTES",
    "Case",
    "CaseResult",
    "MethodSummary",
    "Problem",
    "Report",
    "Variant",
    "check_problem",
    "describe_network",
    "fuzz_specs",
    "get_cases",
    "loss_convention_ratio",
    "run_fuzz",
    "run_variant",
    "summarize",
]

Array = NDArray[Any]
Builder = Callable[[int, np.dtype], tuple[MLP, Array, Array]]

DTYPES = ("float64", "float32")
"""The dtypes ``--dtype`` accepts."""

LOSS_NOTES: dict[str, str] = {
    "exact": "loss = mean over all elements of (y_pred - y)^2; "
    "dL/dy_pred = 2 (y_pred - y) / (batch * n_outputs)",
    "lesson": "the lesson's mseDerivative, dL/dy_pred = 2 (y_pred - y) / batch: the exact gradient "
    "of sum((y_pred - y)^2) / batch, i.e. n_outputs times the gradient of the mean",
}
"""What each loss convention means, as the report states it."""


@dataclass(frozen=True)
class Problem:
    """What one check runs on. ``x: (batch, n_in)``, ``y: (batch, n_out)``."""

    model: MLP
    x: Array
    y: Array
    loss: str
    dtype: str
    network: str


@dataclass(frozen=True)
class Variant:
    """One (loss convention, dtype) combination of a case; ``label`` names it in the report."""

    case: Case
    loss: str
    dtype: str
    label: str

    def build(self, seed: int) -> Problem:
        return self.case.build(seed=seed, dtype=self.dtype, loss=self.loss)


@dataclass(frozen=True)
class Case:
    """A named, documented network + data. ``losses`` and ``dtypes`` list its variants."""

    name: str
    description: str
    builder: Builder
    losses: tuple[str, ...] = ("exact",)
    dtypes: tuple[str, ...] = ("float64",)

    def build(self, *, seed: int, dtype: str = "float64", loss: str = "exact") -> Problem:
        model, x, y = self.builder(seed, np.dtype(dtype))
        return Problem(model, x, y, loss, np.dtype(dtype).name, describe_network(model, x))

    def variants(self, dtype: str | None = None) -> list[Variant]:
        """The variants to run; ``dtype`` (``--dtype``) replaces the case's own dtypes."""
        dtypes = (dtype,) if dtype else self.dtypes
        out = []
        for loss in self.losses:
            for dt in dtypes:
                tags = ([f"loss={loss}"] if len(self.losses) > 1 else []) + (
                    [dt] if len(dtypes) > 1 else []
                )
                label = f"{self.name}[{','.join(tags)}]" if tags else self.name
                out.append(Variant(self, loss, dt, label))
        return out


def describe_network(model: MLP, x: Array) -> str:
    """``"3 -> 4 relu -> 1 linear, batch 4"``."""
    parts = [str(model.sizes[0])]
    parts += [f"{layer.n_neurons} {layer.activation.name}" for layer in model.layers]
    return f"{' -> '.join(parts)}, batch {x.shape[0]}"


def _data(
    seed: int, batch: int, n_in: int, n_out: int, dtype: np.dtype, *, scale: float = 1.0
) -> tuple[Array, Array]:
    # A separate stream from the weights' (MLP.build spawns from `seed` itself).
    rng = np.random.default_rng([seed, 1])
    x = rng.uniform(-scale, scale, size=(batch, n_in)).astype(dtype)
    y = rng.uniform(-1.0, 1.0, size=(batch, n_out)).astype(dtype)
    return x, y


def _network(
    sizes: Sequence[int], activations: Sequence[str], batch: int, *, x_scale: float = 1.0
) -> Builder:
    def build(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
        model = MLP.build(sizes, list(activations), seed=seed, dtype=dtype)
        x, y = _data(seed, batch, sizes[0], sizes[-1], dtype, scale=x_scale)
        return model, x, y

    return build


def _lesson(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
    # Exactly reference_mlp/walkthrough.py's network and data (seed 42 by default).
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(4, 3)).astype(dtype)
    y = rng.uniform(1.0, 2.0, size=(4, 1)).astype(dtype)
    model = MLP()
    model.add_layer(DenseLayer(3, 4, "relu", seed=seed, dtype=dtype))
    model.add_layer(DenseLayer(4, 1, "linear", seed=seed + 1, dtype=dtype))
    return model, x, y


def _sigmoid_saturated(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
    model, x, y = _network([4, 6, 6, 1], ["sigmoid", "sigmoid", "linear"], 5)(seed, dtype)
    # Push pre-activations to |z| ~ 6 (up to ~20 for seed 42): sigmoid'(z) ~ 2e-3 .. 1e-9.
    first, second = model.layers[0], model.layers[1]
    first.weights = (first.weights * 10).astype(dtype)
    first.biases = np.full_like(first.biases, 4.0)
    second.weights = (second.weights * 12).astype(dtype)
    second.biases = np.full_like(second.biases, -5.0)
    return model, x, y


def _relu_at_kinks(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
    model, x, y = _network([3, 5, 1], ["relu", "linear"], 4)(seed, dtype)
    # Put example 0's pre-activation of unit 0 1e-9 above relu's kink: every finite-difference
    # stencil through it (W[:, 0], b[0], x[0, :], and any random direction) straddles the kink.
    # One such point only: a stencil across several kinks at once is a checker test, not this.
    layer = model.layers[0]
    z00 = float(x[0].astype(np.float64) @ layer.weights[:, 0].astype(np.float64))
    biases = layer.biases.astype(np.float64)
    biases[0, 0] = -z00 + 1e-9
    layer.biases = biases.astype(dtype)
    return model, x, y


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case(
            "lesson-example",
            "The lesson's own network (reference_mlp/walkthrough.py): 3 inputs, 4 relu hidden "
            "units, 1 linear output, batch 4, targets above the untrained outputs.",
            _lesson,
        ),
        Case(
            "deep-tanh",
            "Six tanh layers then a linear one: gradients pass through many saturating "
            "derivatives, so an error in a late layer shows up in every earlier row.",
            _network([5, 8, 8, 8, 8, 8, 8, 2], ["tanh"] * 6 + ["linear"], 6),
        ),
        Case(
            "sigmoid-saturated",
            "Two sigmoid layers pushed into saturation (|z| ~ 6 typically, up to ~20, where "
            "sigmoid' is ~2e-3 down to ~1e-9): tiny gradients that the checks must still "
            "resolve.",
            _sigmoid_saturated,
        ),
        Case(
            "relu-at-kinks",
            "A relu layer with one pre-activation 1e-9 above the kink: every finite-difference "
            "stencil through it straddles the kink. The checker finds them exactly (the kinks "
            "column) and accepts the analytic value when it lies between the one-sided "
            "derivatives.",
            _relu_at_kinks,
        ),
        Case(
            "mixed-activations",
            "One layer of each activation: relu, tanh, sigmoid, softplus, leaky_relu, linear.",
            _network(
                [4, 7, 6, 6, 5, 5, 3],
                ["relu", "tanh", "sigmoid", "softplus", "leaky_relu", "linear"],
                6,
            ),
        ),
        Case(
            "leaky-relu-softplus",
            "leaky_relu (slope 0.01 below zero, another kink) then softplus then linear.",
            _network([4, 6, 6, 2], ["leaky_relu", "softplus", "linear"], 5),
        ),
        Case(
            "wide-layer",
            "A 512-unit tanh layer between narrow ones (9,730 parameters): the "
            "vectorised finite differences and the error sums over many terms.",
            _network([16, 512, 2], ["tanh", "linear"], 8),
        ),
        Case(
            "batch-1",
            "A single example: the batch sums in the bias and weight gradients have one term.",
            _network([4, 6, 6, 2], ["tanh", "relu", "linear"], 1),
        ),
        Case(
            "width-1",
            "Every layer one unit wide (1 -> 1 -> 1 -> 1): scalars throughout, "
            "no room for a transposed or broadcast gradient to hide.",
            _network([1, 1, 1, 1], ["tanh", "sigmoid", "linear"], 3),
        ),
        Case(
            "several-outputs",
            "Three outputs, run under both loss conventions. With more than one output the "
            "lesson's mseDerivative (divides by the batch size) is not the gradient of the mean "
            "squared error (which divides by batch * outputs): it is 3x larger here. Each "
            "convention is checked against its own loss, so both pass; mixing them would fail.",
            _network([4, 6, 3], ["tanh", "linear"], 5),
            losses=("exact", "lesson"),
        ),
        Case(
            "float32-vs-float64",
            "The same network and data in float64 and float32, side by side: float32 is "
            "checked with its own (looser) tolerances from verify.compare.TOLERANCES.",
            _network([4, 8, 8, 2], ["tanh", "sigmoid", "linear"], 6),
            dtypes=("float64", "float32"),
        ),
    )
}
"""Every case by name, in report order."""


def get_cases(names: Sequence[str] | None = None) -> list[Case]:
    """The cases named (all, in order, when ``names`` is empty); unknown names raise ValueError."""
    if not names:
        return list(CASES.values())
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise ValueError(
            f"unknown case(s) {', '.join(map(repr, unknown))}; expected names from: "
            f"{', '.join(CASES)}"
        )
    return [CASES[name] for name in dict.fromkeys(names)]


def loss_convention_ratio(problem: Problem) -> float:
    """``|lesson gradient| / |exact gradient|`` of the output: ``n_outputs`` (1 when they agree)."""
    pred = problem.model.forward(problem.x)
    lesson = get_loss("lesson").derivative(problem.y, pred)
    exact = get_loss("exact").derivative(problem.y, pred)
    return float(np.linalg.norm(lesson) / np.linalg.norm(exact))


# --------------------------------------------------------------------------------------------
# Running the suite: results the renderers read.

DEFAULT_METHODS = ("central", "complex_step", "directional", "autograd")
"""What the report runs unless ``--methods`` says otherwise (``forward`` is opt-in)."""


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
) -> tuple[list[GradientCheck], dict[str, float]]:
    """Run ``verify.check_gradients`` once per method; a check that raises becomes a failed row."""
    from verify import check_gradients

    checks, seconds = [], {}
    for method in methods:
        tol = _tolerance(tolerance, problem.dtype, method)
        start = time.perf_counter()
        try:
            check = check_gradients(
                problem.model, problem.x, problem.y, method=method, loss=problem.loss,
                tolerance=tol, seed=seed,
            )
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
) -> CaseResult:
    """Build one variant of a case and check it with every method."""
    problem = variant.build(seed)
    note = ""
    if len(variant.case.losses) > 1:
        ratio = loss_convention_ratio(problem)
        note = (
            f"{LOSS_NOTES[variant.loss]}. Measured here: the lesson's output gradient is "
            f"{ratio:.6g}x the exact one (n_outputs = {problem.y.shape[1]})."
        )
    checks, seconds = check_problem(
        problem, methods, label=variant.label, seed=seed, tolerance=tolerance, on_done=on_done
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
                                        tolerance=tolerance, on_done=on_done)
        results.append(CaseResult(
            label=label, case="fuzz", description=repr(spec), network=problem.network,
            loss="exact", dtype=dt, checks=checks, seconds=seconds, fuzz=True,
        ))
    return results
