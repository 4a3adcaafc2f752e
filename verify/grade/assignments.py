"""Assignments as data: what a submission must define, which tests run, and their default rubric.

An :class:`Assignment` names its contract (:mod:`.contract`), its tests - each one or more
*parts* drawn by a test kind of :mod:`.kinds` with its parameters - and each test's default
points and visibility. The course's five lessons ship as built-ins (:data:`BUILTINS`); course
staff define or extend one in a TOML file (:func:`load_assignment`, ``--assignment FILE``; the
format is in ``docs/assignments.md``), validated with errors that name the bad key.

Every test's numbers are drawn from one generator seeded with the run's seed, test by test and
part by part in the assignment's order, except parts marked ``drawn_last`` (added to existing
tests later), drawn after all the others in the same order (:meth:`Assignment.draw`). The
``mlp`` assignment (lesson 4) draws exactly what the grader drew before assignments existed, so
stored seeds and regrades keep their numbers.

One module (~600 lines, over the project's ~500) on purpose: the data model, the built-in
assignments and the file parser define, use and validate the same fields, and are changed
together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import tomlfile
from .cases import ACTIVATION_NAMES, Part, TestCase
from .contract import CONTRACTS, LESSON1, LESSON2, LESSON3, LESSON4, LESSON5, Contract, Role
from .kinds import KINDS, describe_params

__all__ = [
    "ALIASES",
    "BUILTINS",
    "DEFAULT_ASSIGNMENT",
    "VISIBILITIES",
    "Assignment",
    "PartSpec",
    "TestSpec",
    "builtin",
    "load_assignment",
]

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
"""Gradescope's test visibilities."""


@dataclass(frozen=True)
class PartSpec:
    """One part of a test: a kind, its (checked, completed) parameters, the part's task id and
    its label in feedback."""

    kind: str
    params: Mapping[str, Any]
    id: str
    label: str
    drawn_last: bool = False
    """Drawn after every other part of the assignment (a part added to an existing test after
    the fact): every part drawn before it keeps its numbers for every seed."""


@dataclass(frozen=True)
class TestSpec:
    """One test of an assignment: its parts and its default points and visibility. ``hidden``
    tests run in the hidden section's child and never show values, whatever the rubric's
    visibility (tests that are not ``visible`` are treated alike)."""

    id: str
    name: str
    parts: tuple[PartSpec, ...]
    points: float
    visibility: str = "visible"
    hidden: bool = False
    kind: str = ""
    group: str = "a"


@dataclass(frozen=True)
class Assignment:
    """An assignment: ``contract`` (what the submission defines), ``tests`` (in order), and where
    it came from (``source``: ``built-in`` or the TOML file)."""

    name: str
    title: str
    contract: Contract
    tests: tuple[TestSpec, ...]
    lesson: int | None = None
    summary: str = ""
    source: str = "built-in"
    extends: str | None = None

    @property
    def test_ids(self) -> list[str]:
        return [t.id for t in self.tests]

    @property
    def points(self) -> dict[str, float]:
        """Default points per test id, in order."""
        return {t.id: float(t.points) for t in self.tests}

    @property
    def visibility(self) -> dict[str, str]:
        """Default visibility of the tests that are not ``visible``."""
        return {t.id: t.visibility for t in self.tests if t.visibility != "visible"}

    @property
    def total(self) -> float:
        return float(sum(t.points for t in self.tests))

    def draw(self, seed: int) -> list[TestCase]:
        """Every test with its numbers drawn from ``seed`` (reproducible: the same seed gives the
        same numbers)."""
        rng = np.random.default_rng(seed)
        drawn: dict[tuple[int, int], Part] = {}
        for last in (False, True):
            for i, t in enumerate(self.tests):
                for j, p in enumerate(t.parts):
                    if p.drawn_last == last:
                        drawn[i, j] = Part(p.id, p.label,
                                           KINDS[p.kind].draw(rng, p.params, self.contract))
        return [TestCase(t.id, t.name, t.kind, t.group,
                         tuple(drawn[i, j] for j in range(len(t.parts))), hidden=t.hidden)
                for i, t in enumerate(self.tests)]

    def describe(self) -> str:
        """A plain-text listing: the contract, then every test with its parts and points."""
        lines = [f"{self.name}: {self.title}" + (f" (lesson {self.lesson})" if self.lesson else ""),
                 f"  source: {self.source}" + (f", extends {self.extends}" if self.extends else "")]
        if self.summary:
            lines.append(f"  {self.summary}")
        lines.append(f"  contract {self.contract.name}:")
        for role, r in self.contract.roles.items():
            where = {"module": "", "method": f"{r.owner}.", "attribute": f"{r.owner}."}[r.kind]
            lines.append(f"    {r.kind:<9} {where}{' | '.join(r.spellings)}"
                         + ("" if role == r.spellings[0] else f"   (role {role})"))
        lines.append(f"  tests ({self.total:g} points):")
        for t in self.tests:
            vis = "" if t.visibility == "visible" else f"  [{t.visibility}]"
            lines.append(f"    {t.id:<32} {t.points:>5g}  {t.name}{vis}")
            for p in t.parts:
                lines.append(f"      - {p.kind}: {describe_params(p.params)}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ building


def _part(kind: str, *, id: str, label: str | None = None, where: str = "",
          drawn_last: bool = False, **params: Any) -> PartSpec:
    resolved = KINDS[kind].resolve(params, where or f"part {id}")
    return PartSpec(kind, resolved, id, label or KINDS[kind].label(resolved), drawn_last)


FAR_ACTIVATIONS = ("relu", "linear")
"""The activations whose forward and backward tests also get a far part (:func:`_layer_parts`);
sigmoid and tanh reach their tails in the saturated test."""


def _layer_parts(kind: str, act: str, **params: Any) -> list[PartSpec]:
    """The part of a ``forward`` or ``layer_backward`` test of ``act`` and, for relu and
    linear, a second part whose pre-activations reach +-800 (TAIL_ROWS), drawn last: the
    ordinary draws keep |z| below about 5, where a forward or a derivative clipped further out
    (relu6) is right, and it got full marks."""
    tag = "forward" if kind == "forward" else "backward"
    parts = [_part(kind, id=f"{tag}_{act}", activation=act, **params)]
    if act in FAR_ACTIVATIONS:
        parts.append(_part(kind, id=f"{tag}_{act}_far", activation=act, batches=(6,),
                           tails=800.0, drawn_last=True,
                           label=f"DenseLayer(3, 4, {act!r}) {tag}, |z| up to 800"))
    return parts


def _report_kind(parts: Iterable[PartSpec]) -> str:
    kinds = {p.kind for p in parts}
    if len(kinds) == 1:
        kind = KINDS[kinds.pop()]
        return kind.report_kind or kind.name
    return "mixed"


def _test(id: str, name: str, parts: list[PartSpec], points: float, *, kind: str = "",
          visibility: str = "visible", hidden: bool = False, group: str = "a") -> TestSpec:
    return TestSpec(id, name, tuple(parts), float(points), visibility, hidden,
                    kind or _report_kind(parts), group)


def _api_name(contract: Contract) -> str:
    names = [r for r, role in contract.roles.items() if role.kind == "module"]
    return f"API present ({', '.join(names)})"


# ------------------------------------------------------------------------------ built-ins


def _mlp() -> Assignment:
    """Lesson 4, exactly as the grader has always drawn it (the same numbers for every seed)."""
    tests = [_test("api", _api_name(LESSON4), [_part("api", id="api")], 4, kind="api")]
    for act in ACTIVATION_NAMES:
        tests.append(_test(f"forward_{act}", f"DenseLayer forward ({act})",
                           _layer_parts("forward", act), 3))
    for op, points in (("mse", 5), ("mse_derivative", 7)):
        tests.append(_test(op, "mse value" if op == "mse" else op,
                           [_part(op, id=f"{op}_{i}", shape=s)
                            for i, s in enumerate([(4, 3), (5, 1)])], points))
    for act in ACTIVATION_NAMES:
        tests.append(_test(f"backward_{act}", f"DenseLayer backward ({act})",
                           _layer_parts("layer_backward", act), 8))
    tests.append(_test("network_backward", "MLP backward, every layer", [
        _part("mlp_backward", id="network", sizes=(3, 3, 3, 3),
              activations=("relu", "tanh", "sigmoid"))], 16, group="b"))
    # Equal batches: a stale cache then gives wrong numbers (diagnosable), not a shape error.
    tests.append(_test("multiple_rounds", "several forward/backward rounds on one model", [
        _part("mlp_backward", id="rounds_mlp", label="MLP 4-5-2, 3 rounds", sizes=(4, 5, 2),
              activations=("tanh", "relu"), batches=(3, 3, 3)),
        _part("layer_backward", id="rounds_layer", activation="sigmoid", sizes=(2, 3),
              batches=(4, 4, 4))], 8, kind="network", group="b"))
    tests.append(_test("edge_shapes", "edge shapes", [
        _part("layer_backward", id="edge_batch1", label="batch of 1, DenseLayer(4, 3, 'sigmoid')",
              activation="sigmoid", sizes=(4, 3), batches=(1,)),
        _part("layer_backward", id="edge_width1", label="width 1, DenseLayer(1, 1, 'tanh')",
              activation="tanh", sizes=(1, 1), batches=(4,)),
        _part("layer_backward", id="edge_square", label="square DenseLayer(4, 4, 'relu')",
              activation="relu", sizes=(4, 4), batches=(3,)),
        _part("mlp_backward", id="edge_mixed",
              label="MLP 2-5-1-3 (sigmoid, linear, relu), batch 2", sizes=(2, 5, 1, 3),
              activations=("sigmoid", "linear", "relu"), batches=(2,))],
        8, kind="layer_backward", group="b"))
    tests.append(_test("hidden_network", "hidden: MLP 5-4-4-2, 2 rounds", [
        _part("mlp_backward", id="hidden", label="hidden network", sizes=(5, 4, 4, 2),
              activations=("tanh", "relu", "linear"), batches=(7, 3))],
        8, visibility="after_due_date", hidden=True, group="b"))
    # Added after the others (issue 11), and drawn after them: every earlier test keeps its
    # numbers for every seed.
    tests.append(_test("saturated", "pre-activations in the far tails (|z| up to 800)", [
        _part("layer_backward", id="saturated_sigmoid", activation="sigmoid", batches=(6,),
              tails=800.0, label="DenseLayer(3, 4, 'sigmoid'), |z| up to 800"),
        _part("layer_backward", id="saturated_tanh", activation="tanh", batches=(6,),
              tails=800.0, label="DenseLayer(3, 4, 'tanh'), |z| up to 800"),
        _part("mlp_backward", id="saturated_mlp", sizes=(3, 4, 2),
              activations=("sigmoid", "tanh"), batches=(6,), tails=800.0,
              label="MLP 3-4-2 (sigmoid, tanh), |z| up to 800")], 8, kind="layer_backward",
        group="b"))
    return Assignment("mlp", "Backprop through an MLP", LESSON4, tuple(tests), lesson=4,
                      summary="DenseLayer forward/backward for every activation, MLP backward "
                              "through every layer, mse and its derivative")


def _losses() -> Assignment:
    one, several = [(5, 1), (1, 1)], [(4, 3), (2, 5)]

    def parts(op: str, shapes: list[tuple[int, int]], tag: str) -> list[PartSpec]:
        return [_part(op, id=f"{op}_{tag}_{i}", shape=s) for i, s in enumerate(shapes)]

    tests = [
        _test("api", _api_name(LESSON1), [_part("api", id="api")], 10),
        _test("mse_one_output", "mse value, one output (and a batch of one)",
              parts("mse", one, "one"), 15),
        _test("mse_several_outputs", "mse value, several outputs", parts("mse", several, "many"),
              15),
        _test("mse_derivative_one_output", "mse_derivative, one output (and a batch of one)",
              parts("mse_derivative", one, "one"), 20),
        _test("mse_derivative_several_outputs", "mse_derivative, several outputs",
              parts("mse_derivative", several, "many"), 20),
        _test("hidden_losses", "hidden: mse and mse_derivative on y of shape (6, 2)", [
            _part("mse", id="hidden_mse", label="hidden mse", shape=(6, 2)),
            _part("mse_derivative", id="hidden_mse_derivative", label="hidden mse_derivative",
                  shape=(6, 2))], 20, kind="mixed", visibility="after_due_date", hidden=True),
    ]
    return Assignment("losses", "Loss functions and their derivatives", LESSON1, tuple(tests),
                      lesson=1, summary="mse and mse_derivative for one and several outputs "
                                        "(both conventions of the derivative accepted)")


def _dense_layer() -> Assignment:
    tests = [_test("api", _api_name(LESSON3), [_part("api", id="api")], 4)]
    for act in ACTIVATION_NAMES:
        tests.append(_test(f"forward_{act}", f"DenseLayer forward ({act})",
                           _layer_parts("forward", act), 4))
    for act in ACTIVATION_NAMES:
        tests.append(_test(f"backward_{act}", f"DenseLayer backward ({act})",
                           _layer_parts("layer_backward", act), 10))
    tests += [
        _test("multiple_rounds", "several forward/backward rounds on one layer", [
            _part("layer_backward", id="rounds_sigmoid", activation="sigmoid", sizes=(2, 3),
                  batches=(4, 4, 4)),
            _part("layer_backward", id="rounds_relu", activation="relu", sizes=(3, 2),
                  batches=(3, 3, 3))], 10),
        _test("edge_shapes", "edge shapes", [
            _part("layer_backward", id="edge_batch1",
                  label="batch of 1, DenseLayer(4, 3, 'sigmoid')", activation="sigmoid",
                  sizes=(4, 3), batches=(1,)),
            _part("layer_backward", id="edge_width1", label="width 1, DenseLayer(1, 1, 'tanh')",
                  activation="tanh", sizes=(1, 1), batches=(4,)),
            _part("layer_backward", id="edge_square", label="square DenseLayer(4, 4, 'relu')",
                  activation="relu", sizes=(4, 4), batches=(3,)),
            _part("layer_backward", id="edge_wide", label="wide DenseLayer(2, 6, 'linear')",
                  activation="linear", sizes=(2, 6), batches=(3,))], 10),
        _test("saturated", "saturated units (inputs of standard deviation 10)", [
            _part("layer_backward", id=f"saturated_{act}",
                  label=f"DenseLayer(3, 4, {act!r}), saturated", activation=act,
                  input_scale=10.0) for act in ("sigmoid", "tanh")], 10),
        _test("hidden_layer", "hidden: DenseLayer(5, 4, 'tanh'), 2 rounds", [
            _part("layer_backward", id="hidden", label="hidden layer", activation="tanh",
                  sizes=(5, 4), batches=(6, 6))],
              10, visibility="after_due_date", hidden=True),
    ]
    return Assignment("dense-layer", "Backprop through one dense layer", LESSON3, tuple(tests),
                      lesson=3, summary="DenseLayer forward and backward for every activation, "
                                        "over several rounds, at edge shapes and saturated")


def _gradient_descent() -> Assignment:
    tests = [
        _test("api", _api_name(LESSON2), [_part("api", id="api")], 10),
        _test("update_rule", "one step: x - learning_rate * gradient", [
            _part("gd_step", id="step_row", shape=(1, 3), learning_rate=0.1),
            _part("gd_step", id="step_matrix", shape=(4, 2), learning_rate=0.05)], 20),
        _test("learning_rate", "the learning rate is used (one step and a loop at two rates)", [
            _part("gd_step", id="rate_step", shape=(1, 4), learning_rate=0.5),
            _part("gd_run", id="rate_small", dim=2, steps=5, learning_rate=0.05),
            _part("gd_run", id="rate_large", dim=2, steps=5, learning_rate=0.4)], 15),
        _test("loop", "the loop: exactly n_steps steps from x0", [
            _part("gd_run", id="loop", dim=3, steps=10, learning_rate=0.1),
            _part("gd_run", id="loop_one", label="a single step in 1 dimension", dim=1, steps=1,
                  learning_rate=0.3)], 20),
        _test("convergence", "convergence to the minimum of a quadratic", [
            _part("gd_converge", id="converge", dim=2, steps=200, learning_rate=0.2)], 20),
        _test("hidden_descent", "hidden: 25 steps on a quadratic in 4 dimensions", [
            _part("gd_run", id="hidden", label="hidden loop", dim=4, steps=25,
                  learning_rate=0.05)], 15, visibility="after_due_date", hidden=True),
    ]
    return Assignment("gradient-descent", "Gradient descent", LESSON2, tuple(tests), lesson=2,
                      summary="one update step, and the loop on a given function: the update "
                              "rule, the learning rate, convergence on a quadratic")


def _training() -> Assignment:
    tests = [
        _test("api", _api_name(LESSON5), [_part("api", id="api")], 5),
        _test("sgd_step", "SGD step: every layer, after backward", [
            _part("sgd_step", id="sgd_step", sizes=(3, 4, 2), activations=("tanh", "linear")),
            _part("sgd_step", id="sgd_step_deep", sizes=(2, 3, 3, 1),
                  activations=("relu", "sigmoid", "linear"), learning_rate=0.5)], 20),
        _test("shuffle", "shuffle with a seed", [_part("shuffle", id="shuffle")], 10),
        _test("batches", "mini-batches", [
            _part("batches", id="batches_rest", rows=10, batch_size=4),
            _part("batches", id="batches_even", rows=9, batch_size=3)], 10),
        _test("loss_goes_down", "the training loop lowers the loss",
              [_part("train_loss", id="train_loss")], 15),
        _test("sgd_epochs", "the training loop: shuffled mini-batches and the SGD updates",
              [_part("train_sgd", id="train_sgd")], 20),
        _test("reproducible", "the same seed gives the same training",
              [_part("train_reproducible", id="train_seeds")], 10),
        _test("hidden_training", "hidden: another network, batches of 4", [
            _part("train_sgd", id="hidden", label="hidden training", sizes=(3, 6, 2),
                  activations=("tanh", "linear"), rows=18, batch_size=4, epochs=8,
                  learning_rate=0.05)], 10, visibility="after_due_date", hidden=True),
    ]
    return Assignment("training", "A training loop with stochastic gradient descent", LESSON5,
                      tuple(tests), lesson=5,
                      summary="the SGD step, shuffling with a seed, mini-batches, an epoch loop "
                              "whose loss goes down, reproducibility")


BUILTINS: dict[str, Assignment] = {a.name: a for a in (_losses(), _gradient_descent(),
                                                       _dense_layer(), _mlp(), _training())}
"""The course's assignments by name, in lesson order."""

ALIASES: dict[str, str] = {f"lesson{a.lesson}": a.name for a in BUILTINS.values() if a.lesson}
"""``lesson4`` -> ``mlp``: the built-ins by lesson number too."""

DEFAULT_ASSIGNMENT = "mlp"
"""What ``python -m verify grade`` grades without ``--assignment``."""


def builtin(name: str) -> Assignment:
    """The built-in assignment called ``name`` (or ``lessonN``); ValueError naming them all."""
    key = ALIASES.get(name, name)
    if key not in BUILTINS:
        raise ValueError(f"unknown assignment {name!r}; the built-in ones are "
                         f"{', '.join(BUILTINS)} (or lesson1..lesson5), or give a .toml file")
    return BUILTINS[key]


# ------------------------------------------------------------------------------ TOML files

_TOP_KEYS = {"name", "title", "summary", "extends", "contract", "include", "exclude", "points",
             "visibility", "spellings", "tests"}
_TEST_KEYS = {"id", "name", "points", "visibility", "hidden", "kind", "parts", "label"}
_PART_KEYS = {"kind", "id", "label"}


def _fail(path: Path, message: str) -> ValueError:
    return ValueError(f"assignment {path}: {message}")


def _string(data: Mapping[str, Any], key: str, where: str, path: Path, default: Any = None,
            required: bool = False) -> Any:
    if key not in data:
        if required:
            raise _fail(path, f"{where}{key}: required")
        return default
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"{where}{key}: expected a non-empty string, got {value!r}")
    return value


def _ids(data: Mapping[str, Any], key: str, path: Path, valid: list[str]) -> list[str] | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"{key}: expected a list of test ids, got {value!r}")
    for i, v in enumerate(value):
        if v not in valid:
            raise _fail(path, f"{key}[{i}]: unknown test id {v!r}; expected one of "
                              f"{', '.join(valid)}")
    return list(value)


def _points(value: Any, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise _fail(path, f"{where}: must be a number >= 0, got {value!r}")
    return float(value)


def _visibility(value: Any, where: str, path: Path) -> str:
    if value not in VISIBILITIES:
        raise _fail(path, f"{where}: must be one of {', '.join(VISIBILITIES)}, got {value!r}")
    return str(value)


def _parse_part(raw: Any, where: str, path: Path, default_id: str) -> PartSpec:
    if not isinstance(raw, dict):
        raise _fail(path, f"{where}: expected a table, got {raw!r}")
    kind = _string(raw, "kind", f"{where}.", path, required=True)
    if kind not in KINDS:
        raise _fail(path, f"{where}.kind: unknown test kind {kind!r}; expected one of "
                          f"{', '.join(KINDS)}")
    pid = _string(raw, "id", f"{where}.", path, default=default_id)
    label = _string(raw, "label", f"{where}.", path)
    params = {k: v for k, v in raw.items() if k not in _PART_KEYS}
    try:
        resolved = KINDS[kind].resolve(params, where)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    return PartSpec(kind, resolved, pid, label or KINDS[kind].label(resolved))


def _parse_test(raw: Any, where: str, path: Path, points: Mapping[str, Any]) -> TestSpec:
    if not isinstance(raw, dict):
        raise _fail(path, f"{where}: expected a table, got {raw!r}")
    tid = _string(raw, "id", f"{where}.", path, required=True)
    if "parts" in raw:
        extra = sorted(set(raw) - _TEST_KEYS)
        if extra or "kind" in raw:
            bad = extra[0] if extra else "kind"
            raise _fail(path, f"{where}.{bad}: a test with parts takes its kinds and parameters "
                              f"in each [[tests.parts]] table, not in the test")
        if not isinstance(raw["parts"], list) or not raw["parts"]:
            raise _fail(path, f"{where}.parts: expected a non-empty list of tables")
        parts = [_parse_part(p, f"{where}.parts[{i}]", path, f"{tid}_{i}")
                 for i, p in enumerate(raw["parts"])]
    else:
        if "kind" not in raw:
            raise _fail(path, f"{where}.kind: required (or give [[tests.parts]])")
        part = {k: v for k, v in raw.items() if k not in _TEST_KEYS or k in ("kind", "label")}
        parts = [_parse_part({**part, "id": tid}, where, path, tid)]
    if "points" in raw:
        pts = _points(raw["points"], f"{where}.points", path)
    elif tid in points:
        pts = 0.0  # [points] below sets it
    else:
        raise _fail(path, f"{where}.points: required (0 runs and reports the test without "
                          f"counting it)")
    vis = _visibility(raw.get("visibility", "visible"), f"{where}.visibility", path)
    hidden = raw.get("hidden", False)
    if not isinstance(hidden, bool):
        raise _fail(path, f"{where}.hidden: expected true or false, got {hidden!r}")
    name = _string(raw, "name", f"{where}.", path, default=tid)
    return _test(tid, name, parts, pts, visibility=vis, hidden=hidden)


def _contract_of(name: str, path: Path) -> Contract:
    if name in CONTRACTS:
        return CONTRACTS[name]
    try:
        return builtin(name).contract
    except ValueError:
        raise _fail(path, f"contract: unknown contract {name!r}; expected an assignment "
                          f"({', '.join(BUILTINS)}) or a contract ({', '.join(CONTRACTS)})"
                    ) from None


def _with_spellings(contract: Contract, raw: Any, path: Path, name: str) -> Contract:
    if raw is None:
        return contract
    if not isinstance(raw, dict):
        raise _fail(path, f"spellings: expected a table of role = [names], got {raw!r}")
    roles = dict(contract.roles)
    for role, names in raw.items():
        if role not in roles:
            raise _fail(path, f"spellings.{role}: unknown role; contract {contract.name} has "
                              f"{', '.join(roles)}")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) and n.isidentifier() for n in names):
            raise _fail(path, f"spellings.{role}: expected a list of identifiers, got {names!r}")
        roles[role] = Role(roles[role].kind, tuple(names), roles[role].owner)
    return Contract(f"{contract.name}+{name}", roles, contract.notes)


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read as UTF-8 text: {exc}") from None
    try:
        return tomlfile.loads(text, f"assignment {path}")
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _from_file(path: Path) -> Assignment:
    data = _parse(path)
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(path, f"{key}: unknown key; expected {', '.join(sorted(_TOP_KEYS))}")
    name = _string(data, "name", "", path, required=True)
    base: Assignment | None = None
    if "extends" in data:
        ext = _string(data, "extends", "", path)
        try:
            base = builtin(ext)
        except ValueError as exc:
            raise _fail(path, f"extends: {exc}") from None
    if "contract" in data:
        contract = _contract_of(_string(data, "contract", "", path), path)
    elif base is not None:
        contract = base.contract
    else:
        raise _fail(path, "contract: required when the assignment extends none (e.g. contract "
                          "= \"mlp\", the contract of a built-in assignment)")
    contract = _with_spellings(contract, data.get("spellings"), path, name)
    tests: list[TestSpec] = list(base.tests) if base else []
    valid = [t.id for t in tests]
    include = _ids(data, "include", path, valid)
    exclude = _ids(data, "exclude", path, valid) or []
    if include is not None:
        tests = [next(t for t in tests if t.id == i) for i in include]
    tests = [t for t in tests if t.id not in exclude]
    points_raw = data.get("points", {})
    if not isinstance(points_raw, dict):
        raise _fail(path, f"points: expected a table of test id = points, got {points_raw!r}")
    raw_tests = data.get("tests", [])
    if not isinstance(raw_tests, list):
        raise _fail(path, "tests: expected [[tests]] tables")
    for i, raw in enumerate(raw_tests):
        spec = _parse_test(raw, f"tests[{i}]", path, points_raw)
        at = next((j for j, t in enumerate(tests) if t.id == spec.id), None)
        if at is None:
            tests.append(spec)
        else:
            tests[at] = spec
    if not tests:
        raise _fail(path, "no tests: extend a built-in assignment or add [[tests]]")
    ids = [t.id for t in tests]
    for key, value in points_raw.items():
        if key not in ids:
            raise _fail(path, f"points.{key}: unknown test id; expected one of {', '.join(ids)}")
        tests[ids.index(key)] = replace(tests[ids.index(key)],
                                        points=_points(value, f"points.{key}", path))
    vis_raw = data.get("visibility", {})
    if not isinstance(vis_raw, dict):
        raise _fail(path, f"visibility: expected a table of test id = visibility, got {vis_raw!r}")
    for key, value in vis_raw.items():
        if key not in ids:
            raise _fail(path, f"visibility.{key}: unknown test id; expected one of "
                              f"{', '.join(ids)}")
        tests[ids.index(key)] = replace(tests[ids.index(key)],
                                        visibility=_visibility(value, f"visibility.{key}", path))
    _check(tests, contract, path)
    title = _string(data, "title", "", path, default=base.title if base else name)
    summary = _string(data, "summary", "", path, default=base.summary if base else "")
    return Assignment(name, title, contract, tuple(tests), lesson=base.lesson if base else None,
                      summary=summary, source=str(path), extends=base.name if base else None)


def _check(tests: list[TestSpec], contract: Contract, path: Path) -> None:
    seen: dict[str, str] = {}
    parts: dict[str, str] = {}
    for i, t in enumerate(tests):
        if t.id in seen:
            raise _fail(path, f"tests[{i}].id: {t.id!r} is used twice")
        seen[t.id] = t.id
        for j, p in enumerate(t.parts):
            if p.id in parts:
                raise _fail(path, f"test {t.id!r}, part {j}: part id {p.id!r} is also a part of "
                                  f"test {parts[p.id]!r}; give it an id of its own")
            parts[p.id] = t.id
            missing = [r for r in KINDS[p.kind].roles if r not in contract.roles]
            if missing:
                raise _fail(path, f"test {t.id!r}: kind {p.kind!r} needs {', '.join(missing)}, "
                                  f"which contract {contract.name} does not define")
    if sum(t.points for t in tests) <= 0:
        raise _fail(path, "the points sum to 0; at least one test must score")


def load_assignment(spec: str | Path | Assignment | None = None) -> Assignment:
    """The assignment ``spec`` names: None (the default, ``mlp``), a built-in name (``losses``,
    ``lesson1``, ...), or a TOML file (``.toml``). ValueError naming the problem (the file's bad
    key, or the built-in names) otherwise."""
    if isinstance(spec, Assignment):
        return spec
    if spec is None:
        return BUILTINS[DEFAULT_ASSIGNMENT]
    text = str(spec)
    if text.lower().endswith(".toml") or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"assignment file {path} "
                             + ("is not a file" if path.exists() else "does not exist"))
        return _from_file(path)
    return builtin(text)
