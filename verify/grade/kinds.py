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
    Case,
    LossCase,
    draw_layer_case,
    draw_net_case,
)
from .contract import Contract

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
                           scale=p["input_scale"])


def _layer_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    n_in, n_out = p["sizes"]
    return draw_layer_case(rng, n_in, n_out, p["activation"], p["batches"],
                           scale=p["input_scale"])


def _net_draw(rng: np.random.Generator, p: Mapping[str, Any], contract: Contract) -> Case:
    return draw_net_case(rng, list(p["sizes"]), list(p["activations"]), p["batches"],
                         scale=p["input_scale"])


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
         (_ACTIVATION, _LAYER_SIZES, _BATCHES, _SCALE), _forward_draw, _layer_label),
    Kind("layer_backward", "DenseLayer forward, then backward: d_weights, d_biases and the "
                           "input gradient; weights unchanged", "layer", _GRAD_ROLES,
         (_ACTIVATION, _LAYER_SIZES, _BATCHES, _SCALE), _layer_draw, _layer_label),
    Kind("mlp_backward", "MLP forward, then backward: every layer's d_weights and d_biases and "
                         "the input gradient (when backward returns it)", "mlp", _NET_ROLES,
         (Param("sizes", "ints", REQUIRED, "the layer widths, inputs first: [3, 4, 2] is two "
                "layers", minimum=1),
          Param("activations", "strs", REQUIRED, "one activation per layer",
                choices=ACTIVATION_NAMES),
          _BATCHES, _SCALE), _net_draw, _net_label, _validate_net, report_kind="network"),
    Kind("mse", "the mse value", "mse", ("mse",), (_SHAPE, _CONVENTIONS), _loss_draw("mse"),
         _shape_label("mse")),
    Kind("mse_derivative", "the derivative of mse with respect to y_pred", "mse_derivative",
         ("mse_derivative",), (_SHAPE, _CONVENTIONS), _loss_draw("mse_derivative"),
         _shape_label("mse_derivative")),
]

KINDS: dict[str, Kind] = {k.name: k for k in _KIND_LIST}
"""Every test kind by name."""

