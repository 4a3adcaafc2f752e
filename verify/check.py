"""``check_gradients`` and ``assert_gradients_close``: every gradient of a model, one record each.

The analytic gradients are what the model's own ``forward``/``backward`` produce, run on a copy
(so the caller's model is left untouched) with every layer's calls recorded
(:func:`verify.protocol.run_model`): the gradient checked for ``layers[i].inputs`` is the value
``layers[i].backward`` *returned*, the one the network passes on. The reference values come from
the checking method of :data:`verify.methods.CHECK_METHODS` for a model built from reference
layers (:func:`verify.protocol.uses_reference`: the float64 reference network,
:mod:`verify.reference`, :mod:`verify.finite_diff`, :mod:`verify.directional`, or a torch twin,
:mod:`verify.autograd`), and from finite differences of the model's own forward for any other
model that follows :mod:`verify.protocol` (:mod:`verify.user_model`). Rows, in layer order:
``layers[i].weights``, ``layers[i].biases``, ``layers[i].inputs`` (the gradient with respect
to the layer's input), for the parameters each layer has.

When a row fails, the loss derivative and each layer's backward are checked on their own
(:func:`local_root_causes`), and the recorded walk is examined (:mod:`verify.findings`): a root
cause is named only when a check of it fails; otherwise the check says what is known.

The checks on their own, and what is said when none fails, are in :mod:`verify.root_causes`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP, Loss
from reference_mlp.validation import as_matrix

from .compare import (
    METHODS,
    REFERENCE_NAMES,
    GradientCheck,
    GradientRecord,
    Tolerance,
    tolerance_for,
)
from .findings import missing_notes, observations, overflow
from .finite_diff import DEFAULT_STEPS, STENCILS, numerical_gradient
from .losses import LossSpec, check_loss, prepare_targets, resolve_loss
from .methods import CHECK_METHODS, CheckContext, NotApplicable
from .protocol import ModelRun, layers_of, run_model, uses_reference
from .reference import KINDS, ReferenceNet, model_dtype, reference_net
from .root_causes import _no_cause, local_root_causes
from .rounding import rounding_bounds
from .sampling import fresh_seed, plan_budget, sample_plan, validate_entries
from .structured import DEFAULT_MAX_MEMORY
from .threads import single_threaded_blas

__all__ = ["analytic_gradients", "assert_gradients_close", "check_gradients", "local_root_causes"]


Array = NDArray[Any]


def _validate(
    method: Any, tolerance: Any, step: Any, chunk_size: Any, max_memory: Any, dtype: Any,
    seed: Any = None,
) -> Tolerance | None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    tol: Tolerance | None
    if tolerance is None or isinstance(tolerance, Tolerance):
        tol = tolerance
    elif isinstance(tolerance, tuple) and len(tolerance) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in tolerance
    ):
        tol = Tolerance(float(tolerance[0]), float(tolerance[1]), REFERENCE_NAMES[method])
    else:
        raise TypeError(
            f"tolerance must be a Tolerance or an (atol, rtol) tuple of numbers, got {tolerance!r}"
        )
    if step is not None:
        if method == "autograd":
            raise ValueError("step does not apply to method 'autograd' (no finite difference)")
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or not (
            math.isfinite(step) and float(step) > 0
        ):
            raise ValueError(f"step must be a finite number > 0 (a relative step), got {step!r}")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
    ):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    for name, value in (("chunk_size", chunk_size), ("max_memory", max_memory)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0
        ):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    if dtype is not None and method != "autograd":
        raise ValueError(
            f"dtype selects the torch twin's dtype and only applies to method 'autograd', "
            f"not {method!r}"
        )
    return tol


def _validate_kinds(kinds: Any) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        chosen = tuple(kinds)
    except TypeError:
        raise TypeError(f"kinds must be a sequence of {KINDS}, got {kinds!r}") from None
    bad = [k for k in chosen if k not in KINDS]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(
            f"kinds must be a non-empty selection of {', '.join(map(repr, KINDS))} without "
            f"repeats, got {kinds!r}"
        )
    return tuple(k for k in KINDS if k in chosen)  # rows stay in the usual order


def analytic_gradients(
    model: Any, x: Array, y: Array, loss: LossSpec
) -> tuple[dict[tuple[int, str], Array | None], Array]:
    """Run the model's own forward and backward on a copy.

    -> ({(layer, kind): gradient or None if backward did not produce it}, prediction); the
    ``inputs`` gradient is what ``backward`` returned (see :func:`verify.protocol.run_model`).
    """
    loss_obj = resolve_loss(loss)
    y_arr = np.asarray(y)
    run = run_model(model, np.asarray(x), lambda pred: loss_obj.derivative(y_arr, pred))
    return run.analytic, run.prediction


def check_gradients(
    model: Any,
    x: Any,
    y: Any,
    *,
    method: str = "central",
    loss: LossSpec = "exact",
    tolerance: Tolerance | tuple[float, float] | None = None,
    step: float | None = None,
    seed: int | None = None,
    dtype: Any = None,
    localize: bool = True,
    chunk_size: int | None = None,
    max_memory: int | None = None,
    kinds: Sequence[str] = KINDS,
    entries: int | float | None = None,
    budget_s: float | None = None,
) -> GradientCheck:
    """Check every gradient of ``model`` on ``(x, y)``; one record per layer and parameter.

    ``model``: a :class:`reference_mlp.MLP`, or any model that follows
    :mod:`verify.protocol` (a sequence of layers with ``forward(x)`` and ``backward(d_out) ->
    d_in``, parameters ``weights``/``W`` and ``biases``/``b``). x: (batch, n_in), real
    (integer or boolean x, such as XOR's 0/1 table, is taken as float64); y: the
    targets, (batch, n_out) (for ``"cross_entropy"`` one-hot rows or integer labels (batch,)).
    ``method``: ``"central"`` (default), ``"forward"``, ``"complex_step"``, ``"directional"``
    (a screen along one seeded Gaussian direction per row; not a proof) or ``"autograd"`` (a
    torch twin; reference layers only). ``loss``: a name (``"exact"``, ``"lesson"``,
    ``"cross_entropy"``), a :class:`reference_mlp.Loss` or a pair of callables ``(value,
    derivative)`` called as ``f(y_true, y_pred)``: the model's backward is fed the derivative,
    and checked against the value (:mod:`verify.losses`).
    ``tolerance``: overrides the :data:`verify.compare.TOLERANCES` row (an ``(atol, rtol)``
    pair is absolute and taken as given). ``step``: the relative step r (each entry's step is
    ``r * max(1, |theta|)``). ``seed`` (a non-negative integer): the directional method's
    directions (drawn and recorded when None). ``dtype``: the torch twin's dtype (autograd
    only; float64 by default). ``localize``: when something fails, check the loss derivative
    and each layer's backward alone, fed the true upstream gradient, and list what is wrong in
    ``root_causes``. ``chunk_size`` (perturbations per chunk) and ``max_memory`` (bytes of
    temporaries) bound the memory of the structured finite differences. ``kinds``: which
    gradients get rows, any of ``"weights"``, ``"biases"``, ``"inputs"`` (all by default).
    ``entries``: check only a seeded random sample per tensor, ``k`` entries (an int >= 1) or a
    fraction in (0, 1] (biases always in full; every row and column represented where k
    allows; ``seed`` chooses it, drawn and recorded when None); the records, messages and
    ``info["entries"]`` say how many of how many entries were checked
    (:mod:`verify.sampling`). ``budget_s`` (seconds > 0): the checker predicts the full
    check's time and runs it when it fits, else a sample, and says which in
    ``info["budget"]``. Both apply to ``central``, ``forward`` and ``complex_step`` only.

    Raises ``TypeError`` for a model that does not follow the protocol, ``ValueError`` for bad
    data or options (each message names what was wrong and what was expected).
    """
    t0 = time.perf_counter()
    layers = layers_of(model)
    tol_override = _validate(method, tolerance, step, chunk_size, max_memory, dtype, seed)
    kinds = _validate_kinds(kinds)
    loss_obj = resolve_loss(loss)
    entries, budget_s = _validate_sampling(method, entries, budget_s)
    reference = uses_reference(model)
    if not reference and method == "autograd":
        raise NotApplicable(
            "method 'autograd' needs a model built from reference layers (a reference_mlp.MLP "
            "of DenseLayers with the reference's forward): the torch twin mirrors those; for "
            "your own model use central, forward, complex_step or directional"
        )
    n_in = getattr(layers[0], "n_inputs", None) if reference else None
    xs = as_matrix(x, "x", columns=n_in)
    if xs.dtype.kind in "biu":  # XOR-style 0/1 data: difference steps need real inputs
        xs = xs.astype(np.float64)
    # The matrix products here are small: a multi-threaded BLAS spends more time synchronising
    # (and, on a busy machine, waiting for cores) than multiplying.
    with single_threaded_blas():
        if reference:
            check = _check_reference(model, xs, y, method, loss_obj, tol_override, step, seed,
                                     dtype, localize, chunk_size, max_memory, kinds,
                                     entries=entries, budget_s=budget_s, started=t0)
        else:
            check = _check_own(model, xs, y, method, loss_obj, tol_override, step, seed,
                               localize, kinds, sampled=entries is not None or budget_s is not None)
    check.info["seconds"] = time.perf_counter() - t0
    return check


def _check_own(model: Any, xs: Array, y: Any, method: str, loss_obj: Loss,
               tol_override: Tolerance | None, step: float | None, seed: int | None,
               localize: bool, kinds: tuple[str, ...], *, sampled: bool) -> GradientCheck:
    """A model of the user's own (not reference layers), checked in full by
    :func:`verify.user_model.check_user_model` (``sampled``: a sample was asked for, which
    applies to reference layers only)."""
    if sampled:
        raise NotApplicable("entries and budget_s (sampled checks) apply to models built "
                            "from reference layers; your own model is checked in full")
    from .user_model import check_user_model

    return check_user_model(model, xs, y, method=method, loss=loss_obj,
                            tolerance=tol_override, step=step, seed=seed,
                            localize=localize, kinds=kinds)


def _unchecked(method: str, shapes: list[tuple[int, str, str, tuple[int, ...]]], why: str,
               tolerance: Tolerance, dtype: str) -> list[GradientRecord]:
    """Rows that could not be checked at all: inconclusive, saying why."""
    return [
        GradientRecord(
            path=f"layers[{layer}].{kind}", layer=layer, activation=act, parameter=kind,
            shape=shape, method=method, dtype=dtype, max_abs_error=math.nan,
            max_rel_error=math.nan, worst_index=(), analytic=math.nan, reference=math.nan,
            tolerance=tolerance, mismatched=0, size=int(np.prod(shape)), kinks=0, passed=False,
            note=why, status="inconclusive", resolution=math.inf,
        )
        for layer, kind, act, shape in shapes
    ]


def _check_reference(
    model: MLP, xs: Array, y: Any, method: str, loss_obj: Loss,
    tol_override: Tolerance | None, step: float | None, seed: int | None, dtype: Any,
    localize: bool, chunk_size: int | None, max_memory: int | None,
    kinds: tuple[str, ...] = KINDS, *, entries: int | float | None = None,
    budget_s: float | None = None, started: float | None = None,
) -> GradientCheck:
    """A model built from reference layers, checked against the float64 reference network:
    the method of :data:`verify.methods.CHECK_METHODS` on validated arguments, then root
    causes when something failed."""
    batch, n_out = xs.shape[0], model.sizes[-1]
    prepare_targets(check_loss(loss_obj, batch, n_out), y, batch, n_out)  # raises on bad y
    y_arr = np.asarray(y)
    mdt = model_dtype(model)
    net = reference_net(model, xs, y_arr, loss_obj)
    if method == "complex_step" and not net.loss_function.complex_ok:
        raise NotApplicable(
            f"complex_step needs a complex-analytic loss ('exact', 'lesson', 'cross_entropy' or "
            f"one whose value the checker recognises); loss {loss_obj.name!r} is a value "
            f"function: use central, forward or directional"
        )
    run = run_model(model, xs, lambda pred: loss_obj.derivative(y_arr, pred))
    info: dict[str, Any] = {
        "method": method,
        "dtype": mdt.name,
        "loss": loss_obj.name,
        "n_parameters": int(model.n_parameters),
        "batch": int(batch),
        "sizes": list(model.sizes),
        "reference_dtype": "float64",
        "reference": "the float64 reference network",
        "kinds": list(kinds),
    }
    why, fatal = _overflow(net, run, mdt)
    if fatal:
        return _all_unchecked(model, net, method, kinds, why, tol_override, mdt, info)
    scale_aware = tol_override is None or tol_override.relative_atol
    allowances = _reference_allowances(net, mdt) if scale_aware else None
    ctx = CheckContext(
        model=model, net=net, analytic=run.analytic, kinds=kinds, dtype=mdt,
        tolerance=tol_override, step=step, seed=None if seed is None else int(seed),
        twin_dtype=dtype, chunk_size=chunk_size,
        max_memory=DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory),
        allowances=allowances, missing=missing_notes(run),
    )
    sampling: dict[str, Any] = {}
    if entries is not None or budget_s is not None:
        ctx, sampling = _plan_sample(ctx, method, entries, budget_s,
                                     time.perf_counter() if started is None else started)
    result = CHECK_METHODS[method].run(ctx)
    if sampling.get("seed") is not None:
        result.seed = sampling["seed"]
    info.update(result.info)
    info.update(sampling)
    check = GradientCheck(method=method, rows=result.rows, seed=result.seed, info=info,
                          findings=observations(run))
    if entries is not None or budget_s is not None:
        checked, total = check.entries
        info["entries"] = {"checked": checked, "total": total, "sampled": checked < total}
    if why:  # the model's own dtype overflowed: say so, blame nothing else
        check.findings.append(why)
    if localize and not check.passed:
        if why:
            check.info["diagnosis"] = why
        else:
            check.root_causes = local_root_causes(model, net, y_arr, loss_obj, run.prediction,
                                                  result.rows, run.analytic, run=run,
                                                  scale_aware=scale_aware)
            if not check.root_causes:
                check.info["diagnosis"] = _no_cause(run, net, allowances, mdt)
    return check


def _overflow(net: ReferenceNet, run: ModelRun, mdt: np.dtype) -> tuple[str, bool]:
    """:func:`verify.findings.overflow` on the reference's and the model's values."""
    values = {f"layers[{i}] pre-activation": z for i, z in enumerate(net.zs)}
    values["prediction"] = net.y
    model_values = {"the prediction": run.prediction,
                    **{f"layers[{i}].{k}": g for (i, k), g in run.analytic.items()}}
    with np.errstate(over="ignore", invalid="ignore"):
        loss_value = net.loss()
    return overflow(values, loss_value, model_values, mdt)


def _all_unchecked(model: MLP, net: ReferenceNet, method: str, kinds: tuple[str, ...],
                   why: str, tol_override: Tolerance | None, mdt: np.dtype,
                   info: dict[str, Any]) -> GradientCheck:
    """The check when the values overflow fatally: every row unchecked, saying why."""
    tol = tol_override or tolerance_for(mdt, method)
    shapes = [(i, k, layer.activation.name, (1,) if method == "directional" else
               net.parameter(i, k).shape)
              for i, layer in enumerate(model.layers) for k in kinds]
    info.update({"step": None, "kinks": 0, "diagnosis": why})
    return GradientCheck(method=method, rows=_unchecked(method, shapes, why, tol, mdt.name),
                         info=info)


def _reference_allowances(net: ReferenceNet, mdt: np.dtype) -> dict[tuple[int, str], Array]:
    """Per entry, the rounding bounds of the model (in its dtype) and of the reference."""
    allowances = rounding_bounds(net, mdt)
    if mdt == np.float64:  # the model's rounding and the reference's are the same bound
        for bound in allowances.values():
            bound *= 2
    else:
        for key, bound in rounding_bounds(net, np.float64).items():
            allowances[key] += bound
    return allowances


def _validate_sampling(method: str, entries: Any, budget_s: Any
                       ) -> tuple[int | float | None, float | None]:
    entries = validate_entries(entries)
    if budget_s is not None and (
        isinstance(budget_s, bool) or not isinstance(budget_s, numbers.Real)
        or not (math.isfinite(budget_s) and float(budget_s) > 0)
    ):
        raise ValueError(f"budget_s must be a finite number of seconds > 0, got {budget_s!r}")
    if entries is not None and budget_s is not None:
        raise ValueError("give entries or budget_s, not both: with budget_s the checker "
                         "chooses between the full check and a sample itself")
    if (entries is not None or budget_s is not None) and method not in STENCILS:
        raise ValueError(f"entries and budget_s apply to the per-entry methods "
                         f"{', '.join(STENCILS)}, not {method!r}")
    return entries, None if budget_s is None else float(budget_s)


def _plan_sample(ctx: CheckContext, method: str, entries: int | float | None,
                 budget_s: float | None, started: float) -> tuple[CheckContext, dict[str, Any]]:
    """The sample to check (:mod:`verify.sampling`), and what ``info`` says about it."""
    seed = ctx.seed if ctx.seed is not None else fresh_seed()
    sampling: dict[str, Any] = {"seed": seed}
    if budget_s is not None:
        net = ctx.net
        r = DEFAULT_STEPS[method] if ctx.step is None else float(ctx.step)

        def pilot(layer: int, kind: str, indices: Array) -> None:
            numerical_gradient(net, layer, kind, method=method, step=r,
                               chunk_size=ctx.chunk_size, max_memory=ctx.max_memory,
                               indices=indices)

        plan = plan_budget(net, ctx.kinds, budget_s, pilot, started=started,
                           n_signs=len(STENCILS[method]))
        entries = plan.entries
        if entries is None:  # the budget allows the full check
            return ctx, {"budget": plan.info(budget_s)}
        sampling["budget"] = plan.info(budget_s)
    assert entries is not None
    sample = sample_plan(ctx.net, ctx.kinds, entries, seed)
    sampling["sample"] = {"entries": entries, "seed": seed}
    return dataclasses.replace(ctx, sample=sample), sampling


def assert_gradients_close(model: Any, x: Any, y: Any, **kwargs: Any) -> GradientCheck:
    """:func:`check_gradients`, raising ``AssertionError`` with its message when any row fails
    (the worst entry of each failing row with its absolute and relative error).

    Returns the :class:`GradientCheck` when every gradient matches. Under pytest its own frames
    are hidden from the traceback (``__tracebackhide__``): the failure points at the caller.
    """
    __tracebackhide__ = True
    check = check_gradients(model, x, y, **kwargs)
    if not check.passed:
        raise AssertionError(check.message(errors=True))
    return check
