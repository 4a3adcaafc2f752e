"""Trust: seeded backprop bugs are caught in the row where they are, and localised.

Every known bug of :mod:`verify.bugs` is seeded into a copy of a correct network; every method
but ``directional`` must flag exactly the rows the bug corrupts (for a layer bug: its own rows,
plus the layers below it when the input gradient is wrong; for a loss bug: every row), and the
layer-local check must name the root cause. ``directional`` is a screen: the test lists exactly
which bugs it is allowed to miss (:data:`DIRECTIONAL_MISSES`).
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP
from verify import check_gradients
from verify.bugs import BUGS, LAYER_BUGS, LOSS_BUGS, NETWORK_BUGS, buggy_loss, inject

METHODS = ["central", "forward", "complex_step", "autograd", "directional"]
BUG_LAYER = 1

# A single random direction sees any error e with |e . v| above the tolerance, which for these
# bugs (all O(1) relative errors, the smallest 1%) is every draw: directional misses none of
# them here. It *can* miss an error orthogonal to the drawn direction or below ~1e-6 relative.
DIRECTIONAL_MISSES: set[str] = set()


def problem(sizes=(4, 5, 6, 3), acts=("tanh", "sigmoid", "tanh"), batch=6, seed=3):
    # Smooth activations: an activation bug is invisible where f'(f(z)) == f'(z) (relu).
    model = MLP.build(list(sizes), list(acts), seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    return model, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


def expected_failures(bug: str, n_layers: int) -> set[str]:
    """The rows a correct checker must flag for ``bug`` seeded into ``layers[BUG_LAYER]``."""
    spec = BUGS[bug]
    every = {f"layers[{i}].{k}" for i in range(n_layers) for k in ("weights", "biases", "inputs")}
    if spec.scope == "loss":
        return every
    if spec.scope == "network":
        return set()  # checked separately: depends on the walk
    rows = {f"layers[{BUG_LAYER}].{k}" for k in spec.wrong}
    if "inputs" in spec.wrong:  # a wrong input gradient makes every layer below it wrong
        rows |= {f"layers[{i}].{k}" for i in range(BUG_LAYER) for k in ("weights", "biases",
                                                                         "inputs")}
    return rows


def seeded(bug: str):
    model, x, y = problem()
    if bug in LOSS_BUGS:
        return model, x, y, buggy_loss(bug)
    return inject(model, bug, layer=BUG_LAYER), x, y, "exact"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bug", list(LAYER_BUGS) + list(LOSS_BUGS))
def test_bug_is_flagged_in_its_rows(bug: str, method: str) -> None:
    model, x, y, loss = seeded(bug)
    check = check_gradients(model, x, y, method=method, loss=loss, seed=1)
    failed = {row.path for row in check.failures}
    want = expected_failures(bug, len(model.layers))
    if method == "directional" and bug in DIRECTIONAL_MISSES:
        assert failed != want
        return
    assert failed == want, check.message()
    # Root cause: the layer-local check names the buggy layer's wrong parameters (or the loss).
    causes = {row.path for row in check.root_causes}
    if bug in LOSS_BUGS:
        assert causes == {"loss"}
    else:
        assert causes == {f"layers[{BUG_LAYER}].{k}" for k in BUGS[bug].wrong}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bug", list(NETWORK_BUGS))
def test_network_bug_is_flagged_and_attributed_to_the_walk(bug: str, method: str) -> None:
    model, x, y = problem(sizes=(5, 5, 5, 5), acts=("tanh", "sigmoid", "tanh"))
    check = check_gradients(inject(model, bug), x, y, method=method, seed=1)
    failed = {row.path for row in check.failures}
    # Both walks hand layers[0] a wrong upstream gradient.
    assert {"layers[0].weights", "layers[0].biases", "layers[0].inputs"} <= failed
    if bug == "not_chained":  # the last layer is fed the right (loss) gradient
        assert not failed & {"layers[2].weights", "layers[2].biases", "layers[2].inputs"}
    assert [row.path for row in check.root_causes] == ["network.backward"]


def test_correct_network_has_no_failures_for_any_method() -> None:
    model, x, y = problem()
    for method in METHODS:
        assert check_gradients(model, x, y, method=method, seed=1).passed


def test_localisation_names_the_root_cause_not_the_victims() -> None:
    model, x, y = problem(sizes=(4, 5, 6, 5, 3), acts=("tanh", "relu", "sigmoid", "linear"))
    bad = inject(model, "input_gradient_scaled", layer=2)
    check = check_gradients(bad, x, y)
    failed = {row.path for row in check.failures}
    victims = {f"layers[{i}].{k}" for i in (0, 1) for k in ("weights", "biases", "inputs")}
    assert failed == victims | {"layers[2].inputs"}
    assert [row.path for row in check.root_causes] == ["layers[2].inputs"]
    assert "root cause" in check.message() and "layers[2].inputs" in check.message()


def test_one_percent_bug_is_caught_in_float32_too() -> None:
    model, x, y = problem()
    bad = inject(model.astype(np.float32), "input_gradient_scaled", layer=BUG_LAYER)
    check = check_gradients(bad, x, y)
    assert "layers[1].inputs" in {row.path for row in check.failures}
    # Casting after seeding keeps the bug (astype keeps each layer's class).
    cast = inject(model, "input_gradient_scaled", layer=BUG_LAYER).astype(np.float32)
    assert not check_gradients(cast, x, y)["layers[1].inputs"].passed


@pytest.mark.parametrize("bug", [b for b in LAYER_BUGS if b != "activation_derivative_of_output"])
def test_layer_bugs_are_caught_on_relu_nets_despite_kinks(bug: str) -> None:
    # activation_derivative_of_output is left out: relu'(relu(z)) == relu'(z), no bug to see.
    model, x, y = problem(sizes=(4, 6, 6, 3), acts=("relu", "leaky_relu", "linear"), batch=8)
    check = check_gradients(inject(model, bug, layer=BUG_LAYER), x, y)
    failed = {row.path for row in check.failures}
    assert {f"layers[{BUG_LAYER}].{k}" for k in BUGS[bug].wrong} <= failed
    assert not failed & {"layers[2].weights", "layers[2].biases", "layers[2].inputs"}


def test_directional_is_a_screen_not_a_proof() -> None:
    """An error orthogonal to the drawn direction is invisible to ``directional``.

    Random directions make that improbable for a fixed bug, but not impossible, and a
    structured error can hide from any single direction: central differences still see it.
    """
    from reference_mlp.layers import DenseLayer

    model, x, y = problem()
    seed = 5
    v = np.random.default_rng(seed).standard_normal(model.layers[0].weights.shape)
    e = np.random.default_rng(99).standard_normal(v.shape)
    e -= (e * v).sum() / (v * v).sum() * v  # the part of e orthogonal to v

    class Skewed(DenseLayer):
        def backward(self, d_outputs):
            out = super().backward(d_outputs)
            self.d_weights = self.d_weights + 0.1 * e  # the error directional cannot see
            return out

    bad = model.copy()
    bad.layers[0].__class__ = Skewed
    assert check_gradients(bad, x, y, method="directional", seed=seed).passed
    assert not check_gradients(bad, x, y, method="central")["layers[0].weights"].passed
