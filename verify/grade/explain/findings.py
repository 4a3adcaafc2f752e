"""What the engine states (findings, what is known), its hypotheses, the best plans."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .fitting import Array

KINDS: dict[str, str] = {
    # dz (the chain rule's first step): blamed when weight, bias and input gradients agree
    "dz_factor": "dz off by a constant factor (weight, bias and input gradients alike)",
    "upstream_factor": "MLP.backward scales the gradient it is given by a constant factor",
    "derivative_missing_factor": "activation derivative missing a factor (s instead of "
                                 "s * (1 - s), ...)",
    "derivative_missing_square": "activation derivative missing its square (1 - tanh(z) "
                                 "instead of 1 - tanh(z)**2)",
    "derivative_formula_on_z": "the derivative's formula in terms of the output applied to z",
    "derivative_of_other_activation": "another activation's derivative formula",
    "derivative_is_activation": "the activation itself used as its derivative",
    "derivative_other_function": "another function of z used as the activation's derivative "
                                 "(sign(z), clip(z, 0, 1))",
    "derivative_wrong_sign": "activation derivative with the wrong sign",
    "derivative_zero": "activation derivative 0 everywhere",
    "relu_slope": "relu derivative with the wrong slope (leaky, reversed)",
    "relu_threshold": "relu derivative switching at the wrong threshold",
    "overflow": "NaN or inf where exp overflows (|z| beyond ~709.78)",
    "stale_mask": "an earlier round's pre-activation (mask) used",
    # after dz, per gradient
    "d_weights_factor": "d_weights off by a constant factor",
    "d_biases_factor": "d_biases off by a constant factor",
    "d_inputs_factor": "the input gradient off by a constant factor",
    "reshape_as_transpose": "a reshape used where a transpose was needed",
    "transposed_d_inputs": "the input gradient transposed",
    "untransposed_weights": "dz @ weights instead of dz @ weights.T",
    "bias_wrong_axis": "bias gradient reduced over the wrong axis",
    "examples_subset": "only some examples used",
    "wrong_shape": "right values in the wrong shape",
    # across rounds
    "accumulated": "gradients accumulated over rounds and never reset",
    "stale_gradient": "a gradient of an earlier round returned again (not recomputed)",
    "state_between_rounds": "state kept between rounds (a fresh object gets it right)",
    # the forward
    "weights_changed_by_forward": "weights or biases changed by forward",
    "forward_no_bias": "forward without the bias",
    "forward_no_activation": "forward without the activation",
    "forward_wrong_activation": "forward with another activation",
    "forward_factor": "forward output off by a constant factor",
    "forward_transposed_weights": "forward with the weights transposed",
    "stale_output": "forward returns an earlier round's output",
    # networks
    "skips_last": "MLP.backward never back-propagates the output layer (the loop skips it)",
    "mlp_return": "MLP.backward returns something other than the first layer's input "
                  "gradient",
    "output_derivative_skipped": "MLP.backward skips the output layer's activation derivative "
                                 "(the loss gradient used as the last layer's dz)",
    # losses
    "loss_factor": "mse_derivative off by a constant factor",
    "loss_sign_of_error": "mse_derivative uses the sign of the error (the MAE derivative)",
    "loss_not_differentiated": "mse_derivative returns the squared errors",
    "mse_factor": "mse off by a constant factor",
}
"""The explanation kinds this engine can name (beyond the catalogue's), in plain words."""


@dataclass(frozen=True)
class Finding:
    """A cause whose hypothesis reproduces the student's numbers.

    ``name`` is the diagnosis tag (``kind`` or ``kind:param``, ``@j`` added per layer by the
    caller); ``paths`` the failing checks it reproduces; ``priority`` orders equally good
    findings (lower: more specific)."""

    name: str
    function: str
    cause: str
    evidence: str
    evidence_hidden: str
    paths: tuple[str, ...]
    layer: int | None = None
    priority: int = 5
    value: tuple[float, ...] | None = None
    """The parameters fitted from the student's numbers (a factor, a threshold interval), or
    None: another place of the test must agree on them (:mod:`.consistency`)."""
    scope: str = ""
    """Which variant of the name, for one specific to an activation (:mod:`.consistency`)."""

    @property
    def kind(self) -> str:
        return self.name.split(":")[0].split("@")[0]

    def tag(self) -> str:
        return self.name if self.layer is None else f"{self.name}@{self.layer}"


@dataclass
class Known:
    """What is known about wrong checks no hypothesis reproduces (no cause)."""

    paths: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    tested: set[tuple[str, tuple[float, ...] | None]] = field(default_factory=set)
    """The hypotheses tested at this place (:func:`.consistency.tested_as`): their prediction
    differs from the reference's somewhere here, so this place can contradict them."""
    reproduced: list[tuple[str, tuple[float, ...] | None]] = field(default_factory=list)
    """(name, fitted value) of every hypothesis in a plan that reproduces all this place's
    failing checks."""


@dataclass(frozen=True)
class _Hyp:
    """One candidate step: a name (None = the correct step), its words, evidence, value."""

    name: str | None
    cause: str = ""
    evidence: str = ""
    evidence_hidden: str = ""
    priority: int = 5
    function: str = "DenseLayer.backward"
    per_layer: bool = True
    """In a network: named in each layer it explains (``name@j``), or once for the network."""
    fitted: int = 0
    """How many free parameters were fitted from the student's numbers (a factor: 1, a relu
    slope pair: 2): the entries those consume are no evidence (:mod:`.consistency`)."""
    value: tuple[float, ...] | None = None
    """The fitted parameters, for comparing places (a factor's number, named or not; None:
    nothing fitted)."""
    scope: str = ""
    """The variant, where several share a name (one per activation: sigmoid's wrong sign is
    not tanh's); empty for a class-wide hypothesis."""


_CORRECT = _Hyp(None)


_HELD = {
    "weights_changed": "weights changed during backward: backward must only compute gradients "
                       "(no gradient-descent step, no in-place update of weights or biases)",
    "weights_changed_by_forward": "weights or biases changed by forward (re-initialised or "
                                  "updated there): forward must use the weights the layer was "
                                  "given and leave them alone",
}


def _held(name: str, when: str, what_layers: str) -> _Hyp:
    """The weights a layer held, changed by the submission: later numbers follow from them."""
    return _Hyp(name, _HELD[name], f"{what_layers} held other weights {when} than the ones "
                "assigned, and the reference's forward and backward with the weights held "
                "reproduce {what}", priority=1,
                function="DenseLayer.forward" if name.endswith("forward") else
                "DenseLayer.backward", per_layer=False)


Post = tuple[_Hyp, Any]


@dataclass
class LayerGot:
    """A student's answer to one round of a layer part (decoded): what the engine explains."""

    output: Array | None
    grads: dict[str, Array | None]  # weights, biases, inputs
    passed: dict[str, bool]  # output, weights, biases, inputs
    weights_forward: Array | None = None
    biases_forward: Array | None = None
    weights_after: Array | None = None
    history: list[dict[str, Array | None]] = field(default_factory=list)
    """The student's gradients of the earlier rounds (for stale/accumulated)."""
    weights_before: Array | None = None
    biases_before: Array | None = None
    """What the layer held before this round's forward, when an earlier round changed it."""
    changed_by: str = "weights_changed"
    """Who changed it: ``weights_changed`` (backward) or ``weights_changed_by_forward``."""


_PATH_WORDS = {"weights": "d_weights", "biases": "d_biases", "inputs": "the input gradient",
               "output": "the forward's output"}


def _what(paths: Iterable[str], words: dict[str, str] | None = None) -> str:
    w = words or _PATH_WORDS
    names = [w.get(p, p) for p in paths]
    names = [n.replace("the ", "your ", 1) if n.startswith("the ") else f"your {n}"
             for n in names]
    if not names:
        return "your numbers"
    if len(names) == 1:
        return f"{names[0]} in every entry"
    return f"{', '.join(names[:-1])} and {names[-1]} in every entry"


Named = list[tuple[_Hyp, tuple[str, ...], tuple[int, ...]]]
"""A plan: each hypothesis it needs, the failing checks it explains, the layers it names."""


class _Best:
    """The plans that explain the most failing checks with the fewest hypotheses. Equally good
    plans that explain the same checks are kept as alternatives (the report chooses among them
    by what explains the submission's other tests), most specific first."""

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.plans: list[tuple[int, frozenset[str], Named]] = []

    def offer(self, explained: Iterable[str], plan: Named) -> None:
        paths = frozenset(explained)
        named = [h for h, _, _ in plan if h.name is not None]
        if not paths or not named:
            return
        key = (len(paths), -len(named))
        priority = min(h.priority for h in named)
        if self.key is None or key > self.key:
            self.key, self.plans = key, [(priority, paths, plan)]
        elif key == self.key:
            self.plans.append((priority, paths, plan))

    def alternatives(self) -> tuple[list[Named], frozenset[str]]:
        """The best plans (all explaining the same checks, as the most specific one does)."""
        if not self.plans:
            return [], frozenset()
        ordered = sorted(enumerate(self.plans), key=lambda ip: (ip[1][0], ip[0]))
        first_paths = ordered[0][1][1]
        out: list[Named] = []
        seen: list[tuple[str, ...]] = []
        for _, (_, paths, plan) in ordered:
            names = tuple(sorted(h.name for h, _, _ in plan if h.name is not None))
            if paths == first_paths and names not in seen:
                seen.append(names)
                out.append(plan)
        return out, first_paths


def _finding(hyp: _Hyp, paths: tuple[str, ...], hide: bool, layer: int | None = None,
             words: dict[str, str] | None = None) -> Finding:
    what = _what(paths, words)
    assert hyp.name is not None
    return Finding(hyp.name, hyp.function, hyp.cause, hyp.evidence.format(what=what),
                   (hyp.evidence_hidden or hyp.evidence).format(what=what), paths, layer,
                   hyp.priority, hyp.value, hyp.scope)


@dataclass
class NetGot:
    """A student's answer to one round of a network part (decoded)."""

    prediction: Array | None
    grads: dict[str, Array | None]  # "d_x", "layers[j].weights", "layers[j].biases"
    passed: dict[str, bool]  # the same keys, and "prediction"
    weights_forward: list[Array | None] = field(default_factory=list)
    biases_forward: list[Array | None] = field(default_factory=list)
    weights_after: list[Array | None] = field(default_factory=list)
    weights_before: list[Array | None] = field(default_factory=list)
    biases_before: list[Array | None] = field(default_factory=list)
    changed_by: str = "weights_changed"
