"""The library of test kinds: what an assignment's tests are made of.

A *kind* draws one part of a test (one protocol task, :mod:`.cases`) from the run's random
generator, given its parameters: ``layer_backward`` with ``activation = "relu"``,
``sizes = [3, 4]``, ``batches = [5, 5]`` is a ``DenseLayer(3, 4, 'relu')`` checked over two
forward/backward rounds of 5 examples. An assignment (:mod:`.assignments`) lists its tests, each
one or more parts of these kinds, so that course staff can compose tests without writing code.

Every kind declares its parameters (type, default, what they mean), the contract roles it needs
(a ``mlp_backward`` part needs ``MLP`` and ``add_layer``) and the protocol op it runs. Parameters
are checked when an assignment is loaded, with errors that name the key:
``tests[2].parts[0].activation: expected one of linear, relu, sigmoid, tanh, got 'elu'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cases import (
    ACTIVATION_NAMES,
    ApiCase,
    BatchesCase,
    Case,
    GdRunCase,
    GdStepCase,
    LossCase,
    SgdStepCase,
    ShuffleCase,
    TrainCase,
    draw_layer,
    draw_layer_case,
    draw_net_case,
)
from .contract import Contract
from .descent import mse_of, simulate

__all__ = ["KINDS", "REQUIRED", "Kind", "Param", "describe_params"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a parameter that has none: it must be given."""

LOSS_CONVENTIONS = ("exact", "lesson")
"""The two mse conventions (:mod:`reference_mlp.losses`): the mean over every element, and the
lesson's (its derivative divides by the batch size only)."""


@dataclass(frozen=True)
class Param:
    """One parameter of a kind. ``type``: ``int``, ``float``, ``str``, ``bool``, ``ints`` (a list
    of integers), ``strs`` (a list of strings), ``floats``; ``choices`` limits a ``str`` (or each
    item of ``strs``); ``minimum`` bounds numbers (and each item of a list)."""

    name: str
    type: str
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    length: int | None = None  # for lists: exactly this many items


@dataclass(frozen=True)
class Kind:
    """A test kind: ``draw(rng, params, contract) -> Case``; ``label(params) -> str`` names a part
    in feedback; ``validate(params) -> None`` raises ``ValueError((key, message))`` for
    combinations that cannot be drawn or graded."""

    name: str
    summary: str
    op: str
    roles: tuple[str, ...]
    params: tuple[Param, ...]
    draw: Callable[[np.random.Generator, Mapping[str, Any], Contract], Case]
    label: Callable[[Mapping[str, Any]], str]
    validate: Callable[[Mapping[str, Any]], None] | None = None
    report_kind: str = ""
    """The test kind reports use when a test is made of this kind only (default: the name)."""

    def resolve(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``raw`` checked and completed with defaults; ValueError naming ``where.key``."""
        known = {p.name for p in self.params}
        for key in raw:
            if key not in known:
                valid = ", ".join(sorted(known)) or "none"
                raise ValueError(f"{where}.{key}: unknown parameter of kind {self.name!r} "
                                 f"(its parameters: {valid})")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in raw:
                out[p.name] = _coerce(p, raw[p.name], f"{where}.{p.name}")
            elif p.default is REQUIRED:
                raise ValueError(f"{where}.{p.name}: required by kind {self.name!r} ({p.doc})")
            else:
                out[p.name] = p.default
        if self.validate is not None:
            try:
                self.validate(out)
            except ValueError as exc:
                key, message = exc.args[0] if isinstance(exc.args[0], tuple) else ("", str(exc))
                raise ValueError(f"{where}{'.' + key if key else ''}: {message}") from None
        return out


def _type_name(value: Any) -> str:
    return "a list" if isinstance(value, list) else type(value).__name__


def _number(p: Param, value: Any, where: str, integer: bool) -> float:
    ok = not isinstance(value, bool) and (isinstance(value, int) if integer
                                          else isinstance(value, (int, float)))
    if not ok or not math.isfinite(value):
        want = "an integer" if integer else "a number"
        raise ValueError(f"{where}: expected {want}, got {value!r}")
    if p.minimum is not None and value < p.minimum:
        raise ValueError(f"{where}: must be >= {p.minimum:g}, got {value!r}")
    return int(value) if integer else float(value)


def _coerce(p: Param, value: Any, where: str) -> Any:
    if p.type in ("int", "float"):
        return _number(p, value, where, p.type == "int")
    if p.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if p.type == "str":
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        if p.choices and value not in p.choices:
            raise ValueError(f"{where}: expected one of {', '.join(p.choices)}, got {value!r}")
        return value
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where}: expected a non-empty list, got {_type_name(value)} {value!r}")
    if p.length is not None and len(value) != p.length:
        raise ValueError(f"{where}: expected {p.length} items, got {len(value)}")
    item = Param(p.name, p.type[:-1], REQUIRED, p.doc, p.choices, p.minimum)
    return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))


def describe_params(params: Mapping[str, Any]) -> str:
    """``activation=relu sizes=3,4``: a part's parameters in a line."""
    def show(v: Any) -> str:
        if isinstance(v, tuple):
            return ",".join(show(x) for x in v)
        return f"{v:g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k}={show(v)}" for k, v in params.items())


# ------------------------------------------------------------------------------ parameters

_ACTIVATION = Param("activation", "str", REQUIRED, "the layer's activation",
                    choices=ACTIVATION_NAMES)
_BATCHES = Param("batches", "ints", (5,), "one forward/backward round per entry, of this batch "
                 "size, on the same object (several rounds catch stale caches)", minimum=1)
_SCALE = Param("input_scale", "float", 1.0, "standard deviation of the inputs (e.g. 10 "
               "saturates sigmoid and tanh units)", minimum=1e-6)
_TAILS = Param("tails", "float", 0.0, "0, or pre-activations in the far tails: the first "
               "rows of the inputs are scaled so that the first layer's largest pre-activation "
               "reaches -tails, tails, -0.625 tails and 0.625 tails (800: beyond 709.78, where "
               "exp overflows)", minimum=0.0)
_LAYER_SIZES = Param("sizes", "ints", (3, 4), "[n_inputs, n_neurons]", minimum=1, length=2)
_SHAPE = Param("shape", "ints", (4, 3), "the shape of y_true and y_pred: [batch, n_outputs]",
               minimum=1, length=2)
_CONVENTIONS = Param("conventions", "strs", LOSS_CONVENTIONS,
                     "the mse conventions accepted: 'exact' (the mean over every element; its "
                     "derivative divides by batch * n_outputs) and/or 'lesson' (the derivative "
                     "divides by the batch size)", choices=LOSS_CONVENTIONS)


def _layer_label(p: Mapping[str, Any]) -> str:
    n_in, n_out = p["sizes"]
    rounds = len(p["batches"])
    return f"DenseLayer({n_in}, {n_out}, {p['activation']!r})" + \
        (f", {rounds} rounds" if rounds > 1 else "")


def _net_label(p: Mapping[str, Any]) -> str:
    rounds = len(p["batches"])
    return f"MLP {'-'.join(map(str, p['sizes']))} ({', '.join(p['activations'])})" + \
        (f", {rounds} rounds" if rounds > 1 else "")


def _shape_label(op: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda p: f"{op} on y of shape {tuple(p['shape'])}"


def _validate_net(p: Mapping[str, Any]) -> None:
    if len(p["sizes"]) < 2:
        raise ValueError(("sizes", f"expected at least 2 widths (inputs, outputs), got "
                                   f"{list(p['sizes'])}"))
    if len(p["activations"]) != len(p["sizes"]) - 1:
        raise ValueError(("activations", f"expected {len(p['sizes']) - 1} activations (one per "
                                         f"layer of sizes {list(p['sizes'])}), got "
                                         f"{len(p['activations'])}"))


def _api_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    roles = tuple(r for r, role in contract.roles.items() if role.kind == "module")
    methods = tuple((r, role.owner) for r, role in contract.roles.items()
                    if role.kind == "method" and role.owner is not None)
    return ApiCase(roles=roles, methods=methods, probe_layer="DenseLayer" in contract.roles,
                   describe=tuple((r, contract.describe(r)) for r in contract.roles))


def _api_label(p: Mapping[str, Any]) -> str:
    return "api"


def _forward_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    n_in, n_out = p["sizes"]
    return draw_layer_case(rng, n_in, n_out, p["activation"], p["batches"], backward=False,
                           scale=p["input_scale"], tails=p["tails"])


def _layer_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    n_in, n_out = p["sizes"]
    return draw_layer_case(rng, n_in, n_out, p["activation"], p["batches"],
                           scale=p["input_scale"], tails=p["tails"])


def _net_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    return draw_net_case(rng, list(p["sizes"]), list(p["activations"]), p["batches"],
                         scale=p["input_scale"], tails=p["tails"])


def _loss_draw(op: str) -> Callable[[np.random.Generator, Mapping[str, Any], Contract], Case]:
    def draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
        shape = tuple(p["shape"])
        return LossCase(op, rng.normal(size=shape), rng.normal(size=shape),  # type: ignore[arg-type]
                        tuple(p["conventions"]))
    return draw


_LAYER_ROLES = ("DenseLayer",)
_GRAD_ROLES = ("DenseLayer", "d_weights", "d_biases")
_NET_ROLES = ("DenseLayer", "MLP", "add_layer", "d_weights", "d_biases")

_KIND_LIST: list[Kind] = [
    Kind("api", "the contract's names are defined (and, where it has a DenseLayer, a fresh "
                "DenseLayer(3, 2, 'relu') has weights (3, 2), biases (1, 2), forward and backward)",
         "api", (), (), _api_draw, _api_label),
    Kind("forward", "DenseLayer.forward against the reference", "layer", _LAYER_ROLES,
         (_ACTIVATION, _LAYER_SIZES, _BATCHES, _SCALE, _TAILS), _forward_draw, _layer_label),
    Kind("layer_backward", "DenseLayer forward, then backward: d_weights, d_biases and the "
                           "input gradient; weights unchanged", "layer", _GRAD_ROLES,
         (_ACTIVATION, _LAYER_SIZES, _BATCHES, _SCALE, _TAILS), _layer_draw, _layer_label),
    Kind("mlp_backward", "MLP forward, then backward: every layer's d_weights and d_biases and "
                         "the input gradient (when backward returns it)", "mlp", _NET_ROLES,
         (Param("sizes", "ints", REQUIRED, "the layer widths, inputs first: [3, 4, 2] is two "
                "layers", minimum=1),
          Param("activations", "strs", REQUIRED, "one activation per layer",
                choices=ACTIVATION_NAMES),
          _BATCHES, _SCALE, _TAILS), _net_draw, _net_label, _validate_net,
         report_kind="network"),
    Kind("mse", "the mse value", "mse", ("mse",), (_SHAPE, _CONVENTIONS), _loss_draw("mse"),
         _shape_label("mse")),
    Kind("mse_derivative", "the derivative of mse with respect to y_pred", "mse_derivative",
         ("mse_derivative",), (_SHAPE, _CONVENTIONS), _loss_draw("mse_derivative"),
         _shape_label("mse_derivative")),
]

# ------------------------------------------------------------------------------ lesson 2

_LEARNING_RATE = Param("learning_rate", "float", 0.1, "the learning rate", minimum=1e-9)
_DIM = Param("dim", "int", 3, "the number of coordinates of x, a row (1, dim)", minimum=1)
_CURVATURE = Param("curvature", "floats", (1.0, 4.0), "[lowest, highest] curvature of the "
                   "quadratic (the eigenvalues of A)", minimum=1e-3, length=2)


def _contraction(p: Mapping[str, Any]) -> float:
    """How much one step shrinks the distance to the minimum, at worst."""
    lo, hi = p["curvature"]
    return max(abs(1 - p["learning_rate"] * lo), abs(1 - p["learning_rate"] * hi))


_START = 3.0  # x0 - c is drawn uniformly in [-3, 3] per coordinate


def _validate_quadratic(p: Mapping[str, Any]) -> None:
    lo, hi = p["curvature"]
    if lo > hi:
        raise ValueError(("curvature", f"expected [lowest, highest], got {list(p['curvature'])}"))
    if _contraction(p) ** p["steps"] * _START * math.sqrt(p["dim"]) > 1e6:
        raise ValueError(("learning_rate", f"{p['learning_rate']:g} makes gradient descent "
                          f"diverge past 1e6 within {p['steps']} steps on curvatures up to "
                          f"{hi:g} (use less than {2 / hi:g})"))


def _validate_converge(p: Mapping[str, Any]) -> None:
    _validate_quadratic(p)
    reach = _contraction(p) ** p["steps"] * _START * math.sqrt(p["dim"])
    if reach > p["tolerance"] / 10:
        raise ValueError(("steps", f"{p['steps']} steps at learning rate {p['learning_rate']:g} "
                          f"get only within {reach:.2g} of the minimum, not within a tenth of "
                          f"the tolerance {p['tolerance']:g}: give more steps or a learning "
                          f"rate nearer 2 / (lowest + highest curvature)"))


def _quadratic(rng: np.random.Generator, p: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    dim = p["dim"]
    lo, hi = p["curvature"]
    lam = rng.uniform(lo, hi, dim)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    A = q @ np.diag(lam) @ q.T
    A = (A + A.T) / 2
    c = rng.normal(0.0, 1.0, (1, dim))
    x0 = c + rng.uniform(-_START, _START, (1, dim))
    return A, c, x0


def _gd_step_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    shape = tuple(p["shape"])
    return GdStepCase(rng.normal(size=shape), rng.normal(size=shape), p["learning_rate"])


def _gd_run_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    A, c, x0 = _quadratic(rng, p)
    return GdRunCase(A, c, x0, p["learning_rate"], p["steps"], p.get("tolerance"))


# ------------------------------------------------------------------------------ lesson 5

_NET_SIZES = Param("sizes", "ints", (2, 8, 1), "the layer widths, inputs first", minimum=1)
_NET_ACTS = Param("activations", "strs", ("tanh", "linear"), "one activation per layer",
                  choices=ACTIVATION_NAMES)
_ROWS = Param("rows", "int", 20, "examples in the data set", minimum=2)
_BATCH_SIZE = Param("batch_size", "int", 6, "examples per mini-batch (the last may be "
                    "smaller)", minimum=1)
_EPOCHS = Param("epochs", "int", 10, "passes over the data", minimum=1)


def _train_draw(check: str) -> Callable[[np.random.Generator, Mapping[str, Any], Contract],
                                        Case]:
    def draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
        sizes, acts = list(p["sizes"]), list(p["activations"])
        n, n_in, n_out = p["rows"], sizes[0], sizes[-1]
        for _ in range(100):
            layers = tuple(draw_layer(rng, a, b, act)
                           for a, b, act in zip(sizes[:-1], sizes[1:], acts, strict=True))
            x = rng.normal(0.0, 1.0, (n, n_in))
            y = np.sin(1.5 * x @ rng.normal(0.0, 1.0 / math.sqrt(n_in), (n_in, n_out))) \
                + 0.05 * rng.normal(size=(n, n_out))
            seed = int(rng.integers(0, 2**31 - 1))
            other = (seed + 1 + int(rng.integers(0, 1000))) % (2**31 - 1)
            seeds = (seed, seed, other) if check == "reproducible" else (seed,)
            if _learns(layers, x, y, p):
                return TrainCase(layers, x, y, p["epochs"], p["batch_size"],
                                 p["learning_rate"], seeds, check)  # type: ignore[arg-type]
        raise ValueError(f"SGD with these parameters does not make the loss go down on drawn "
                         f"problems ({dict(p)}): lower the learning rate or train longer")
    return draw


def _learns(layers: Any, x: Any, y: Any, p: Mapping[str, Any]) -> bool:
    """SGD lowers the loss clearly here, in the original order and in a shuffled one (the
    student's shuffle picks its own), so that a correct submission always passes."""
    n, bs = x.shape[0], p["batch_size"]
    before = mse_of(layers, x, y)
    order = np.random.default_rng(0)
    for shuffled in (False, True):
        steps = []
        for _ in range(p["epochs"]):
            idx = order.permutation(n) if shuffled else np.arange(n)
            steps += [idx[i:i + bs].tolist() for i in range(0, n, bs)]
        result = simulate(layers, x, y, steps, p["learning_rate"])
        after = mse_of(list(zip(result.weights, result.biases,
                                [s.activation for s in layers], strict=True)), x, y)
        if not math.isfinite(after) or after > 0.8 * before:
            return False
    return True


def _sgd_step_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    net = draw_net_case(rng, list(p["sizes"]), list(p["activations"]), (p["batch"],))
    x, d = net.rounds[0]
    assert d is not None
    return SgdStepCase(net.layers, x, d, p["learning_rate"])


def _shuffle_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    x = rng.normal(size=(p["rows"], p["n_inputs"]))
    y = rng.normal(size=(p["rows"], p["n_outputs"]))
    seed = int(rng.integers(0, 2**31 - 1))
    other = (seed + 1 + int(rng.integers(0, 1000))) % (2**31 - 1)
    return ShuffleCase(x, y, (seed, seed, other))


def _batches_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    x = rng.normal(size=(p["rows"], p["n_inputs"]))
    y = rng.normal(size=(p["rows"], p["n_outputs"]))
    return BatchesCase(x, y, p["batch_size"])


def _validate_train(p: Mapping[str, Any]) -> None:
    _validate_net(p)
    if p["batch_size"] > p["rows"]:
        raise ValueError(("batch_size", f"{p['batch_size']} is more than the {p['rows']} rows"))


def _train_label(check: str) -> Callable[[Mapping[str, Any]], str]:
    what = {"loss": "the loss goes down", "sgd": "SGD on your mini-batches",
            "reproducible": "the same seed, the same run"}[check]
    return lambda p: (f"train MLP {'-'.join(map(str, p['sizes']))}, {p['rows']} rows, batches "
                      f"of {p['batch_size']}, {p['epochs']} epochs: {what}")


_TRAIN_PARAMS = (_NET_SIZES, _NET_ACTS, _ROWS, _BATCH_SIZE, _EPOCHS,
                 Param("learning_rate", "float", 0.1, "the learning rate", minimum=1e-9))
_TRAIN_ROLES = ("DenseLayer", "MLP", "add_layer", "train")
_DATA_PARAMS = (_ROWS, Param("n_inputs", "int", 2, "columns of x", minimum=1),
                Param("n_outputs", "int", 1, "columns of y", minimum=1))

_KIND_LIST += [
    Kind("gd_step", "one gradient-descent step: x - learning_rate * gradient", "gd_step",
         ("gradient_descent_step",),
         (Param("shape", "ints", (1, 3), "the shape of x and of the gradient", minimum=1,
                length=2), _LEARNING_RATE), _gd_step_draw,
         lambda p: f"step on x of shape {tuple(p['shape'])}, learning rate {p['learning_rate']:g}"),
    Kind("gd_run", "the gradient-descent loop on a quadratic: the point after exactly `steps` "
                   "steps", "gd_run", ("gradient_descent",),
         (_DIM, Param("steps", "int", 10, "the number of steps (n_steps)", minimum=0),
          _LEARNING_RATE, _CURVATURE), _gd_run_draw,
         lambda p: f"{p['steps']} steps on a quadratic in {p['dim']} dimensions, learning rate "
                   f"{p['learning_rate']:g}", _validate_quadratic),
    Kind("gd_converge", "the gradient-descent loop converges to the minimum of a quadratic",
         "gd_run", ("gradient_descent",),
         (Param("dim", "int", 2, _DIM.doc, minimum=1),
          Param("steps", "int", 200, "the number of steps (n_steps)", minimum=1),
          Param("learning_rate", "float", 0.2, "the learning rate", minimum=1e-9), _CURVATURE,
          Param("tolerance", "float", 1e-6, "how close to the minimiser the end must be (in "
                "every coordinate)", minimum=1e-12)), _gd_run_draw,
         lambda p: f"convergence: {p['steps']} steps in {p['dim']} dimensions, learning rate "
                   f"{p['learning_rate']:g}", _validate_converge),
    Kind("sgd_step", "forward, backward, then sgd_step(model, learning_rate): every layer's "
                     "weights -= learning_rate * d_weights (and biases); nothing changes during "
                     "backward", "sgd_step", (*_NET_ROLES, "sgd_step"),
         (Param("sizes", "ints", (3, 4, 2), "the layer widths, inputs first", minimum=1),
          Param("activations", "strs", ("tanh", "linear"), "one activation per layer",
                choices=ACTIVATION_NAMES),
          Param("batch", "int", 5, "the batch size of the forward/backward before the step",
                minimum=1), _LEARNING_RATE), _sgd_step_draw,
         lambda p: f"sgd_step on MLP {'-'.join(map(str, p['sizes']))}, learning rate "
                   f"{p['learning_rate']:g}", _validate_net),
    Kind("shuffle", "shuffle(x, y, seed): one permutation for x and y, the same for the same "
                    "seed, another for another seed", "shuffle", ("shuffle",), _DATA_PARAMS,
         _shuffle_draw, lambda p: f"shuffle {p['rows']} rows"),
    Kind("batches", "make_batches(x, y, batch_size): consecutive mini-batches in order, the "
                    "last one smaller", "batches", ("make_batches",),
         (*_DATA_PARAMS, Param("batch_size", "int", 4, _BATCH_SIZE.doc, minimum=1)),
         _batches_draw, lambda p: f"make_batches of {p['rows']} rows, batch size "
                                  f"{p['batch_size']}"),
    Kind("train_loss", "train(...) on a small regression problem: one loss per epoch, going "
                       "down, and a model that fits the data better than before", "train",
         _TRAIN_ROLES, _TRAIN_PARAMS, _train_draw("loss"), _train_label("loss"),
         _validate_train),
    Kind("train_sgd", "train(...): every epoch a fresh shuffle into mini-batches covering every "
                      "row once, and the weights SGD gives on the batches the model was fed",
         "train", _TRAIN_ROLES, _TRAIN_PARAMS, _train_draw("sgd"), _train_label("sgd"),
         _validate_train),
    Kind("train_reproducible", "train(...) twice with one seed gives the same run; another "
                               "seed another order", "train", _TRAIN_ROLES, _TRAIN_PARAMS,
         _train_draw("reproducible"), _train_label("reproducible"), _validate_train),
]

KINDS: dict[str, Kind] = {k.name: k for k in _KIND_LIST}
"""Every test kind by name."""

