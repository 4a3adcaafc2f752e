"""Forward hypotheses: the state (pre-activations, outputs, weights held) left for backward."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..diagnosis import RefNetRound
from .activations import _OVERFLOW_FORMS, _STABLE, _f, _overflow_mask, _overflowing_forward
from .findings import _CORRECT, LayerGot, NetGot, _held, _Hyp
from .fitting import Array, _factor_param, _factor_words, _fit


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
                                           function="DenseLayer.forward",
                                           scope=f"{act}(z): {why}"), z, out, W), out))
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
                                       function="DenseLayer.forward", fitted=1,
                                       value=(fp[1],)),
                                  z, fp[1] * ref_out, W), fp[1] * ref_out))
    return states


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
                             function="DenseLayer.forward", scope=f"{act}(z): {why}"),
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
