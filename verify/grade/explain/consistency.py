"""The consistency rule: a cause is stated only when its hypothesis fits ALL the test's evidence.

A hypothesis that reproduces some numbers is not yet a cause. It is one only when it is
consistent with everything the test shows (the rule of issue 11: "state a cause only when its
hypothesis reproduces the student's values to tolerance; otherwise say honestly what is
known"). Three checks, each a way a cause was once stated on too little:

1. **every failing check of the place** (:func:`complete`): at one place (a part's round), the
   plan must reproduce every check that failed there, the gradients it predicts included. A
   hypothesis about ``dz`` predicts ``d_weights``, ``d_biases`` and ``d_inputs`` of that layer,
   and a class-wide one every layer of a network: reproducing one layer's gradients while the
   others disagree is a coincidence, not evidence (``gradients not chained`` once matched the
   one layer a skipped output layer happened to feed the loss gradient to);
2. **enough informative entries** (:func:`enough_evidence`): a hypothesis with a parameter
   fitted from the student's numbers (a constant factor, a relu slope or threshold) reproduces
   by construction as many entries as it has parameters. Only the wrong entries beyond those
   test it: a factor fitted from one 1x1 entry, or from entries that are all right (~0 error),
   is no evidence;
3. **every place of the test** (:func:`refuted_by`): the student has one ``DenseLayer`` and one
   ``MLP``, so a hypothesis stated at one place must hold at every other place of the same test
   where it was tested (it predicted numbers other than the reference's): another case, network
   or round where it does not reproduce the student's numbers contradicts it, one that passed
   included (searched only when a cause is to be weighed). A fitted parameter must be the same
   there (one constant factor, not 1.044 here and 0.84 there).

Where no hypothesis survives, the feedback says what is known (which gradients, which layer,
forward or backward, which rounds) and no cause.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..diagnosis import GRADE_TOLERANCE

Value = tuple[float, ...] | None
"""A hypothesis's fitted parameters (a factor's number, named or not; None: nothing fitted)."""

MIN_TESTED_ENTRIES = 2
"""Wrong entries a fitted hypothesis must reproduce beyond one per fitted parameter: with fewer,
the fit says nothing (any one number is a multiple of any other)."""


def kind(name: str) -> str:
    """``dz_factor:other@1`` -> ``dz_factor``: the family a place tests (with any parameter)."""
    return name.split("@")[0].split(":")[0]


def complete(covered: Iterable[str], failing: Iterable[str]) -> bool:
    """Rule 1: the plan reproduces every failing check of the place."""
    return set(failing) <= set(covered)


def wrong_entries(student: Any, expected: Any) -> int:
    """How many entries of ``student`` are wrong (beyond the grading tolerance): the numbers a
    hypothesis has to reproduce. A value of another shape counts all its entries."""
    if student is None or expected is None:
        return 0
    a, e = np.asarray(student, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return int(a.size)
    with np.errstate(invalid="ignore"):
        return int(np.sum(~(np.abs(a - e) <= GRADE_TOLERANCE.allowed(e))))


def enough_evidence(fitted: int, wrong: int) -> bool:
    """Rule 2: ``wrong`` entries reproduced test a hypothesis with ``fitted`` free parameters
    only beyond the ``fitted`` entries the fit itself consumes."""
    return fitted == 0 or wrong >= fitted + MIN_TESTED_ENTRIES


def agree(name: str, a: Value, b: Value) -> bool:
    """The same fitted parameters (relative 1e-3); for a relu threshold, stored as the interval
    ``(lo, hi)`` of the values it may take, intervals that overlap (one threshold for both)."""
    if a is None or b is None:
        return a is None and b is None
    if len(a) != len(b):
        return False
    if kind(name) == "relu_threshold" and len(a) == 2:
        return a[0] <= b[1] and b[0] <= a[1]
    return all(math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


Tested = set[tuple[str, Value]]
"""What a place tested: (``kind:*|scope``, None) for a whole family or (``name|scope``, its
value), per hypothesis whose prediction there differs from the reference's
(:func:`tested_as`)."""


def ident(name: str, scope: str = "") -> str:
    """A hypothesis's identity across places: its name and, for a variant specific to one
    activation (sigmoid's wrong sign is not tanh's), that variant."""
    return f"{name}|{scope}"


def split(identity: str) -> tuple[str, str]:
    """:func:`ident`'s inverse: ``(name, scope)``. A name may hold ``|``
    (``dz_factor:n_outputs|2``); a scope never does."""
    name, _, scope = identity.rpartition("|")
    return name, scope


def tested_as(name: str, scope: str, fitted: int, value: Value,
              passing: bool) -> tuple[str, Value]:
    """How a place records that it tested a hypothesis. A fitted parameter (a factor, a relu
    slope, a relu threshold) is fitted again at each failing place, to the best value there
    (thresholds: every interval between two values of z is tried): when none reproduces the
    numbers, no value of the family does, so the whole family is tested. Any other hypothesis,
    and any hypothesis at a place that passed (nothing is fitted there), is tested by itself,
    with its value: a place says nothing about the variants it does not tell from the
    reference."""
    if fitted and not passing:
        return ident(kind(name) + ":*", scope), None
    return ident(name, scope), value


def tests(tested: Tested, name: str, scope: str, value: Value) -> bool:
    """Whether a place with ``tested`` tested the hypothesis ``name`` (``scope``) with
    ``value``."""
    me = ident(name, scope)
    return (ident(kind(name) + ":*", scope), None) in tested or \
        any(key == me and agree(name, v, value) for key, v in tested)


def refuted_by(name: str, scope: str, value: Value, tested: Tested,
               reproduced: list[tuple[str, Value]]) -> bool:
    """Rule 3: does a place that tested the hypothesis ``name`` (``scope``) with ``value``
    (``tested``) and reproduced its numbers with ``reproduced`` (identity, fitted value)
    contradict it?"""
    if not tests(tested, name, scope, value):
        return False
    return not any(same(name, scope, value, n, v) for n, v in reproduced)


def family_refuted_by(name: str, scope: str, value: Value, tested: Tested,
                      reproduced: list[tuple[str, Value]]) -> bool:
    """Rule 3 across tests: another test's place contradicts a fitted hypothesis where it
    tested the whole family and no member of it that is the same hypothesis (:func:`same`:
    the same size, or the same value) reproduces the numbers there: a factor tied to the batch
    size is 1/2 in one test and 1/4 in another, one bug; a fitted 0.47 here and 0.58 there
    (a scale computed from the data) is no one constant. Any other hypothesis as
    :func:`refuted_by`."""
    if (ident(kind(name) + ":*", scope), None) not in tested:
        return refuted_by(name, scope, value, tested, reproduced)
    return not any(same(name, scope, value, other, v) for other, v in reproduced)


def same(name: str, scope: str, value: Value, other: str, other_value: Value) -> bool:
    """Whether the hypothesis ``other`` (an identity, :func:`ident`) with ``other_value`` is
    ``name`` (``scope``) with ``value``. In the same family and scope: named after the same size
    (1/batch is one hypothesis whatever the batch), or the same value whatever it is called
    there (a factor of 2 is "the batch size" where the batch is 2 and "the number of outputs"
    where those are 2: one hypothesis)."""
    family, other_scope = split(other)
    if other_scope != scope or kind(family) != kind(name):
        return False
    if _size_labels(name) & _size_labels(family):  # 1/batch here and there, whatever the batch
        return True
    if other == ident(name, scope):
        return agree(name, other_value, value)
    if value is not None and other_value is not None:
        return agree(name, other_value, value)
    mine, theirs = _named_factor(name), _named_factor(family)
    return mine is not None and theirs is not None and math.isclose(mine, theirs, rel_tol=1e-3)


def _size_labels(name: str) -> set[str]:
    """The sizes a factor hypothesis is named after (``dz_factor:1/batch|1/2`` ->
    ``{"1/batch"}``); constants (``2``, ``1/2``) and fitted ones (``other``) are not."""
    _, sep, labels = name.partition(":")
    if not sep:
        return set()
    return {lb for lb in labels.split("@")[0].split("|")
            if lb != "other" and any(ch.isalpha() for ch in lb)}


def _named_factor(name: str) -> float | None:
    """The factor a constant-factor hypothesis carries in its name (``dz_factor:2``,
    ``dz_factor:batch|2``, ``dz_factor:n_outputs|2``: 2.0), or None."""
    _, sep, label = name.partition(":")
    if not sep:
        return None
    try:
        return float(label.rpartition("|")[2].split("@")[0])
    except ValueError:
        return None


def tested_at(tried: Iterable[Any], passing: bool, wrong: int | None = None) -> Tested:
    """The hypotheses (``_Hyp``) a place tried, as it records them. At a failing place with
    ``wrong`` entries too few to test a fitted hypothesis (rule 2: a 1x1 layer), that
    hypothesis is not recorded: a place that cannot confirm a fit cannot refute it either."""
    return {tested_as(h.name, h.scope, h.fitted, h.value, passing) for h in tried
            if h.name is not None
            and (passing or wrong is None or enough_evidence(h.fitted, wrong))}


def settle(plans: list[Any], covered: frozenset[str], failing: Iterable[str],
           wrong: int) -> tuple[list[Any], frozenset[str]]:
    """Rules 1 and 2 at one place: the best plans (lists of (hypothesis, paths, ...)) kept when
    they reproduce every failing check and each fitted hypothesis in them is tested by enough
    wrong entries (``wrong``: those of the failing checks); else none, and nothing covered."""
    if not complete(covered, failing):
        return [], frozenset()
    kept = [plan for plan in plans
            if all(enough_evidence(h.fitted, wrong) for h, *_ in plan if h.name is not None)]
    return kept, covered if kept else frozenset()


def reproduced_by(plans: list[Any]) -> list[tuple[str, Value]]:
    """(name, fitted value) of every hypothesis of the kept plans."""
    return list(dict.fromkeys((ident(h.name, h.scope), h.value) for plan in plans
                              for h, *_ in plan if h.name is not None))
