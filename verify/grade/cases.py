"""The graded cases: weights, inputs and upstream gradients drawn fresh for every grading run.

Everything is drawn from one recorded seed (``--seed`` reproduces a run exactly). Each test of
the rubric owns one or more *parts*; a part is one protocol task (see PROTOCOL.md) plus what
the parent needs to check it. Expected values are never part of a task: the parent computes
them with :mod:`reference_mlp` from the same numbers.

Pre-activations are kept at least ``KINK_MARGIN`` away from 0, so that a relu's kink never
decides a result (nor a finite difference of the student's forward), whatever the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from reference_mlp.activations import get_activation
from reference_mlp.layers import dense_forward

__all__ = [
    "ACTIVATION_NAMES",
    "KINK_MARGIN",
    "LayerCase",
    "LossCase",
    "NetCase",
    "Part",
    "TestCase",
    "draw_cases",
    "encode_matrix",
]

Array = NDArray[np.float64]
ACTIVATION_NAMES = ("linear", "relu", "sigmoid", "tanh")
"""The activations the contract requires (and the grader tests)."""
KINK_MARGIN = 1e-2


def encode_number(v: float) -> float | str:
    if np.isfinite(v):
        return float(v)
    return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")


def encode_matrix(a: Array) -> list[list[float | str]]:
    """A 2-D array as the protocol's ``M`` (non-finite numbers as strings)."""
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all():
        return a.tolist()
    return [[encode_number(v) for v in row] for row in a.tolist()]


@dataclass(frozen=True)
class LayerSpec:
    n_inputs: int
    n_neurons: int
    activation: str
    weights: Array
    biases: Array

    def to_json(self) -> dict[str, Any]:
        return {"n_inputs": self.n_inputs, "n_neurons": self.n_neurons,
                "activation": self.activation, "weights": encode_matrix(self.weights),
                "biases": encode_matrix(self.biases)}


@dataclass(frozen=True)
class LayerCase:
    """One DenseLayer, reused for every round: ``(inputs, d_outputs or None)``."""

    layer: LayerSpec
    rounds: tuple[tuple[Array, Array | None], ...]

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "layer", **self.layer.to_json(),
                "rounds": [{"inputs": encode_matrix(x),
                            "d_outputs": None if d is None else encode_matrix(d)}
                           for x, d in self.rounds]}


@dataclass(frozen=True)
class NetCase:
    """One MLP, reused for every round: ``(x, d_loss or None)``."""

    layers: tuple[LayerSpec, ...]
    rounds: tuple[tuple[Array, Array | None], ...]

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "mlp", "layers": [s.to_json() for s in self.layers],
                "rounds": [{"x": encode_matrix(x),
                            "d_loss": None if d is None else encode_matrix(d)}
                           for x, d in self.rounds]}

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_inputs] + [s.n_neurons for s in self.layers]


@dataclass(frozen=True)
class LossCase:
    op: Literal["mse", "mse_derivative"]
    y_true: Array
    y_pred: Array

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": self.op, "y_true": encode_matrix(self.y_true),
                "y_pred": encode_matrix(self.y_pred)}


@dataclass(frozen=True)
class ApiCase:
    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "api"}


Case = LayerCase | NetCase | LossCase | ApiCase


@dataclass(frozen=True)
class Part:
    """One checked piece of a test: a task id, its case, and a label for feedback."""

    task_id: str
    label: str
    case: Case


@dataclass(frozen=True)
class TestCase:
    """A rubric test: what it checks (``kind``), the child group it runs in, its parts.

    Two groups (two children per submission, run in parallel; one child for all tasks where
    the runner isolates tasks itself, as Node's does): each child pays the interpreter's and
    numpy's start-up once. When a group's child dies (a hang, a crash), the
    grader re-runs that group's tests one child each, so one bad test never zeroes the rest."""

    id: str
    name: str
    kind: Literal["api", "forward", "mse", "mse_derivative", "layer_backward", "network"]
    group: str
    parts: tuple[Part, ...]
    hidden: bool = False
    info: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ drawing


def _pre_activation_ok(z: Array, activation: str) -> bool:
    return activation != "relu" or bool(np.all(np.abs(z) >= KINK_MARGIN))


def _draw_layer(rng: np.random.Generator, n_in: int, n_out: int, activation: str) -> LayerSpec:
    w = rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_out))
    b = rng.normal(0.0, 0.5, (1, n_out))
    return LayerSpec(n_in, n_out, activation, w, b)


def forward_layers(layers: tuple[LayerSpec, ...], x: Array) -> tuple[list[Array], list[Array], Array]:
    """The reference forward through ``layers``: (each layer's input, each pre-activation, output)."""
    xs: list[Array] = []
    zs: list[Array] = []
    for spec in layers:
        z = np.asarray(dense_forward(x, spec.weights, spec.biases), dtype=np.float64)
        xs.append(x)
        zs.append(z)
        x = np.asarray(get_activation(spec.activation).forward(z), dtype=np.float64)
    return xs, zs, x


_INPUT_TRIES = 50
_LAYER_TRIES = 1000


def _draw_inputs(rng: np.random.Generator, layers: tuple[LayerSpec, ...], batch: int) -> Array | None:
    """Inputs whose pre-activations keep away from every relu kink, or None when a few dozen
    draws all come close to one (then the weights are to blame: the caller redraws them)."""
    for _ in range(_INPUT_TRIES):
        x = rng.normal(0.0, 1.0, (batch, layers[0].n_inputs))
        if all(_pre_activation_ok(z, s.activation) for z, s in zip(forward_layers(layers, x)[1], layers)):
            return x
    return None


def _draw_rounds(rng: np.random.Generator, layers: tuple[LayerSpec, ...], batches: tuple[int, ...],
                 n_out: int, backward: bool) -> tuple[tuple[Array, Array | None], ...] | None:
    rounds = []
    for batch in batches:
        x = _draw_inputs(rng, layers, batch)
        if x is None:
            return None
        rounds.append((x, rng.normal(0.0, 1.0, (batch, n_out)) if backward else None))
    return tuple(rounds)


def _draw_network(rng: np.random.Generator, sizes: list[int], activations: list[str],
                  batches: tuple[int, ...], backward: bool
                  ) -> tuple[tuple[LayerSpec, ...], tuple[tuple[Array, Array | None], ...]]:
    """Weights and rounds such that no relu pre-activation is within ``KINK_MARGIN`` of 0.

    Inputs alone cannot always get there: a relu unit fed by a layer of width 1 (or by
    saturated units) sees nearly the same pre-activation for every input, so when inputs keep
    failing, the weights are drawn again. Every seed draws (a test proves it for 20,000)."""
    for _ in range(_LAYER_TRIES):
        layers = tuple(_draw_layer(rng, a, b, act)
                       for a, b, act in zip(sizes[:-1], sizes[1:], activations))
        rounds = _draw_rounds(rng, layers, batches, sizes[-1], backward)
        if rounds is not None:
            return layers, rounds
    raise RuntimeError(  # pragma: no cover - never seen in 20,000 seeds x every case
        f"could not draw a {'-'.join(map(str, sizes))} network away from the relu kink")


def draw_layer_case(rng: np.random.Generator, n_in: int, n_out: int, activation: str,
                    batches: tuple[int, ...], *, backward: bool = True) -> LayerCase:
    layers, rounds = _draw_network(rng, [n_in, n_out], [activation], batches, backward)
    return LayerCase(layers[0], rounds)


def draw_net_case(rng: np.random.Generator, sizes: list[int], activations: list[str],
                  batches: tuple[int, ...]) -> NetCase:
    layers, rounds = _draw_network(rng, sizes, activations, batches, True)
    return NetCase(layers, rounds)


def draw_cases(seed: int) -> list[TestCase]:
    """Every rubric test with freshly drawn numbers. Test ids match :data:`rubric.DEFAULT_POINTS`."""
    rng = np.random.default_rng(seed)
    tests: list[TestCase] = [
        TestCase("api", "API present (DenseLayer, MLP, mse, mse_derivative)", "api", "a",
                 (Part("api", "api", ApiCase()),)),
    ]
    for act in ACTIVATION_NAMES:
        case = draw_layer_case(rng, 3, 4, act, (5,), backward=False)
        tests.append(TestCase(f"forward_{act}", f"DenseLayer forward ({act})", "forward",
                              "a", (Part(f"forward_{act}", f"DenseLayer(3, 4, {act!r})", case),)))
    tests.append(TestCase("mse", "mse value", "mse", "a", tuple(
        Part(f"mse_{i}", f"mse on y of shape {shape}",
             LossCase("mse", rng.normal(size=shape), rng.normal(size=shape)))
        for i, shape in enumerate([(4, 3), (5, 1)]))))
    tests.append(TestCase("mse_derivative", "mse_derivative", "mse_derivative", "a", tuple(
        Part(f"mse_derivative_{i}", f"mse_derivative on y of shape {shape}",
             LossCase("mse_derivative", rng.normal(size=shape), rng.normal(size=shape)))
        for i, shape in enumerate([(4, 3), (5, 1)]))))
    for act in ACTIVATION_NAMES:
        case = draw_layer_case(rng, 3, 4, act, (5,))
        tests.append(TestCase(f"backward_{act}", f"DenseLayer backward ({act})", "layer_backward",
                              "a", (Part(f"backward_{act}", f"DenseLayer(3, 4, {act!r})", case),)))
    net = draw_net_case(rng, [3, 3, 3, 3], ["relu", "tanh", "sigmoid"], (5,))
    tests.append(TestCase("network_backward", "MLP backward, every layer", "network", "b",
                          (Part("network", "MLP 3-3-3-3 (relu, tanh, sigmoid)", net),)))
    # Equal batches: a stale cache then gives wrong numbers (diagnosable), not a shape error.
    rounds_net = draw_net_case(rng, [4, 5, 2], ["tanh", "relu"], (3, 3, 3))
    rounds_layer = draw_layer_case(rng, 2, 3, "sigmoid", (4, 4, 4))
    tests.append(TestCase("multiple_rounds", "several forward/backward rounds on one model",
                          "network", "b", (
                              Part("rounds_mlp", "MLP 4-5-2, 3 rounds", rounds_net),
                              Part("rounds_layer", "DenseLayer(2, 3, 'sigmoid'), 3 rounds",
                                   rounds_layer))))
    tests.append(TestCase("edge_shapes", "edge shapes", "layer_backward", "b", (
        Part("edge_batch1", "batch of 1, DenseLayer(4, 3, 'sigmoid')",
             draw_layer_case(rng, 4, 3, "sigmoid", (1,))),
        Part("edge_width1", "width 1, DenseLayer(1, 1, 'tanh')",
             draw_layer_case(rng, 1, 1, "tanh", (4,))),
        Part("edge_square", "square DenseLayer(4, 4, 'relu')",
             draw_layer_case(rng, 4, 4, "relu", (3,))),
        Part("edge_mixed", "MLP 2-5-1-3 (sigmoid, linear, relu), batch 2",
             draw_net_case(rng, [2, 5, 1, 3], ["sigmoid", "linear", "relu"], (2,))),
    )))
    hidden = draw_net_case(rng, [5, 4, 4, 2], ["tanh", "relu", "linear"], (7, 3))
    tests.append(TestCase("hidden_network", "hidden: MLP 5-4-4-2, 2 rounds", "network", "b",
                          (Part("hidden", "hidden network", hidden),), hidden=True))
    return tests
