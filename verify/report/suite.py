"""The report's suite: named, documented cases, each a network, data and a loss convention.

Every case is built from one seed (``--seed``, default 42, the walkthrough's) so the whole
report is reproducible. A case may run in several *variants*: ``several-outputs`` runs under both
loss conventions (``exact`` and ``lesson``, which differ when there is more than one output), and
``float32-vs-float64`` runs the same network in both dtypes side by side.

Builders take ``(seed, dtype)`` and return ``(model, x, y)``; :meth:`Case.build` wraps that
into a :class:`Problem` together with the loss convention and a one-line description of the
network. Running the cases is :mod:`verify.report.runner`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_mlp import MLP, DenseLayer, get_loss

__all__ = [
    "CASES",
    "DTYPES",
    "LOSS_NOTES",
    "Case",
    "Problem",
    "Variant",
    "describe_network",
    "get_cases",
    "loss_convention_ratio",
]

Array = NDArray[Any]
Builder = Callable[[int, np.dtype], tuple[MLP, Array, Array]]

DTYPES = ("float64", "float32")
"""The dtypes ``--dtype`` accepts."""

LOSS_NOTES: dict[str, str] = {
    "exact": "loss = mean over all elements of (y_pred - y)^2; "
    "dL/dy_pred = 2 (y_pred - y) / (batch * n_outputs)",
    "lesson": "the lesson's mseDerivative, dL/dy_pred = 2 (y_pred - y) / batch: the exact gradient "
    "of sum((y_pred - y)^2) / batch, i.e. n_outputs times the gradient of the mean",
}
"""What each loss convention means, as the report states it."""


@dataclass(frozen=True)
class Problem:
    """What one check runs on. ``x: (batch, n_in)``, ``y: (batch, n_out)``."""

    model: Any
    x: Array
    y: Any
    loss: Any
    dtype: str
    network: str


@dataclass(frozen=True)
class Variant:
    """One (loss convention, dtype) combination of a case; ``label`` names it in the report."""

    case: Case
    loss: str
    dtype: str
    label: str

    def build(self, seed: int) -> Problem:
        return self.case.build(seed=seed, dtype=self.dtype, loss=self.loss)


@dataclass(frozen=True)
class Case:
    """A named, documented network + data. ``losses`` and ``dtypes`` list its variants."""

    name: str
    description: str
    builder: Builder
    losses: tuple[str, ...] = ("exact",)
    dtypes: tuple[str, ...] = ("float64",)

    def build(self, *, seed: int, dtype: str = "float64", loss: str = "exact") -> Problem:
        model, x, y = self.builder(seed, np.dtype(dtype))
        return Problem(model, x, y, loss, np.dtype(dtype).name, describe_network(model, x))

    def variants(self, dtype: str | None = None) -> list[Variant]:
        """The variants to run; ``dtype`` (``--dtype``) replaces the case's own dtypes."""
        dtypes = (dtype,) if dtype else self.dtypes
        out = []
        for loss in self.losses:
            for dt in dtypes:
                tags = ([f"loss={loss}"] if len(self.losses) > 1 else []) + (
                    [dt] if len(dtypes) > 1 else []
                )
                label = f"{self.name}[{','.join(tags)}]" if tags else self.name
                out.append(Variant(self, loss, dt, label))
        return out


def describe_network(model: Any, x: Array) -> str:
    """``"3 -> 4 relu -> 1 linear, batch 4"``; for any other model (:mod:`verify.protocol`)
    its layers' classes, ``"4 -> Dense -> Swish -> Dense, batch 7"``."""
    if isinstance(model, MLP) and all(isinstance(layer, DenseLayer) for layer in model.layers):
        parts = [str(model.sizes[0])]
        parts += [f"{layer.n_neurons} {layer.activation.name}" for layer in model.layers]
    else:
        from verify.protocol import describe_layer, layers_of

        parts = [str(np.shape(x)[1])] + [describe_layer(layer) for layer in layers_of(model)]
    return f"{' -> '.join(parts)}, batch {np.shape(x)[0]}"


def _data(
    seed: int, batch: int, n_in: int, n_out: int, dtype: np.dtype, *, scale: float = 1.0
) -> tuple[Array, Array]:
    # A separate stream from the weights' (MLP.build spawns from `seed` itself).
    rng = np.random.default_rng([seed, 1])
    x = rng.uniform(-scale, scale, size=(batch, n_in)).astype(dtype)
    y = rng.uniform(-1.0, 1.0, size=(batch, n_out)).astype(dtype)
    return x, y


def _network(
    sizes: Sequence[int], activations: Sequence[str], batch: int, *, x_scale: float = 1.0
) -> Builder:
    def build(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
        model = MLP.build(sizes, list(activations), seed=seed, dtype=dtype)
        x, y = _data(seed, batch, sizes[0], sizes[-1], dtype, scale=x_scale)
        return model, x, y

    return build


def _lesson(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
    # Exactly reference_mlp/walkthrough.py's network and data (seed 42 by default).
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(4, 3)).astype(dtype)
    y = rng.uniform(1.0, 2.0, size=(4, 1)).astype(dtype)
    model = MLP()
    model.add_layer(DenseLayer(3, 4, "relu", seed=seed, dtype=dtype))
    model.add_layer(DenseLayer(4, 1, "linear", seed=seed + 1, dtype=dtype))
    return model, x, y


def _sigmoid_saturated(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
    model, x, y = _network([4, 6, 6, 1], ["sigmoid", "sigmoid", "linear"], 5)(seed, dtype)
    # Push pre-activations to |z| ~ 6 (up to ~20 for seed 42): sigmoid'(z) ~ 2e-3 .. 1e-9.
    first, second = model.layers[0], model.layers[1]
    first.weights = (first.weights * 10).astype(dtype)
    first.biases = np.full_like(first.biases, 4.0)
    second.weights = (second.weights * 12).astype(dtype)
    second.biases = np.full_like(second.biases, -5.0)
    return model, x, y


def _relu_at_kinks(seed: int, dtype: np.dtype) -> tuple[MLP, Array, Array]:
    model, x, y = _network([3, 5, 1], ["relu", "linear"], 4)(seed, dtype)
    # Put example 0's pre-activation of unit 0 1e-9 above relu's kink: every finite-difference
    # stencil through it (W[:, 0], b[0], x[0, :], and any random direction) straddles the kink.
    # One such point only: a stencil across several kinks at once is a checker test, not this.
    layer = model.layers[0]
    z00 = float(x[0].astype(np.float64) @ layer.weights[:, 0].astype(np.float64))
    biases = layer.biases.astype(np.float64)
    biases[0, 0] = -z00 + 1e-9
    layer.biases = biases.astype(dtype)
    return model, x, y


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case(
            "lesson-example",
            "The lesson's own network (reference_mlp/walkthrough.py): 3 inputs, 4 relu hidden "
            "units, 1 linear output, batch 4, targets above the untrained outputs.",
            _lesson,
        ),
        Case(
            "deep-tanh",
            "Six tanh layers then a linear one: gradients pass through many saturating "
            "derivatives, so an error in a late layer shows up in every earlier row.",
            _network([5, 8, 8, 8, 8, 8, 8, 2], ["tanh"] * 6 + ["linear"], 6),
        ),
        Case(
            "sigmoid-saturated",
            "Two sigmoid layers pushed into saturation (|z| ~ 6 typically, up to ~20, where "
            "sigmoid' is ~2e-3 down to ~1e-9): tiny gradients that the checks must still "
            "resolve.",
            _sigmoid_saturated,
        ),
        Case(
            "relu-at-kinks",
            "A relu layer with one pre-activation 1e-9 above the kink: every finite-difference "
            "stencil through it straddles the kink. The checker finds them exactly (the kinks "
            "column) and accepts the analytic value when it lies between the one-sided "
            "derivatives.",
            _relu_at_kinks,
        ),
        Case(
            "mixed-activations",
            "One layer of each activation: relu, tanh, sigmoid, softplus, leaky_relu, linear.",
            _network(
                [4, 7, 6, 6, 5, 5, 3],
                ["relu", "tanh", "sigmoid", "softplus", "leaky_relu", "linear"],
                6,
            ),
        ),
        Case(
            "leaky-relu-softplus",
            "leaky_relu (slope 0.01 below zero, another kink) then softplus then linear.",
            _network([4, 6, 6, 2], ["leaky_relu", "softplus", "linear"], 5),
        ),
        Case(
            "wide-layer",
            "A 512-unit tanh layer between narrow ones (9,730 parameters): the "
            "vectorised finite differences and the error sums over many terms.",
            _network([16, 512, 2], ["tanh", "linear"], 8),
        ),
        Case(
            "batch-1",
            "A single example: the batch sums in the bias and weight gradients have one term.",
            _network([4, 6, 6, 2], ["tanh", "relu", "linear"], 1),
        ),
        Case(
            "width-1",
            "Every layer one unit wide (1 -> 1 -> 1 -> 1): scalars throughout, "
            "no room for a transposed or broadcast gradient to hide.",
            _network([1, 1, 1, 1], ["tanh", "sigmoid", "linear"], 3),
        ),
        Case(
            "several-outputs",
            "Three outputs, run under both loss conventions. With more than one output the "
            "lesson's mseDerivative (divides by the batch size) is not the gradient of the mean "
            "squared error (which divides by batch * outputs): it is 3x larger here. Each "
            "convention is checked against its own loss, so both pass; mixing them would fail.",
            _network([4, 6, 3], ["tanh", "linear"], 5),
            losses=("exact", "lesson"),
        ),
        Case(
            "float32-vs-float64",
            "The same network and data in float64 and float32, side by side: float32 is "
            "checked with its own (looser) tolerances from verify.compare.TOLERANCES.",
            _network([4, 8, 8, 2], ["tanh", "sigmoid", "linear"], 6),
            dtypes=("float64", "float32"),
        ),
    )
}
"""Every case by name, in report order."""


def get_cases(names: Sequence[str] | None = None) -> list[Case]:
    """The cases named (all, in order, when ``names`` is empty); unknown names raise ValueError."""
    if not names:
        return list(CASES.values())
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise ValueError(
            f"unknown case(s) {', '.join(map(repr, unknown))}; expected names from: "
            f"{', '.join(CASES)}"
        )
    return [CASES[name] for name in dict.fromkeys(names)]


def loss_convention_ratio(problem: Problem) -> float:
    """``|lesson gradient| / |exact gradient|`` of the output: ``n_outputs`` (1 when they agree)."""
    pred = problem.model.forward(problem.x)
    lesson = get_loss("lesson").derivative(problem.y, pred)
    exact = get_loss("exact").derivative(problem.y, pred)
    return float(np.linalg.norm(lesson) / np.linalg.norm(exact))
