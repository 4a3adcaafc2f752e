"""How far a correct backward pass may be from the exact gradient: rounding bounds per entry.

A correct float32 backward differs from the float64 reference by its own rounding, and that
rounding scales with the magnitude of what was *summed*, not with the result: ``dW = x.T @ dz``
on raw pixel values (0-255) sums terms of about 100 whose total may be 1e3 times smaller. A
constant relative tolerance therefore fails correct float32 models. This module estimates the
rounding per entry by probabilistic running error analysis (Higham & Mary, SIAM J. Sci. Comput.
41(5), A2815, 2019; Ipsen & Zhou, SIAM J. Matrix Anal. Appl. 41(4), 2020): rounding errors are
modelled as independent, of mean zero and at most ``u`` (the unit roundoff) each, so

* an n-term inner product ``sum_k a_k b_k`` computed in floating point has an error of standard
  deviation at most ``u * sqrt(n / 3) * sum_k |a_k b_k|`` (each of its n roundings moves a
  partial sum no larger than ``sum |a_k b_k|``; :func:`sigma_inner`);
* errors already present propagate through a linear map as independent errors do: the standard
  deviation of ``sum_k c_k e_k`` is ``sqrt(sum_k c_k**2 sigma_k**2)``;
* a nonlinear step is evaluated at ``z +- LAMBDA * sigma`` (which also covers a pre-activation
  that rounding may push across a relu kink).

Carried through the forward pass, the loss gradient and the backward pass of the reference
network, this gives a standard deviation per entry; the allowance is :data:`LAMBDA` (6) of them
(a Gaussian exceeds 6 standard deviations with probability 2e-9). First order: products of two
error terms are neglected.

Measured on a float32 784-16-10 network on raw pixels (tanh, sigmoid, relu; seeds 0-4) and on
deep float32 linear networks, the actual error of every entry (float32 backward against the
float64 reference) stayed below its allowance, except entries below 1e-40 (underflow; the
tolerance's ``atol * S`` covers them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import Activation
from reference_mlp.losses import softmax as _softmax

from .losses import SoftmaxCrossEntropy, SquaredError
from .reference import KINDS, LayerGradients, ReferenceNet

__all__ = ["CANCELLING_DERIVATIVES", "LAMBDA", "dense_rounding_bounds", "local_rounding_bounds",
           "rounding_bounds", "sigma_inner", "unit_roundoff"]

Array = NDArray[Any]

LAMBDA = 6.0
"""How many standard deviations of the modelled rounding error the allowance is."""


def unit_roundoff(dtype: Any) -> float:
    """``u``, half the machine epsilon of ``dtype``'s real type (6e-8 float32, 1.1e-16 float64)."""
    real = np.real(np.zeros((), dtype=np.dtype(dtype))).dtype
    return float(np.finfo(real).eps) / 2


def gamma(n: int, u: float) -> float:
    """``LAMBDA * sqrt(n / 3) * u``: the relative rounding of an n-term sum, at LAMBDA standard
    deviations (for a sum of n terms held in float64, as a check's own projections are)."""
    return LAMBDA * math.sqrt(max(n, 1) / 3) * u


def sigma_inner(n: int, magnitude: Array, u: float) -> Array:
    """The standard deviation of the rounding of n-term inner products whose terms' absolute
    values sum to ``magnitude``: ``u * sqrt(n / 3) * magnitude``."""
    return u * math.sqrt(max(n, 1) / 3) * magnitude


def _rss(sigma: Array, weights: Array) -> Array:
    """The standard deviation of ``e @ weights`` for independent errors ``e`` of standard
    deviation ``sigma``: ``sqrt(sigma**2 @ weights**2)``."""
    if not sigma.any():  # exact data (the network's input): skip squaring a large weight matrix
        return np.zeros((sigma.shape[0], weights.shape[1]), dtype=np.result_type(sigma, weights))
    out = (sigma * sigma) @ np.square(weights)
    return np.sqrt(out, out=out)


def _spread(f: Any, z: Array, sigma: Array) -> Array:
    """How far ``f`` moves when its argument is off by ``sigma``: at least ``|f'(z)| sigma``
    (first order), measured at ``z +- LAMBDA * sigma`` (so that a jump within reach counts)."""
    base = f(z)
    far = LAMBDA * sigma
    return np.maximum(np.abs(f(z + far) - base), np.abs(f(z - far) - base)) / LAMBDA


def _pre_activation(x: Array, dx: Array, W: Array, b: Array, u: float,
                    cast: float = 0.0) -> Array:
    """The standard deviation of the error of ``z = x @ W + b``: its own rounding (n_in + 1
    terms), the input's errors ``dx`` and, with ``cast`` (the unit roundoff of a dtype W and b
    are rounded to), those roundings as independent errors."""
    dz = sigma_inner(W.shape[0] + 1, np.abs(x) @ np.abs(W) + np.abs(b), u) + _rss(dx, W)
    if cast:
        dz += (cast / math.sqrt(3)) * np.sqrt((x * x) @ (W * W) + b * b)
    return dz


def _forward(net: ReferenceNet, u: float) -> tuple[list[Array], list[Array]]:
    """Standard deviations of the forward pass's errors: (of each layer's input a_l, incl. the
    prediction; of each pre-activation z_l)."""
    das, dzs = [np.zeros_like(net.x)], []
    for layer in range(net.n_layers):
        W, b, act = net.weights[layer], net.biases[layer], net.activations[layer]
        x, z = net.acts[layer], net.zs[layer]
        dz = _pre_activation(x, das[-1], W, b, u)
        dzs.append(dz)
        das.append(u * np.abs(net.acts[layer + 1]) + _spread(act.forward, z, dz))
    return das, dzs


def _loss_gradient(net: ReferenceNet, dy: Array, u: float) -> tuple[Array, Array]:
    """The loss gradient at the prediction and the standard deviation of its error given the
    prediction's ``dy``."""
    loss = net.loss_function
    y, t = net.y, net.t
    g = loss.gradient(y, t)
    if isinstance(loss, SquaredError):
        dg = 2 * loss.scale * (dy + 2 * u * np.abs(y - t)) + u * np.abs(g)
    elif isinstance(loss, SoftmaxCrossEntropy):
        p = _softmax(y)
        s = np.abs(t).sum(axis=-1, keepdims=True)
        dp = p * (dy + np.sqrt((p * p * dy * dy).sum(axis=-1, keepdims=True))) + 8 * u * p
        dg = loss.scale * s * dp + 2 * u * np.abs(g)
    else:  # a value function: its derivative's own error is unknown; a few roundings
        dg = 8 * u * np.abs(g)
    return g, dg


CANCELLING_DERIVATIVES = {"sigmoid": 1.0, "tanh": 2.0}
"""Activations whose derivative PyTorch computes from the output with a cancellation
(``s * (1 - s)``, ``1 - t**2``): its absolute error is about this many ``u``, however small the
derivative (the reference's own formulas, ``e / (1 + e)**2``, are accurate relative to it)."""


def _layer(x: Array, dx: Array, z: Array, dz_fwd: Array, W: Array, act: Activation, g: Array,
           dg: Array, u: float, cancelling: bool = False) -> dict[str, Array]:
    """Standard deviations of the errors of one dense layer's backward, ``dz = g * f'(z)``,
    ``dW = x.T @ dz``, ``db = sum dz``, ``dx = dz @ W.T``, given those of its input ``dx``, of
    its pre-activation ``dz_fwd`` and of its upstream gradient ``dg`` (``cancelling``: ``f'`` is
    computed as in :data:`CANCELLING_DERIVATIVES`)."""
    fp = act.derivative(z)
    dfp = 4 * u * np.abs(fp) + _spread(act.derivative, z, dz_fwd)
    if cancelling:
        dfp = dfp + CANCELLING_DERIVATIVES.get(act.name, 0.0) * u
    dzv = g * fp
    ddz = np.sqrt((dg * fp) ** 2 + (g * dfp) ** 2) + u * np.abs(dzv)
    batch, n_out = z.shape
    adz = np.abs(dzv)
    # In place where the result has a weight matrix's shape: these are the check's largest
    # arrays after the weights themselves (a 3072 x 1024 layer: 25 MB each).
    weights = (x * x).T @ (ddz * ddz)
    weights += (dx * dx).T @ (dzv * dzv)
    np.sqrt(weights, out=weights)
    weights += sigma_inner(batch, np.abs(x).T @ adz, u)
    inputs = _rss(ddz, W.T)
    inputs += sigma_inner(n_out, adz @ np.abs(W).T, u)
    return {
        "weights": weights,
        "biases": sigma_inner(batch, adz.sum(axis=0, keepdims=True), u)
        + np.sqrt((ddz * ddz).sum(axis=0, keepdims=True)),
        "inputs": inputs,
    }


def _floor(dtype: Any) -> float:
    real = np.real(np.zeros((), dtype=np.dtype(dtype))).dtype
    return 4 * float(np.finfo(real).tiny)


def rounding_bounds(net: ReferenceNet, dtype: Any, *, cancelling: bool = False
                    ) -> dict[tuple[int, str], Array]:
    """Per ``(layer, kind)``, how far a correct backward pass computed in ``dtype`` (forward
    and backward, on the net's weights and data) may be from the exact gradient: :data:`LAMBDA`
    standard deviations of its modelled rounding error, arrays of the gradients' shapes.
    ``cancelling``: the backward computes the derivatives of
    :data:`CANCELLING_DERIVATIVES` from the outputs, as PyTorch does (the autograd twin)."""
    u = unit_roundoff(dtype)
    das, dzs = _forward(net, u)
    g, dg = _loss_gradient(net, das[-1], u)
    out: dict[tuple[int, str], Array] = {}
    floor = _floor(dtype)
    for layer in reversed(range(net.n_layers)):
        sig = _layer(net.acts[layer], das[layer], net.zs[layer], dzs[layer],
                     net.weights[layer], net.activations[layer], g, dg, u, cancelling)
        for kind in KINDS:
            if kind == "inputs":  # still needed unscaled: the next layer's upstream error
                out[(layer, kind)] = LAMBDA * sig[kind] + floor
            else:
                sig[kind] *= LAMBDA
                sig[kind] += floor
                out[(layer, kind)] = sig[kind]
        g = (g * net.activations[layer].derivative(net.zs[layer])) @ net.weights[layer].T
        dg = sig["inputs"]
    return out


def local_rounding_bounds(net: ReferenceNet, per: list[LayerGradients], dtype: Any
                          ) -> dict[tuple[int, str], Array]:
    """As :func:`rounding_bounds` for each layer alone, fed the reference's input and upstream
    gradient rounded to ``dtype`` (the layer-local check of :mod:`verify.check`)."""
    u = unit_roundoff(dtype)
    cast = u if np.dtype(dtype) == np.float32 else 0.0  # float64 data: no cast
    out: dict[tuple[int, str], Array] = {}
    floor = _floor(dtype)
    for layer in range(net.n_layers):
        W, b, act = net.weights[layer], net.biases[layer], net.activations[layer]
        x, z = net.acts[layer], net.zs[layer]
        dx = cast * np.abs(x)
        dz = _pre_activation(x, dx, W, b, u)
        g = per[layer].upstream
        sig = _layer(x, dx, z, dz, W, act, g, cast * np.abs(g), u)
        for kind in KINDS:
            out[(layer, kind)] = LAMBDA * sig[kind] + floor
    return out


def dense_rounding_bounds(layers: Sequence[tuple[Array, Array, Activation]], x: Array,
                          d_out: Array | None, dtype: Any) -> list[dict[str, Array]]:
    """How far a correct forward and backward through a chain of dense layers, computed in
    ``dtype`` from ``x``, the weights and ``d_out`` rounded to it, may be from the exact values
    (the grader's allowance for a submission that computes in float32).

    ``layers``: ``(W: (n_in, n_out), b: (1, n_out), activation)`` each, first layer first;
    ``x``: (batch, n_in of the first); ``d_out``: the upstream gradient at the last layer's
    output (batch, n_out of the last), or None for a forward alone.
    -> per layer, ``"output"`` (batch, n_out) and, with ``d_out``, ``"weights"``, ``"biases"``
    (1, n_out) and ``"inputs"`` (batch, n_in): :data:`LAMBDA` standard deviations of the modelled
    rounding (as :func:`rounding_bounds`), plus an underflow floor, plus a hard bound for a
    derivative of sigmoid or tanh taken from the outputs (``s * (1 - s)``, ``1 - t**2``):
    ``4 c u`` per unit (:data:`CANCELLING_DERIVATIVES` gives ``c``; the output may be a few ulps
    off), except where ``|f'(z)| < 1e-3 u``: the output is then exactly at its limit and the
    derivative from it exactly 0, so no more than ``2 |f'(z)|`` is allowed (a derivative that
    stays at 4e-7 where it should be 0, from a tanh clipped at 8, stays visible). This bound is
    not a sum of roundings, so it is not scaled by LAMBDA.
    """
    u = unit_roundoff(dtype)
    cast = u if np.dtype(dtype) != np.float64 else 0.0  # the float64 numbers rounded to dtype
    floor = _floor(dtype)
    a, da = np.asarray(x, dtype=np.float64), cast * np.abs(np.asarray(x, dtype=np.float64))
    saved: list[tuple[Array, Array, Array, Array]] = []
    out: list[dict[str, Array]] = []
    for W, b, act in layers:
        z = a @ W + b
        dz = _pre_activation(a, da, W, b, u, cast)
        saved.append((a, da, z, dz))
        a = act.forward(z)
        da = u * np.abs(a) + _spread(act.forward, z, dz)
        out.append({"output": LAMBDA * da + floor})
    if d_out is None:
        return out
    g = np.asarray(d_out, dtype=np.float64)
    dg = cast * np.abs(g)
    for layer in reversed(range(len(layers))):
        W, _, act = layers[layer]
        xl, dxl, z, dz = saved[layer]
        fp = act.derivative(z)
        sig = _layer(xl, dxl, z, dz, W, act, g, dg, u)
        sig["inputs"] += (cast / math.sqrt(3)) * np.sqrt(((g * fp) ** 2) @ (W * W).T)
        c = CANCELLING_DERIVATIVES.get(act.name, 0.0)
        # Where f' is below 1e-3 u, a float32 output is exactly at its limit and the
        # derivative from it exactly 0 (allowed: f' itself); elsewhere the output may be a few
        # ulps off (np.tanh in float32), so 1 - t**2 may be off by 4 c u, whatever f' is.
        afp = np.abs(fp)
        hard = np.abs(g) * np.where(afp >= 1e-3 * u, 4 * c * u, 2 * afp)  # dz's error from f'
        extra = {"weights": np.abs(xl).T @ hard, "biases": hard.sum(axis=0, keepdims=True),
                 "inputs": hard @ np.abs(W).T}
        for kind in ("weights", "biases", "inputs"):
            out[layer][kind] = LAMBDA * sig[kind] + extra[kind] + floor
        g = (g * fp) @ W.T
        dg = sig["inputs"] + extra["inputs"] / LAMBDA
    return out
