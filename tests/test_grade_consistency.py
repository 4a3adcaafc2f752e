"""The consistency rule (verify/grade/explain/consistency.py) on synthetic numbers: a cause only
when its hypothesis fits all the test's evidence - every failing check of a place, enough wrong
entries for what it fitted, every other place of the test, and the function the evidence
implicates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from reference_mlp.activations import get_activation
from verify.grade import diagnosis as dg
from verify.grade import explain as ex
from verify.grade.cases import LayerCase, NetCase, Part, draw_layer_case, draw_net_case
from verify.grade.checking import Check
from verify.grade.explain import consistency as cs

# ------------------------------------------------------------------------------ the rule alone


def test_a_fit_needs_wrong_entries_beyond_what_it_fitted() -> None:
    assert cs.enough_evidence(0, 1)  # nothing fitted: one reproduced entry is a reproduction
    assert not cs.enough_evidence(1, 1)  # a factor fitted from one entry: no evidence
    assert not cs.enough_evidence(1, 2)
    assert cs.enough_evidence(1, 3)
    assert not cs.enough_evidence(2, 3) and cs.enough_evidence(2, 4)


def test_wrong_entries_counts_only_entries_beyond_the_tolerance() -> None:
    e = np.array([[1.0, 2.0, 0.0]])
    assert cs.wrong_entries(e, e) == 0
    assert cs.wrong_entries(e * (1 + 1e-7), e) == 0  # ~0 error: nothing to reproduce
    assert cs.wrong_entries(np.array([[1.0, 2.5, 0.0]]), e) == 1
    assert cs.wrong_entries(np.array([[np.nan, 2.0, 0.0]]), e) == 1
    assert cs.wrong_entries(e.T, e) == 3  # another shape: every entry
    assert cs.wrong_entries(None, e) == 0


def test_a_plan_must_reproduce_every_failing_check_of_its_place() -> None:
    hyp = ex.findings._Hyp("not_chained")
    plans = [[(hyp, ("layers[1].weights",), ())]]
    kept, covered = cs.settle(plans, frozenset({"layers[1].weights"}),
                              ["layers[1].weights", "layers[2].weights"], 10)
    assert kept == [] and covered == frozenset()
    kept, covered = cs.settle(plans, frozenset({"layers[1].weights"}), ["layers[1].weights"], 10)
    assert kept == plans and covered == {"layers[1].weights"}


def test_a_fitted_plan_on_one_wrong_entry_is_dropped() -> None:
    fitted = ex.findings._Hyp("dz_factor:other", fitted=1, value=(1.044,))
    plans = [[(fitted, ("weights",), ())]]
    assert cs.settle(plans, frozenset({"weights"}), ["weights"], 1)[0] == []
    assert cs.settle(plans, frozenset({"weights"}), ["weights"], 12)[0] == plans


def test_another_place_refutes_a_family_it_tested_and_did_not_reproduce() -> None:
    # the place tested the family and nothing in it reproduced the numbers there
    assert cs.refuted_by("dz_factor:other", "", (1.044,), {("dz_factor:*|", None)}, [])
    # the same factor there: consistent; another factor: refuted
    assert not cs.refuted_by("dz_factor:other", "", (1.044,), {("dz_factor:*|", None)},
                             [("dz_factor:other|", (1.0441,))])
    assert cs.refuted_by("dz_factor:other", "", (1.044,), {("dz_factor:*|", None)},
                         [("dz_factor:other|", (0.8419,))])
    # a named factor (1/batch) is the same cause whatever the batch
    assert not cs.refuted_by("dz_factor:1/batch", "", None, {("dz_factor:*|", None)},
                             [("dz_factor:1/batch|", None)])
    # a place where the family predicts the reference's numbers says nothing about it
    assert not cs.refuted_by("dz_factor:other", "", (1.044,), {("relu_threshold|relu", (0.1, 0.2))},
                             [])
    # a variant is tested by itself: another variant of the kind says nothing of it
    assert cs.refuted_by("examples_subset:last", "", None, {("examples_subset:last|", None)}, [])
    assert not cs.refuted_by("examples_subset:last", "", None, {("examples_subset:first|", None)},
                             [])
    # a relu threshold: only a place where that threshold predicts other numbers tests it
    # (at a place that passed: there it is tested by itself)
    near, far = {("relu_threshold|relu", (0.2, 0.5))}, {("relu_threshold|relu", (0.4, 0.5))}
    assert cs.refuted_by("relu_threshold", "relu", (0.1, 0.3), near, [])
    assert not cs.refuted_by("relu_threshold", "relu", (0.1, 0.3), far, [])
    # a fitted family at a failing place is tested whole (every value was fitted or tried);
    # at a place that passed, by itself
    assert cs.tested_as("relu_slope", "relu", 2, (1.0, 0.1), False) == ("relu_slope:*|relu", None)
    assert cs.tested_as("relu_threshold", "relu", 1, (0.1, 0.2), True) == \
        ("relu_threshold|relu", (0.1, 0.2))
    assert cs.refuted_by("relu_slope", "relu", (1.0, 0.1), {("relu_slope:*|relu", None)}, [])
    # variants of one name for different activations are different hypotheses
    assert not cs.refuted_by("derivative_wrong_sign", "tanh", None,
                             {("derivative_wrong_sign|sigmoid", None)}, [])
    # relu thresholds: one threshold for both places when the intervals overlap
    assert cs.agree("relu_threshold", (-0.5, -0.1), (-0.2, 0.3))
    assert not cs.agree("relu_threshold", (-0.5, -0.4), (-0.2, 0.3))


# ------------------------------------------------------------------------------ the engine


def _layer(act: str, n_in: int, n_out: int, batch: int, seed: int = 3) -> tuple[Any, Any]:
    case = draw_layer_case(np.random.default_rng(seed), n_in, n_out, act, (batch,))
    return case, dg.reference_layer(case)


def _explain_layer(case: Any, ref: Any, dW: Any, db: Any, dx: Any) -> tuple[Any, Any]:
    r = ref[0]
    W, b = case.layer.weights, case.layer.biases
    got = ex.LayerGot(r.output, {"weights": dW, "biases": db, "inputs": dx},
                      {"output": True, "weights": dg.close(dW, r.dW),
                       "biases": dg.close(db, r.db), "inputs": dg.close(dx, r.dx)}, W, b, W)
    return ex.explain_layer(case.layer.activation, W, b, ref, 0, got)


def test_a_factor_fitted_from_one_1x1_entry_is_no_cause() -> None:
    """A 1x1 layer, batch 1, whose d_weights alone is 2x: one wrong number, which any factor
    'fits'. The old engine named 'd_weights multiplied by 2'."""
    case, ref = _layer("tanh", 1, 1, 1)
    r = ref[0]
    found, known = _explain_layer(case, ref, 2 * r.dW, r.db, r.dx)
    assert found == [] and known.paths == ["weights"]
    # ... and too small to refute it elsewhere (a place that cannot confirm a fit cannot
    # refute it: the 1x1 layer once refuted 'averaged over the batch' in every other test)
    assert ("d_weights_factor:*|", None) not in known.tested and known.reproduced == []


def test_a_factor_that_holds_on_every_entry_is_a_cause() -> None:
    case, ref = _layer("tanh", 3, 4, 5)
    r = ref[0]
    found, known = _explain_layer(case, ref, 2 * r.dW, r.db, r.dx)
    assert [f.name for alt in found for f in alt] == ["d_weights_factor:2"]
    assert known.paths == [] and ("d_weights_factor:2|", (2.0,)) in known.reproduced


def test_a_dz_factor_must_also_explain_the_bias_and_input_gradients() -> None:
    """dz off by a data-dependent factor (f' taken without the bias): no one constant makes the
    three gradients, so no factor is named, whatever it fits on one of them."""
    case, ref = _layer("tanh", 3, 4, 5)
    r, W = ref[0], case.layer.weights
    dz = r.d_out * (1 - np.tanh(r.x @ W) ** 2)
    found, known = _explain_layer(case, ref, r.x.T @ dz, dz.sum(0, keepdims=True), dz @ W.T)
    assert found == [] and set(known.paths) == {"weights", "biases", "inputs"}
    assert ("dz_factor:*|", None) in known.tested


def _net(acts: list[str], sizes: list[int], batch: int = 5, seed: int = 4) -> tuple[Any, Any]:
    case = draw_net_case(np.random.default_rng(seed), sizes, acts, (batch,))
    return case, dg.reference_net(case)


def _explain_net(case: Any, ref: Any, grads: dict[str, Any]) -> tuple[Any, Any]:
    r = ref[0]
    correct = {"d_x": r.d_x, **{f"layers[{j}].{p}": (lr.dW if p == "weights" else lr.db)
                                for j, lr in enumerate(r.layers) for p in ("weights", "biases")}}
    passed = {p: grads.get(p) is not None and dg.close(grads[p], correct[p]) for p in correct}
    passed["prediction"] = True
    return ex.explain_net(list(case.layers), ref, 0, [case.rounds[0][0]],
                          ex.NetGot(r.prediction, {p: grads.get(p) for p in correct}, passed))


def _walk(case: Any, r: Any, top_dz: Any, start: int) -> dict[str, Any]:
    """The gradients of a walk that gives layer ``start`` the dz ``top_dz`` and back-propagates
    the layers below it right."""
    grads: dict[str, Any] = {}
    dz, up = top_dz, top_dz
    for j in range(start, -1, -1):
        lr, spec = r.layers[j], case.layers[j]
        if j < start:
            dz = up * np.asarray(get_activation(spec.activation).derivative(lr.z))
        grads[f"layers[{j}].weights"], grads[f"layers[{j}].biases"] = \
            lr.x.T @ dz, dz.sum(0, keepdims=True)
        up = dz @ spec.weights.T
    grads["d_x"] = up
    return grads


def test_one_layer_reproduced_is_not_a_cause_when_the_others_disagree() -> None:
    """MLP.backward skipping the output layer: the layer below gets the loss gradient, which
    'not chained' also gives it, but 'not chained' predicts the other layers' numbers wrong:
    the walk that skips the last layer reproduces all of them."""
    case, ref = _net(["relu", "tanh", "sigmoid"], [3, 3, 3, 3])
    r = ref[0]
    d_loss = r.layers[-1].d_out
    dz1 = d_loss * np.asarray(get_activation("tanh").derivative(r.layers[1].z))
    grads = _walk(case, r, dz1, 1)  # layers[2] never back-propagated: its gradients unset
    found, known = _explain_net(case, ref, grads)
    assert [{f.name for f in alt} for alt in found] == [{"skips_last"}]
    assert ("not_chained|", None) in known.tested
    assert all(n != "not_chained|" for n, _ in known.reproduced)


def test_the_output_derivative_skipped_by_mlp_is_blamed_on_mlp() -> None:
    case, ref = _net(["tanh", "sigmoid"], [3, 4, 2])
    r = ref[0]
    grads = _walk(case, r, r.layers[-1].d_out, 1)  # the last layer's dz: d_loss, no f'
    found, _ = _explain_net(case, ref, grads)
    assert [[(f.name, f.function) for f in alt] for alt in found] == \
        [[("output_derivative_skipped", "MLP.backward")]]


# ------------------------------------------------------------------------------ the test


def _place(check: Check, where: str, network: bool, tested: set[tuple[str, Any]],
           reproduced: list[tuple[str, Any]]) -> Part:
    case = NetCase if network else LayerCase
    part = Part.__new__(Part)
    object.__setattr__(part, "label", where)
    object.__setattr__(part, "case", case.__new__(case))
    check.place(where, part, 0, network, ex.Known([], tested=tested, reproduced=reproduced))
    return part


def _finding(name: str, function: str = "DenseLayer.backward",
             value: tuple[float, ...] | None = None) -> ex.Finding:
    return ex.Finding(name, function, "a cause", "evidence", "evidence", ("weights",), None, 3,
                      value)


def test_a_cause_another_case_of_the_test_contradicts_is_dropped() -> None:
    c = Check()
    _place(c, "width 1", False, {("dz_factor:*|", None)}, [("dz_factor:other|", (1.044,))])
    _place(c, "square", False, {("dz_factor:*|", None)}, [])
    c.findings.append(("width 1", _finding("dz_factor:other", value=(1.044,))))
    c.drop_refuted()
    assert c.findings == []
    assert [(part.label, known.paths) for part, _, known in c.known] == [("width 1", ["weights"])]
    assert "does not reproduce those of square" in c.known[0][2].facts[0]


def test_a_cause_every_case_agrees_with_is_kept() -> None:
    c = Check()
    _place(c, "a", False, {("dz_factor:*|", None)}, [("dz_factor:other|", (1.044,))])
    _place(c, "b", False, {("dz_factor:*|", None)}, [("dz_factor:other|", (1.04405,))])
    _place(c, "c", False, {("relu_threshold|relu", (0.1, 0.2))}, [])  # not the factor: says nothing
    c.findings += [("a", _finding("dz_factor:other", value=(1.044,))),
                   ("b", _finding("dz_factor:other", value=(1.04405,)))]
    c.drop_refuted()
    assert len(c.findings) == 2 and c.known == []


def test_a_layer_cause_in_a_network_is_dropped_when_the_layer_passes_alone() -> None:
    c = Check()
    _place(c, "MLP", True, {("missing_activation_derivative|", None),
                            ("output_derivative_skipped|", None)},
           [("missing_activation_derivative|", None), ("output_derivative_skipped|", None)])
    c.choices.append(("MLP", [[_finding("missing_activation_derivative")],
                              [_finding("output_derivative_skipped", "MLP.backward")]]))
    c.drop_refuted(layers_pass_alone=True)
    assert [(w, f.name) for w, f in c.findings] == [("MLP", "output_derivative_skipped")]
    assert c.choices == []


def test_relu_step_as_sigmoid_derivative_is_not_missing_derivative_where_every_z_is_positive(
        ) -> None:
    """relu's step as sigmoid': on a case where every z > 0 the step is 1 everywhere, so 'missing
    activation derivative' reproduces that case exactly; another case of the same test (z of
    both signs) contradicts it, so the test states no cause."""
    c = Check()
    for label, shift in (("all z > 0", 5.0), ("z of both signs", 0.0)):
        case = draw_layer_case(np.random.default_rng(3), 3, 4, "sigmoid", (5,))
        object.__setattr__(case.layer, "biases", case.layer.biases + shift)
        ref = dg.reference_layer(case)
        r = ref[0]
        assert shift == 0.0 or (r.z > 0).all()
        dz = r.d_out * (r.z > 0)
        found, known = _explain_layer(case, ref, r.x.T @ dz, dz.sum(0, keepdims=True),
                                      dz @ case.layer.weights.T)
        part = Part.__new__(Part)
        object.__setattr__(part, "label", label)
        object.__setattr__(part, "case", case)
        c.offer(label, found)
        c.place(label, part, 0, False, known)
    def named() -> set[str]:
        return {f.name for _, f in c.findings} | {f.name for _, alts in c.choices
                                                 for alt in alts for f in alt}

    assert "missing_activation_derivative" in named()  # fits the case where every z > 0
    c.drop_refuted()
    # the other case refutes it; relu's step itself (in the library) fits both
    assert "missing_activation_derivative" not in named()
    assert named() == {"derivative_of_other_activation"}


def test_a_round_that_passed_contradicts_a_cause_that_predicts_other_numbers_there() -> None:
    """'missing activation derivative' fitted on a sigmoid case where every z > 0 predicts a
    wrong tanh layer; the tanh case of the same test passed, so it is no cause. A round that
    passed is searched only when a cause is to be weighed."""
    case, ref = _layer("tanh", 3, 4, 5)
    r, W, b = ref[0], case.layer.weights, case.layer.biases
    right = ex.LayerGot(r.output, {"weights": r.dW, "biases": r.db, "inputs": r.dx},
                        {"output": True, "weights": True, "biases": True, "inputs": True},
                        W, b, W)
    _, known = ex.explain_layer("tanh", W, b, ref, 0, right, passing=True)
    assert ("missing_activation_derivative|", None) in known.tested
    assert known.paths == [] and known.reproduced == []
    calls = []

    def later() -> ex.Known:
        calls.append(1)
        return known

    c = Check()
    _place(c, "sigmoid, all z > 0", False, {("missing_activation_derivative|", None)},
           [("missing_activation_derivative|", None)])
    part = Part.__new__(Part)
    object.__setattr__(part, "label", "tanh")
    c.passing.append(("tanh", part, 0, False, later))
    c.drop_refuted()
    assert calls == [] and c.passing  # nothing to weigh: the passing round is not searched
    c.findings.append(("sigmoid, all z > 0", _finding("missing_activation_derivative")))
    c.drop_refuted()
    assert calls == [1] and c.findings == []
    assert "does not reproduce those of tanh" in c.known[0][2].facts[0]


# ------------------------------------------------------------------------------ across tests


def _real_place(check: Check, where: str, act: str, network: bool, tested: set[tuple[str, Any]],
                reproduced: list[tuple[str, Any]], unexplained: list[str] | None = None) -> None:
    """A place on a real case (the activations and rounds the rule across tests reads)."""
    if network:
        case: Any = draw_net_case(np.random.default_rng(1), [2, 3, 2], ["relu", act], (2,))
    else:
        case = draw_layer_case(np.random.default_rng(1), 2, 3, act, (2,))
    part = Part.__new__(Part)
    object.__setattr__(part, "label", where)
    object.__setattr__(part, "case", case)
    check.place(where, part, 0, network,
                ex.Known(list(unexplained or []), tested=tested, reproduced=reproduced))


def test_another_tests_single_layer_refutes_a_cause_fitted_where_the_data_cannot_tell() -> None:
    """linear' written as sign(z): in a network whose small linear layer has every z < 0 it is
    a constant -1, and 'the gradient multiplied by -1' was stated; the linear layer's own test,
    where z takes both signs, reproduces no factor at all."""
    net, alone = Check(), Check()
    _real_place(net, "MLP 2-5-1-3", "linear", True, {("dz_factor:*|", None)},
                [("dz_factor:other|", (-1.0,))])
    net.findings.append(("MLP 2-5-1-3", _finding("dz_factor:other", value=(-1.0,))))
    _real_place(alone, "DenseLayer(3, 4, 'linear')", "linear", False, {("dz_factor:*|", None)},
                [], unexplained=["weights"])
    net.drop_refuted(elsewhere=[net, alone])
    assert net.findings == []
    assert "another test of the same code" in net.known[-1][2].facts[0]


def test_a_factor_tied_to_the_batch_differs_across_tests_and_is_still_one_cause() -> None:
    # 1/batch is 1/5 in one test and 1/4 (also the constant 1/4) in another: one bug.
    a, b = Check(), Check()
    _real_place(a, "DenseLayer(3, 4, 'relu')", "relu", False, {("dz_factor:*|", None)},
                [("dz_factor:1/batch|", None)])
    a.findings.append(("DenseLayer(3, 4, 'relu')", _finding("dz_factor:1/batch")))
    _real_place(b, "width 1", "relu", False, {("dz_factor:*|", None)},
                [("dz_factor:1/batch|1/4|", None)])
    a.drop_refuted(elsewhere=[a, b])
    assert len(a.findings) == 1


def test_a_fitted_factor_that_differs_across_tests_is_no_one_constant() -> None:
    """d_weights / max|inputs| (a scale from the data): 0.4739 in one test, 0.5807 in another.
    Each single layer was told 'd_weights off by a constant factor', and a network's three
    layers 'one factor, 1.017' (a review's finding); no one constant is shown."""
    a, b = Check(), Check()
    _real_place(a, "DenseLayer(3, 4, 'linear')", "linear", False,
                {("d_weights_factor:*|", None)}, [("d_weights_factor:other|", (0.4739,))])
    a.findings.append(("DenseLayer(3, 4, 'linear')",
                       _finding("d_weights_factor:other", value=(0.4739,))))
    _real_place(b, "DenseLayer(3, 4, 'relu')", "relu", False, {("d_weights_factor:*|", None)},
                [("d_weights_factor:other|", (0.5807,))])
    a.drop_refuted(elsewhere=[a, b])
    assert a.findings == []
    assert "another test of the same code" in a.known[-1][2].facts[0]


def test_a_network_of_another_test_does_not_refute_a_layer_cause() -> None:
    """Two bugs that interact (mse' missing its 2, every dz doubled): the network's numbers fit
    no single hypothesis, which says nothing against 'dz multiplied by 2' in the layer."""
    a, b = Check(), Check()
    _real_place(a, "DenseLayer(3, 4, 'relu')", "relu", False, {("dz_factor:*|", None)},
                [("dz_factor:2|", None)])
    a.findings.append(("DenseLayer(3, 4, 'relu')", _finding("dz_factor:2")))
    _real_place(b, "MLP 4-5-2", "relu", True, {("dz_factor:*|", None)}, [],
                unexplained=["layers[0].weights"])
    a.drop_refuted(elsewhere=[a, b])
    assert len(a.findings) == 1


def test_an_mlp_cause_is_not_stated_while_the_layers_own_test_fails_unexplained() -> None:
    net, alone = Check(), Check()
    _real_place(net, "hidden network", "linear", True, {("upstream_factor|", None)},
                [("upstream_factor|", None)])
    net.findings.append(("hidden network", _finding("upstream_factor", "MLP.backward")))
    _real_place(alone, "DenseLayer(3, 4, 'linear')", "linear", False, set(), [],
                unexplained=["weights"])
    net.drop_refuted(elsewhere=[net, alone])
    assert net.findings == []
    assert "fails its own test for linear layers" in net.known[-1][2].facts[0]
    kept, other = Check(), Check()  # the layer's test of another activation: not these layers
    _real_place(kept, "hidden network", "linear", True, {("upstream_factor|", None)},
                [("upstream_factor|", None)])
    kept.findings.append(("hidden network", _finding("upstream_factor", "MLP.backward")))
    _real_place(other, "DenseLayer(3, 4, 'tanh')", "tanh", False, set(), [],
                unexplained=["weights"])
    kept.drop_refuted(elsewhere=[kept, other])
    assert len(kept.findings) == 1


def test_a_place_too_small_to_fit_a_family_neither_confirms_nor_refutes_it() -> None:
    """A 1x1 layer (one wrong entry) refuted '1/batch' everywhere in the submission: what cannot
    be fitted there was taken for what does not fit."""
    from types import SimpleNamespace

    factor = SimpleNamespace(name="d_weights_factor:1/batch", scope="", fitted=1, value=None)
    named = SimpleNamespace(name="missing_activation_derivative", scope="", fitted=0, value=None)
    assert cs.tested_at([factor, named], False, wrong=1) == {("missing_activation_derivative|",
                                                              None)}
    assert ("d_weights_factor:*|", None) in cs.tested_at([factor, named], False, wrong=3)


def test_one_factor_under_two_names_is_one_hypothesis() -> None:
    assert cs.same("dz_factor:2", "", None, "dz_factor:n_outputs|2|", None)
    assert cs.same("dz_factor:batch|2", "", None, "dz_factor:2|", None)
    assert not cs.same("dz_factor:batch|2", "", None, "dz_factor:4|", None)
    assert not cs.same("dz_factor:2", "", None, "d_weights_factor:2|", None)
    assert not cs.same("dz_factor:2", "tanh", None, "dz_factor:2|sigmoid", None)


def test_a_factor_in_every_layer_is_not_named_after_one_layers_size() -> None:
    """dz * 2 hard-coded in every layer of a 3-5-2 network: the factor fitted on the top layer
    is 2, as is its number of outputs, but the first layer has 5: "the number of outputs" is a
    claim only the top layer bears out, so the factor is named 2 alone (a review's variant)."""
    case, ref = _net(["tanh", "sigmoid"], [3, 5, 2])
    r = ref[0]
    grads: dict[str, Any] = {}
    up = r.layers[-1].d_out
    for j in (1, 0):
        lr, spec = r.layers[j], case.layers[j]
        dz = 2.0 * up * np.asarray(get_activation(spec.activation).derivative(lr.z))
        grads[f"layers[{j}].weights"], grads[f"layers[{j}].biases"] = \
            lr.x.T @ dz, dz.sum(0, keepdims=True)
        up = dz @ spec.weights.T
    grads["d_x"] = up
    found, _ = _explain_net(case, ref, grads)
    every = [f for alt in found for f in alt if f.name.startswith("dz_factor")]
    assert every, [[f.name for f in alt] for alt in found]
    for f in every:
        assert "n_outputs" not in f.name and "number of outputs" not in f.cause, f.cause
        assert f.cause.startswith("dz multiplied by 2 in every layer"), f.cause


@pytest.mark.parametrize(("bug", "formula"), [
    ("missing_batch_division", "2 * (y_pred - y_true) reproduces"),
    ("missing_factor_2", "(y_pred - y_true) / (batch * n_outputs) reproduces"),
    ("wrong_sign", "2 * (y_true - y_pred) / (batch * n_outputs) reproduces"),
])
def test_a_loss_bugs_evidence_quotes_its_whole_formula(bug: str, formula: str) -> None:
    """The evidence cut the catalogue's formula at its last '(': 'y_pred - y_true reproduces
    your values' for 2 * (y_pred - y_true), which is false (a review's finding)."""
    from verify.bugs import loss_derivative

    rng = np.random.default_rng(3)
    yt, yp = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    student = loss_derivative(yt, yp, bug=bug, convention="exact")
    found = [f for alt in ex.explain_loss(yt, yp, student, []) for f in alt if f.name == bug]
    assert found and found[0].evidence.startswith(formula), found


def test_a_factor_leads_with_its_number_and_names_a_size_only_as_what_it_equals_here() -> None:
    """d_inputs * 3 hard-coded, in a layer with 3 inputs: the old cause was "the input gradient
    multiplied by 3 (the number of inputs; the number of inputs is 3 here)", a size the code
    never uses (its other tests, with 4 inputs, show 3 again). The number is what the fit
    shows; the size is said as what it is: equal here."""
    case, ref = _layer("tanh", 3, 4, 5)
    r = ref[0]
    found, _ = _explain_layer(case, ref, r.dW, r.db, 3 * r.dx)
    causes = [f.cause for alt in found for f in alt if f.kind == "d_inputs_factor"]
    assert causes == ["the input gradient multiplied by 3 (equal here to the number of inputs, "
                      "which is 3)"], causes


def test_a_wrong_forward_alone_is_not_located_in_dz() -> None:
    """Only the output wrong, every gradient right: the correct dz 'explains' the three
    gradients, and the feedback said "the error is in dz = d_outputs * f'(z)" (a review's
    finding: sigmoid's forward with a sign slip)."""
    case, ref = _layer("sigmoid", 4, 3, 1)
    r = ref[0]
    W, b = case.layer.weights, case.layer.biases
    got = ex.LayerGot(1 - r.output, {"weights": r.dW, "biases": r.db, "inputs": r.dx},
                      {"output": False, "weights": True, "biases": True, "inputs": True},
                      W, b, W)
    found, known = ex.explain_layer("sigmoid", W, b, ref, 0, got)
    assert not any("error is in dz" in fact for fact in known.facts), known.facts
    assert "the forward's output is wrong too" in known.facts or found, (found, known.facts)


def test_an_mlp_cause_is_not_stated_while_the_layers_own_test_fails_even_explained() -> None:
    """relu' = 2: the relu layer's own test says "dz multiplied by 2"; a network whose output
    layer is relu doubles every gradient, which "MLP.backward multiplies d_loss by 2" also
    reproduces, and was stated (a review's finding, Python and math.js). The layer's failing
    test, explained or not, is where those numbers may come from."""
    from verify.grade.checking import missing

    net, alone = Check(), Check()
    _real_place(net, "MLP 4-5-2, 3 rounds", "relu", True, {("upstream_factor:2|", None)},
                [("upstream_factor:2|", None)])
    net.findings.append(("MLP 4-5-2, 3 rounds", _finding("upstream_factor:2", "MLP.backward")))
    _real_place(alone, "DenseLayer(3, 4, 'relu')", "relu", False, {("dz_factor:*|", None)},
                [("dz_factor:2|", None)])  # explained: nothing left unexplained
    alone.scored.append(missing("DenseLayer(3, 4, 'relu'): d_weights", "weights", "wrong", 0,
                                "relu"))
    net.drop_refuted(elsewhere=[net, alone])
    assert net.findings == []
    assert "fails its own test for relu layers" in net.known[-1][2].facts[0]
