"""The graded cases: weights, inputs and upstream gradients drawn fresh for every grading run.

Everything is drawn from one recorded seed (``--seed`` reproduces a run exactly), by the test
kinds of :mod:`.kinds` in the order an assignment (:mod:`.assignments`) lists its tests. Each
test of the rubric owns one or more *parts*; a part is one protocol task (see PROTOCOL.md) plus
what the parent needs to check it. Expected values are never part of a task: the parent computes
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
    "BatchesCase",
    "GdRunCase",
    "GdStepCase",
    "LayerCase",
    "LossCase",
    "NetCase",
    "Part",
    "SgdStepCase",
    "ShuffleCase",
    "TestCase",
    "TrainCase",
    "draw_cases",
    "draw_layer",
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

    @property
    def backward(self) -> bool:
        """True when some round has an upstream gradient (a backward test), False for a
        forward-only test."""
        return any(d is not None for _, d in self.rounds)

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
    """``mse`` or ``mse_derivative`` on ``y_true``, ``y_pred`` (both ``(batch, n_outputs)``).
    ``conventions``: the loss conventions accepted (:data:`reference_mlp.losses.LOSSES`), the
    first being the one feedback compares with first; never sent to the child."""

    op: Literal["mse", "mse_derivative"]
    y_true: Array
    y_pred: Array
    conventions: tuple[str, ...] = ("exact", "lesson")

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": self.op, "y_true": encode_matrix(self.y_true),
                "y_pred": encode_matrix(self.y_pred)}


LEGACY_API_ROLES = ("DenseLayer", "MLP", "mse", "mse_derivative")
"""The module-level names an ``api`` task without ``roles`` looks for (PROTOCOL.md)."""
LEGACY_API_METHODS = (("add_layer", "MLP"),)


@dataclass(frozen=True)
class ApiCase:
    """Which names the submission defines: ``roles`` (module level), ``methods`` (``(role,
    owner role)``: a method looked up on the owner class), and, when ``probe_layer``, the
    attributes of a fresh ``DenseLayer(3, 2, 'relu')``. ``describe`` maps a role to how feedback
    names it (``mse_derivative or mseDerivative``), from the assignment's contract.

    The defaults are lesson 4's, and a task with those defaults is the bare ``{"id", "op"}``
    that runners read as lesson 4's (so lesson 4's requests are unchanged, byte for byte)."""

    roles: tuple[str, ...] = LEGACY_API_ROLES
    methods: tuple[tuple[str, str], ...] = LEGACY_API_METHODS
    probe_layer: bool = True
    describe: tuple[tuple[str, str], ...] = ()

    def task(self, task_id: str) -> dict[str, Any]:
        task: dict[str, Any] = {"id": task_id, "op": "api"}
        if (self.roles, self.methods, self.probe_layer) != (LEGACY_API_ROLES, LEGACY_API_METHODS,
                                                            True):
            task.update(roles=list(self.roles), methods={m: o for m, o in self.methods},
                        layer=self.probe_layer)
        return task

    def name(self, role: str) -> str:
        return dict(self.describe).get(role, role)


@dataclass(frozen=True)
class GdStepCase:
    """One gradient-descent step: ``gradient_descent_step(x, gradient, learning_rate)`` should
    return ``x - learning_rate * gradient``. x, gradient: (rows, cols)."""

    x: Array
    gradient: Array
    learning_rate: float

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "gd_step", "x": encode_matrix(self.x),
                "gradient": encode_matrix(self.gradient), "learning_rate": self.learning_rate}


@dataclass(frozen=True)
class GdRunCase:
    """``gradient_descent(gradient, x0, learning_rate, steps)`` on the quadratic
    ``1/2 (x - c) A (x - c)^T`` (``A: (n, n)``, ``c, x0: (1, n)``), whose gradient the runner
    provides. ``tolerance`` None: the final x is compared with the reference's after exactly
    ``steps`` steps; a number: with the minimiser ``c``, within that absolute distance."""

    A: Array
    c: Array
    x0: Array
    learning_rate: float
    steps: int
    tolerance: float | None = None

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "gd_run",
                "function": {"kind": "quadratic", "A": encode_matrix(self.A),
                             "c": encode_matrix(self.c)},
                "x0": encode_matrix(self.x0), "learning_rate": self.learning_rate,
                "steps": self.steps}


@dataclass(frozen=True)
class SgdStepCase:
    """An MLP of ``layers``: forward ``x``, backward ``d_loss``, then
    ``sgd_step(model, learning_rate)``. x: (batch, n_in), d_loss: (batch, n_out)."""

    layers: tuple[LayerSpec, ...]
    x: Array
    d_loss: Array
    learning_rate: float

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "sgd_step", "layers": [s.to_json() for s in self.layers],
                "x": encode_matrix(self.x), "d_loss": encode_matrix(self.d_loss),
                "learning_rate": self.learning_rate}


@dataclass(frozen=True)
class ShuffleCase:
    """``shuffle(x, y, seed)`` once per seed (``seeds``: the same seed twice, then another).
    x: (n, n_in), y: (n, n_out)."""

    x: Array
    y: Array
    seeds: tuple[int, ...]

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "shuffle", "x": encode_matrix(self.x),
                "y": encode_matrix(self.y), "seeds": list(self.seeds)}


@dataclass(frozen=True)
class BatchesCase:
    """``make_batches(x, y, batch_size)``: the mini-batches in order, the last one smaller."""

    x: Array
    y: Array
    batch_size: int

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "batches", "x": encode_matrix(self.x),
                "y": encode_matrix(self.y), "batch_size": self.batch_size}


@dataclass(frozen=True)
class TrainCase:
    """``train(model, x, y, epochs, batch_size, learning_rate, seed)`` on a fresh MLP of
    ``layers`` once per seed. ``check``: what the test judges - ``loss`` (the loss goes down),
    ``sgd`` (mini-batches, shuffling, and the weights SGD gives on the batches the model saw) or
    ``reproducible`` (``seeds`` is the same seed twice, then another)."""

    layers: tuple[LayerSpec, ...]
    x: Array
    y: Array
    epochs: int
    batch_size: int
    learning_rate: float
    seeds: tuple[int, ...]
    check: Literal["loss", "sgd", "reproducible"]

    def task(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "op": "train", "layers": [s.to_json() for s in self.layers],
                "x": encode_matrix(self.x), "y": encode_matrix(self.y), "epochs": self.epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "seeds": list(self.seeds)}


Case = (LayerCase | NetCase | LossCase | ApiCase | GdStepCase | GdRunCase | SgdStepCase
        | ShuffleCase | BatchesCase | TrainCase)


@dataclass(frozen=True)
class Part:
    """One checked piece of a test: a task id, its case, and a label for feedback."""

    task_id: str
    label: str
    case: Case


@dataclass(frozen=True)
class TestCase:
    """A rubric test: what it checks (``kind``), its parts, and whether it is ``hidden`` (run in
    the hidden section's child, values never shown). ``group`` is kept for reports only: the
    grader runs tests by section (visible, hidden), see :mod:`.grader`."""

    id: str
    name: str
    kind: str
    """What the test checks, for reports (lesson 4: ``api``, ``forward``, ``mse``,
    ``mse_derivative``, ``layer_backward``, ``network``; otherwise its parts' kind from
    :mod:`.kinds`). Checking goes by each part's case, never by this."""
    group: str
    parts: tuple[Part, ...]
    hidden: bool = False
    info: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ drawing


def _pre_activation_ok(z: Array, activation: str) -> bool:
    return activation != "relu" or bool(np.all(np.abs(z) >= KINK_MARGIN))


def draw_layer(rng: np.random.Generator, n_in: int, n_out: int, activation: str) -> LayerSpec:
    """A layer's weights ``N(0, 1/n_in)``, biases ``N(0, 0.25)``."""
    w = rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_out))
    b = rng.normal(0.0, 0.5, (1, n_out))
    return LayerSpec(n_in, n_out, activation, w, b)


def forward_layers(layers: tuple[LayerSpec, ...],
                   x: Array) -> tuple[list[Array], list[Array], Array]:
    """The reference forward through ``layers``: (each layer's input, each pre-activation,
    output)."""
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


TAIL_ROWS = (-1.0, 1.0, -0.625, 0.625)
"""With ``tails``, the first rows of the inputs are scaled so that the first layer's largest
pre-activation (before the bias) is these multiples of ``tails``: with ``tails = 800``,
-800 and 800 (beyond 709.78, where exp(-z) or exp(z) overflows) and -500 and 500 (beyond 354.89,
where exp(2z) does); the other rows stay ordinary."""


def _tail_rows(x: Array, weights: Array, tails: float) -> Array:
    """``x`` with its first rows scaled (TAIL_ROWS): deterministic, no draw of its own."""
    x = x.copy()
    for i, target in enumerate(TAIL_ROWS[:x.shape[0]]):
        v = x[i] @ weights
        k = int(np.argmax(np.abs(v)))
        if abs(v[k]) > 1e-12:
            x[i] *= target * tails / v[k]
    return x


def _draw_inputs(rng: np.random.Generator, layers: tuple[LayerSpec, ...], batch: int,
                 scale: float = 1.0, tails: float = 0.0) -> Array | None:
    """Inputs whose pre-activations keep away from every relu kink, or None when a few dozen
    draws all come close to one (then the weights are to blame: the caller redraws them).
    ``scale``: the inputs' standard deviation (large values saturate sigmoid and tanh units);
    ``tails``: some rows reach pre-activations of +-tails (TAIL_ROWS)."""
    for _ in range(_INPUT_TRIES):
        x = rng.normal(0.0, 1.0, (batch, layers[0].n_inputs))
        if scale != 1.0:
            x = x * scale
        if tails:
            x = _tail_rows(x, layers[0].weights, tails)
        if all(_pre_activation_ok(z, s.activation)
               for z, s in zip(forward_layers(layers, x)[1], layers, strict=True)):
            return x
    return None


def _draw_rounds(rng: np.random.Generator, layers: tuple[LayerSpec, ...], batches: tuple[int, ...],
                 n_out: int, backward: bool, scale: float = 1.0, tails: float = 0.0
                 ) -> tuple[tuple[Array, Array | None], ...] | None:
    rounds = []
    for batch in batches:
        x = _draw_inputs(rng, layers, batch, scale, tails)
        if x is None:
            return None
        rounds.append((x, rng.normal(0.0, 1.0, (batch, n_out)) if backward else None))
    return tuple(rounds)


def _draw_network(rng: np.random.Generator, sizes: list[int], activations: list[str],
                  batches: tuple[int, ...], backward: bool, scale: float = 1.0,
                  tails: float = 0.0
                  ) -> tuple[tuple[LayerSpec, ...], tuple[tuple[Array, Array | None], ...]]:
    """Weights and rounds such that no relu pre-activation is within ``KINK_MARGIN`` of 0.

    Inputs alone cannot always get there: a relu unit fed by a layer of width 1 (or by
    saturated units) sees nearly the same pre-activation for every input, so when inputs keep
    failing, the weights are drawn again. Every seed draws (a test proves it for 20,000)."""
    for _ in range(_LAYER_TRIES):
        layers = tuple(draw_layer(rng, a, b, act)
                       for a, b, act in zip(sizes[:-1], sizes[1:], activations, strict=True))
        rounds = _draw_rounds(rng, layers, batches, sizes[-1], backward, scale, tails)
        if rounds is not None:
            return layers, rounds
    raise RuntimeError(  # pragma: no cover - never seen in 20,000 seeds x every case
        f"could not draw a {'-'.join(map(str, sizes))} network away from the relu kink")


def draw_layer_case(rng: np.random.Generator, n_in: int, n_out: int, activation: str,
                    batches: tuple[int, ...], *, backward: bool = True,
                    scale: float = 1.0, tails: float = 0.0) -> LayerCase:
    """A ``DenseLayer(n_in, n_out, activation)`` and one round per batch size in ``batches``:
    inputs ``(batch, n_in)`` of standard deviation ``scale`` and, when ``backward``, upstream
    gradients ``(batch, n_out)``."""
    layers, rounds = _draw_network(rng, [n_in, n_out], [activation], batches, backward, scale,
                                   tails)
    return LayerCase(layers[0], rounds)


def draw_net_case(rng: np.random.Generator, sizes: list[int], activations: list[str],
                  batches: tuple[int, ...], *, scale: float = 1.0, tails: float = 0.0) -> NetCase:
    """An MLP of layer widths ``sizes`` (``len(activations) + 1`` of them) and one round per
    batch size: ``x: (batch, sizes[0])``, ``d_loss: (batch, sizes[-1])``."""
    layers, rounds = _draw_network(rng, sizes, activations, batches, True, scale, tails)
    return NetCase(layers, rounds)


def draw_cases(seed: int) -> list[TestCase]:
    """The default assignment's (``mlp``, lesson 4) tests with numbers drawn from ``seed``; any
    assignment's are :meth:`verify.grade.assignments.Assignment.draw`."""
    from .assignments import BUILTINS, DEFAULT_ASSIGNMENT

    return BUILTINS[DEFAULT_ASSIGNMENT].draw(seed)
