"""Networks: the class-wide rules simulated down the layers (dz, input gradients, the walk)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..diagnosis import RefNetRound
from .activations import DzRule, _correct_dz, _dz_rules, _fprime, _relu_rules, _scaled_dz
from .findings import _CORRECT, _HELD, _Hyp
from .fitting import Array, _factor_param, _factor_words, _fit
from .forward import _NetState


@dataclass(frozen=True)
class _NetSim:
    d_outs: list[Array]
    dzs: list[Array]
    dxs: list[Array]
    returned: Array
    """What the walk leaves in hand at the end: what MLP.backward returns."""
    applied: tuple[int, ...]
    """The layers whose dz the rule changed."""
    skipped: tuple[int, ...] = ()
    """The layers the walk never back-propagates: their gradients are never set."""


def _simulate(acts: list[str], xs: list[Array], zs: list[Array], as_: list[Array],
              Ws: list[Array], d_loss: Array, rule: DzRule, dx_rule: Callable[[int, Array, Array],
                                                                              Array],
              walk: str | None = None) -> _NetSim | None:
    n = len(acts)
    d_outs: list[Array] = [np.empty(0)] * n
    dzs: list[Array] = [np.empty(0)] * n
    dxs: list[Array] = [np.empty(0)] * n
    order = list(range(n))[::-1] if walk != "reversed_order" else list(range(n))
    skipped: tuple[int, ...] = ()
    if walk == "skips_last":
        order, skipped = order[1:], (n - 1,)
        dzs[n - 1] = np.full(zs[n - 1].shape, np.nan)
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
    return _NetSim(d_outs, dzs, dxs, grad, tuple(sorted(applied)), skipped)


DxRule = Callable[[int, Array, Array], Array]
"""A class-wide rule for the input gradient: (layer index, dz, weights) -> d_inputs."""

NetRule = tuple[_Hyp, DzRule, _Hyp, DxRule, "str | None"]
"""(dz hypothesis, rule, input-gradient hypothesis, rule, walk): one simulation."""


def _plain_dx(j: int, dz: Array, W: Array) -> Array:
    return dz @ W.T


def _net_rules(specs: list[Any], state: _NetState, d_loss: Array,
               grads: dict[str, Array | None], failing: list[str], batch: int, k: int,
               ref: list[RefNetRound], hide: bool, weights_after: list[Array | None]
               ) -> list[NetRule]:
    """(dz hypothesis, rule, input-gradient hypothesis, rule, walk) to simulate."""
    n = len(specs)
    acts = [s.activation for s in specs]
    zs_earlier = []
    for j in range(k):
        layer_z = [lr.z for lr in ref[j].layers]
        if all(a.shape == b.shape for a, b in zip(layer_z, state.zs, strict=True)):
            zs_earlier.append((j, layer_z))
    rules = _dz_rules(acts, state.zs, zs_earlier)
    relus = [j for j in range(n) if acts[j] == "relu"]
    if relus:
        rules += _relu_rules([state.zs[j] for j in relus],
                             _net_relu_fit(specs, state, d_loss, grads, failing, relus[-1]), hide)
    out: list[NetRule] = []
    for rule in rules:
        out.append((rule.hyp, rule.rule, _CORRECT, _plain_dx, None))
    out += _dz_factor_rules(specs, state, d_loss, grads, failing, batch, hide)
    out += _dx_factor_rules(specs, state, d_loss, grads, failing, batch, hide)
    out += _dx_and_walk_rules(specs, state, weights_after)
    return out


def _dz_factor_rules(specs: list[Any], state: _NetState, d_loss: Array,
                     grads: dict[str, Array | None], failing: list[str], batch: int,
                     hide: bool) -> list[NetRule]:
    """A factor on dz in every layer, or on the upstream gradient, fitted on the top layer
    (its upstream gradient is d_loss)."""
    n = len(specs)
    acts = [s.activation for s in specs]
    # What MLP.backward is given is scaled once, at the output (a division by len(layers) is
    # a student's bug seen); a factor in every layer is called after a size only where that
    # size is the same in every layer (a 3-5-2 network's 2 is not layers[0]'s outputs).
    top_sizes = {"batch": batch, "n_outputs": specs[-1].n_neurons, "n_layers": n}
    every = {"batch": batch}
    if len({s.n_neurons for s in specs}) == 1:
        every["n_outputs"] = specs[-1].n_neurons
    top = f"layers[{n - 1}]"
    out: list[NetRule] = []
    correct_top = d_loss * _fprime(acts[-1], state.zs[-1])
    for p, base in ((f"{top}.weights", state.xs[-1].T @ correct_top),
                    (f"{top}.biases", correct_top.sum(axis=0, keepdims=True))):
        if p in failing and grads.get(p) is not None:
            c = _fit(grads[p], base)
            fe = _factor_param(c, every) if c is not None else None
            fp = _factor_param(c, top_sizes) if c is not None else None
            if fp is not None and fe is not None:  # both or neither: ~1 is no factor
                words = _factor_words(fe[0], fe[1], every, hide)
                value = fe[1]
                out.append((_Hyp(f"dz_factor:{fe[0]}", f"dz multiplied by {words} in every "
                                 "layer: the chain rule's first step, dz = d_outputs * f'(z), "
                                 "is off by a constant factor, so the weight, bias and input "
                                 "gradients all are (compounding down the layers)",
                                 f"every layer's dz {words} times the expected (so layers[j] "
                                 "gets the factor once per layer from the top down to it) "
                                 "reproduces {what}", "dz off by one constant factor in every "
                                 "layer reproduces {what}",
                                 priority=3 if fe[0] != "other" else 6, fitted=1,
                                 value=(value,)),
                            _scaled_dz(value, None), _CORRECT, _plain_dx, None))
                # Scaling what MLP.backward is given happens once, at the output: its sizes.
                words = _factor_words(fp[0], fp[1], top_sizes, hide)
                out.append((_Hyp(f"upstream_factor:{fp[0]}", f"MLP.backward multiplies the "
                                 f"gradient it is given by {words} before passing it to the "
                                 "last layer: every gradient of the network is off by that "
                                 "factor", f"d_loss times {words} reproduces {{what}}",
                                 "the upstream gradient off by one constant factor reproduces "
                                 "{what}", priority=3 if fp[0] != "other" else 6,
                                 function="MLP.backward", fitted=1,
                                 value=(fp[1],)),
                            _scaled_dz(fp[1], n - 1), _CORRECT, _plain_dx, None))
            break
    return out


def _dx_factor_rules(specs: list[Any], state: _NetState, d_loss: Array,
                     grads: dict[str, Array | None], failing: list[str], batch: int,
                     hide: bool) -> list[NetRule]:
    """The input gradient of every layer off by a factor (fitted on the layer below the top,
    when the top's weights are right), 1.01 named as such."""
    n = len(specs)
    acts = [s.activation for s in specs]
    sizes = {"batch": batch}
    top = f"layers[{n - 1}]"
    out: list[NetRule] = []
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
                                   "in every layer reproduces {what}", priority=1, fitted=1)
                    else:
                        words = _factor_words(fp[0], value, sizes, hide)
                        hyp = _Hyp(f"d_inputs_factor:{fp[0]}", f"the input gradient "
                                   f"multiplied by {words} (each layer passes a scaled "
                                   "gradient to the layer before it)", f"every layer's input "
                                   f"gradient {words} times the expected reproduces {{what}}",
                                   "every layer's input gradient off by one constant factor "
                                   "reproduces {what}",
                                   priority=3 if fp[0] != "other" else 6, fitted=1,
                                   value=(value,))
                    out.append((_CORRECT, _correct_dz, hyp, _scaled_dx(value), None))
                break
    return out


def _dx_and_walk_rules(specs: list[Any], state: _NetState,
                       weights_after: list[Array | None]) -> list[NetRule]:
    """The input gradient from the updated or untransposed weights; the layers walked wrong."""
    n = len(specs)
    out: list[NetRule] = []
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
    if specs[-1].activation != "linear":
        # MLP.backward computing the last layer's gradients itself from the loss gradient (no
        # f'), the layers below through DenseLayer.backward: what only the network shows.
        out.append((_Hyp("output_derivative_skipped", "MLP.backward skips the output layer's "
                         "activation derivative: the last layer's dz is the loss gradient "
                         "itself (as if the output layer were linear), while the layers below "
                         "are back-propagated right", "dz = d_loss (no f'(z)) in the last layer "
                         "only, every other step right, reproduces {what}", priority=2,
                         function="MLP.backward", per_layer=False),
                    _top_without_derivative(n), _CORRECT, _plain_dx, None))
    for walk, cause in (("not_chained", "gradients not chained: every layer's backward is "
                         "given the loss gradient instead of the gradient returned by the "
                         "layer after it"),
                        ("reversed_order", "layers walked in the wrong order: backward goes "
                         "from the first layer to the last"),
                        ("skips_last", "the output layer is never back-propagated: the loop in "
                         "MLP.backward skips the last layer (e.g. reversed(self.layers[:-1]) or "
                         "a range one short), so its d_weights and d_biases are never set and "
                         "the loss gradient goes straight to the layer below it")):
        out.append((_Hyp(walk, cause, "walking the layers that way reproduces {what}",
                         priority=1, function="MLP.backward"), _correct_dz, _CORRECT, _plain_dx,
                    walk))
    return out


def _top_without_derivative(n: int) -> DzRule:
    def rule(j: int, act: str, d: Array, z: Array, a: Array) -> Array | None:
        return d if j == n - 1 else None
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
