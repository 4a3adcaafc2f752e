"""The float64 reference every check evaluates: the model's parameters and data, its caches.

:func:`reference_net` copies a :class:`reference_mlp.MLP` into a :class:`ReferenceNet`: the
weights and biases in float64 (complex128 models: their real parts, which must be all there
is), the data rounded to the model's dtype and then upcast exactly, the forward pass evaluated
once (``acts`` and ``zs``), and the loss as a scaled sum of squares ``c * sum((y - t)**2)``
(:func:`loss_scale`). The finite differences (:mod:`verify.finite_diff`), the torch twin
(:mod:`verify.autograd`) and the layer-local diagnosis (:mod:`verify.check`) all read it, so
they evaluate the very same function.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import LOSSES, MLP, Loss, get_loss
from reference_mlp.activations import Activation, Linear, ReLU

__all__ = [
    "KINDS",
    "ReferenceNet",
    "iter_parameters",
    "loss_scale",
    "model_dtype",
    "reference_net",
]

Array = NDArray[Any]

KINDS = ("weights", "biases", "inputs")
"""What each layer's gradients are taken with respect to, in row order."""

_TINY = float(np.finfo(np.float64).smallest_subnormal)


@dataclass
class ReferenceNet:
    """Everything the finite differences need, evaluated once.

    ``acts[l]``: (batch, n_l) input of layer ``l`` (``acts[0] = x``, ``acts[L] = y``);
    ``zs[l]``: (batch, n_{l+1}) pre-activation of layer ``l``; ``t``: targets.
    The loss is ``scale * sum((y - t)**2)``.
    """

    weights: list[Array]
    biases: list[Array]
    activations: list[Activation]
    t: Array
    scale: float
    acts: list[Array] = field(default_factory=list)
    zs: list[Array] = field(default_factory=list)
    _crossings: dict[int, tuple[Array, Array]] = field(default_factory=dict, repr=False)
    _residual2: Array | None = field(default=None, repr=False)
    _transposed: dict[int, Array] = field(default_factory=dict, repr=False)
    _ext: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.acts:
            raise ValueError("ReferenceNet needs the input x as acts[0]")
        self.acts = self.acts[:1]
        self.zs = []
        for W, b, act in zip(self.weights, self.biases, self.activations):
            z = self.acts[-1] @ W + b
            self.zs.append(z)
            self.acts.append(act.forward(z))

    def transposed(self, layer: int) -> Array:
        """``acts[layer].T`` in C order, cached: (n_layer, batch), so that row i is x[:, i]."""
        if layer not in self._transposed:
            self._transposed[layer] = np.ascontiguousarray(self.acts[layer].T)
        return self._transposed[layer]

    def active_units(self, layer: int) -> tuple[Array, Array]:
        """Per example, the units of ``layer`` with ``z > 0`` first (then others, as padding to
        the largest count K, at least 1), and their pre-activations: (batch, K) each, cached."""
        if ("units", layer) not in self._ext:
            on = np.real(self.zs[layer]) > 0
            order = np.argsort(~on, axis=1, kind="stable")
            units = order[:, : max(1, int(on.sum(axis=1).max()))]
            self._ext[("units", layer)] = (units, np.take_along_axis(self.zs[layer], units, 1))
        return self._ext[("units", layer)]

    def dropped_ext(self, layer: int) -> Array:
        """Per example b, the next layer's ``[[W[units_b], 0], [b, 1]]`` for
        :meth:`active_units` of ``layer`` (``[[W[units_b]], [b - y[b]]]`` when the next layer is
        a linear output layer): (batch, K + 1, n (+ 1)), cached."""
        if ("dropped", layer) not in self._ext:
            units, _ = self.active_units(layer)
            W, b = self.weights[layer + 1], self.biases[layer + 1]
            final = layer + 2 == self.n_layers and type(self.activations[-1]) is Linear
            m, K = W.shape[1], units.shape[1]
            ext = np.zeros((units.shape[0], K + 1, m + (0 if final else 1)))
            ext[:, :K, :m] = W[units]
            ext[:, K, :m] = b - self.y if final else b
            if not final:
                ext[:, K, m] = 1.0
            self._ext[("dropped", layer)] = ext
        return self._ext[("dropped", layer)]

    def hidden_ext(self, layer: int) -> Array:
        """``[[W, 0], [b, 1]]`` of ``layer``: (n_in + 1, n_out + 1), cached."""
        if ("hidden", layer) not in self._ext:
            W, b = self.weights[layer], self.biases[layer]
            ext = np.zeros((W.shape[0] + 1, W.shape[1] + 1))
            ext[:-1, :-1] = W
            ext[-1, :-1] = b
            ext[-1, -1] = 1.0
            self._ext[("hidden", layer)] = ext
        return self._ext[("hidden", layer)]

    def output_ext(self) -> Array:
        """Per example b, ``[[W], [b - y[b]]]`` of the (linear) output layer:
        (batch, n_in + 1, n_out), cached."""
        if ("output", 0) not in self._ext:
            W = self.weights[-1]
            ext = np.empty((self.x.shape[0], W.shape[0] + 1, W.shape[1]))
            ext[:, :-1] = W
            ext[:, -1] = self.biases[-1] - self.y
            self._ext[("output", 0)] = ext
        return self._ext[("output", 0)]

    def prepare_columns(self, layer: int) -> None:
        """Fill every cache :func:`_column_block_change` may read (before threads share them)."""
        self.transposed(layer)
        self.residual2
        if layer + 2 < self.n_layers and type(self.activations[layer + 1]) is ReLU:
            self.dropped_ext(layer + 1)
        for k in range(layer + 2, self.n_layers - 1):
            self.hidden_ext(k)
        if type(self.activations[-1]) is Linear:
            self.output_ext()
        if self.activations[layer + 1].kinks:
            self.crossings(layer + 1)

    @property
    def residual2(self) -> Array:
        """``2 * (y - t)``: (batch, n_out)."""
        if self._residual2 is None:
            self._residual2 = 2.0 * (self.y - self.t)
        return self._residual2

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    @property
    def x(self) -> Array:
        return self.acts[0]

    @property
    def y(self) -> Array:
        return self.acts[-1]

    def crossings(self, layer: int) -> tuple[Array, Array]:
        """Where a rank-1 change of ``z_layer`` moves an entry across a kink.

        Changing column ``j`` of the layer's input by ``d`` (per row) adds
        ``d * weights[layer][j, :]`` to row ``b`` of ``z_layer``; every entry stays on its side
        of kink ``k`` while ``down[k, b, j] < d < up[k, b, j]`` (with a small safety margin).
        -> (up, down): (n_kinks, batch, n_in), cached.
        """
        if layer not in self._crossings:
            W = self.weights[layer]  # (n_in, n_out)
            ups, downs = [], []
            for k in self.activations[layer].kinks:
                zk = self.zs[layer] - k  # (B, n_out)
                with np.errstate(divide="ignore", invalid="ignore"):
                    tau = -zk[:, None, :] / W[None, :, :]  # (B, n_in, n_out): crossing d
                tau[~np.isfinite(tau)] = np.nan
                margin = 1e-9 * np.abs(tau) + 1e-300
                up = np.where(tau >= 0, tau - margin, np.inf)
                down = np.where(tau <= 0, tau + margin, -np.inf)
                up = np.nanmin(np.where(np.isnan(up), np.inf, up), axis=-1)
                down = np.nanmax(np.where(np.isnan(down), -np.inf, down), axis=-1)
                # A change of exactly 0 crosses nothing; any other change past a kink at
                # exactly 0 does: the thresholds are kept strictly away from 0.
                ups.append(np.maximum(up, _TINY))
                downs.append(np.minimum(down, -_TINY))
            self._crossings[layer] = (np.array(ups), np.array(downs))
        return self._crossings[layer]

    def loss(self) -> float:
        d = self.y - self.t
        return float(self.scale * np.sum(d * d))

    def parameter(self, layer: int, kind: str) -> Array:
        """The array a gradient of ``kind`` is taken with respect to."""
        if kind == "weights":
            return self.weights[layer]
        if kind == "biases":
            return self.biases[layer]
        if kind == "inputs":
            return self.acts[layer]
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def loss_scale(loss: str | Loss, shape: tuple[int, int]) -> float:
    """The constant ``c`` with ``loss.value(t, y) == c * sum((y - t)**2)`` for arrays of ``shape``.

    Found by probing ``loss.value`` (so buggy-derivative variants of a convention work too);
    raises ``ValueError`` when the loss is not a scaled sum of squares.
    """
    loss = get_loss(loss)
    batch, width = shape
    candidates = (1.0 / (batch * width), 1.0 / batch, 1.0)
    rng = np.random.default_rng(20240607)
    scales = []
    for _ in range(2):
        t = rng.standard_normal(shape)
        y = rng.standard_normal(shape)
        ss = float(np.sum((y - t) ** 2))
        scales.append(float(np.real(loss.value(t, y))) / ss)
    c = scales[0]
    if not (math.isfinite(c) and abs(scales[1] - c) <= 1e-12 * abs(c) and c > 0):
        raise ValueError(
            f"loss {loss.name!r} is not a scaled sum of squares c * sum((y_pred - y_true)**2); "
            f"the gradient checker supports the conventions {tuple(LOSSES)} and "
            f"losses with their values"
        )
    for cand in candidates:  # snap to the exact constant (probing rounds)
        if abs(c - cand) <= 1e-12 * cand:
            return cand
    return c


def model_dtype(model: MLP) -> np.dtype:
    """The real dtype the model computes in: float32 or float64 (complex128 and others: float64).

    Data are rounded to it before the float64 reference evaluates them.
    """
    dt = np.asarray(model.layers[0].weights).dtype
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def _real(value: Any, name: str, what: str) -> Array:
    """``value`` as a real array; raise if it has a non-zero imaginary part (a complex128
    model is checked on real numbers: the gradient of a real loss)."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        if np.any(np.imag(arr) != 0):
            raise ValueError(
                f"{name} has non-zero imaginary parts; expected real {what} (complex128 "
                f"models are checked on real numbers: the gradient of a real loss)"
            )
        arr = np.real(arr)
    return arr


def reference_net(model: MLP, x: Any, y: Any, loss: str | Loss = "exact") -> ReferenceNet:
    """Float64 reference of ``model`` on ``(x, y)``.

    Data are first rounded to the model's dtype (a float32 model sees float32 data), then
    upcast exactly, so the reference evaluates the very function the model computes, in float64.
    """
    if not model.layers:
        raise ValueError("the model has no layers")
    params = [
        _real(getattr(layer, name), f"layers[{i}].{name}", "parameters")
        for i, layer in enumerate(model.layers)
        for name in ("weights", "biases")
    ]
    mdt = model_dtype(model)

    def data(v: Any, name: str) -> Array:
        return _real(v, name, "data").astype(mdt).astype(np.float64)

    x64, t64 = data(x, "x"), data(y, "y")
    return ReferenceNet(
        weights=[p.astype(np.float64) for p in params[0::2]],
        biases=[p.astype(np.float64) for p in params[1::2]],
        activations=[layer.activation for layer in model.layers],
        t=t64,
        scale=loss_scale(loss, t64.shape),
        acts=[x64],
    )



def iter_parameters(net: ReferenceNet) -> Iterator[tuple[int, str]]:
    """``(layer, kind)`` in row order: weights, biases, inputs per layer."""
    for layer in range(net.n_layers):
        for kind in KINDS:
            yield layer, kind
