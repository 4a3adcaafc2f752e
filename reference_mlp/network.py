"""The multi-layer perceptron: a list of dense layers, walked forward, then backward in reverse."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .activations import Activation
from .layers import DenseLayer
from .validation import check_dtype

__all__ = ["MLP", "PARAMETER_NAMES"]

Array = NDArray[Any]

PARAMETER_NAMES = ("weights", "biases")
"""The parameters every layer has, in the order they are iterated."""


class MLP:
    """A stack of :class:`DenseLayer`; parameters are named by path, e.g. ``layers[1].weights``."""

    def __init__(self, layers: Sequence[DenseLayer] = ()) -> None:
        self.layers: list[DenseLayer] = []
        for layer in layers:
            self.add_layer(layer)

    @classmethod
    def build(
        cls,
        sizes: Sequence[int],
        activations: str | Activation | Sequence[str | Activation] = "relu",
        *,
        seed: int | None = None,
        dtype: Any = np.float64,
    ) -> MLP:
        """Build ``len(sizes) - 1`` layers of widths ``sizes`` (input width first).

        ``activations`` is one name for every layer or one per layer. Layer ``i`` is seeded from
        ``seed`` so the whole network is reproducible.
        """
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least 2 widths (input and output), got {sizes}")
        n_layers = len(sizes) - 1
        if isinstance(activations, (str, Activation)):
            acts: list[str | Activation] = [activations] * n_layers
        else:
            acts = list(activations)
            if len(acts) != n_layers:
                raise ValueError(
                    f"got {len(acts)} activations for {n_layers} layers (sizes {sizes}); "
                    f"expected one name, or one per layer"
                )
        dtype = check_dtype(dtype)
        rngs = np.random.default_rng(seed).spawn(n_layers)
        return cls(
            [
                DenseLayer(n_in, n_out, act, seed=rng, dtype=dtype)
                for n_in, n_out, act, rng in zip(sizes[:-1], sizes[1:], acts, rngs, strict=True)
            ]
        )

    def __repr__(self) -> str:
        return f"MLP({self.layers!r})"

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def sizes(self) -> list[int]:
        """Widths from input to output: ``[n_in, n_hidden..., n_out]``."""
        if not self.layers:
            return []
        return [self.layers[0].n_inputs] + [layer.n_neurons for layer in self.layers]

    def add_layer(self, layer: DenseLayer) -> DenseLayer:
        """Append ``layer``; its input width must equal the previous layer's output width."""
        if not isinstance(layer, DenseLayer):
            raise TypeError(f"add_layer expects a DenseLayer, got {type(layer).__name__}")
        if self.layers and layer.n_inputs != self.layers[-1].n_neurons:
            raise ValueError(
                f"layers[{len(self.layers)}] takes {layer.n_inputs} inputs but "
                f"layers[{len(self.layers) - 1}] outputs {self.layers[-1].n_neurons}: "
                f"expected a layer with n_inputs={self.layers[-1].n_neurons}"
            )
        self.layers.append(layer)
        return layer

    addLayer = add_layer  # noqa: N815 - the lesson's spelling

    def _require_layers(self) -> None:
        if not self.layers:
            raise RuntimeError("the MLP has no layers: call add_layer() first")

    def forward(self, x: Any) -> Array:
        """x: (batch, n_in) -> prediction (batch, n_out)."""
        self._require_layers()
        out = x  # layers[0] validates it (shape, dtype, finiteness)
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def backward(self, d_loss_wrt_prediction: Any) -> Array:
        """Walk the layers in reverse; d_loss: (batch, n_out) -> d_loss/d_x: (batch, n_in)."""
        self._require_layers()
        grad = d_loss_wrt_prediction
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def named_parameters(self) -> Iterator[tuple[str, Array]]:
        """Yield ``("layers[i].weights", W)`` and ``("layers[i].biases", b)`` in layer order."""
        for i, layer in enumerate(self.layers):
            for name in PARAMETER_NAMES:
                yield f"layers[{i}].{name}", getattr(layer, name)

    def named_gradients(self) -> Iterator[tuple[str, Array]]:
        """Yield each parameter's gradient by path; raises if ``backward`` has not run."""
        for i, layer in enumerate(self.layers):
            for name in PARAMETER_NAMES:
                grad = getattr(layer, f"d_{name}")
                if grad is None:
                    raise RuntimeError(f"layers[{i}].d_{name} is not set: call backward() first")
                yield f"layers[{i}].{name}", grad

    def parameters_and_gradients(self) -> Iterator[tuple[str, Array, Array]]:
        """Yield ``(path, parameter, gradient)`` triples."""
        for (path, param), (_, grad) in zip(self.named_parameters(), self.named_gradients(),
                                            strict=True):
            yield path, param, grad

    def copy(self) -> MLP:
        """A deep copy (parameters, caches and gradients)."""
        return copy.deepcopy(self)

    def astype(self, dtype: Any) -> MLP:
        """A copy whose parameters are cast to ``dtype`` (caches and gradients cleared).

        Each layer keeps its class and activation (a subclass with its own backward stays one).
        """
        dtype = check_dtype(dtype)
        out = copy.copy(self)
        out.layers = []
        for layer in self.layers:
            new = copy.copy(layer)
            new.weights = np.asarray(layer.weights).astype(dtype)
            new.biases = np.asarray(layer.biases).astype(dtype)
            new.dtype = dtype
            new.inputs = new.pre_activation = new.output = None
            new.d_weights = new.d_biases = new.d_inputs = None
            out.layers.append(new)
        return out

    @property
    def n_parameters(self) -> int:
        return sum(p.size for _, p in self.named_parameters())
