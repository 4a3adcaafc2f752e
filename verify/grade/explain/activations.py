"""Hypotheses about dz: the derivative, overflow, stale masks, relu slopes and thresholds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import get_activation

from .findings import _CORRECT, _Hyp
from .fitting import Array

EXP_OVERFLOW = math.log(np.finfo(np.float64).max)
"""``exp(v)`` overflows to ``inf`` above this (709.78...): ``exp(-z)`` for ``z`` below its
negative, ``exp(2 z)`` above half of it."""


Fn = Callable[[Array, Array], Array]
"""g(z, a): a candidate for the activation's derivative."""


def _sig(z: Array) -> Array:
    return np.asarray(get_activation("sigmoid").forward(z), dtype=np.float64)


_DERIVATIVES: dict[str, str] = {
    "sigmoid": "s * (1 - s) with s = sigmoid(z)",
    "tanh": "1 - tanh(z)**2",
    "relu": "1 where z > 0, else 0",
    "linear": "1",
}


# (kind, activation, g(z, a), what the student computed, cause)
_LIBRARY: list[tuple[str, str, Fn, str]] = [
    ("derivative_missing_factor", "sigmoid", lambda z, a: a,
     "sigmoid'(z) as s alone: the factor (1 - s) is missing"),
    ("derivative_missing_factor", "sigmoid", lambda z, a: 1 - a,
     "sigmoid'(z) as (1 - s) alone: the factor s is missing"),
    ("derivative_formula_on_z", "sigmoid", lambda z, a: z * (1 - z),
     "sigmoid'(z) as z * (1 - z): the formula s * (1 - s), which takes the output "
     "s = sigmoid(z), was given z"),
    ("derivative_of_other_activation", "sigmoid", lambda z, a: 1 - a ** 2,
     "sigmoid'(z) as 1 - s**2: tanh's derivative formula"),
    ("derivative_missing_square", "tanh", lambda z, a: 1 - a,
     "tanh'(z) as 1 - tanh(z): the square is missing (1 - tanh(z)**2)"),
    ("derivative_missing_square", "tanh", lambda z, a: 1 / np.cosh(np.clip(z, -700, 700)),
     "tanh'(z) as sech(z): the square is missing (sech(z)**2)"),
    ("derivative_formula_on_z", "tanh", lambda z, a: 1 - z ** 2,
     "tanh'(z) as 1 - z**2: the formula 1 - a**2, which takes the output a = tanh(z), was "
     "given z"),
    ("derivative_is_activation", "tanh", lambda z, a: a,
     "tanh'(z) as tanh(z): the activation instead of its derivative"),
    ("derivative_of_other_activation", "tanh", lambda z, a: a * (1 - a),
     "tanh'(z) as a * (1 - a): the sigmoid's derivative formula"),
    ("derivative_wrong_sign", "tanh", lambda z, a: 1 + a ** 2,
     "tanh'(z) as 1 + tanh(z)**2: a plus where the formula has a minus"),
    ("derivative_is_activation", "relu", lambda z, a: a,
     "relu'(z) as relu(z): the activation instead of its derivative"),
    ("derivative_is_activation", "linear", lambda z, a: z,
     "the linear activation's derivative as z instead of 1"),
    ("derivative_of_other_activation", "linear", lambda z, a: (z > 0).astype(np.float64),
     "the linear activation's derivative as relu's (1 where z > 0, else 0) instead of 1"),
    ("derivative_of_other_activation", "sigmoid", lambda z, a: (z > 0).astype(np.float64),
     "sigmoid'(z) as relu's derivative (1 where z > 0, else 0): s * (1 - s) with "
     "s = sigmoid(z) is meant"),
    ("derivative_other_function", "linear", lambda z, a: np.sign(z),
     "the linear activation's derivative as sign(z) instead of 1"),
    ("derivative_other_function", "relu", lambda z, a: np.clip(z, 0.0, 1.0),
     "relu'(z) as clip(z, 0, 1) instead of the step (1 where z > 0, else 0)"),
]


def _library(activation: str) -> list[tuple[str, Fn, str]]:
    out: list[tuple[str, Fn, str]] = [(k, g, w) for k, act, g, w in _LIBRARY if act == activation]
    if activation != "linear":
        out.append(("derivative_wrong_sign", _negated(activation),
                    f"{activation}'(z) with the wrong sign: -({_DERIVATIVES[activation]})"))
    out.append(("derivative_zero", lambda z, a: np.zeros_like(z),
                "the activation's derivative as 0 everywhere: nothing flows back"))
    return out


def _negated(activation: str) -> Fn:
    def g(z: Array, a: Array) -> Array:
        return -_fprime(activation, z)
    return g


def _fprime(activation: str, z: Array) -> Array:
    return np.asarray(get_activation(activation).derivative(z), dtype=np.float64)


def _f(activation: str, z: Array) -> Array:
    return np.asarray(get_activation(activation).forward(z), dtype=np.float64)


DzRule = Callable[[int, str, Array, Array, Array], "Array | None"]
"""A class-wide rule for dz: (layer index, activation, d_out, z, a) -> dz, or None where the
rule leaves the layer correct."""


@dataclass(frozen=True)
class _DzHyp:
    hyp: _Hyp
    rule: DzRule


def _correct_dz(j: int, act: str, d_out: Array, z: Array, a: Array) -> Array:
    return d_out * _fprime(act, z)


def _overflow_mask(z: Array, side: str, limit: float) -> NDArray[np.bool_]:
    if side == "negative":
        return z < -limit
    if side == "positive":
        return z > limit
    return np.abs(z) > limit


_OVERFLOW_FORMS = (
    ("negative", EXP_OVERFLOW, "exp(-z) overflows to inf for z < -709.78"),
    ("positive", EXP_OVERFLOW, "exp(z) overflows to inf for z > 709.78"),
    ("both", EXP_OVERFLOW, "exp(z) or exp(-z) overflows to inf for |z| > 709.78"),
    ("positive", EXP_OVERFLOW / 2, "exp(2z) overflows to inf for z > 354.89"),
    ("both", EXP_OVERFLOW / 2, "exp(2z) or exp(-2z) overflows to inf for |z| > 354.89"),
)


_STABLE = {
    "sigmoid": "compute s = 1 / (1 + exp(-z)) (it gives 0, not NaN, where exp(-z) is inf; or "
               "exp(z) / (1 + exp(z)) for z < 0) and use s * (1 - s)",
    "tanh": "use the library's tanh (np.tanh, Math.tanh), which never overflows, and "
            "1 - tanh(z)**2",
}


def _dz_rules(activations: list[str], z_all: list[Array],
              zs_earlier: list[tuple[int, list[Array]]]) -> list[_DzHyp]:
    """Every class-wide dz hypothesis for layers of ``activations`` (factors are added by the
    caller, once fitted)."""
    out: list[_DzHyp] = [_DzHyp(_CORRECT, _correct_dz)]
    acts = list(dict.fromkeys(activations))
    # the catalogue's two (named as in verify.bugs)
    out.append(_DzHyp(_Hyp("missing_activation_derivative",
                           "missing activation derivative: the upstream gradient is not "
                           "multiplied by the activation's derivative at the pre-activation",
                           "dz = d_outputs (no f'(z)) reproduces {what}", priority=1),
                      lambda j, act, d, z, a: d if act != "linear" else None))
    out.append(_DzHyp(_Hyp("activation_derivative_of_output",
                           "wrong activation derivative: evaluated at the layer's output "
                           "a = f(z) instead of at its pre-activation z",
                           "dz = d_outputs * f'(a), with a = f(z), reproduces {what}",
                           priority=1),
                      lambda j, act, d, z, a: d * _fprime(act, a)
                      if act in ("sigmoid", "tanh") else None))
    for act in acts:
        for kind, g, words in _library(act):
            out.append(_DzHyp(
                _Hyp(kind, words + f" (the derivative is {_DERIVATIVES[act]})",
                     "dz = d_outputs * (that function) reproduces {what}", priority=2,
                     scope=f"{act}: {words}"),
                _only(act, _times(g))))
        if act in ("sigmoid", "tanh"):
            for side, limit, why in _OVERFLOW_FORMS:
                if not any(_overflow_mask(z, side, limit).any()
                           for z, a_ in zip(z_all, activations, strict=True) if a_ == act):
                    continue
                out.append(_DzHyp(
                    _Hyp("overflow", f"{act}'(z) written with exp: {why}, and inf / inf is "
                         f"NaN. The stable form: {_STABLE[act]}",
                         "dz with NaN where a pre-activation is in that range (and right "
                         "everywhere else) reproduces {what}", priority=1,
                         scope=f"{act}: {why}"),
                    _only(act, _overflowing(act, side, limit))))
    for r, zs in zs_earlier:  # an earlier round's z in every layer
        out.append(_DzHyp(
            _Hyp("stale_mask", f"stale cached pre-activation: backward used round {r}'s z "
                 "(the activation's derivative, the relu mask) with this round's values",
                 f"dz = d_outputs * f'(z of round {r}) reproduces {{what}}", priority=2),
            _stale_z(zs)))
    return out


def _only(activation: str, fn: Callable[[Array, Array, Array], Array]) -> DzRule:
    """A rule for layers of ``activation`` only (others stay correct)."""
    def rule(j: int, act: str, d: Array, z: Array, a: Array) -> Array | None:
        return fn(d, z, a) if act == activation else None
    return rule


def _times(g: Fn) -> Callable[[Array, Array, Array], Array]:
    def dz(d: Array, z: Array, a: Array) -> Array:
        return d * g(z, a)
    return dz


def _overflowing(activation: str, side: str, limit: float
                 ) -> Callable[[Array, Array, Array], Array]:
    def dz(d: Array, z: Array, a: Array) -> Array:
        return np.where(_overflow_mask(z, side, limit), np.nan, d * _fprime(activation, z))
    return dz


def _stale_z(zs: list[Array]) -> DzRule:
    def rule(j: int, act: str, d: Array, z: Array, a: Array) -> Array | None:
        return d * _fprime(act, zs[j]) if zs[j].shape == z.shape else None
    return rule


def _relu_rules(zs: list[Array], fit: tuple[Array, Array, Array, Array] | None,
                hide: bool) -> list[_DzHyp]:
    """relu' as alpha where z > 0 and beta where z < 0 (fitted on ``fit`` = (x, d_out, z, the
    student's d_weights) of a relu layer whose upstream gradient is right), and as 1 above a
    threshold t other than 0 (t between the pre-activations ``zs`` of the relu layers)."""
    out: list[_DzHyp] = []
    if fit is not None:
        x, d_out, z, target = fit
        pos = (z > 0).astype(np.float64)
        neg = 1.0 - pos
        cols = np.stack([(x.T @ (d_out * pos)).ravel(), (x.T @ (d_out * neg)).ravel()], axis=1)
        if target.shape == (x.shape[1], z.shape[1]) and np.isfinite(target).all() \
                and np.linalg.matrix_rank(cols) == 2:
            (alpha, beta), *_ = np.linalg.lstsq(cols, target.ravel(), rcond=None)
            alpha, beta = float(alpha), float(beta)
            missing = abs(alpha - 1) < 1e-6 and abs(beta - 1) < 1e-6  # the catalogue's
            if abs(beta) > 1e-6 and not missing:
                desc = (f"relu'(z) as {alpha:.4g} where z > 0 and {beta:.4g} where z < 0 "
                        f"(a leaky slope, or a reversed comparison)") if not hide else \
                    "relu'(z) with a slope where z < 0 (leaky), or a reversed comparison"
                if (round(alpha, 6), round(beta, 6)) == (0.0, 1.0):
                    desc = "relu'(z) as 1 where z < 0 and 0 where z > 0: the comparison is " \
                           "reversed"
                out.append(_DzHyp(_Hyp("relu_slope", desc, "dz = d_outputs * (that "
                                       "derivative) reproduces {what}", priority=2, fitted=2,
                                       scope="relu",
                                       value=(round(alpha, 6), round(beta, 6))),
                                  _only("relu", _slopes(alpha, beta))))
            elif abs(beta) <= 1e-6 and abs(alpha + 1) < 1e-6:
                out.append(_DzHyp(_Hyp("derivative_wrong_sign", "relu'(z) with the wrong sign: "
                                       "-1 where z > 0", "dz = -d_outputs where z > 0 "
                                       "reproduces {what}", priority=2, fitted=2,
                                       scope="relu"),
                                  _only("relu", _slopes(-1.0, 0.0))))
    values = np.unique(np.concatenate([z.ravel() for z in zs])) if zs else np.empty(0)
    values = values[np.isfinite(values)]
    cuts = [((lo + hi) / 2, f"between {lo:.4g} and {hi:.4g}", (float(lo), float(hi)))
            for lo, hi in zip(values[:-1], values[1:], strict=True) if not lo < 0 < hi]
    if values.size and values[-1] > 0:
        cuts.append((values[-1] + 1.0, f"above {values[-1]:.4g} (every z here)",
                     (float(values[-1]), math.inf)))
    for t, between, interval in cuts:
        if abs(t) < 1e-12:
            continue
        out.append(_DzHyp(_Hyp("relu_threshold", "relu'(z) switches at a threshold "
                               f"{between if not hide else 'other than 0'} instead of at 0",
                               "dz = d_outputs * (z > t) with that threshold reproduces {what}",
                               priority=3, fitted=1, value=interval, scope="relu"),
                          _only("relu", _above(t))))
    return out


def _slopes(alpha: float, beta: float) -> Callable[[Array, Array, Array], Array]:
    def dz(d: Array, z: Array, a: Array) -> Array:
        return d * np.where(z > 0, alpha, beta)
    return dz


def _above(t: float) -> Callable[[Array, Array, Array], Array]:
    def dz(d: Array, z: Array, a: Array) -> Array:
        return d * (z > t).astype(np.float64)
    return dz


def _overflowing_forward(activation: str, side: str, limit: float
                         ) -> Callable[[int, str, Array, Array], tuple[Array, Array]]:
    def fwd(j: int, act: str, xin: Array, z: Array) -> tuple[Array, Array]:
        if act != activation:
            return z, _f(act, z)
        return z, np.where(_overflow_mask(z, side, limit), np.nan, _f(act, z))
    return fwd


def _scaled_dz(c: float, only: int | None) -> DzRule:
    """dz times ``c`` in every layer (``only`` None) or in layer ``only`` alone."""
    def rule(j: int, act: str, d: Array, z: Array, a: Array) -> Array | None:
        if only is not None and j != only:
            return None
        return c * d * _fprime(act, z)
    return rule
