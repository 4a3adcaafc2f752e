"""Explaining the loss: mse_derivative and the mse value."""

from __future__ import annotations

from typing import Any

import numpy as np

from verify.bugs import LOSS_BUG_FORMULAS, LOSS_BUGS, loss_derivative

from ..diagnosis import MSE_VALUE_BUGS, close
from .findings import Finding
from .fitting import Array, _arr, _factor_param, _factor_words, _fit, _fraction


def explain_loss(y_true: Array, y_pred: Array, student: Any, accepted: list[Array],
                 hide: bool = False) -> list[list[Finding]]:
    """mse_derivative: the catalogue's loss bugs, a factor on (y_pred - y_true), the sign of the
    error, the squared error itself. Each one that reproduces the value is an alternative (with
    one output, 2 * (y_pred - y_true) is both the catalogue's 'not divided by the batch size'
    and 2 / n_outputs: the other parts of the submission choose)."""
    s = _arr(student)
    if s is None or s.shape != y_true.shape:
        return []
    out: list[list[Finding]] = []
    batch, n_out = y_true.shape
    for name, bug in LOSS_BUGS.items():
        for convention in ("exact", "lesson"):
            if close(s, loss_derivative(y_true, y_pred, bug=name, convention=convention)):
                # the divisor named by what it counts (one output: both are the batch)
                n = "(batch * n_outputs)" if convention == "exact" and n_out > 1 else "batch"
                formula = LOSS_BUG_FORMULAS[name].format(n=n)
                cause = bug.description if formula in bug.description \
                    else f"{bug.description}: {formula}"
                out.append([Finding(name, "mse_derivative", cause,
                                    f"{formula} reproduces your values in every entry",
                                    "that formula reproduces your values in every entry",
                                    ("value",), priority=1)])
                break
    diff = y_pred - y_true
    sizes = {"batch": batch, "n_outputs": n_out, "n_elements": batch * n_out}
    c = _fit(s, diff)
    fp = _factor_param(c, sizes) if c is not None else None
    if fp is not None and s.size >= 2 and close(s, fp[1] * diff) \
            and not any(close(fp[1] * diff, a) for a in accepted):
        words = _factor_words(fp[0], fp[1], sizes, hide)
        ratio = fp[1] / (2 / batch)
        rel = "" if hide else f" ({_fraction(ratio)} x the lesson's 2 / batch)"
        out.append([Finding(f"loss_factor:{fp[0]}", "mse_derivative",
                            f"mse_derivative = {words} * (y_pred - y_true): the factor should be "
                            f"2 / batch (the lesson's) or 2 / (batch * n_outputs) (the exact "
                            f"gradient of the mean){rel}",
                            f"{words} * (y_pred - y_true) reproduces your values in every entry",
                            "one constant times (y_pred - y_true) reproduces your values",
                            ("value",), priority=3)])
    for kind, base, cause, evidence in (
            ("loss_sign_of_error", np.sign(diff),
             "mse_derivative uses the sign of the error, sign(y_pred - y_true): that is the "
             "derivative of the mean absolute error; the mse's is proportional to the error "
             "itself", "a constant times sign(y_pred - y_true) reproduces your values"),
            ("loss_not_differentiated", diff ** 2,
             "mse_derivative returns (a multiple of) the squared errors, the loss's terms, "
             "instead of their derivative 2 * (y_pred - y_true) / batch (the lesson's; "
             "/ (batch * n_outputs) for the exact gradient of the mean)",
             "a constant times (y_pred - y_true)**2 reproduces your values")):
        c = _fit(s, base)
        if c is not None and abs(c) > 1e-9 and s.size >= 2 and close(s, c * base):
            out.append([Finding(kind, "mse_derivative", cause, evidence, evidence, ("value",),
                                priority=3)])
    return out


def explain_mse_value(y_true: Array, y_pred: Array, student: Any, accepted: list[Array],
                      hide: bool = False) -> list[list[Finding]]:
    """The mse value: the catalogue's wrong values (summed, absolute, root, halved), and a
    constant factor on the mean; each that reproduces the value is an alternative."""
    s = _arr(student)
    if s is None or s.size != 1:
        return []
    got = s.reshape(1, 1)
    out: list[list[Finding]] = []
    for name, (description, wrong) in MSE_VALUE_BUGS.items():
        value = np.asarray(wrong(y_true, y_pred), dtype=np.float64).reshape(1, 1)
        if close(got, value) and not any(close(value, a) for a in accepted):
            out.append([Finding(name, "mse", description, "that formula reproduces your value",
                                "that formula reproduces your value", ("value",), priority=1)])
    mean = float(np.mean((y_pred - y_true) ** 2))
    batch, n_out = y_true.shape
    sizes = {"batch": batch, "n_outputs": n_out, "n_elements": batch * n_out}
    c = float(got[0, 0]) / mean if mean > 0 else None
    fp = _factor_param(c, sizes) if c is not None else None
    if fp is None or fp[0] == "other":
        return out
    value = np.array([[fp[1] * mean]])
    if not close(got, value) or any(close(value, a) for a in accepted):
        return out
    words = _factor_words(fp[0], fp[1], sizes, hide)
    out.append([Finding(f"mse_factor:{fp[0]}", "mse", f"mse multiplied by {words}: it should be "
                        "the mean of (y_pred - y_true)**2 over every element",
                        f"{words} times the mean reproduces your value",
                        "one constant times the mean reproduces your value", ("value",),
                        priority=3)])
    return out
