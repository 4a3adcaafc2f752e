"""Checking one test's results against the reference: records, feedback lines, diagnoses.

Each part's answer (a protocol result, already matched to its task) becomes
:class:`~verify.compare.GradientRecord` rows, one per number checked, compared with the
reference computed here from the same inputs (the child never sees expected values). A part
that could not be checked - the student's code raised, was stopped, or sent something that is
not an answer - counts as every check it would have made (:func:`checks_in`), so that a crash
never weighs less than a wrong number.

Lessons 2 and 5's parts (gradient descent, SGD, shuffling, training) are checked in
:mod:`.course_checks`, into the same :class:`Check`.

Only :class:`~.decode.MalformedResult` (untrusted data of the wrong shape) is caught here;
anything else is a fault in the grader and propagates.

One module (~600 lines, a little over the project's ~500) on purpose: the API, layer, network
and loss checks share the :class:`Check` record and its glue to the explanation engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference_mlp.activations import get_activation
from reference_mlp.losses import get_loss
from verify.compare import GradientRecord, Tolerance, compare
from verify.rounding import dense_rounding_bounds

from . import decode
from . import diagnosis as dg
from . import explain as ex
from .cases import (
    ApiCase,
    BatchesCase,
    GdRunCase,
    GdStepCase,
    LayerCase,
    LossCase,
    NetCase,
    Part,
    SgdStepCase,
    ShuffleCase,
    TestCase,
    TrainCase,
)
from .decode import MalformedResult
from .explain import consistency
from .limits import Limits
from .schedule import SYNTHETIC_ERRORS
from .text import safe_text

__all__ = ["Check", "check_part", "checks_in", "cover", "missing", "resolve", "shown"]

_COURSE_CASES = (GdStepCase, GdRunCase, SgdStepCase, ShuffleCase, BatchesCase, TrainCase)
"""Lessons 2 and 5's cases, checked in :mod:`.course_checks`."""

_TRACEBACK_SHOWN = 1500


@dataclass
class Check:
    """What checking one test produced, before scoring."""

    scored: list[GradientRecord] = field(default_factory=list)
    unrun: int = 0  # checks that could not be made (an error, a timeout, garbage)
    lines: list[str] = field(default_factory=list)
    convention_notes: list[str] = field(default_factory=list)
    """Notes that a value follows the other accepted convention: a claim about the code, so
    shown only when every check of the test passed (a hard-coded / 4 matches the lesson's
    / batch at a batch of 4 and nowhere else)."""
    diagnoses: list[str] = field(default_factory=list)
    fd_requests: list[tuple[Part, int, dict[str, Any]]] = field(default_factory=list)
    fraction: float | None = None  # overrides record counting (api)
    hide: bool = False  # a hidden test: messages never show values
    candidates: dict[str, list[str]] = field(default_factory=dict)
    """Failing path -> known bugs that reproduce it, settled across the test's parts by
    :func:`cover` when it is scored (:meth:`settle`): the bug that explains most parts wins."""
    findings: list[tuple[str, ex.Finding]] = field(default_factory=list)
    """(where: the part and round, a cause whose hypothesis reproduces the numbers there)."""
    known: list[tuple[Part, int, ex.Known]] = field(default_factory=list)
    """What is known of wrong checks no hypothesis reproduces (part, round, facts)."""
    numbers: list[str] = field(default_factory=list)
    """Lines with the failing values (shown after causes and evidence)."""
    errors: list[tuple[str, list[str]]] = field(default_factory=list)
    """(the part's label, its error lines): exceptions, time limits, bad results."""
    side_effects: list[str] = field(default_factory=list)
    """What the submission changed in place that it should not have (noted, no deduction)."""
    choices: list[tuple[str, list[list[ex.Finding]]]] = field(default_factory=list)
    """(where, equally good sets of findings): chosen by :func:`resolve` (what explains the
    submission's other tests), then moved to ``findings``."""
    places: list[tuple[str, Part, int, bool, ex.Known]] = field(default_factory=list)
    """Every place the engine explained (where, part, round, a network?, what it tested and
    what reproduced the numbers there): the evidence :meth:`drop_refuted` weighs."""
    passing: list[tuple[str, Part, int, bool, Callable[[], ex.Known]]] = \
        field(default_factory=list)
    """Places where every check passed: what they test, computed only when a cause found
    elsewhere in the test is to be weighed (a correct submission pays nothing)."""

    def offer(self, where: str, alternatives: list[list[ex.Finding]], skip: str = "") -> None:
        """Findings for one place: one set, or alternatives for :func:`resolve` to choose."""
        alternatives = [[f for f in alt if f.name != skip] for alt in alternatives]
        alternatives = [alt for alt in alternatives if alt]
        if len(alternatives) == 1:
            self.findings += [(where, f) for f in alternatives[0]]
        elif alternatives:
            self.choices.append((where, alternatives))

    def place(self, where: str, part: Part, k: int, network: bool, known: ex.Known) -> None:
        """Record what the engine tested at one place; its unexplained checks as known."""
        self.places.append((where, part, k, network, known))
        if known.paths:
            self.known.append((part, k, known))

    def evidence(self) -> list[tuple[str, Part, int, bool, ex.Known]]:
        """Every place of the test, what the passing ones test computed now (once): a round
        that passed contradicts a hypothesis predicting other numbers there."""
        if self.passing:
            self.places += [(w, part, k, net, later()) for w, part, k, net, later in self.passing]
            self.passing = []
        return self.places

    def drop_refuted(self, layers_pass_alone: bool = False,
                     elsewhere: Sequence[Check] = ()) -> None:
        """The consistency rule (:mod:`verify.grade.explain.consistency`): a cause found at one
        place is dropped when another place of the test, or of a test in ``elsewhere`` (the
        same submission's other tests: one DenseLayer, one MLP), tested its family and did not
        reproduce it (with the same fitted parameters), and, in a network, a cause in
        ``DenseLayer.backward`` when ``layers_pass_alone`` (every single-layer backward part of
        the submission passed: the layer's code is shown right alone; the fault shows only
        inside an MLP), and an ``MLP.backward`` cause while the layer's own test of one of the
        network's activations fails.
        What a dropped cause covered is said as known, without a cause. Idempotent."""
        if not (self.findings or self.choices):
            return
        self.evidence()
        alone, failing_alone = self._layers_alone(elsewhere)

        def refuted(where: str, f: ex.Finding) -> str | None:
            return self._refutation(where, f, alone, failing_alone, layers_pass_alone)

        kept: list[tuple[str, ex.Finding]] = []
        for where, f in self.findings:
            why = refuted(where, f)
            if why is None:
                kept.append((where, f))
            else:
                self._drop(where, [f], why)
        self.findings = kept
        choices = []
        for where, alternatives in self.choices:
            whys = [next((w for w in (refuted(where, f) for f in alt) if w), None)
                    for alt in alternatives]
            left = [alt for alt, why in zip(alternatives, whys, strict=True) if why is None]
            if len(left) == 1:
                self.findings += [(where, f) for f in left[0]]
            elif left:
                choices.append((where, left))
            else:
                self._drop(where, [f for alt in alternatives for f in alt],
                           next(w for w in whys if w))
        self.choices = choices

    def _layers_alone(self, elsewhere: Sequence[Check]
                      ) -> tuple[list[tuple[str, LayerCase, ex.Known]], set[str]]:
        """The single-layer backward places of the submission's other tests (``elsewhere``),
        and the activations whose own single-layer backward (this test's included) fails,
        explained or not: a network using them may owe its numbers to the layer (relu' = 2
        in the output layer doubles every gradient, as "MLP.backward multiplies d_loss by 2"
        would)."""
        alone: list[tuple[str, LayerCase, ex.Known]] = []
        failing_alone: set[str] = set()
        for check in {id(c): c for c in [*elsewhere, self]}.values() if elsewhere else ():
            for w2, part2, _, network2, known2 in check.evidence():
                if network2 or not isinstance(part2.case, LayerCase) or not part2.case.backward:
                    continue
                prefix = f"{part2.label}: "
                if known2.paths or any(not r.passed for r in check.scored
                                       if r.path.startswith(prefix)):
                    failing_alone.add(part2.case.layer.activation)
                if check is not self:  # the test's own places: refuted_by, in _refutation
                    alone.append((w2, part2.case, known2))
        return alone, failing_alone

    def _refutation(self, where: str, f: ex.Finding,
                    alone: list[tuple[str, LayerCase, ex.Known]], failing_alone: set[str],
                    layers_pass_alone: bool) -> str | None:
        """Why the cause ``f`` found at ``where`` is not stated, or None when nothing refutes
        it."""
        where_of = {w: (part, network, known) for w, part, _, network, known in self.places}
        if where not in where_of or \
                not consistency.tests(where_of[where][2].tested, f.name, f.scope, f.value):
            return None  # not the engine's (a direct observation), or not from here
        for w2, _, _, _, other in self.places:
            if w2 != where and consistency.refuted_by(f.name, f.scope, f.value, other.tested,
                                                      other.reproduced):
                return (f"what reproduces these numbers here does not reproduce those of "
                        f"{w2} (the same test), so no cause is stated")
        # A hypothesis fitted where the data cannot tell it apart (every z of one sign: sign(z)
        # is a constant -1 there) is refuted by another test's single layer, which runs only
        # DenseLayer's code (a network there may hold other bugs that interact).
        for w2, _, other in alone:
            if consistency.family_refuted_by(f.name, f.scope, f.value, other.tested,
                                             other.reproduced):
                return (f"what reproduces these numbers here does not reproduce those of "
                        f"{w2} (another test of the same code), so no cause is stated")
        part, network, _ = where_of[where]
        if network and failing_alone and f.function == "MLP.backward" \
                and isinstance(part.case, NetCase):
            # A cause in MLP.backward presumes the layers right: not shown where the layer's
            # own test of an activation this network uses fails.
            acts = sorted({s.activation for s in part.case.layers} & failing_alone)
            if acts:
                return (f"your DenseLayer's backward fails its own test for "
                        f"{', '.join(acts)} layers, which these numbers may come from, so no "
                        f"cause in MLP.backward is stated")
        if layers_pass_alone and network and f.function == "DenseLayer.backward":
            return ("your DenseLayer's backward passes its own tests alone, so the error shows "
                    "only inside an MLP: in MLP's code (add_layer, backward), or in state it sets "
                    "on or shares between the layers")
        return None

    def _drop(self, where: str, findings: list[ex.Finding], why: str) -> None:
        """Say what ``findings`` at ``where`` covered as known, with ``why``, and no cause."""
        part, k = {w: (p, k) for w, p, k, _, _ in self.places}[where]
        paths = list(dict.fromkeys(p for f in findings for p in f.paths))
        self.known.append((part, k, ex.Known(paths, [why])))
        for rpart, rk, info in self.fd_requests:  # the replay may now say what it shows
            if rpart is part and rk == k:
                info["explained"] = False

    def settle(self) -> list[str]:
        """The diagnoses, with the fewest candidates that explain every failing path."""
        tags = [f.tag() for _, f in self.findings]
        return self.diagnoses + cover(self.candidates, list(self.candidates)) + tags


def checks_in(test: TestCase, part: Part) -> int:
    """How many checks a complete answer to ``part`` makes (the reference's answer)."""
    case = part.case
    if isinstance(case, _COURSE_CASES):
        from .course_checks import course_checks_in

        return course_checks_in(case)
    if isinstance(case, LayerCase):
        return len(case.rounds) * (3 if case.backward else 1)
    if isinstance(case, NetCase):
        return len(case.rounds) * (2 * len(case.layers) + 1)
    return 1


def missing(path: str, parameter: str, note: str, layer: int = 0,
            activation: str = "") -> GradientRecord:
    """A failed record for something the submission did not provide."""
    return GradientRecord(
        path=path, layer=layer, activation=activation, parameter=parameter, shape=(),
        method="reference", dtype="float64", max_abs_error=math.inf, max_rel_error=math.inf,
        worst_index=(), analytic=math.nan, reference=math.nan, tolerance=dg.GRADE_TOLERANCE,
        mismatched=0, size=0, kinks=0, passed=False, note=note)


def _record(student: Any, expected: Any, path: str, parameter: str, *, layer: int = 0,
            activation: str = "", missing_note: str = "",
            allowance: Any = None) -> GradientRecord:
    """``allowance`` (per entry): the float32 rounding a correct computation of ``expected``
    may carry beyond ``GRADE_TOLERANCE`` (:func:`_allowances`)."""
    if student is None:
        return missing(path, parameter, missing_note or "not returned", layer, activation)
    return compare(student, expected, path=path, layer=layer, activation=activation,
                   parameter=parameter, method="reference", tolerance=dg.GRADE_TOLERANCE,
                   dtype=np.float64, allowance=allowance)


def _allowances(layers: Sequence[Any], x: Any, d_out: Any) -> list[dict[str, Any]]:
    """Per layer, the float32 rounding of a correct forward/backward of ``layers`` (LayerSpecs)
    fed ``x`` and ``d_out`` (:func:`verify.rounding.dense_rounding_bounds`): ``"output"``,
    ``"weights"``, ``"biases"``, ``"inputs"``. GRADE_TOLERANCE is relative to the result, but
    rounding scales with what was summed: ``d_weights = x.T @ dz`` over large inputs that cancel
    (the saturated test's rows reach |z| = 800) failed correct float32 files, blaming their
    backward."""
    return dense_rounding_bounds(
        [(s.weights, s.biases, get_activation(s.activation)) for s in layers], x, d_out,
        np.float32)


def shown(rec: GradientRecord, hide: bool) -> str:
    """The feedback line for a record (no values for hidden tests)."""
    if rec.note.startswith("shape") and not rec.passed:  # no values to show: say the shapes
        return f"{rec.path}: {rec.note}"
    if not hide or rec.passed or rec.size == 0:
        return rec.message(value_name="your value")
    return (f"{rec.path}: {rec.mismatched} / {rec.size} mismatched (values of hidden tests are "
            f"not shown)")


def _error_lines(label: str, error: Any, limits: Limits) -> list[str]:
    error = error if isinstance(error, dict) else {}
    etype = safe_text(error.get("type", "Error"))[:100]
    msg = safe_text(error.get("message", ""))[:4000]
    hint = f" (the memory limit is {limits.memory_mb} MiB)" if etype == "MemoryError" else ""
    head = f"{label}: {msg}" if etype in SYNTHETIC_ERRORS else f"{label}: {etype}: {msg}{hint}"
    lines = [head]
    tb = safe_text(error.get("traceback", "")).strip()
    if tb and etype not in ("BadResult", "MissingAPI", *SYNTHETIC_ERRORS):
        tb_lines = tb[-_TRACEBACK_SHOWN:].splitlines()
        said = {f"{etype}: {msg}".strip(), msg.strip()}
        # The message is on the line above: not again as the traceback's first (JS) or last
        # (Python) line.
        if tb_lines and tb_lines[-1].strip() in said:
            tb_lines = tb_lines[:-1]
        if tb_lines and tb_lines[0].strip() in said:
            tb_lines = tb_lines[1:]
        lines += ["    " + line for line in tb_lines]
    return lines


_OVERFLOW_ERROR = ex.Finding(
    "overflow", "the function in the traceback",
    "a float overflowed: Python's math.exp(v) raises OverflowError for v > 709.78 (exp(-z) for "
    "z < -709.78), where numpy's exp gives inf. The stable form: 1 / (1 + np.exp(-z)) (0 where "
    "exp(-z) is inf), or branch on the sign of z: 1 / (1 + exp(-z)) for z >= 0, exp(z) / "
    "(1 + exp(z)) for z < 0",
    "this part raised OverflowError (math range error)",
    "this part raised OverflowError (math range error)", ("error",), None, 1)


def _overflowed(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    return error.get("type") == "OverflowError" or "math range error" in str(error.get("message"))


def check_part(test: TestCase, part: Part, result: Any, c: Check, limits: Limits) -> None:
    """Check one part's result (a protocol result object, or None) into ``c``."""
    if not isinstance(result, dict) or not result.get("ok"):
        error = result.get("error") if isinstance(result, dict) else None
        if _overflowed(error):
            c.findings.append((part.label, _OVERFLOW_ERROR))
        c.errors.append((part.label, _error_lines(part.label, error if error is not None else
                                                  {"type": "NoResult",
                                                   "message": "no result came back"}, limits)))
        c.unrun += checks_in(test, part)
        if isinstance(part.case, ApiCase):
            c.fraction = 0.0
        return
    try:
        value = decode.obj(result.get("value"), "the result")
        case = part.case
        if isinstance(case, ApiCase):
            _check_api(case, value, c)
        elif isinstance(case, LayerCase):
            _check_layer(part, case, value, c, backward=case.backward)
        elif isinstance(case, NetCase):
            _check_net(part, case, value, c)
        elif isinstance(case, LossCase):
            _check_loss(part, case, value, c)
        elif isinstance(case, _COURSE_CASES):
            from .course_checks import check_course_part

            check_course_part(part, value, c)
    except MalformedResult as exc:  # untrusted data only; grader faults propagate
        c.errors.append((part.label, [f"{part.label}: the submission corrupted or did not "
                                      f"produce results: malformed result "
                                      f"({safe_text(exc)[:500]})"]))
        c.unrun += checks_in(test, part)


def _check_api(case: ApiCase, value: dict[str, Any], c: Check) -> None:
    names: dict[str, Any] = value["names"] if isinstance(value.get("names"), dict) else {}
    items = []
    for key in case.roles:
        ok = bool(value.get(key))
        items.append(ok)
        found = f"found as {safe_text(names.get(key))[:100]}" if ok else "MISSING"
        c.lines.append(f"{case.name(key)}: {found}")
    for method, owner in case.methods:
        if value.get(owner):
            ok = bool(names.get(method))
            items.append(ok)
            c.lines.append(f"{owner}.{case.name(method)}: {'found' if ok else 'MISSING'}")
    attrs: dict[str, Any] = (value["layer_attributes"]
                             if isinstance(value.get("layer_attributes"), dict) else {})
    if not case.probe_layer:
        pass
    elif "error" in attrs:
        items.append(False)
        c.lines.append(safe_text(attrs["error"])[:2000])
    elif value.get("DenseLayer"):
        for attr, shape in (("weights", [3, 2]), ("biases", [1, 2])):
            got = attrs.get(attr)
            ok = got == shape
            items.append(ok)
            want = f"shape ({', '.join(map(str, shape))})"
            have = safe_text(tuple(got) if isinstance(got, list) else "no attribute")[:100]
            c.lines.append(f"DenseLayer(3, 2, 'relu').{attr}: "
                           + (want if ok else f"expected {want}, got {have}"))
        ok = bool(attrs.get("forward")) and bool(attrs.get("backward"))
        items.append(ok)
        c.lines.append(f"DenseLayer.forward / backward: {'found' if ok else 'MISSING'}")
    c.fraction = sum(items) / len(items) if items else 0.0


def _unchanged(entry: dict[str, Any], weights: Any, biases: Any) -> bool:
    return dg.close(decode.field(entry, "weights_after"), weights, Tolerance(0, 0)) and \
        dg.close(decode.field(entry, "biases_after"), biases, Tolerance(0, 0))


def _exact(a: Any, b: Any) -> bool:
    return dg.close(a, b, Tolerance(0, 0))


_MUTATED = {
    "d_outputs": ("DenseLayer.backward", "d_outputs", "dz = d_outputs * f'(z)"),
    "inputs": ("DenseLayer.forward/backward", "inputs", "a new array"),
    "x": ("MLP.forward/backward", "x", "a new array"),
    "d_loss": ("MLP.backward (or the last layer's backward)", "d_loss",
               "dz = d_outputs * f'(z) in each layer"),
    "y_pred": ("mse_derivative", "y_pred", "2 * (y_pred - y_true) / batch, a new array"),
    "y_true": ("mse_derivative", "y_true", "a new array"),
}


def _side_effects(got: dict[str, Any], c: Check, op: str = "") -> None:
    names = got.get("mutated")
    if not isinstance(names, list):
        return
    for name in names:
        if name not in _MUTATED:
            continue
        function, arg, fix = _MUTATED[name]
        if op == "mse" and name in ("y_pred", "y_true"):
            function = "mse"
        note = (f"note (no deduction): {function} changed the array it was given ({arg}) in "
                f"place: the caller's {arg} holds other numbers after the call. Your results "
                f"are right, but code that uses {arg} afterwards (a training loop, another "
                f"layer, a log) would see the change; compute into a new array instead "
                f"({fix}).")
        if note not in c.side_effects:
            c.side_effects.append(note)


def _weights_changed(spec: Any, got: dict[str, Any], before: tuple[Any, Any]
                     ) -> tuple[bool, bool]:
    """(changed by forward, changed during backward) for one layer in one round, ``before``
    being what it held before the round's forward."""
    wf, bf = decode.field(got, "weights_forward"), decode.field(got, "biases_forward")
    wa, ba = decode.field(got, "weights_after"), decode.field(got, "biases_after")
    if wf is None or bf is None:  # a runner that does not say: after the round only
        return False, not (_exact(wa, before[0]) and _exact(ba, before[1]))
    by_forward = not (_exact(wf, before[0]) and _exact(bf, before[1]))
    by_backward = not (_exact(wa, wf) and _exact(ba, bf))
    return by_forward, by_backward


def _forward_changed_finding(where: str, hide: bool) -> ex.Finding:
    return ex.Finding(
        "weights_changed_by_forward", "DenseLayer.forward",
        "weights or biases changed by forward (re-initialised or updated there): forward must "
        "use the weights the layer was given and leave them alone",
        f"{where}: right after forward the layer's weights/biases differ from the ones the "
        "grader assigned", f"{where}: right after forward the layer's weights/biases differ "
        "from the ones assigned", ("parameters",), None, 1)


def _backward_changed_finding(where: str) -> ex.Finding:
    text = (f"{where}: the weights/biases read after backward differ from the ones read right "
            "after forward")
    return ex.Finding("weights_changed", "DenseLayer.backward", dg.DIAGNOSES["weights_changed"],
                      text, text, ("parameters",), None, 1)


def _check_layer(part: Part, case: LayerCase, value: dict[str, Any], c: Check, *,
                 backward: bool) -> None:
    spec = case.layer
    ref = dg.reference_layer(case)
    rounds = decode.rows(value.get("rounds"), len(case.rounds), "rounds")
    multi = len(case.rounds) > 1
    history: list[dict[str, Any]] = []
    before: tuple[Any, Any] = (spec.weights, spec.biases)
    changed_by = ""
    for k, (raw, r) in enumerate(zip(rounds, ref, strict=True)):
        got = decode.obj(raw, f"round {k}")
        pre = f"{part.label}: " + (f"round {k}: " if multi else "")
        where = part.label + (f", round {k}" if multi else "")
        _side_effects(got, c)
        output = decode.field(got, "output")
        allow = _allowances([spec], r.x, r.d_out)[0]
        out = _record(output, r.output, f"{pre}the output forward returned", "output",
                      activation=spec.activation, allowance=allow["output"])
        by_forward, by_backward = _weights_changed(spec, got, before)
        held = {"weights_before": before[0], "biases_before": before[1],
                "changed_by": changed_by or "weights_changed"} if changed_by else {}
        if by_forward or by_backward:
            changed_by = "weights_changed" if by_backward else "weights_changed_by_forward"
        wa, ba = decode.field(got, "weights_after"), decode.field(got, "biases_after")
        if wa is not None and ba is not None:
            before = (wa, ba)
        if by_forward:
            c.findings.append((where, _forward_changed_finding(where, c.hide)))
        if not backward:
            c.scored.append(out)
            if by_forward or by_backward:
                c.scored.append(missing(f"{pre}the layer's weights/biases", "parameters",
                                        "changed by forward"))
            lg = ex.LayerGot(output, {}, {"output": out.passed},
                             decode.field(got, "weights_forward"),
                             decode.field(got, "biases_forward"),
                             decode.field(got, "weights_after"), **held)
            if not out.passed:
                found, known = ex.explain_layer(spec.activation, spec.weights, spec.biases,
                                                ref, k, lg, c.hide)
                c.offer(where, found, skip="weights_changed_by_forward" if by_forward else "")
                c.place(where, part, k, False, known)
            else:
                c.passing.append((where, part, k, False, _later(
                    ex.explain_layer, spec.activation, spec.weights, spec.biases, ref, k, lg,
                    c.hide, True)))
            continue
        if not out.passed:
            c.numbers.append(shown(out, c.hide))  # context: a wrong forward explains gradients
        student = {"inputs": decode.field(got, "d_inputs"),
                   "weights": decode.field(got, "d_weights"),
                   "biases": decode.field(got, "d_biases")}
        recs = _layer_records(student, r, pre, spec.activation, allow)
        c.scored += recs.values()
        unchanged = not (by_forward or by_backward)
        if not unchanged:  # a penalty only: leaving the parameters alone earns nothing
            c.scored.append(missing(f"{pre}the layer's weights/biases", "parameters",
                                    "changed by " + ("forward" if by_forward else "backward")))
        if by_backward:
            c.findings.append((where, _backward_changed_finding(where)))
        bad = [p for p in student if not recs[p].passed]
        passed = {"output": out.passed, **{p: recs[p].passed for p in recs}}
        lg = ex.LayerGot(output, student, passed, decode.field(got, "weights_forward"),
                         decode.field(got, "biases_forward"),
                         decode.field(got, "weights_after"), list(history), **held)
        if not (bad or not out.passed):
            c.passing.append((where, part, k, False, _later(
                ex.explain_layer, spec.activation, spec.weights, spec.biases, ref, k, lg, c.hide,
                True)))
        else:
            found, known = ex.explain_layer(spec.activation, spec.weights, spec.biases, ref,
                                            k, lg, c.hide)
            c.offer(where, found, skip="weights_changed_by_forward" if by_forward else "")
            c.place(where, part, k, False, known)
            if bad and unchanged:
                c.fd_requests.append((part, k, {"student": student, "forward_ok": out.passed,
                                                "records": recs, "hide": c.hide,
                                                "explained": not known.paths}))
        history.append(student)


def _layer_records(student: dict[str, Any], r: Any, pre: str, activation: str,
                   allow: dict[str, Any] | None = None) -> dict[str, GradientRecord]:
    """The records of a layer's three gradients in one round (``r``: the reference's;
    ``allow``: its float32 rounding allowances, :func:`_allowances`)."""
    allow = allow or {}
    return {
        "weights": _record(student["weights"], r.dW, f"{pre}d_weights", "weights",
                           activation=activation, allowance=allow.get("weights"),
                           missing_note="d_weights (or dWeights) is not set after backward"),
        "biases": _record(student["biases"], r.db, f"{pre}d_biases", "biases",
                          activation=activation, allowance=_bias_allowance(allow, r.db),
                          missing_note="d_biases (or dBiases) is not set after backward"),
        "inputs": _record(student["inputs"], r.dx, f"{pre}the input gradient backward returned",
                          "inputs", activation=activation, allowance=allow.get("inputs"),
                          missing_note="backward returned None instead of the input gradient"),
    }


def _bias_allowance(allow: dict[str, Any], expected: Any) -> Any:
    """The biases' allowance (1, n) in the shape of the reference's bias gradient (the
    contract accepts ``(1, n)`` or ``(n,)``)."""
    bound = allow.get("biases")
    return None if bound is None else np.reshape(bound, np.shape(expected))


def _check_net(part: Part, case: NetCase, value: dict[str, Any], c: Check) -> None:
    ref = dg.reference_net(case)
    rounds = decode.rows(value.get("rounds"), len(case.rounds), "rounds")
    multi = len(case.rounds) > 1
    befores: list[tuple[Any, Any]] = [(s.weights, s.biases) for s in case.layers]
    changed_by = ""
    for k, (raw, r) in enumerate(zip(rounds, ref, strict=True)):
        got = decode.obj(raw, f"round {k}")
        pre = f"{part.label}: " + (f"round {k}: " if multi else "")
        where = part.label + (f", round {k}" if multi else "")
        _side_effects(got, c)
        prediction = decode.field(got, "prediction")
        allow = _allowances(case.layers, case.rounds[k][0], case.rounds[k][1])
        out = _record(prediction, r.prediction, f"{pre}prediction", "output",
                      allowance=allow[-1]["output"])
        if not out.passed:
            c.numbers.append(shown(out, c.hide))
        layers = decode.rows(got.get("layers"), len(case.layers), f"round {k}: layers")
        student: dict[str, Any] = {"d_x": decode.field(got, "d_x")}
        recs: dict[str, GradientRecord] = {}
        changed_forward = changed_backward = False
        wfs: list[Any] = []
        bfs: list[Any] = []
        was: list[Any] = []
        for j, (spec, lr, raw_layer) in enumerate(zip(case.layers, r.layers, layers,
                                                      strict=True)):
            lg = decode.obj(raw_layer, f"round {k}: layers[{j}]")
            for param, key, exp in (("weights", "d_weights", lr.dW), ("biases", "d_biases", lr.db)):
                path = f"layers[{j}].{param}"
                student[path] = decode.field(lg, key)
                bound = (allow[j].get("weights") if param == "weights"
                         else _bias_allowance(allow[j], exp))
                recs[path] = _record(student[path], exp, f"{pre}layers[{j}].{key}", param, layer=j,
                                     activation=spec.activation, allowance=bound,
                                     missing_note=f"{key} is not set after backward")
            fwd, bwd = _weights_changed(spec, lg, befores[j])
            changed_forward |= fwd
            changed_backward |= bwd
            wfs.append(decode.field(lg, "weights_forward"))
            bfs.append(decode.field(lg, "biases_forward"))
            was.append(decode.field(lg, "weights_after"))
        held: dict[str, Any] = {"weights_before": [w for w, _ in befores],
                                "biases_before": [b for _, b in befores],
                                "changed_by": changed_by} if changed_by else {}
        if changed_forward or changed_backward:
            changed_by = "weights_changed" if changed_backward else "weights_changed_by_forward"
        for j, raw_layer in enumerate(layers):
            lg = decode.obj(raw_layer, f"round {k}: layers[{j}]")
            wa, ba = decode.field(lg, "weights_after"), decode.field(lg, "biases_after")
            if wa is not None and ba is not None:
                befores[j] = (wa, ba)
        if student["d_x"] is not None:
            recs["d_x"] = _record(student["d_x"], r.d_x,
                                  pre + "the gradient MLP.backward returned", "inputs",
                                  activation=case.layers[0].activation,
                                  allowance=allow[0].get("inputs"))
        elif k == 0:  # the lesson's MLP.backward returns nothing: not required, not scored
            c.lines.append(f"note (no deduction): {part.label}: MLP.backward returned nothing, "
                           f"so the gradient with respect to x was not checked")
        c.scored += recs.values()
        unchanged = not (changed_forward or changed_backward)
        if not unchanged:  # a penalty only: leaving the parameters alone earns nothing
            c.scored.append(missing(f"{pre}the layers' weights/biases", "parameters",
                                    "some changed by " + ("forward" if changed_forward
                                                          else "backward")))
        if changed_forward:
            c.findings.append((where, _forward_changed_finding(where, c.hide)))
        if changed_backward:
            c.findings.append((where, _backward_changed_finding(where)))
        bad = [p for p, rec in recs.items() if not rec.passed]
        passed = {"prediction": out.passed, **{p: rec.passed for p, rec in recs.items()}}
        ng = ex.NetGot(prediction, {p: student[p] for p in recs}, passed, wfs, bfs, was, **held)
        if not (bad or not out.passed):
            c.passing.append((where, part, k, True, _later(
                ex.explain_net, list(case.layers), ref, k, [x for x, _ in case.rounds], ng,
                c.hide, True)))
        else:
            found, known = ex.explain_net(list(case.layers), ref, k,
                                          [x for x, _ in case.rounds], ng, c.hide)
            c.offer(where, found, skip="weights_changed_by_forward" if changed_forward else "")
            c.place(where, part, k, True, known)
            if bad and unchanged:
                c.fd_requests.append((part, k, {"student": student, "forward_ok": out.passed,
                                                "records": recs, "hide": c.hide,
                                                "explained": not known.paths}))


def _later(explain: Callable[..., tuple[Any, ex.Known]], *args: Any) -> Callable[[], ex.Known]:
    """What a passing round tests, computed when asked (:meth:`Check.drop_refuted`)."""
    return lambda: explain(*args)[1]


def resolve(checks: list[Check], support_from: list[Check] | None = None) -> None:
    """Choose among equally good explanations of a place the one whose kinds explain most
    elsewhere in the submission (the places where one explanation alone fits, in
    ``support_from``, default ``checks``: the student's one DenseLayer has one set of bugs); on
    a tie, the most specific. Moves the choices into ``findings``. Causes another place of their
    test contradicts are dropped first (:meth:`Check.drop_refuted`)."""
    for c in checks if support_from is None else [*checks, *support_from]:
        c.drop_refuted()
    support: dict[str, int] = {}
    for c in checks if support_from is None else support_from:
        for _, f in c.findings:
            support[f.kind] = support.get(f.kind, 0) + 1
    for c in checks:
        for where, alternatives in c.choices:
            best = max(range(len(alternatives)),
                       key=lambda i: (sum(support.get(f.kind, 0) for f in alternatives[i]), -i))
            c.findings += [(where, f) for f in alternatives[best]]
        c.choices = []


def cover(found: dict[str, list[str]], bad: list[str]) -> list[str]:
    """The fewest known bugs that explain the wrong gradients (greedy set cover): a bug that
    explains several wrong paths beats one that only coincides on one of them."""
    uncovered = set(bad)
    names: list[str] = []
    while uncovered:
        counts: dict[str, int] = {}
        for path in sorted(uncovered):  # sorted: the same order in every process (regrades)
            for name in found.get(path, []):
                counts[name] = counts.get(name, 0) + 1
        if not counts:
            break
        best = max(counts.values())
        winners = [n for n, v in counts.items() if v == best]
        names += winners
        uncovered = {p for p in uncovered if not set(found.get(p, [])) & set(winners)}
    return names


_LOSS_NOTE = (
    "note (no deduction): your mse_derivative divides by the batch size, as the lesson does "
    "(2 * (y_pred - y_true) / batch). The exact gradient of mse, a mean over all "
    "batch * n_outputs elements, divides by the number of elements; with {k} outputs yours is "
    "{k}x larger - it is the exact gradient of sum((y_pred - y_true)**2) / batch. Both "
    "conventions are accepted."
)


_OTHER_CONVENTION = {
    ("mse", "lesson"): "your mse is sum((y_pred - y_true)**2) / batch (summed over the {k} "
                       "outputs), {k}x the mean over all elements",
    ("mse", "exact"): "your mse is the mean over all elements, {k}x smaller than sum((y_pred - "
                      "y_true)**2) / batch",
    ("mse_derivative", "lesson"): "your mse_derivative divides by the batch size (2 * (y_pred - "
                                  "y_true) / batch), {k}x the exact gradient of the mean",
    ("mse_derivative", "exact"): "your mse_derivative divides by the number of elements (the "
                                 "exact gradient of the mean), {k}x smaller than the lesson's",
}
_CONVENTION_NAMES = {"exact": "the mean over all elements (derivative / (batch * n_outputs))",
                     "lesson": "the lesson's convention (derivative / batch)"}


def _check_loss(part: Part, case: LossCase, value: dict[str, Any], c: Check) -> None:
    """One loss value or derivative, accepted in each of ``case.conventions`` (where they differ,
    i.e. several outputs, a note explains the one the student used, without deduction)."""
    got = decode.field(value, "value")
    yt, yp = case.y_true, case.y_pred
    k = yt.shape[1]
    if case.op == "mse":
        expect = {conv: np.asarray(get_loss(conv).value(yt, yp)).reshape(1, 1)
                  for conv in ("exact", "lesson")}
    else:
        expect = {conv: get_loss(conv).derivative(yt, yp) for conv in ("exact", "lesson")}
    path = f"{part.label}: {case.op}"
    first = case.conventions[0]
    rec = _record(got, expect[first], path, "loss")
    if not rec.passed and k > 1:
        for conv in case.conventions[1:]:
            if dg.close(got, expect[conv]):
                rec = _record(got, expect[conv], path, "loss")
                c.convention_notes.append(_convention_note(part, case.op, conv, k))
                break
        else:
            rejected = [conv for conv in expect if conv not in case.conventions]
            if rejected and dg.close(got, expect[rejected[0]]):
                c.lines.append(f"{part.label}: "
                               + _OTHER_CONVENTION[(case.op, rejected[0])].format(k=k)
                               + "; this assignment asks for "
                               + " or ".join(_CONVENTION_NAMES[v] for v in case.conventions))
    _side_effects(value, c, case.op)
    accepted = [expect[v] for v in case.conventions]
    if not rec.passed and case.op == "mse_derivative":
        c.offer(part.label, ex.explain_loss(yt, yp, got, accepted, c.hide))
    elif not rec.passed:
        c.offer(part.label, ex.explain_mse_value(yt, yp, got, accepted, c.hide))
    c.scored.append(rec)


def _convention_note(part: Part, op: str, conv: str, k: int) -> str:
    if (op, conv) == ("mse", "lesson"):
        return (f"note (no deduction): {part.label}: your mse is sum((y_pred - y_true)**2) "
                f"/ batch (summed over the {k} outputs); the lesson's mse is the mean "
                f"over all elements, {k}x smaller. Both are accepted.")
    if (op, conv) == ("mse_derivative", "lesson"):
        return _LOSS_NOTE.format(k=k)
    return (f"note (no deduction): {part.label}: "
            + _OTHER_CONVENTION[(op, conv)].format(k=k) + ". Both conventions are accepted.")
