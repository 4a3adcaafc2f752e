"""Public hypothesis strategies for networks and data.

Draw a :class:`NetworkSpec` (depth, widths, activations, dtype, batch size and a seed) and build
the problem from it: the spec is a small frozen value, so a failing example prints as one line
that reproduces it, ``NetworkSpec(...).problem()``, and shrinks toward fewer layers, narrower
layers, the first activation, a smaller batch and seed 0.

Every bound is keyword-only and validated, with an error naming the argument::

    from hypothesis import given
    from verify.strategies import network_specs

    @given(network_specs(max_layers=3, activations=("relu", "tanh")))
    def test_something(spec):
        model, x, y = spec.problem()

Data are well scaled (inputs and targets standard normal, weights He/Xavier, biases
``N(0, 0.1**2)``), so a correct network is checked at ordinary magnitudes; relu and leaky_relu
are drawn like any other activation (the checker's kink handling is what keeps them honest).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from numpy.typing import NDArray

from reference_mlp import ACTIVATIONS, MLP

__all__ = ["NetworkSpec", "network_specs", "networks", "problems"]

Array = NDArray[np.float64]

_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class NetworkSpec:
    """A reproducible network and data set: ``NetworkSpec(...).problem()`` rebuilds it."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    dtype: str = "float64"
    batch: int = 4
    seed: int = 0
    x_scale: float = 1.0
    x_offset: float = 0.0

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def build(self) -> MLP:
        """The network: seeded weights, small seeded biases, in ``dtype``."""
        model = MLP.build(self.sizes, list(self.activations), seed=self.seed, dtype=self.dtype)
        rng = np.random.default_rng([self.seed, 1])
        for layer in model.layers:
            layer.biases = (0.1 * rng.standard_normal(layer.biases.shape)).astype(self.dtype)
        return model

    def data(self) -> tuple[Array, Array]:
        """x: (batch, sizes[0]), ``x_offset + x_scale * N(0, 1)`` (standard normal by default;
        e.g. offset 128, scale 64 for unscaled pixel-like features), and y: (batch, sizes[-1]),
        standard normal, in ``dtype``."""
        rng = np.random.default_rng([self.seed, 2])
        x = rng.standard_normal((self.batch, self.sizes[0]))
        if self.x_scale != 1.0 or self.x_offset != 0.0:
            x = self.x_offset + self.x_scale * x
        x = x.astype(self.dtype)
        y = rng.standard_normal((self.batch, self.sizes[-1])).astype(self.dtype)
        return x, y

    def problem(self) -> tuple[MLP, Array, Array]:
        """``(model, x, y)``."""
        return (self.build(), *self.data())


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")
    return int(value)


def _check_range(
    low_name: str, low: Any, high_name: str, high: Any, minimum: int
) -> tuple[int, int]:
    lo = _check_int(low_name, low, minimum)
    hi = _check_int(high_name, high, minimum)
    if lo > hi:
        raise InvalidArgument(f"{low_name}={lo} must not exceed {high_name}={hi}")
    return lo, hi


def _check_activations(activations: Any) -> tuple[str, ...]:
    if isinstance(activations, str) or not isinstance(activations, Sequence):
        raise InvalidArgument(
            f"activations={activations!r} must be a sequence of activation names, "
            f"e.g. ('relu', 'tanh')"
        )
    acts = tuple(activations)
    if not acts:
        raise InvalidArgument("activations=() must name at least one activation")
    for name in acts:
        if name not in ACTIVATIONS:
            raise InvalidArgument(
                f"activations contains {name!r}; expected names from {tuple(ACTIVATIONS)}"
            )
    return acts


def _check_dtypes(dtypes: Any) -> tuple[str, ...]:
    if isinstance(dtypes, (str, type, np.dtype)) or not isinstance(dtypes, Sequence):
        raise InvalidArgument(f"dtypes={dtypes!r} must be a sequence of dtypes, e.g. (np.float64,)")
    names = []
    for dt in dtypes:
        try:
            name = np.dtype(dt).name
        except TypeError:
            name = None
        if name not in _DTYPES:
            raise InvalidArgument(f"dtypes contains {dt!r}; expected float32 or float64")
        names.append(name)
    if not names:
        raise InvalidArgument("dtypes=() must hold at least one dtype")
    return tuple(names)


def _check_floats(name: str, values: Any, *, positive: bool) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise InvalidArgument(f"{name}={values!r} must be a non-empty sequence of numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(
                float(v)) or (positive and v <= 0):
            need = "finite numbers > 0" if positive else "finite numbers"
            raise InvalidArgument(f"{name} contains {v!r}; expected {need}")
        out.append(float(v))
    return tuple(out)


def network_specs(
    *,
    min_layers: int = 1,
    max_layers: int = 4,
    min_width: int = 1,
    max_width: int = 8,
    activations: Sequence[str] = tuple(ACTIVATIONS),
    dtypes: Sequence[Any] = (np.float64,),
    min_batch: int = 1,
    max_batch: int = 8,
    x_scales: Sequence[float] = (1.0,),
    x_offsets: Sequence[float] = (0.0,),
) -> st.SearchStrategy[NetworkSpec]:
    """Network specs: ``min_layers..max_layers`` dense layers of widths ``min_width..max_width``
    (input and output widths included), one activation per layer drawn from ``activations``,
    a dtype from ``dtypes``, a batch of ``min_batch..max_batch`` examples, and inputs
    ``x_offset + x_scale * N(0, 1)`` with the scale and offset drawn from ``x_scales`` and
    ``x_offsets`` (standard normal by default)."""
    lo_l, hi_l = _check_range("min_layers", min_layers, "max_layers", max_layers, 1)
    lo_w, hi_w = _check_range("min_width", min_width, "max_width", max_width, 1)
    lo_b, hi_b = _check_range("min_batch", min_batch, "max_batch", max_batch, 1)
    acts = _check_activations(activations)
    dts = _check_dtypes(dtypes)
    scales = _check_floats("x_scales", x_scales, positive=True)
    offsets = _check_floats("x_offsets", x_offsets, positive=False)

    @st.composite
    def specs(draw: st.DrawFn) -> NetworkSpec:
        n_layers = draw(st.integers(lo_l, hi_l))
        widths = st.integers(lo_w, hi_w)
        sizes = tuple(draw(st.lists(widths, min_size=n_layers + 1, max_size=n_layers + 1)))
        names = st.sampled_from(acts)
        layer_acts = tuple(draw(st.lists(names, min_size=n_layers, max_size=n_layers)))
        spec = NetworkSpec(
            sizes=sizes,
            activations=layer_acts,
            dtype=draw(st.sampled_from(dts)),
            batch=draw(st.integers(lo_b, hi_b)),
            seed=draw(st.integers(0, 2**32 - 1)),
        )
        # Drawn only when there is a choice: the default draws stay those of before.
        scale = draw(st.sampled_from(scales)) if len(scales) > 1 else scales[0]
        offset = draw(st.sampled_from(offsets)) if len(offsets) > 1 else offsets[0]
        if (scale, offset) != (1.0, 0.0):
            spec = NetworkSpec(spec.sizes, spec.activations, spec.dtype, spec.batch, spec.seed,
                               x_scale=scale, x_offset=offset)
        return spec

    return specs()


def networks(**kwargs: Any) -> st.SearchStrategy[MLP]:
    """Built networks; keyword arguments as :func:`network_specs`."""
    return network_specs(**kwargs).map(NetworkSpec.build)


def problems(**kwargs: Any) -> st.SearchStrategy[tuple[MLP, Array, Array]]:
    """``(model, x, y)`` triples; keyword arguments as :func:`network_specs`."""
    return network_specs(**kwargs).map(NetworkSpec.problem)
