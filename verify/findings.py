"""What a model's backward run shows beyond the gradients' values, each fact from a recording.

:func:`verify.protocol.run_model` records every layer's ``backward`` call. From that record:

* :func:`missing_notes`: why a gradient is missing (``backward`` returned None; raised; was
  never reached because the walk stopped);
* :func:`observations`: facts that are not mismatches: a layer that changed its argument in
  place, a stored ``d_inputs`` that differs from what ``backward`` returned;
* :func:`walk_evidence`: whether the network's own ``backward`` called each layer once, last
  layer first, fed the last layer the loss derivative and every other layer what the layer
  after it returned. Only this evidence lets a check name ``network.backward`` as a root cause;
* :func:`overflow`: data or weights so large that the float64 reference overflows (nothing can
  be checked), or that the model's own dtype does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .protocol import (
    GRADIENT_NAMES,
    PARAMETER_NAMES,
    STORED_INPUT_GRADIENT_NAMES,
    ModelRun,
    parameter_name,
    stored_input_gradient,
)

__all__ = ["OVERFLOW_AT", "missing_notes", "observations", "overflow", "walk_evidence"]

Array = NDArray[Any]

OVERFLOW_AT = 1e150
"""Magnitudes from which the float64 reference cannot be trusted: a loss squares them (or its
derivative multiplies them), which overflows float64 (1.8e308)."""


def _same(a: Array | None, b: Array | None) -> bool:
    """Whether two recorded arrays hold the same numbers (to a few units of roundoff, so that a
    cast between float32 and float64 on the way is not a difference)."""
    if a is None or b is None or np.shape(a) != np.shape(b):
        return False
    a64 = np.asarray(a, dtype=np.complex128)
    b64 = np.asarray(b, dtype=np.complex128)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all((a64 == b64) | (np.abs(a64 - b64) <= 4e-7 * np.abs(b64))))


def _max_diff(a: Array, b: Array) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(np.asarray(a, dtype=np.complex128) - np.asarray(b, dtype=np.complex128))
    return float(np.nanmax(d)) if d.size else 0.0


def missing_notes(run: ModelRun) -> dict[tuple[int, str], str]:
    """Why each missing gradient of ``run`` is missing, by ``(layer, kind)``."""
    trace = run.trace
    notes: dict[tuple[int, str], str] = {}
    stopped = ""
    if trace.error is not None:
        where = (f"layers[{trace.error_layer}].backward" if trace.error_layer is not None
                 else "the network's backward")
        stopped = f"{where} raised {type(trace.error).__name__}: {trace.error}"
        if trace.error_layer is not None:
            above = trace.calls.get(trace.error_layer + 1)
            if above is not None and above.returned_none:
                stopped += (f" (it was handed None: layers[{trace.error_layer + 1}].backward "
                            f"returned None)")
    for (layer, kind), value in run.analytic.items():
        if value is not None:
            continue
        call = trace.calls.get(layer)
        if kind == "inputs" and call is not None and call.returned_none:
            stored = stored_input_gradient(run.layers[layer])
            tail = " (it stored d_inputs, but returned nothing)" if stored is not None else ""
            notes[(layer, kind)] = (
                f"layers[{layer}].backward returned None: it must return the gradient with "
                f"respect to its input, the value the network passes on{tail}")
        elif call is None and trace.error is not None:
            notes[(layer, kind)] = f"not computed: the backward walk stopped: {stopped}"
        elif call is None:
            notes[(layer, kind)] = f"layers[{layer}].backward was never called"
        elif kind == "inputs":
            notes[(layer, kind)] = f"layers[{layer}].backward returned nothing array-like"
        else:
            names = ", ".join(GRADIENT_NAMES[kind])
            notes[(layer, kind)] = (f"layers[{layer}].d_{kind} was not set by backward() (none of "
                                    f"{names})")
        if trace.error is not None and call is not None and trace.error_layer == layer:
            notes[(layer, kind)] = f"not computed: {stopped}"
    return notes


def _unchecked_arrays(layer: Any, batch: int) -> list[str]:
    """Arrays (or dicts of arrays) ``layer`` holds whose first axis is not the batch: likely
    parameters under names the protocol does not know (a cache of the forward has the batch
    first). Named with their shapes."""
    known = {*PARAMETER_NAMES["weights"], *PARAMETER_NAMES["biases"],
             *GRADIENT_NAMES["weights"], *GRADIENT_NAMES["biases"], *STORED_INPUT_GRADIENT_NAMES}
    found = []
    for name, value in sorted(vars(layer).items()) if hasattr(layer, "__dict__") else ():
        if name in known or name.startswith("__"):
            continue
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype.kind in "fc":
            if value.shape[0] != batch:
                found.append(f"{name} {tuple(value.shape)}")
        elif isinstance(value, dict) and any(isinstance(v, np.ndarray) for v in value.values()):
            found.append(f"{name} (a dict of arrays)")
    return found


def observations(run: ModelRun) -> list[str]:
    """Facts from the recording that are not gradient mismatches, one sentence each."""
    out = []
    batch = int(np.shape(run.prediction)[0]) if np.ndim(run.prediction) else -1
    for i, layer in enumerate(run.layers):
        if parameter_name(layer, "weights") or parameter_name(layer, "biases"):
            continue
        arrays = _unchecked_arrays(layer, batch)
        if arrays:
            out.append(
                f"layers[{i}] has no parameters under the names checked (weights/W, "
                f"biases/b) but holds {', '.join(arrays[:6])}: only its input gradient was "
                f"checked; if these are parameters, name them (and their gradients dW/db) as "
                f"verify/protocol.py says to have them checked")
    calls = run.trace.calls
    for i in sorted(calls):
        call = calls[i]
        if call.changed > 0:
            above = f"the gradient layers[{i + 1}].backward returned" if i + 1 in calls else \
                "the loss derivative"
            out.append(
                f"layers[{i}].backward changed its argument in place (by up to {call.changed:.3g}):"
                f" it was given {above}, so any other holder of that array (such as "
                f"layers[{i + 1}].d_inputs) changed with it; compute into a new array "
                f"(d = d * mask, not d *= mask)")
    for i in sorted(calls):
        call = calls[i]
        stored = stored_input_gradient(run.layers[i])
        if call.returned is None or stored is None or _same(stored, call.returned):
            continue
        why = ""
        below = calls.get(i - 1)
        if below is not None and below.changed > 0 and _same(below.received, call.returned):
            why = f" (layers[{i - 1}].backward changed it in place afterwards)"
        out.append(
            f"layers[{i}].d_inputs differs from what layers[{i}].backward returned (by up to "
            f"{_max_diff(stored, call.returned):.3g}){why}; the returned value is the one "
            f"checked: it is what the network passes on")
    return out


def walk_evidence(run: ModelRun) -> list[str]:
    """What the network's own backward demonstrably did wrong in its walk (empty when it called
    every layer once, last first, and chained the returned values; and for the checker's own
    walk)."""
    trace = run.trace
    n = len(run.layers)
    if trace.walk != "model":
        return []
    out = []
    expected = list(reversed(range(n)))
    if trace.error is None and trace.order != expected:
        out.append(f"network.backward called the layers' backward in the order {trace.order} "
                   f"(expected {expected}: each layer once, the last first)")
    last = trace.calls.get(n - 1)
    if last is not None and trace.seed is not None and not _same(last.received, trace.seed):
        out.append(f"network.backward fed layers[{n - 1}] something other than the loss "
                   f"derivative it was given")
    for i in range(n - 1, 0, -1):
        above, below = trace.calls.get(i), trace.calls.get(i - 1)
        if above is None or below is None or above.returned is None:
            continue
        if above.position < below.position and not _same(below.received, above.returned):
            got = ("the loss derivative" if _same(below.received, trace.seed)
                   else "something else")
            out.append(f"network.backward fed layers[{i - 1}] {got}, not the gradient "
                       f"layers[{i}].backward returned (layers not chained)")
    return out


def overflow(values: dict[str, Array], loss_value: float,
             model_values: dict[str, Array | None], dtype: Any) -> tuple[str, bool]:
    """Why nothing can be checked, or the model's own arithmetic overflowed: ``(text, fatal)``.

    ``values``: the float64 reference's arrays by name (``"layers[0] pre-activation"``, ...);
    ``loss_value``: its loss; ``model_values``: the model's own prediction and gradients by
    name; ``dtype``: the model's. ``fatal`` when the float64 reference itself overflows (or
    comes within :data:`OVERFLOW_AT` of it): then no method can check anything. ``("",
    False)`` when there is nothing to say.
    """
    worst_name, worst = "", 0.0
    for name, arr in values.items():
        a = np.abs(np.asarray(arr, dtype=np.complex128))
        m = float(np.max(a)) if a.size else 0.0
        if not np.all(np.isfinite(a)):
            m = float("inf")
        if m > worst:
            worst_name, worst = name, m
    if worst >= OVERFLOW_AT or not np.isfinite(loss_value):
        size = "inf" if not np.isfinite(worst) else f"{worst:.3g}"
        return (f"overflow: the float64 reference reaches |{worst_name}| = {size}"
                f"{'' if np.isfinite(loss_value) else ' and a loss of inf'}; float64 overflows "
                f"at 1.8e308 and the loss squares such values, so no gradient can be checked "
                f"here: rescale the data (or the weights)", True)
    bad = [name for name, arr in model_values.items()
           if arr is not None and not np.all(np.isfinite(np.asarray(arr)))]
    if bad:
        real = np.real(np.zeros((), dtype=np.dtype(dtype))).dtype
        return (f"overflow in the model's own {real.name} arithmetic: {', '.join(bad)} hold "
                f"inf or NaN where the float64 reference is finite (largest |value| "
                f"{worst:.3g}; {real.name} overflows at {float(np.finfo(real).max):.3g})", False)
    return "", False
