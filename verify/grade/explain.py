"""Explain wrong numbers from evidence: hypotheses tested on the student's own values.

The catalogue of :mod:`verify.bugs` names a bug when a known mutation of the reference
reproduces the student's numbers. This module goes further: for each wrong gradient it tests
*families* of hypotheses, fitting their free parameter from the student's own values where
there is one, and states a cause only when the hypothesis reproduces the student's numbers to
the grading tolerance (every entry, the gradients that passed included). What it tests:

* **where in the chain**: a layer's backward is ``dz = d_out * f'(z)``, then ``d_weights =
  x.T @ dz``, ``d_biases = sum(dz)``, ``d_inputs = dz @ W.T``. A hypothesis about ``dz`` must
  reproduce all three gradients: an error in ``dz`` is blamed on ``dz``, not on the bias;
* **dz**: a constant factor (named: ``1/batch``, ``2``, ``-1``, ...), the activation derivative
  replaced by another function of ``z`` or ``a = f(z)`` (at the output, a missing square or
  factor, the output's formula applied to ``z``, another activation's formula, the wrong sign,
  a relu slope or threshold fitted from the data), NaN where ``exp`` overflows, an earlier
  round's pre-activation (stale mask);
* **after dz**, per gradient: transposed, a reshape used as a transpose, a constant factor, the
  wrong reduction axis, only some examples, an earlier round's inputs, the weights after an
  update, the right values in the wrong shape;
* **across rounds**: a gradient that equals the sum over the rounds so far (accumulated, never
  reset) or an earlier round's (not recomputed);
* **the forward**: the weights replaced during ``forward``, no bias, no or another activation,
  overflow, an earlier round's output; the backward is then searched again on the state that
  forward produced (a wrong forward explains the gradients that follow from it);
* **networks**: every hypothesis above applied to the student's one ``DenseLayer`` class (so in
  every layer at once, compounding down the chain), plus how ``MLP.backward`` walks the layers
  (not chained, reversed, the upstream gradient scaled) and what it returns.

Each :class:`Finding` says the cause in words, the function at fault, and its evidence (with
values for visible tests, without for hidden ones). What no hypothesis reproduces is described
as what is known (:class:`Known`: which gradients, which layer the error starts at, which
rounds, forward or backward) and never given a cause.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import get_activation
from verify.bugs import LOSS_BUGS, loss_derivative

from .diagnosis import MSE_VALUE_BUGS, RefLayerRound, RefNetRound, close

__all__ = [
    "EXP_OVERFLOW",
    "KINDS",
    "Finding",
    "Known",
    "LayerGot",
    "NetGot",
    "explain_layer",
    "explain_loss",
    "explain_mse_value",
    "explain_net",
    "format_factor",
]

Array = NDArray[np.float64]

EXP_OVERFLOW = math.log(np.finfo(np.float64).max)
"""``exp(v)`` overflows to ``inf`` above this (709.78...): ``exp(-z)`` for ``z`` below its
negative, ``exp(2 z)`` above half of it."""

KINDS: dict[str, str] = {
    # dz (the chain rule's first step): blamed when weight, bias and input gradients agree
    "dz_factor": "dz off by a constant factor (weight, bias and input gradients alike)",
    "upstream_factor": "MLP.backward scales the gradient it is given by a constant factor",
    "derivative_missing_factor": "activation derivative missing a factor (s instead of "
                                 "s * (1 - s), ...)",
    "derivative_missing_square": "activation derivative missing its square (1 - tanh(z) "
                                 "instead of 1 - tanh(z)**2)",
    "derivative_formula_on_z": "the derivative's formula in terms of the output applied to z",
    "derivative_of_other_activation": "another activation's derivative formula",
    "derivative_is_activation": "the activation itself used as its derivative",
    "derivative_wrong_sign": "activation derivative with the wrong sign",
    "derivative_zero": "activation derivative 0 everywhere",
    "relu_slope": "relu derivative with the wrong slope (leaky, reversed)",
    "relu_threshold": "relu derivative switching at the wrong threshold",
    "overflow": "NaN or inf where exp overflows (|z| beyond ~709.78)",
    "stale_mask": "an earlier round's pre-activation (mask) used",
    # after dz, per gradient
    "d_weights_factor": "d_weights off by a constant factor",
    "d_biases_factor": "d_biases off by a constant factor",
    "d_inputs_factor": "the input gradient off by a constant factor",
    "reshape_as_transpose": "a reshape used where a transpose was needed",
    "transposed_d_inputs": "the input gradient transposed",
    "untransposed_weights": "dz @ weights instead of dz @ weights.T",
    "bias_wrong_axis": "bias gradient reduced over the wrong axis",
    "examples_subset": "only some examples used",
    "wrong_shape": "right values in the wrong shape",
    # across rounds
    "accumulated": "gradients accumulated over rounds and never reset",
    "stale_gradient": "a gradient of an earlier round returned again (not recomputed)",
    "state_between_rounds": "state kept between rounds (a fresh object gets it right)",
    # the forward
    "weights_changed_by_forward": "weights or biases changed by forward",
    "forward_no_bias": "forward without the bias",
    "forward_no_activation": "forward without the activation",
    "forward_wrong_activation": "forward with another activation",
    "forward_factor": "forward output off by a constant factor",
    "forward_transposed_weights": "forward with the weights transposed",
    "stale_output": "forward returns an earlier round's output",
    # networks
    "mlp_return": "MLP.backward returns something other than the first layer's input "
                  "gradient",
    # losses
    "loss_factor": "mse_derivative off by a constant factor",
    "loss_sign_of_error": "mse_derivative uses the sign of the error (the MAE derivative)",
    "loss_not_differentiated": "mse_derivative returns the squared errors",
    "mse_factor": "mse off by a constant factor",
}
"""The explanation kinds this engine can name (beyond the catalogue's), in plain words."""


# ------------------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Finding:
    """A cause whose hypothesis reproduces the student's numbers.

    ``name`` is the diagnosis tag (``kind`` or ``kind:param``, ``@j`` added per layer by the
    caller); ``paths`` the failing checks it reproduces; ``priority`` orders equally good
    findings (lower: more specific)."""

    name: str
    function: str
    cause: str
    evidence: str
    evidence_hidden: str
    paths: tuple[str, ...]
    layer: int | None = None
    priority: int = 5

    @property
    def kind(self) -> str:
        return self.name.split(":")[0].split("@")[0]

    def tag(self) -> str:
        return self.name if self.layer is None else f"{self.name}@{self.layer}"


@dataclass
class Known:
    """What is known about wrong checks no hypothesis reproduces (no cause)."""

    paths: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ helpers


def _arr(v: Any) -> Array | None:
    return None if v is None else np.asarray(v, dtype=np.float64)


def _close_nan(a: Any, b: Any) -> bool:
    """Same shape, non-finite exactly where the other is, finite entries within tolerance."""
    if a is None or b is None:
        return False
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or fa.all():
        return False
    return close(np.where(fa, a, 0.0), np.where(fb, b, 0.0))


def _same(a: Any, b: Any) -> bool:
    return close(a, b) or _close_nan(a, b)


def _fit(student: Any, base: Any) -> float | None:
    """The factor c with student ~ c * base (least squares), or None."""
    if student is None or base is None:
        return None
    s, e = np.asarray(student, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if s.shape != e.shape or not np.isfinite(s).all() or not np.isfinite(e).all():
        return None
    den = float(np.sum(e * e))
    if den < 1e-24:
        return None
    return float(np.sum(s * e)) / den


_CONSTANTS: tuple[tuple[str, float], ...] = (
    ("2", 2.0), ("1/2", 0.5), ("-1", -1.0), ("-2", -2.0), ("-1/2", -0.5), ("4", 4.0),
    ("1/4", 0.25), ("10", 10.0), ("1/10", 0.1), ("100", 100.0), ("1/100", 0.01),
)


def _named(c: float, sizes: dict[str, int]) -> list[tuple[str, float]]:
    """Names of the constant ``c`` (``1/batch``, ``2``, ...): every one it matches."""
    out: list[tuple[str, float]] = []
    for name, n in sizes.items():
        if n > 1:
            for label, value in ((name, float(n)), (f"1/{name}", 1.0 / n),
                                 (f"2/{name}", 2.0 / n), (f"-1/{name}", -1.0 / n)):
                if abs(c - value) <= 1e-3 * abs(value):
                    out.append((label, value))
    for label, value in _CONSTANTS:
        if abs(c - value) <= 1e-3 * abs(value):
            out.append((label, value))
    return out


def format_factor(label: str, value: float, sizes: dict[str, int], hide: bool) -> str:
    """``1/5 (1/batch: the batch here is 5)``; without the number for hidden tests."""
    if label in dict(_CONSTANTS):
        return label
    for name, n in sizes.items():
        if name in label:
            words = label.replace(name, _SIZE_WORDS.get(name, name))
            size = _SIZE_WORDS.get(name, name)
            return words if hide else f"{_fraction(value)} ({words}; {size} is {n} here)"
    return label if hide else f"{value:.4g}"


_SIZE_WORDS = {"batch": "the batch size", "n_outputs": "the number of outputs (neurons)",
               "n_inputs": "the number of inputs", "n_elements": "the number of elements"}


def _fraction(v: float) -> str:
    for den in range(1, 101):
        num = v * den
        if abs(num - round(num)) < 1e-6 * max(1.0, abs(num)):
            return f"{int(round(num))}/{den}" if den > 1 else f"{int(round(num))}"
    return f"{v:.4g}"


def _factor_param(c: float, sizes: dict[str, int]) -> tuple[str, float] | None:
    """The tag parameter and the exact value of a fitted factor; None for ~1 (no factor)."""
    if not math.isfinite(c) or abs(c - 1.0) < 1e-3 or abs(c) < 1e-9:
        return None
    names = _named(c, sizes)
    if names:
        return "|".join(n for n, _ in names), names[0][1]
    return "other", c


def _factor_words(param: str, value: float, sizes: dict[str, int], hide: bool) -> str:
    if param == "other":
        return "a constant factor" if hide else f"{value:.4g}"
    first = param.split("|")[0]
    text = format_factor(first, value, sizes, hide)
    if "|" in param:
        others = ", ".join(p for p in param.split("|")[1:])
        text += f" (equally {others} here)"
    return text


# ------------------------------------------------------------------------------ activations

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


# ------------------------------------------------------------------------------ dz hypotheses


@dataclass(frozen=True)
class _Hyp:
    """One candidate step: a name (None = the correct step), its words, evidence, value."""

    name: str | None
    cause: str = ""
    evidence: str = ""
    evidence_hidden: str = ""
    priority: int = 5
    function: str = "DenseLayer.backward"
    per_layer: bool = True
    """In a network: named in each layer it explains (``name@j``), or once for the network."""


_CORRECT = _Hyp(None)

_HELD = {
    "weights_changed": "weights changed during backward: backward must only compute gradients "
                       "(no gradient-descent step, no in-place update of weights or biases)",
    "weights_changed_by_forward": "weights or biases changed by forward (re-initialised or "
                                  "updated there): forward must use the weights the layer was "
                                  "given and leave them alone",
}


def _held(name: str, when: str, what_layers: str) -> _Hyp:
    """The weights a layer held, changed by the submission: later numbers follow from them."""
    return _Hyp(name, _HELD[name], f"{what_layers} held other weights {when} than the ones "
                "assigned, and the reference's forward and backward with the weights held "
                "reproduce {what}", priority=1,
                function="DenseLayer.forward" if name.endswith("forward") else
                "DenseLayer.backward", per_layer=False)

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
                     "dz = d_outputs * (that function) reproduces {what}", priority=2),
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
                         "everywhere else) reproduces {what}", priority=1),
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


# ------------------------------------------------------------------------------ post steps

Post = tuple[_Hyp, Any]


def _posts_weights(x: Array, dz: Array, student: Array, sizes: dict[str, int],
                   earlier_x: list[Array], w_shape: tuple[int, int], hide: bool) -> list[Post]:
    dW = x.T @ dz
    out: list[Post] = [
        (_Hyp("transposed_d_weights", "transposed weight gradient: d_weights = d_z.T @ inputs "
              "instead of inputs.T @ d_z", "dz.T @ inputs reproduces {what}", priority=1),
         dW.T),
    ]
    if True:  # square: the same numbers as the transpose (the report chooses)
        out.append((_Hyp("reshape_as_transpose", "d_weights computed as dz.T @ inputs, then "
                         "reshaped to (n_inputs, n_neurons): a reshape reorders nothing, only "
                         "a transpose does", "(dz.T @ inputs).reshape(n_inputs, n_neurons) "
                         "reproduces {what}", priority=2), dW.T.reshape(dW.shape)))
    out += _subset_posts(lambda s: x[s].T @ dz[s], dz.shape[0], "d_weights")
    for r, xr in enumerate(earlier_x):
        if xr.shape == x.shape:
            out.append((_Hyp("stale_inputs", "stale cached inputs: backward used the inputs of "
                             "an earlier forward call (cache the inputs on every forward, not "
                             "only the first)", f"round {r}'s inputs.T @ dz reproduces {{what}}",
                             priority=1), xr.T @ dz))
    out += _factor_post("d_weights_factor", "d_weights", student, dW, sizes, hide)
    out += _shape_post("d_weights", student, dW)
    return out


def _posts_biases(dz: Array, student: Array, sizes: dict[str, int], hide: bool) -> list[Post]:
    db = dz.sum(axis=0, keepdims=True)
    out: list[Post] = [
        (_Hyp("bias_averaged", "bias gradient averaged over the batch instead of summed",
              "dz.mean(axis=0) reproduces {what}", priority=1), dz.mean(axis=0, keepdims=True)),
        (_Hyp("bias_not_summed", "bias gradient not summed over the batch: d_biases = d_z (one "
              "row per example)", "d_biases = dz reproduces {what}", priority=1), dz.copy()),
        (_Hyp("bias_wrong_axis", "bias gradient summed over the wrong axis: over the neurons "
              "(axis 1) instead of over the examples (axis 0)",
              "dz.sum(axis=1) reproduces {what}", priority=2), dz.sum(axis=1, keepdims=True).T),
        (_Hyp("bias_wrong_axis", "bias gradient summed over the wrong axis: over the neurons "
              "(axis 1) instead of over the examples (axis 0)",
              "dz.sum(axis=1, keepdims=True) reproduces {what}", priority=2),
         dz.sum(axis=1, keepdims=True)),
        (_Hyp("bias_wrong_axis", "bias gradient summed over every entry of dz (no axis) "
              "instead of over the examples (axis 0)", "dz.sum() reproduces {what}",
              priority=2), np.array([[dz.sum()]])),
    ]
    out += _subset_posts(lambda s: dz[s].sum(axis=0, keepdims=True), dz.shape[0], "d_biases")
    out += _factor_post("d_biases_factor", "d_biases", student, db, sizes, hide)
    out += _shape_post("d_biases", student, db)
    return out


def _posts_inputs(dz: Array, W: Array, W_after: Array | None, student: Array,
                  sizes: dict[str, int], hide: bool) -> list[Post]:
    dx = dz @ W.T
    out: list[Post] = [
        (_Hyp("transposed_d_inputs", "input gradient transposed: weights @ dz.T, of shape "
              "(n_inputs, batch), instead of dz @ weights.T", "weights @ dz.T reproduces {what}",
              priority=2), dx.T),
    ]
    if dx.shape[0] != dx.shape[1]:
        out.append((_Hyp("reshape_as_transpose", "input gradient computed as weights @ dz.T, "
                         "then reshaped to (batch, n_inputs): a reshape reorders nothing, only "
                         "a transpose does", "(weights @ dz.T).reshape(batch, n_inputs) "
                         "reproduces {what}", priority=2), dx.T.reshape(dx.shape)))
    if W.shape[0] == W.shape[1]:
        out.append((_Hyp("untransposed_weights", "input gradient as dz @ weights instead of "
                         "dz @ weights.T", "dz @ weights reproduces {what}", priority=2),
                    dz @ W))
    if W_after is not None and W_after.shape == W.shape and not np.array_equal(W_after, W):
        out.append((_Hyp("weights_changed", "weights changed during backward: backward must "
                         "only compute gradients (no gradient-descent step, no in-place update "
                         "of weights or biases)", "dz @ (the weights after your backward).T "
                         "reproduces {what}: the update came before the input gradient",
                         priority=1), dz @ W_after.T))
    out += _subset_posts(None, dz.shape[0], "d_inputs", rows=dx)
    c = _fit(student, dx)
    if c is not None and abs(c - 1.01) < 1e-6:
        out.append((_Hyp("input_gradient_scaled", "input gradient off by 1%: d_inputs = 1.01 * "
                         "d_z @ weights.T", "1.01 * dz @ weights.T reproduces {what}",
                         priority=1), 1.01 * dx))
    else:
        out += _factor_post("d_inputs_factor", "the input gradient", student, dx, sizes, hide)
    out += _shape_post("the input gradient", student, dx)
    return out


_SUBSETS = (("first", "only the first example (row 0) is used; right only for a batch of 1"),
            ("last", "only the last example is used (a loop that overwrites instead of adding "
                     "up?); right only for a batch of 1"),
            ("all_but_last", "the last example is left out (a loop one step short)"),
            ("all_but_first", "the first example is left out (a loop starting at 1)"))


def _subset_index(which: str, batch: int) -> list[int]:
    return {"first": [0], "last": [batch - 1], "all_but_last": list(range(batch - 1)),
            "all_but_first": list(range(1, batch))}[which]


def _subset_posts(fn: Callable[[list[int]], Array] | None, batch: int, what: str,
                  rows: Array | None = None) -> list[Post]:
    if batch < 2:
        return []
    out: list[Post] = []
    for which, words in _SUBSETS:
        idx = _subset_index(which, batch)
        if rows is not None:
            value = np.zeros_like(rows)
            value[idx] = rows[idx]
        else:
            assert fn is not None
            value = fn(idx)
        out.append((_Hyp(f"examples_subset:{which}", f"{what}: {words}",
                         f"the {what} of examples {_rows(idx)} only reproduces {{what}}",
                         priority=3), value))
    return out


def _rows(idx: list[int]) -> str:
    if len(idx) == 1:
        return str(idx[0])
    return f"{idx[0]}-{idx[-1]}"


def _shape_post(what: str, student: Any, base: Array) -> list[Post]:
    """The right numbers in another shape (flattened, a column for a row)."""
    if student is None or np.shape(student) == base.shape or np.size(student) != base.size:
        return []
    shape = tuple(np.shape(student))
    return [(_Hyp("wrong_shape", f"{what} has the right numbers in the wrong shape: {shape} "
                  f"instead of {base.shape} (a ravel/flatten, or a column for a row)",
                  f"the expected {what} laid out as {shape} reproduces {{what}}", priority=2),
             base.reshape(shape))]


def _factor_post(kind: str, what: str, student: Any, base: Array, sizes: dict[str, int],
                 hide: bool) -> list[Post]:
    c = _fit(student, base)
    got = _factor_param(c, sizes) if c is not None else None
    # A factor fitted to a gradient it alone explains is evidence only when the gradient has
    # more entries than the fit has freedom (any one number is a multiple of any other), or
    # when the factor is one of the test's sizes to the tolerance.
    if got is None or (got[0] == "other" and base.size < 4):
        return []
    param, value = got
    words = _factor_words(param, value, sizes, hide)
    cause = f"{what} multiplied by {words}" if param != "other" else \
        f"{what} off by a constant factor"
    evid = f"every entry of {what} is {words} times the expected, which reproduces {{what}}"
    return [(_Hyp(f"{kind}:{param}", cause, evid,
                  f"every entry of {what} is the expected times one constant ({{what}})",
                  priority=3 if param != "other" else 6), value * base)]


# ------------------------------------------------------------------------------ layers


@dataclass
class LayerGot:
    """A student's answer to one round of a layer part (decoded): what the engine explains."""

    output: Array | None
    grads: dict[str, Array | None]  # weights, biases, inputs
    passed: dict[str, bool]  # output, weights, biases, inputs
    weights_forward: Array | None = None
    biases_forward: Array | None = None
    weights_after: Array | None = None
    history: list[dict[str, Array | None]] = field(default_factory=list)
    """The student's gradients of the earlier rounds (for stale/accumulated)."""
    weights_before: Array | None = None
    biases_before: Array | None = None
    """What the layer held before this round's forward, when an earlier round changed it."""
    changed_by: str = "weights_changed"
    """Who changed it: ``weights_changed`` (backward) or ``weights_changed_by_forward``."""


_PATH_WORDS = {"weights": "d_weights", "biases": "d_biases", "inputs": "the input gradient",
               "output": "the forward's output"}


def _what(paths: Iterable[str], words: dict[str, str] | None = None) -> str:
    w = words or _PATH_WORDS
    names = [w.get(p, p) for p in paths]
    names = [n.replace("the ", "your ", 1) if n.startswith("the ") else f"your {n}"
             for n in names]
    if not names:
        return "your numbers"
    if len(names) == 1:
        return f"{names[0]} in every entry"
    return f"{', '.join(names[:-1])} and {names[-1]} in every entry"


@dataclass(frozen=True)
class _State:
    """What the forward left for the backward: a name (None: the reference's forward)."""

    hyp: _Hyp
    z: Array
    a: Array
    W: Array


def _forward_states(act: str, x: Array, W: Array, b: Array, ref_out: Array,
                    got: LayerGot, earlier_out: list[Array], sizes: dict[str, int],
                    hide: bool) -> list[tuple[_State, Array]]:
    """Forward hypotheses: (state, the output it gives)."""
    z = x @ W + b
    states: list[tuple[_State, Array]] = [(_State(_CORRECT, z, _f(act, z), W), ref_out)]
    wh, bh = got.weights_before, got.biases_before
    if wh is not None and bh is not None and wh.shape == W.shape and bh.shape == b.shape \
            and not (np.array_equal(wh, W) and np.array_equal(bh, b)):
        zh = x @ wh + bh
        states.append((_State(_held(got.changed_by, "before this round (an earlier round "
                                    "changed them)", "the layer"), zh, _f(act, zh), wh),
                       _f(act, zh)))
    else:
        wh, bh = W, b
    wf, bf = got.weights_forward, got.biases_forward
    if wf is not None and bf is not None and wf.shape == W.shape and bf.shape == b.shape \
            and not (np.array_equal(wf, wh) and np.array_equal(bf, bh)):
        z2 = x @ wf + bf
        states.append((_State(_held("weights_changed_by_forward", "right after forward",
                                    "the layer"), z2, _f(act, z2), wf), _f(act, z2)))
    zb = x @ W
    states.append((_State(_Hyp("forward_no_bias", "forward without the bias: z = inputs @ "
                               "weights (+ biases missing)", "f(inputs @ weights) reproduces "
                               "{what}", priority=2, function="DenseLayer.forward"),
                          zb, _f(act, zb), W), _f(act, zb)))
    if act != "linear":
        states.append((_State(_Hyp("forward_no_activation", f"forward without the activation: "
                                   f"it returns z instead of {act}(z)", "z = inputs @ weights "
                                   "+ biases reproduces {what}", priority=2,
                                   function="DenseLayer.forward"), z, z, W), z))
    for other in ("linear", "relu", "sigmoid", "tanh"):
        if other not in (act, "linear"):
            states.append((_State(_Hyp(f"forward_wrong_activation:{other}",
                                       f"forward applies {other} instead of {act}",
                                       f"{other}(z) reproduces {{what}}", priority=2,
                                       function="DenseLayer.forward"), z, _f(other, z), W),
                           _f(other, z)))
    if W.shape[0] == W.shape[1]:
        zt = x @ W.T + b
        states.append((_State(_Hyp("forward_transposed_weights", "forward with the weights "
                                   "transposed: inputs @ weights.T", "f(inputs @ weights.T + "
                                   "biases) reproduces {what}", priority=2,
                                   function="DenseLayer.forward"), zt, _f(act, zt), W),
                       _f(act, zt)))
    if act in ("sigmoid", "tanh"):
        for side, limit, why in _OVERFLOW_FORMS:
            mask = _overflow_mask(z, side, limit)
            if mask.any():
                out = np.where(mask, np.nan, _f(act, z))
                states.append((_State(_Hyp("overflow", f"{act}(z) written with exp: {why}, "
                                           f"and inf / inf is NaN. The stable form: "
                                           f"{_STABLE[act]}", "NaN where a pre-activation "
                                           "is in that range (and the right output elsewhere) "
                                           "reproduces {what}", priority=1,
                                           function="DenseLayer.forward"), z, out, W), out))
    for r, o in enumerate(earlier_out):
        if o.shape == ref_out.shape:
            states.append((_State(_Hyp("stale_output", f"forward returns round {r}'s output "
                                       "again: the result is cached (or computed from cached "
                                       "inputs) instead of computed from this call's inputs",
                                       f"round {r}'s expected output reproduces {{what}}",
                                       priority=2, function="DenseLayer.forward"),
                                  z, o, W), o))
    if got.output is not None:
        c = _fit(got.output, ref_out)
        fp = _factor_param(c, sizes) if c is not None else None
        if fp is not None:
            words = _factor_words(fp[0], fp[1], sizes, hide)
            states.append((_State(_Hyp(f"forward_factor:{fp[0]}", f"forward output multiplied "
                                       f"by {words}", f"{words} times the expected output "
                                       "reproduces {what}", priority=4,
                                       function="DenseLayer.forward"),
                                  z, fp[1] * ref_out, W), fp[1] * ref_out))
    return states


Named = list[tuple[_Hyp, tuple[str, ...], tuple[int, ...]]]
"""A plan: each hypothesis it needs, the failing checks it explains, the layers it names."""


class _Best:
    """The plans that explain the most failing checks with the fewest hypotheses. Equally good
    plans that explain the same checks are kept as alternatives (the report chooses among them
    by what explains the submission's other tests), most specific first."""

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.plans: list[tuple[int, frozenset[str], Named]] = []

    def offer(self, explained: Iterable[str], plan: Named) -> None:
        paths = frozenset(explained)
        named = [h for h, _, _ in plan if h.name is not None]
        if not paths or not named:
            return
        key = (len(paths), -len(named))
        priority = min(h.priority for h in named)
        if self.key is None or key > self.key:
            self.key, self.plans = key, [(priority, paths, plan)]
        elif key == self.key:
            self.plans.append((priority, paths, plan))

    def alternatives(self) -> tuple[list[Named], frozenset[str]]:
        """The best plans (all explaining the same checks, as the most specific one does)."""
        if not self.plans:
            return [], frozenset()
        ordered = sorted(enumerate(self.plans), key=lambda ip: (ip[1][0], ip[0]))
        first_paths = ordered[0][1][1]
        out: list[Named] = []
        seen: list[tuple[str, ...]] = []
        for _, (_, paths, plan) in ordered:
            names = tuple(sorted(h.name for h, _, _ in plan if h.name is not None))
            if paths == first_paths and names not in seen:
                seen.append(names)
                out.append(plan)
        return out, first_paths


def _layer_sizes(batch: int, n_in: int, n_out: int) -> dict[str, int]:
    return {"batch": batch, "n_outputs": n_out, "n_inputs": n_in, "n_elements": batch * n_out}


def explain_layer(activation: str, W: Array, b: Array, ref: list[RefLayerRound], k: int,
                  got: LayerGot, hide: bool = False) -> tuple[list[list[Finding]], Known]:
    """For round ``k`` of a single-layer part: the alternative sets of findings that explain
    the most failing checks (most specific first; usually one), and what is known of the
    rest."""
    r = ref[k]
    x, d_out = r.x, r.d_out
    batch, n_in = x.shape
    n_out = W.shape[1]
    sizes = _layer_sizes(batch, n_in, n_out)
    failing: list[str] = [p for p in ("output", "weights", "biases", "inputs")
                          if p in got.passed and not got.passed[p]]
    grads = {p: _arr(v) for p, v in got.grads.items()}
    if not failing:
        return [], Known()
    best = _Best()
    earlier_out = [ref[j].output for j in range(k)]
    states = _forward_states(activation, x, W, b, r.output, got, earlier_out, sizes, hide)
    for state, out in states:
        if state.hyp.name is None:
            if "output" in failing:
                continue  # the reference's forward does not give a wrong output
        elif "output" not in failing or got.output is None or not _same(got.output, out):
            continue  # a forward hypothesis must reproduce the wrong output
        if d_out is None:
            best.offer(["output"], [(state.hyp, ("output",), ())])
            continue
        for dz_hyp, dz in _layer_dz(activation, state, d_out, ref, k, grads, failing, x,
                                    sizes, hide):
            for names, explained in _plan(state, dz_hyp, dz, x, grads, got, failing, sizes,
                                          ref, k, hide):
                best.offer(explained, [(h, ps, ()) for h, ps in names])
    history = _history(ref, k, got, failing)
    if history:
        best.offer(history[1], [(history[0], history[1], ())])
    plans, covered = best.alternatives()
    alternatives = [[_finding(h, ps, hide) for h, ps, _ in plan if h.name is not None]
                    for plan in plans]
    known = Known([p for p in failing if p not in covered])
    if known.paths and d_out is not None:
        known.facts += _layer_facts(x, W, grads, got, known.paths)
    return alternatives, known


def _finding(hyp: _Hyp, paths: tuple[str, ...], hide: bool, layer: int | None = None,
             words: dict[str, str] | None = None) -> Finding:
    what = _what(paths, words)
    assert hyp.name is not None
    return Finding(hyp.name, hyp.function, hyp.cause, hyp.evidence.format(what=what),
                   (hyp.evidence_hidden or hyp.evidence).format(what=what), paths, layer,
                   hyp.priority)


def _layer_dz(activation: str, state: _State, d_out: Array, ref: list[RefLayerRound], k: int,
              grads: dict[str, Array | None], failing: list[str], x: Array,
              sizes: dict[str, int], hide: bool) -> list[tuple[_Hyp, Array]]:
    """Candidate dz for one layer: the rules, a relu slope/threshold and a factor fitted."""
    zs_earlier = [(j, [ref[j].z]) for j in range(k) if ref[j].z.shape == state.z.shape]
    out: list[tuple[_Hyp, Array]] = []
    with np.errstate(all="ignore"):
        for rule in _dz_rules([activation], [state.z], zs_earlier):
            dz = rule.rule(0, activation, d_out, state.z, state.a)
            if dz is not None:
                out.append((rule.hyp, np.asarray(dz, dtype=np.float64)))
        correct = d_out * _fprime(activation, state.z)
        base = {"weights": x.T @ correct, "biases": correct.sum(axis=0, keepdims=True),
                "inputs": correct @ state.W.T}
        for p in ("weights", "biases", "inputs"):
            if p in failing and grads.get(p) is not None:
                c = _fit(grads[p], base[p])
                fp = _factor_param(c, sizes) if c is not None else None
                if fp is not None:
                    words = _factor_words(fp[0], fp[1], sizes, hide)
                    out.append((_Hyp(f"dz_factor:{fp[0]}", f"dz multiplied by {words}: the "
                                     "chain rule's first step, dz = d_outputs * f'(z), is off "
                                     "by a constant factor, so the weight, bias and input "
                                     "gradients all are", f"every entry of dz is {words} "
                                     "times the expected, which reproduces {what}",
                                     "dz off by one constant factor reproduces {what}",
                                     priority=3 if fp[0] != "other" else 6), fp[1] * correct))
                break
        if activation == "relu":
            target = grads.get("weights") if "weights" in failing else None
            fit = (x, d_out, state.z, target) if target is not None else None
            for rule in _relu_rules([state.z], fit, hide):
                dz = rule.rule(0, activation, d_out, state.z, state.a)
                if dz is not None:
                    out.append((rule.hyp, dz))
    return out


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
                                       "derivative) reproduces {what}", priority=2),
                                  _only("relu", _slopes(alpha, beta))))
            elif abs(beta) <= 1e-6 and abs(alpha + 1) < 1e-6:
                out.append(_DzHyp(_Hyp("derivative_wrong_sign", "relu'(z) with the wrong sign: "
                                       "-1 where z > 0", "dz = -d_outputs where z > 0 "
                                       "reproduces {what}", priority=2),
                                  _only("relu", _slopes(-1.0, 0.0))))
    values = np.unique(np.concatenate([z.ravel() for z in zs])) if zs else np.empty(0)
    values = values[np.isfinite(values)]
    cuts = [((lo + hi) / 2, f"between {lo:.4g} and {hi:.4g}")
            for lo, hi in zip(values[:-1], values[1:], strict=True) if not lo < 0 < hi]
    if values.size and values[-1] > 0:
        cuts.append((values[-1] + 1.0, f"above {values[-1]:.4g} (every z here)"))
    for t, between in cuts:
        if abs(t) < 1e-12:
            continue
        out.append(_DzHyp(_Hyp("relu_threshold", "relu'(z) switches at a threshold "
                               f"{between if not hide else 'other than 0'} instead of at 0",
                               "dz = d_outputs * (z > t) with that threshold reproduces {what}",
                               priority=3), _only("relu", _above(t))))
    return out


def _slopes(alpha: float, beta: float) -> Callable[[Array, Array, Array], Array]:
    def dz(d: Array, z: Array, a: Array) -> Array:
        return d * np.where(z > 0, alpha, beta)
    return dz


def _above(t: float) -> Callable[[Array, Array, Array], Array]:
    def dz(d: Array, z: Array, a: Array) -> Array:
        return d * (z > t).astype(np.float64)
    return dz


def _plan(state: _State, dz_hyp: _Hyp, dz: Array, x: Array, grads: dict[str, Array | None],
          got: LayerGot, failing: list[str], sizes: dict[str, int], ref: list[RefLayerRound],
          k: int, hide: bool) -> list[tuple[list[tuple[_Hyp, tuple[str, ...]]], list[str]]]:
    """Every way a dz hypothesis and post-steps explain the failing gradients: [(names with
    their paths, explained paths)], none when the hypothesis contradicts a gradient (one that
    passed included). A gradient several post-steps reproduce gives one plan per post-step."""
    with np.errstate(all="ignore"):
        base = {"weights": x.T @ dz, "biases": dz.sum(axis=0, keepdims=True),
                "inputs": dz @ state.W.T}
    owners = [h for h in (state.hyp, dz_hyp) if h.name is not None]
    fixed: list[tuple[_Hyp, str]] = []  # (hypothesis, path) every plan has
    if "output" in failing:
        if state.hyp.name is None:
            return []
        fixed.append((state.hyp, "output"))
    options: list[list[_Hyp]] = []  # per failing gradient: the post-steps that reproduce it
    option_paths: list[str] = []
    for p in ("weights", "biases", "inputs"):
        s = grads.get(p)
        if p not in got.passed or s is None:
            continue
        if got.passed[p]:
            if not _same(s, base[p]):
                return []
            continue
        if _same(s, base[p]):
            if not owners:
                return []  # the reference reproduces a failing gradient: impossible
            fixed += [(h, p) for h in owners]
            continue
        if p == "weights":
            posts = _posts_weights(x, dz, s, sizes, [ref[j].x for j in range(k)], base[p].shape,
                                   hide)
        elif p == "biases":
            posts = _posts_biases(dz, s, sizes, hide)
        else:
            posts = _posts_inputs(dz, state.W, got.weights_after, s, sizes, hide)
        with np.errstate(all="ignore"):
            matching = [hyp for hyp, value in posts if _same(s, value)]
        if matching:
            options.append(list({h.name: h for h in matching}.values()))
            option_paths.append(p)
    plans = []
    for combo in itertools.product(*options) if options else [()]:
        names: dict[str, list[str]] = {h.name: [] for h in owners}  # type: ignore[misc]
        hyps: dict[str, _Hyp] = {h.name: h for h in owners}  # type: ignore[misc]
        for h, p in fixed:
            names[h.name].append(p)  # type: ignore[index]
        for hyp, p in zip(combo, option_paths, strict=True):
            assert hyp.name is not None
            hyps[hyp.name] = hyp
            names.setdefault(hyp.name, []).append(p)
            for h in owners:
                names[h.name].append(p)  # type: ignore[index]
        explained = list(dict.fromkeys([p for _, p in fixed] + option_paths))
        plans.append(([(hyps[n], tuple(dict.fromkeys(ps))) for n, ps in names.items() if ps],
                      explained))
    return plans


def _history(ref: list[RefLayerRound], k: int, got: LayerGot,
             failing: list[str]) -> tuple[_Hyp, tuple[str, ...]] | None:
    """Gradients accumulated over rounds, or an earlier round's returned again."""
    if k == 0:
        return None
    keys = {"weights": "dW", "biases": "db", "inputs": "dx"}
    grad_paths = [p for p in failing if p in keys and got.grads.get(p) is not None]
    if not grad_paths:
        return None
    acc = [p for p in grad_paths
           if _same(got.grads[p], sum(getattr(ref[j], keys[p]) for j in range(k + 1)))]
    if acc and len(acc) == len(grad_paths):
        return (_Hyp("accumulated", "gradients accumulated over rounds and never reset: each "
                     "backward adds to the previous rounds' gradients (+=) instead of "
                     "replacing them", f"round {k}'s values equal the sum of the expected "
                     f"ones of rounds 0 to {k}, which reproduces {{what}}", priority=1),
                tuple(acc))
    for j in range(k):
        stale = [p for p in grad_paths if _same(got.grads[p], getattr(ref[j], keys[p]))]
        if stale and len(stale) == len(grad_paths):
            return (_Hyp("stale_gradient", f"round {j}'s gradients returned again in round {k}: "
                         "backward does not recompute them (computed only once, or cached)",
                         f"round {j}'s expected values reproduce {{what}}", priority=1),
                    tuple(stale))
    return None


def _layer_facts(x: Array, W: Array, grads: dict[str, Array | None], got: LayerGot,
                 paths: list[str]) -> list[str]:
    """What is known of unexplained gradients: whether one wrong dz explains all three."""
    facts = []
    dW, db, dx = grads.get("weights"), grads.get("biases"), grads.get("inputs")
    if "output" in got.passed and not got.passed["output"]:
        facts.append("the forward's output is wrong too")
    if dW is None or db is None or dx is None:
        return facts
    if dW.shape != (x.shape[1], W.shape[1]) or db.shape != (1, W.shape[1]) \
            or dx.shape != x.shape or not all(np.isfinite(g).all() for g in (dW, db, dx)):
        return facts
    dz = _solve_dz(x, W, dW, db, dx)
    if dz is not None:
        facts.append("d_weights, d_biases and the input gradient are all consistent with one "
                     "wrong dz (x.T @ dz, dz.sum(axis=0) and dz @ weights.T of the same dz): "
                     "the error is in dz = d_outputs * f'(z), before the three gradients")
    return facts


def _solve_dz(x: Array, W: Array, dW: Array, db: Array, dx: Array) -> Array | None:
    """A dz that gives all three gradients through the correct steps, when the system is
    overdetermined enough for that to be evidence; else None."""
    batch, n_in = x.shape
    n_out = W.shape[1]
    unknowns = batch * n_out
    rows = []
    rhs = []
    for i in range(n_in):  # dW[i, o] = sum_b x[b, i] dz[b, o]
        for o in range(n_out):
            row = np.zeros(unknowns)
            row[np.arange(batch) * n_out + o] = x[:, i]
            rows.append(row)
            rhs.append(dW[i, o])
    for o in range(n_out):
        row = np.zeros(unknowns)
        row[np.arange(batch) * n_out + o] = 1.0
        rows.append(row)
        rhs.append(db[0, o])
    for bi in range(batch):  # dx[b, i] = sum_o dz[b, o] W[i, o]
        for i in range(n_in):
            row = np.zeros(unknowns)
            row[bi * n_out + np.arange(n_out)] = W[i, :]
            rows.append(row)
            rhs.append(dx[bi, i])
    A, y = np.array(rows), np.array(rhs)
    if np.linalg.matrix_rank(A) >= len(rhs) - 1:
        return None  # (nearly) any gradients would fit: no evidence
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    dz = sol.reshape(batch, n_out)
    if close(x.T @ dz, dW) and close(dz.sum(axis=0, keepdims=True), db) and close(dz @ W.T, dx):
        return dz
    return None


# ------------------------------------------------------------------------------ networks


@dataclass
class NetGot:
    """A student's answer to one round of a network part (decoded)."""

    prediction: Array | None
    grads: dict[str, Array | None]  # "d_x", "layers[j].weights", "layers[j].biases"
    passed: dict[str, bool]  # the same keys, and "prediction"
    weights_forward: list[Array | None] = field(default_factory=list)
    biases_forward: list[Array | None] = field(default_factory=list)
    weights_after: list[Array | None] = field(default_factory=list)
    weights_before: list[Array | None] = field(default_factory=list)
    biases_before: list[Array | None] = field(default_factory=list)
    changed_by: str = "weights_changed"


@dataclass(frozen=True)
class _NetSim:
    d_outs: list[Array]
    dzs: list[Array]
    dxs: list[Array]
    returned: Array
    """What the walk leaves in hand at the end: what MLP.backward returns."""
    applied: tuple[int, ...]
    """The layers whose dz the rule changed."""


def _simulate(acts: list[str], xs: list[Array], zs: list[Array], as_: list[Array],
              Ws: list[Array], d_loss: Array, rule: DzRule, dx_rule: Callable[[int, Array, Array],
                                                                              Array],
              walk: str | None = None) -> _NetSim | None:
    n = len(acts)
    d_outs: list[Array] = [np.empty(0)] * n
    dzs: list[Array] = [np.empty(0)] * n
    dxs: list[Array] = [np.empty(0)] * n
    order = list(range(n))[::-1] if walk != "reversed_order" else list(range(n))
    grad = d_loss
    applied = []
    try:
        with np.errstate(all="ignore"):
            for j in order:
                up = d_loss if walk == "not_chained" else grad
                if up.shape != zs[j].shape:
                    return None
                dz = rule(j, acts[j], up, zs[j], as_[j])
                if dz is None:
                    dz = _correct_dz(j, acts[j], up, zs[j], as_[j])
                else:
                    applied.append(j)
                d_outs[j], dzs[j] = up, dz
                dxs[j] = dx_rule(j, dz, Ws[j])
                grad = dxs[j]
    except ValueError:
        return None
    return _NetSim(d_outs, dzs, dxs, grad, tuple(sorted(applied)))


def explain_net(specs: list[Any], ref: list[RefNetRound], k: int, rounds_x: list[Array],
                got: NetGot, hide: bool = False) -> tuple[list[list[Finding]], Known]:
    """As :func:`explain_layer`, for round ``k`` of a network part (``specs``: its
    LayerSpecs)."""
    failing = [p for p, ok in got.passed.items() if not ok]
    if not failing:
        return [], Known()
    r = ref[k]
    n = len(specs)
    acts = [s.activation for s in specs]
    x0 = rounds_x[k]
    batch = x0.shape[0]
    d_loss = r.layers[-1].d_out
    grads = {p: _arr(v) for p, v in got.grads.items()}
    words = {**{f"layers[{j}].weights": f"layers[{j}].d_weights" for j in range(n)},
             **{f"layers[{j}].biases": f"layers[{j}].d_biases" for j in range(n)},
             "d_x": "the gradient MLP.backward returned", "prediction": "the prediction"}
    best = _Best()
    for state, pred in _net_states(specs, x0, ref, k, got, hide):
        if state.hyp.name is None and "prediction" in failing:
            continue
        if state.hyp.name is not None and (got.prediction is None or "prediction" not in failing
                                           or not _same(got.prediction, pred)):
            continue
        if d_loss is None:
            continue
        for dz_hyp, rule, dx_hyp, dx_rule, walk in _net_rules(specs, state, d_loss, grads,
                                                              failing, batch, k, ref, hide,
                                                              got.weights_after):
            sim = _simulate(acts, state.xs, state.zs, state.as_, state.Ws, d_loss, rule, dx_rule,
                            walk)
            if sim is None:
                continue
            for plan, explained in _net_plan(state, dz_hyp, dx_hyp, sim, grads, got, failing,
                                             batch, ref, k, hide, d_loss):
                best.offer(explained, plan)
    hist = _net_history(ref, k, got, grads, failing, n)
    if hist:
        best.offer([p for _, ps in hist for p in ps],
                   [(h, ps, _path_layers(ps)) for h, ps in hist])
    plans, covered = best.alternatives()
    alternatives = [[f for h, ps, layers in plan if h.name is not None
                     for f in _per_layer(h, ps, hide, words, layers)] for plan in plans]
    known = Known([p for p in failing if p not in covered])
    if known.paths:
        known.facts += _net_facts(known.paths, got, n)
    return alternatives, known


def _per_layer(hyp: _Hyp, paths: tuple[str, ...], hide: bool, words: dict[str, str],
               layers: tuple[int, ...]) -> list[Finding]:
    """One finding per layer a class-wide hypothesis applies to (``name@j``), or one for the
    network (how MLP walks the layers, a forward hypothesis)."""
    network_level = hyp.function in ("MLP.backward", "MLP.forward", "DenseLayer.forward",
                                     "forward") or not hyp.per_layer
    if network_level or not layers:
        return [_finding(hyp, paths, hide, None, words)]
    return [_finding(hyp, paths, hide, j, words) for j in layers]


@dataclass(frozen=True)
class _NetState:
    hyp: _Hyp
    xs: list[Array]
    zs: list[Array]
    as_: list[Array]
    Ws: list[Array]


def _forward_net(specs: list[Any], x: Array, Ws: list[Array], bs: list[Array],
                 fwd: Callable[[int, str, Array, Array], tuple[Array, Array]] | None = None
                 ) -> tuple[list[Array], list[Array], list[Array]]:
    xs, zs, as_ = [], [], []
    with np.errstate(all="ignore"):
        for j, s in enumerate(specs):
            z = x @ Ws[j] + bs[j]
            if fwd is not None:
                z, a = fwd(j, s.activation, x, z)
            else:
                a = _f(s.activation, z)
            xs.append(x)
            zs.append(z)
            as_.append(a)
            x = a
    return xs, zs, as_


def _matrices(ws: list[Array | None], bs: list[Array | None], W0: list[Array],
              b0: list[Array]) -> tuple[list[Array], list[Array]] | None:
    """``ws``/``bs`` when they are every layer's, of the right shapes, and differ from
    ``W0``/``b0``; else None."""
    if len(ws) != len(W0) or len(bs) != len(b0):
        return None
    Wn: list[Array] = []
    Bn: list[Array] = []
    for w, b_, W, b in zip(ws, bs, W0, b0, strict=True):
        if w is None or b_ is None or w.shape != W.shape or b_.shape != b.shape:
            return None
        Wn.append(np.asarray(w))
        Bn.append(np.asarray(b_))
    if all(np.array_equal(w, W) and np.array_equal(b_, b)
           for w, b_, W, b in zip(Wn, Bn, W0, b0, strict=True)):
        return None
    return Wn, Bn


def _net_states(specs: list[Any], x: Array, ref: list[RefNetRound], k: int, got: NetGot,
                hide: bool) -> list[tuple[_NetState, Array]]:
    Ws = [s.weights for s in specs]
    bs = [s.biases for s in specs]
    xs, zs, as_ = _forward_net(specs, x, Ws, bs)
    out = [(_NetState(_CORRECT, xs, zs, as_, Ws), as_[-1])]
    Wh, Bh = Ws, bs
    held = _matrices(got.weights_before, got.biases_before, Ws, bs)
    if held is not None:
        Wh, Bh = held
        xs2, zs2, as2 = _forward_net(specs, x, Wh, Bh)
        out.append((_NetState(_held(got.changed_by, "before this round (an earlier round "
                                    "changed them)", "the layers"), xs2, zs2, as2, Wh),
                    as2[-1]))
    after_forward = _matrices(got.weights_forward, got.biases_forward, Wh, Bh)
    if after_forward is not None:
        xs2, zs2, as2 = _forward_net(specs, x, *after_forward)
        out.append((_NetState(_held("weights_changed_by_forward", "right after forward",
                                    "the layers"), xs2, zs2, as2, after_forward[0]), as2[-1]))
    variants: list[tuple[_Hyp, Callable[[int, str, Array, Array], tuple[Array, Array]]]] = [
        (_Hyp("forward_no_bias", "forward without the bias: z = inputs @ weights (+ biases "
              "missing)", "the forward of every layer without its bias reproduces {what}",
              priority=2, function="DenseLayer.forward"),
         lambda j, act, xin, z: (xin @ Ws[j], _f(act, xin @ Ws[j]))),
        (_Hyp("forward_no_activation", "forward without the activation: it returns z instead "
              "of f(z)", "every layer returning z reproduces {what}", priority=2,
              function="DenseLayer.forward"), lambda j, act, xin, z: (z, z)),
    ]
    for act in dict.fromkeys(s.activation for s in specs):
        if act in ("sigmoid", "tanh"):
            for side, limit, why in _OVERFLOW_FORMS:
                if any(_overflow_mask(z, side, limit).any()
                       for z, s in zip(zs, specs, strict=True) if s.activation == act):
                    variants.append((
                        _Hyp("overflow", f"{act}(z) written with exp: {why}, and inf / inf "
                             f"is NaN. The stable form: {_STABLE[act]}", "NaN where a "
                             "pre-activation is in that range (and the right values elsewhere) "
                             "reproduces {what}", priority=1,
                             function="DenseLayer.forward"),
                        _overflowing_forward(act, side, limit)))
    for hyp, fwd in variants:
        xs2, zs2, as2 = _forward_net(specs, x, Ws, bs, fwd)
        out.append((_NetState(hyp, xs2, zs2, as2, Ws), as2[-1]))
    for r in range(k):  # every layer's forward returns round r's output again
        old = ref[r].layers
        if all(o.z.shape == z.shape for o, z in zip(old, zs, strict=True)):
            xs2 = [xs[0]] + [o.x for o in old[1:]]
            zs2 = [zs[0]] + [o.z for o in old[1:]]
            as2 = [_f(s.activation, z) for s, z in zip(specs, [o.z for o in old], strict=True)]
            hyp = _Hyp("stale_output", f"forward returns round {r}'s output again (a result "
                       f"cached on the first call instead of computed from this call's "
                       f"inputs), so every layer after the first is fed round {r}'s values",
                       f"round {r}'s outputs, layer by layer, reproduce {{what}}", priority=2,
                       function="DenseLayer.forward")
            out.append((_NetState(hyp, xs2, zs2, as2, Ws), as2[-1]))
    return out


def _net_rules(specs: list[Any], state: _NetState, d_loss: Array,
               grads: dict[str, Array | None], failing: list[str], batch: int, k: int,
               ref: list[RefNetRound], hide: bool, weights_after: list[Array | None]
               ) -> list[tuple[_Hyp, DzRule, _Hyp, Callable[[int, Array, Array], Array],
                               str | None]]:
    """(dz hypothesis, rule, input-gradient hypothesis, rule, walk) to simulate."""
    n = len(specs)
    acts = [s.activation for s in specs]
    zs_earlier = []
    for j in range(k):
        layer_z = [lr.z for lr in ref[j].layers]
        if all(a.shape == b.shape for a, b in zip(layer_z, state.zs, strict=True)):
            zs_earlier.append((j, layer_z))
    rules = _dz_rules(acts, state.zs, zs_earlier)
    sizes = {"batch": batch}
    top = f"layers[{n - 1}]"

    def plain_dx(j: int, dz: Array, W: Array) -> Array:
        return dz @ W.T

    relus = [j for j in range(n) if acts[j] == "relu"]
    if relus:
        rules += _relu_rules([state.zs[j] for j in relus],
                             _net_relu_fit(specs, state, d_loss, grads, failing, relus[-1]), hide)
    out: list[tuple[_Hyp, DzRule, _Hyp, Callable[[int, Array, Array], Array], str | None]] = []
    for rule in rules:
        out.append((rule.hyp, rule.rule, _CORRECT, plain_dx, None))
    # a factor on dz in every layer, fitted on the top layer (its upstream gradient is d_loss)
    correct_top = d_loss * _fprime(acts[-1], state.zs[-1])
    for p, base in ((f"{top}.weights", state.xs[-1].T @ correct_top),
                    (f"{top}.biases", correct_top.sum(axis=0, keepdims=True))):
        if p in failing and grads.get(p) is not None:
            c = _fit(grads[p], base)
            fp = _factor_param(c, {**sizes, "n_outputs": specs[-1].n_neurons}) \
                if c is not None else None
            if fp is not None:
                words = _factor_words(fp[0], fp[1], {**sizes, "n_outputs": specs[-1].n_neurons},
                                      hide)
                value = fp[1]
                out.append((_Hyp(f"dz_factor:{fp[0]}", f"dz multiplied by {words} in every "
                                 "layer: the chain rule's first step, dz = d_outputs * f'(z), "
                                 "is off by a constant factor, so the weight, bias and input "
                                 "gradients all are (compounding down the layers)",
                                 f"every layer's dz {words} times the expected (so layers[j] "
                                 "gets the factor once per layer from the top down to it) "
                                 "reproduces {what}", "dz off by one constant factor in every "
                                 "layer reproduces {what}",
                                 priority=3 if fp[0] != "other" else 6),
                            _scaled_dz(value, None), _CORRECT, plain_dx, None))
                out.append((_Hyp(f"upstream_factor:{fp[0]}", f"MLP.backward multiplies the "
                                 f"gradient it is given by {words} before passing it to the "
                                 "last layer: every gradient of the network is off by that "
                                 "factor", f"d_loss times {words} reproduces {{what}}",
                                 "the upstream gradient off by one constant factor reproduces "
                                 "{what}", priority=3 if fp[0] != "other" else 6,
                                 function="MLP.backward"),
                            _scaled_dz(value, n - 1), _CORRECT, plain_dx, None))
            break
    # the input gradient of every layer: a factor (fitted on the layer below the top), 1.01
    if n >= 2:
        below = f"layers[{n - 2}]"
        up = d_loss * _fprime(acts[-1], state.zs[-1]) @ state.Ws[-1].T
        dzb = up * _fprime(acts[-2], state.zs[-2])
        for p, base in ((f"{below}.weights", state.xs[-2].T @ dzb),
                        (f"{below}.biases", dzb.sum(axis=0, keepdims=True))):
            if p in failing and grads.get(p) is not None and f"{top}.weights" not in failing:
                c = _fit(grads[p], base)
                fp = _factor_param(c, sizes) if c is not None else None
                if fp is not None:
                    value = fp[1]
                    if abs(value - 1.01) < 1e-6:
                        hyp = _Hyp("input_gradient_scaled", "input gradient off by 1%: "
                                   "d_inputs = 1.01 * d_z @ weights.T", "1.01 * dz @ weights.T "
                                   "in every layer reproduces {what}", priority=1)
                    else:
                        words = _factor_words(fp[0], value, sizes, hide)
                        hyp = _Hyp(f"d_inputs_factor:{fp[0]}", f"the input gradient "
                                   f"multiplied by {words} (each layer passes a scaled "
                                   "gradient to the layer before it)", f"every layer's input "
                                   f"gradient {words} times the expected reproduces {{what}}",
                                   "every layer's input gradient off by one constant factor "
                                   "reproduces {what}",
                                   priority=3 if fp[0] != "other" else 6)
                    out.append((_CORRECT, _correct_dz, hyp, _scaled_dx(value), None))
                break
    after = [w if w is not None and w.shape == W.shape else W
             for w, W in zip(weights_after, state.Ws, strict=False)]
    if len(after) == n and not all(np.array_equal(a, W) for a, W in zip(after, state.Ws,
                                                                          strict=True)):
        out.append((_CORRECT, _correct_dz,
                    _Hyp("weights_changed", _HELD["weights_changed"], "dz @ (the weights after "
                         "your backward).T in every layer reproduces {what}: the update came "
                         "before the input gradient", priority=1, per_layer=False),
                    _updated_dx(after), None))
    if all(s.n_inputs == s.n_neurons for s in specs):
        out.append((_CORRECT, _correct_dz,
                    _Hyp("untransposed_weights", "input gradient as dz @ weights instead of "
                         "dz @ weights.T", "dz @ weights in every layer reproduces {what}",
                         priority=2), lambda j, dz, W: dz @ W, None))
    for walk, cause in (("not_chained", "gradients not chained: every layer's backward is "
                         "given the loss gradient instead of the gradient returned by the "
                         "layer after it"),
                        ("reversed_order", "layers walked in the wrong order: backward goes "
                         "from the first layer to the last")):
        out.append((_Hyp(walk, cause, "walking the layers that way reproduces {what}",
                         priority=1, function="MLP.backward"), _correct_dz, _CORRECT, plain_dx,
                    walk))
    return out


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


def _updated_dx(after: list[Array]) -> Callable[[int, Array, Array], Array]:
    def dx(j: int, dz: Array, W: Array) -> Array:
        return dz @ after[j].T
    return dx


def _scaled_dx(c: float) -> Callable[[int, Array, Array], Array]:
    def dx(j: int, dz: Array, W: Array) -> Array:
        return c * (dz @ W.T)
    return dx


def _net_relu_fit(specs: list[Any], state: _NetState, d_loss: Array,
                  grads: dict[str, Array | None], failing: list[str], top: int
                  ) -> tuple[Array, Array, Array, Array] | None:
    """(x, d_out, z, the student's d_weights) of the last relu layer, when every layer after it
    is right (so its upstream gradient is the reference's)."""
    n = len(specs)
    target = grads.get(f"layers[{top}].weights")
    if target is None or f"layers[{top}].weights" not in failing:
        return None
    if any(f"layers[{j}].{p}" in failing for j in range(top + 1, n)
           for p in ("weights", "biases")):
        return None
    up = d_loss
    for j in range(n - 1, top, -1):
        up = (up * _fprime(specs[j].activation, state.zs[j])) @ state.Ws[j].T
    return state.xs[top], up, state.zs[top], target


def _net_plan(state: _NetState, dz_hyp: _Hyp, dx_hyp: _Hyp, sim: _NetSim,
              grads: dict[str, Array | None], got: NetGot, failing: list[str], batch: int,
              ref: list[RefNetRound], k: int, hide: bool, d_loss: Array
              ) -> list[tuple[Named, list[str]]]:
    """As :func:`_plan`, for a simulated network: every plan, none on a contradiction."""
    n = len(sim.dzs)
    owners = [h for h in (state.hyp, dz_hyp, dx_hyp) if h.name is not None]
    fixed: list[tuple[_Hyp, str]] = []
    options: list[list[_Hyp]] = []
    option_paths: list[str] = []
    if "prediction" in failing:
        if state.hyp.name is None:
            return []
        fixed.append((state.hyp, "prediction"))
    with np.errstate(all="ignore"):
        for j in range(n):
            dz, x = sim.dzs[j], state.xs[j]
            sizes = _layer_sizes(batch, x.shape[1], dz.shape[1])
            for param, base in (("weights", x.T @ dz), ("biases", dz.sum(axis=0, keepdims=True))):
                p = f"layers[{j}].{param}"
                s = grads.get(p)
                if s is None or p not in got.passed:
                    continue
                if got.passed[p]:
                    if not _same(s, base):
                        return []
                    continue
                if _same(s, base):
                    if not owners:
                        return []
                    fixed += [(h, p) for h in owners]
                    continue
                earlier = [ref[r].layers[j].x for r in range(k)]
                posts = _posts_weights(x, dz, s, sizes, earlier, base.shape, hide) \
                    if param == "weights" else _posts_biases(dz, s, sizes, hide)
                matching = [hyp for hyp, value in posts if _same(s, value)]
                if matching:
                    options.append(list({h.name: h for h in matching}.values()))
                    option_paths.append(p)
        s = grads.get("d_x")
        if s is not None and "d_x" in got.passed:
            if got.passed["d_x"]:
                if not _same(s, sim.returned):
                    return []
            elif _same(s, sim.returned) and owners:
                fixed += [(h, "d_x") for h in owners]
            else:
                matching = [hyp for hyp, value in _mlp_returns(sim, d_loss, state.Ws)
                            if _same(s, value)]
                if matching:
                    options.append(matching)
                    option_paths.append("d_x")
    combos: Iterable[tuple[_Hyp, ...]] = itertools.product(*options) if options else [()]
    if math.prod(len(o) for o in options) > 64:  # too many to weigh: the first of each
        combos = [tuple(o[0] for o in options)]
    plans = []
    for combo in combos:
        names: dict[str, list[str]] = {h.name: [] for h in owners}  # type: ignore[misc]
        hyps: dict[str, _Hyp] = {h.name: h for h in owners}  # type: ignore[misc]
        for h, p in fixed:
            names[h.name].append(p)  # type: ignore[index]
        for hyp, p in zip(combo, option_paths, strict=True):
            assert hyp.name is not None
            hyps[hyp.name] = hyp
            names.setdefault(hyp.name, []).append(p)
            for h in owners:
                names[h.name].append(p)  # type: ignore[index]
        explained = list(dict.fromkeys([p for _, p in fixed] + option_paths))
        layers_of: dict[str, tuple[int, ...]] = {}
        if dz_hyp.name is not None:
            layers_of[dz_hyp.name] = sim.applied
        if dx_hyp.name is not None:
            layers_of[dx_hyp.name] = tuple(j for j in range(n) if j > 0 or "d_x" in explained)
        plans.append(([(hyps[nm], tuple(dict.fromkeys(ps)), layers_of.get(nm, _path_layers(ps)))
                       for nm, ps in names.items() if ps], explained))
    return plans


def _path_layers(paths: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({int(p[7:p.index("]")]) if p.startswith("layers[") else 0
                         for p in paths if p.startswith("layers[") or p == "d_x"}))


def _mlp_returns(sim: _NetSim, d_loss: Array, Ws: list[Array]) -> list[Post]:
    n = len(sim.dxs)
    out: list[Post] = [(_Hyp("mlp_return:upstream", "MLP.backward returns the gradient it was "
                             "given (d_loss) instead of the one the first layer's backward "
                             "returned", "d_loss itself reproduces {what}", priority=2,
                             function="MLP.backward"), d_loss)]
    for j in range(1, n):
        out.append((_Hyp("mlp_return:layer", f"MLP.backward returns the input gradient of "
                         f"layers[{j}] instead of layers[0]'s (the first layer's backward "
                         "result is not what is returned)", f"layers[{j}]'s input gradient "
                         "reproduces {what}", priority=2, function="MLP.backward"), sim.dxs[j]))
    return out


def _net_history(ref: list[RefNetRound], k: int, got: NetGot, grads: dict[str, Array | None],
                 failing: list[str], n: int) -> list[tuple[_Hyp, tuple[str, ...]]]:
    if k == 0:
        return []

    def ref_path(r: RefNetRound, p: str) -> Array | None:
        if p == "d_x":
            return r.d_x
        j = int(p[7:p.index("]")])
        return r.layers[j].dW if p.endswith("weights") else r.layers[j].db

    paths = [p for p in failing if p != "prediction" and grads.get(p) is not None]
    if not paths:
        return []
    acc = []
    for p in paths:
        vals = [v for v in (ref_path(ref[j], p) for j in range(k + 1)) if v is not None]
        if len(vals) == k + 1 and all(v.shape == vals[0].shape for v in vals) and \
                _same(grads[p], np.sum(vals, axis=0)):
            acc.append(p)
    if acc and len(acc) == len(paths):
        return [(_Hyp("accumulated", "gradients accumulated over rounds and never reset: each "
                      "backward adds to the previous rounds' gradients (+=) instead of "
                      "replacing them", f"round {k}'s values equal the sum of the expected ones "
                      f"of rounds 0 to {k}, which reproduces {{what}}", priority=1),
                 tuple(acc))]
    for j in range(k):
        stale = [p for p in paths if _same(grads[p], ref_path(ref[j], p))]
        if stale and len(stale) == len(paths):
            return [(_Hyp("stale_gradient", f"round {j}'s gradients returned again in round "
                          f"{k}: backward does not recompute them (computed only once, or "
                          "cached)", f"round {j}'s expected values reproduce {{what}}",
                          priority=1), tuple(stale))]
    return []


def _net_facts(paths: list[str], got: NetGot, n: int) -> list[str]:
    facts = []
    layers = sorted({int(p[7:p.index("]")]) for p in paths if p.startswith("layers[")})
    if layers:
        top = layers[-1]
        above_ok = all(got.passed.get(f"layers[{j}].{q}", True)
                       for j in range(top + 1, n) for q in ("weights", "biases"))
        if top < n - 1 and above_ok:
            facts.append(f"the error starts at layers[{top}]: the layers after it "
                         f"(layers[{top + 1}] to layers[{n - 1}]) are right, so either "
                         f"layers[{top}]'s own backward or the input gradient layers[{top + 1}] "
                         "passes down is wrong")
        elif top == n - 1:
            facts.append(f"the error starts at the last layer, layers[{n - 1}], which gets "
                         "the loss gradient itself")
    if got.passed.get("prediction") is False:
        facts.append("the prediction (the forward) is wrong too")
    return facts


# ------------------------------------------------------------------------------ losses


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
    for name, bug in LOSS_BUGS.items():
        for convention in ("exact", "lesson"):
            if close(s, loss_derivative(y_true, y_pred, bug=name, convention=convention)):
                out.append([Finding(name, "mse_derivative", bug.description,
                                    f"{bug.description.split('(')[-1].rstrip(')')} reproduces "
                                    "your values in every entry",
                                    "that formula reproduces your values in every entry",
                                    ("value",), priority=1)])
                break
    diff = y_pred - y_true
    batch, n_out = y_true.shape
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
             "instead of their derivative 2 * (y_pred - y_true) / n",
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
