"""verify.findings: what the recorded backward shows, each fact from the recording."""

from __future__ import annotations

import numpy as np

from reference_mlp import MLP
from verify import check_gradients
from verify.bugs import inject
from verify.findings import OVERFLOW_AT, missing_notes, observations, overflow, walk_evidence
from verify.protocol import run_model


def square(bug=None):
    model = MLP.build([3, 3, 3, 3], ["tanh", "sigmoid", "linear"], seed=0)
    model = inject(model, bug) if bug else model
    x = np.random.default_rng(0).standard_normal((4, 3))
    return run_model(model, x, lambda pred: pred - 1.0)


def test_a_right_walk_shows_nothing() -> None:
    run = square()
    assert run.trace.walk == "model" and walk_evidence(run) == []
    assert observations(run) == [] and missing_notes(run) == {}


def test_the_walks_bugs_are_seen() -> None:
    assert walk_evidence(square("reversed_order")) == [
        "network.backward called the layers' backward in the order [0, 1, 2] (expected "
        "[2, 1, 0]: each layer once, the last first)",
        "network.backward fed layers[2] something other than the loss derivative it was given"]
    unchained = walk_evidence(square("not_chained"))
    assert unchained == [
        "network.backward fed layers[1] the loss derivative, not the gradient layers[2].backward "
        "returned (layers not chained)",
        "network.backward fed layers[0] the loss derivative, not the gradient layers[1].backward "
        "returned (layers not chained)"]


def test_the_checkers_own_walk_is_never_blamed() -> None:
    model = MLP.build([3, 3, 3], ["tanh", "linear"], seed=0)
    run = run_model(list(model.layers), np.ones((2, 3)), lambda pred: pred)
    assert run.trace.walk == "protocol" and walk_evidence(run) == []


def test_overflow_is_fatal_in_float64_and_named_in_the_models_dtype() -> None:
    fine = {"prediction": np.ones(3)}
    assert overflow(fine, 1.0, {"the prediction": np.ones(3)}, np.float64) == ("", False)
    text, fatal = overflow({"layers[0] pre-activation": np.array([2 * OVERFLOW_AT])}, 1.0, {},
                           np.float64)
    assert fatal and text.startswith("overflow: the float64 reference reaches "
                                     "|layers[0] pre-activation| = 2e+150")
    text, fatal = overflow(fine, 1.0, {"layers[0].weights": np.array([np.inf])}, np.float32)
    assert not fatal and text.startswith("overflow in the model's own float32 arithmetic: "
                                         "layers[0].weights hold inf or NaN")


class _TorchNamed:
    """Parameters under PyTorch's names (weight, bias), which the protocol does not know."""

    def __init__(self, n_in: int, n_out: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.weight, self.bias = rng.normal(size=(n_in, n_out)), np.zeros((1, n_out))

    def forward(self, x):
        self.x = x
        return x @ self.weight + self.bias

    def backward(self, d):
        self.grad_weight = 123 * (self.x.T @ d)  # wrong, and not checked: its name is unknown
        return d @ self.weight.T


class _CachingTanh:
    def forward(self, x):
        self.a = np.tanh(x)
        return self.a

    def backward(self, d):
        return d * (1 - self.a**2)


def test_arrays_under_unknown_names_are_named_not_passed_over_in_silence() -> None:
    """A 'match' used to be all that was said: the weights were never checked."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    check = check_gradients([_TorchNamed(3, 4, 0), _CachingTanh(), _TorchNamed(4, 2, 1)], x, y)
    notes = [f for f in check.findings if "no parameters under the names checked" in f]
    assert [n.split()[0] for n in notes] == ["layers[0]", "layers[2]"]  # not the tanh's cache
    assert "weight (3, 4)" in notes[0] and "only its input gradient was checked" in notes[0]
    assert notes[0] in check.message()
