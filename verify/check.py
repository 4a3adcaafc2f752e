"""``check_gradients`` and ``assert_gradients_close``: every gradient of an MLP, one record each.

The analytic gradients are what the model's own ``forward``/``backward`` produce (run on a copy,
so the caller's model is left untouched); the reference values come from the checking method of
:data:`verify.methods.CHECK_METHODS`: the reference forward math on the same parameters
(:mod:`verify.reference`, :mod:`verify.finite_diff`, :mod:`verify.directional`) or a torch twin
(:mod:`verify.autograd`). Rows, in layer order: ``layers[i].weights``, ``layers[i].biases``,
``layers[i].inputs`` (the gradient with respect to the layer's input). When a row fails,
:func:`local_root_causes` checks the loss derivative and each layer's backward on its own.
"""

from __future__ import annotations

import copy
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
    compare,
    tolerance_for,
)
from .losses import LossSpec, check_loss, prepare_targets, resolve_loss
from .methods import CHECK_METHODS, CheckContext
from .reference import KINDS, LayerGradients, ReferenceNet, model_dtype, reference_net
from .structured import DEFAULT_MAX_MEMORY
from .threads import single_threaded_blas

__all__ = ["analytic_gradients", "assert_gradients_close", "check_gradients", "local_root_causes"]

Array = NDArray[Any]

def _validate(
    model: Any, x: Any, y: Any, method: Any, tolerance: Any, step: Any, chunk_size: Any,
    max_memory: Any, dtype: Any, seed: Any = None, loss: LossSpec = "exact",
) -> tuple[Array, Array, Tolerance | None]:
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a reference_mlp.MLP, got {type(model).__name__}")
    if not model.layers:
        raise ValueError("model has no layers: add at least one DenseLayer")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    xs = as_matrix(x, "x", columns=model.sizes[0])
    closs = check_loss(loss, xs.shape[0], model.sizes[-1])
    prepare_targets(closs, y, xs.shape[0], model.sizes[-1])  # raises on bad targets
    ys = np.asarray(y)
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
    return xs, ys, tol


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
    model: MLP, x: Array, y: Array, loss: Loss
) -> tuple[dict[tuple[int, str], Array | None], Array]:
    """Run the model's own forward and backward on a copy.

    -> ({(layer, kind): gradient or None if backward did not set it}, prediction)
    """
    work = model.copy()
    pred = work.forward(x)
    work.backward(loss.derivative(y, pred))
    out: dict[tuple[int, str], Array | None] = {}
    for i, layer in enumerate(work.layers):
        for kind in KINDS:
            g = getattr(layer, f"d_{kind}", None)
            out[(i, kind)] = None if g is None else np.asarray(g)
    return out, np.asarray(pred)


def check_gradients(
    model: MLP,
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
) -> GradientCheck:
    """Check every gradient of ``model`` on ``(x, y)``; one record per layer and parameter.

    x: (batch, n_in); y: (batch, n_out) targets (for ``"cross_entropy"`` one-hot rows or
    integer labels (batch,)). ``method``: ``"central"`` (default), ``"forward"``,
    ``"complex_step"``, ``"directional"`` (a screen along one seeded Gaussian direction per
    row; not a proof) or ``"autograd"`` (a torch twin). ``loss``: a name (``"exact"``,
    ``"lesson"``, ``"cross_entropy"``), a :class:`reference_mlp.Loss` or a pair of callables
    ``(value, derivative)`` called as ``f(y_true, y_pred)``: the model's backward is fed the
    derivative, and checked against the value (:mod:`verify.losses`).
    ``tolerance``: overrides the :data:`verify.compare.TOLERANCES` row.
    ``step``: the relative step r (each entry's step is ``r * max(1, |theta|)``).
    ``seed`` (a non-negative integer): the directional method's directions (drawn and
    recorded when None).
    ``dtype``: the torch twin's dtype (autograd only; float64 by default). ``localize``: when
    something fails, check each layer's backward alone, fed the true upstream gradient, and
    list the wrong ones in ``root_causes``. ``chunk_size`` (perturbations per chunk) and
    ``max_memory`` (bytes of temporaries) bound the memory of the finite differences.
    ``kinds``: which gradients get rows, any of ``"weights"``, ``"biases"``, ``"inputs"``
    (all by default; ``("weights", "biases")`` checks the parameters only, as gradcheck does).
    """
    t0 = time.perf_counter()
    xs, ys, tol_override = _validate(model, x, y, method, tolerance, step, chunk_size,
                                     max_memory, dtype, seed, loss)
    kinds = _validate_kinds(kinds)
    # The matrix products here are small: a multi-threaded BLAS spends more time synchronising
    # (and, on a busy machine, waiting for cores) than multiplying.
    with single_threaded_blas():
        check = _check(model, xs, ys, method, loss, tol_override, step, seed, dtype, localize,
                       chunk_size, max_memory, kinds)
    check.info["seconds"] = time.perf_counter() - t0
    return check


def _check(
    model: MLP, xs: Array, ys: Array, method: str, loss: LossSpec,
    tol_override: Tolerance | None, step: float | None, seed: int | None, dtype: Any,
    localize: bool, chunk_size: int | None, max_memory: int | None,
    kinds: tuple[str, ...] = KINDS,
) -> GradientCheck:
    """Run the method of :data:`verify.methods.CHECK_METHODS` on validated arguments, then
    look for root causes when something failed."""
    loss_obj = resolve_loss(loss)
    mdt = model_dtype(model)
    analytic, pred = analytic_gradients(model, xs, ys, loss_obj)
    net = reference_net(model, xs, ys, loss_obj)
    if method == "complex_step" and not net.loss_function.complex_ok:
        raise ValueError(
            f"complex_step needs a complex-analytic loss ('exact', 'lesson', 'cross_entropy' or "
            f"one whose value the checker recognises); loss {loss_obj.name!r} is a value "
            f"function: use central, forward or directional"
        )
    ctx = CheckContext(
        model=model, net=net, analytic=analytic, kinds=kinds, dtype=mdt,
        tolerance=tol_override, step=step, seed=None if seed is None else int(seed),
        twin_dtype=dtype, chunk_size=chunk_size,
        max_memory=DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory),
    )
    result = CHECK_METHODS[method].run(ctx)
    info: dict[str, Any] = {
        "method": method,
        "dtype": mdt.name,
        "loss": loss_obj.name,
        "n_parameters": int(model.n_parameters),
        "batch": int(xs.shape[0]),
        "sizes": list(model.sizes),
        "reference_dtype": "float64",
        "kinds": list(kinds),
        **result.info,
    }
    check = GradientCheck(method=method, rows=result.rows, seed=result.seed, info=info)
    if localize and not check.passed:
        check.root_causes = local_root_causes(model, net, ys, loss_obj, pred, result.rows,
                                              analytic)
        if not check.root_causes:
            check.info["diagnosis"] = (
                "no root cause in the model: its gradients equal the reference backprop "
                "(float64); the checking method or the tolerance is what failed"
            )
    return check


def local_root_causes(
    model: MLP, net: ReferenceNet, y: Array, loss: Loss, pred: Array,
    rows: list[GradientRecord] | None = None,
    analytic: dict[tuple[int, str], Array | None] | None = None,
) -> list[GradientRecord]:
    """Check the loss derivative and each layer's backward on its own; return what fails.

    Each layer gets the true input and the true upstream gradient (reference backprop in
    float64), so a layer that is only wrong end to end because a later layer fed it a wrong
    gradient passes here. When the loss and every layer pass alone but the end-to-end check
    failed, the network's chaining of the layers is the root cause.
    """
    mdt = model_dtype(model)
    tol = tolerance_for(mdt, "autograd").with_reference_name("reference")
    per = net.backprop()
    causes: list[GradientRecord] = []
    pred64 = np.real(pred).astype(np.float64)
    true_dy = net.loss_function.gradient(pred64, net.t)
    d_loss = np.asarray(loss.derivative(y, pred))
    rec = compare(d_loss, true_dy, path="loss", layer=-1, activation="", parameter="predictions",
                  method="reference", tolerance=tol, dtype=mdt.name,
                  note=f"derivative of loss {loss.name!r} w.r.t. the predictions")
    if not rec.passed:
        causes.append(rec)
    for i, layer in enumerate(model.layers):
        own = copy.deepcopy(layer)
        try:
            own.forward(net.acts[i].astype(mdt))
            own.backward(per[i].upstream.astype(mdt))
        except Exception as exc:  # noqa: BLE001 - a broken backward is itself the finding
            dW = per[i].weights
            causes.append(dataclasses.replace(
                compare(np.full(dW.shape, np.nan), dW, path=f"layers[{i}].backward", layer=i,
                        activation=layer.activation.name, parameter="weights",
                        method="reference", tolerance=tol, dtype=mdt.name),
                note=f"backward raised {type(exc).__name__}: {exc}"))
            continue
        for kind in KINDS:
            true = getattr(per[i], kind)
            got = getattr(own, f"d_{kind}", None)
            got = np.full(true.shape, np.nan) if got is None else np.asarray(got)
            rec = compare(got, true, path=f"layers[{i}].{kind}", layer=i,
                          activation=layer.activation.name, parameter=kind, method="reference",
                          tolerance=tol, dtype=mdt.name,
                          note="layer-local: own backward fed the true upstream gradient")
            if not rec.passed:
                causes.append(rec)
    failing = [row for row in (rows or []) if not row.passed]
    if not causes and failing and analytic is not None and _matches_reference_backprop(
        analytic, per, tol
    ):
        # The model's end-to-end gradients are the reference backprop's: nothing in the model
        # is wrong, the method or the tolerance is what failed (e.g. an impossible tolerance).
        return causes
    if not causes and failing:
        first = failing[0]
        causes.append(dataclasses.replace(
            first, path="network.backward",
            note="the loss derivative and every layer's own backward are right given the true "
                 "upstream gradient, so the network's backward does not chain them correctly "
                 "(layers not chained, or walked in the wrong order)"))
    return causes


def _matches_reference_backprop(
    analytic: dict[tuple[int, str], Array | None],
    per: list[LayerGradients],
    tol: Tolerance,
) -> bool:
    """Whether every end-to-end analytic gradient equals the float64 reference backprop's."""
    for i, grads in enumerate(per):
        for kind in KINDS:
            true = getattr(grads, kind)
            got = analytic.get((i, kind))
            if got is None or got.shape != true.shape:
                return False
            if not np.all(np.abs(np.real(got) - true) <= tol.allowed(true)):
                return False
    return True


def assert_gradients_close(model: MLP, x: Any, y: Any, **kwargs: Any) -> GradientCheck:
    """:func:`check_gradients`, raising ``AssertionError`` with its message when any row fails.

    Returns the :class:`GradientCheck` when every gradient matches.
    """
    check = check_gradients(model, x, y, **kwargs)
    if not check.passed:
        raise AssertionError(check.message())
    return check
