"""check_gradients / assert_gradients_close: rows, info, messages, errors, kinks, dtypes."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import verify
from reference_mlp import LOSSES, MLP, DenseLayer, Loss
from verify import (
    TOLERANCES,
    GradientCheck,
    GradientRecord,
    Tolerance,
    assert_gradients_close,
    check_gradients,
    tolerance_for,
)
from verify.bugs import buggy_loss, inject

FD_METHODS = ["central", "forward", "complex_step", "directional"]
ALL_METHODS = FD_METHODS + ["autograd"]


def problem(acts=("tanh", "relu", "linear"), sizes=(4, 5, 6, 3), batch=6, seed=0, dtype=np.float64):
    model = MLP.build(list(sizes), list(acts), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = (0.1 * rng.standard_normal(layer.biases.shape)).astype(dtype)
    x = rng.standard_normal((batch, sizes[0]))
    y = rng.standard_normal((batch, sizes[-1]))
    return model, x, y


@pytest.mark.parametrize("method", ALL_METHODS)
def test_rows_info_and_pass(method: str) -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, method=method, seed=7)
    assert isinstance(check, GradientCheck) and check.passed is True, check.message()
    assert [r.path for r in check.rows] == [
        f"layers[{i}].{k}" for i in range(3) for k in ("weights", "biases", "inputs")
    ]
    for row in check.rows:
        assert isinstance(row, GradientRecord) and row.method == method
        base = tolerance_for(np.float64, method)
        assert row.tolerance == base and row.verdict == "match"
        assert row.allowance > 0  # the rounding of what was summed, per entry
        assert row.activation == model.layers[row.layer].activation.name
        if method == "directional":
            assert row.shape == (1,)
        else:
            layer = model.layers[row.layer]
            want = {"weights": layer.weights.shape, "biases": layer.biases.shape,
                    "inputs": (6, layer.n_inputs)}[row.parameter]
            assert row.shape == want
    info = check.info
    assert {"step", "dtype", "loss", "n_parameters", "seconds"} <= set(info)
    assert info["dtype"] == "float64" and info["loss"] == "exact"
    assert info["n_parameters"] == model.n_parameters and info["seconds"] > 0
    if method in FD_METHODS:
        assert info["step"] > 0
    assert (check.seed == 7) == (method == "directional")
    assert check.root_causes == []


def test_model_is_left_untouched() -> None:
    model, x, y = problem()
    before = model.copy()
    check_gradients(model, x, y)
    assert model.layers[0].d_weights is None and model.layers[0].inputs is None
    for (_, a), (_, b) in zip(model.named_parameters(), before.named_parameters(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_directional_seed_is_drawn_recorded_and_reproducible() -> None:
    model, x, y = problem()
    first = check_gradients(model, x, y, method="directional")
    assert isinstance(first.seed, int) and first.info["seed"] == first.seed
    again = check_gradients(model, x, y, method="directional", seed=first.seed)
    assert [r.reference for r in again.rows] == [r.reference for r in first.rows]
    other = check_gradients(model, x, y, method="directional", seed=first.seed + 1)
    assert [r.reference for r in other.rows] != [r.reference for r in first.rows]


def test_step_is_relative_and_reported() -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, step=1e-4)
    assert check.info["step"] == 1e-4 and check.passed
    # A step far too large makes truncation error visible: the entries it spoils are refined
    # (here by the complex step) before anything is called wrong, and the rows say so...
    coarse = check_gradients(model, x, y, step=0.5, localize=False)
    assert coarse.passed and any("refined by the complex step" in r.note for r in coarse.rows)
    # ...while a tolerance given as (atol, rtol) is taken as given: no refinement, a failure.
    bad = check_gradients(model, x, y, step=0.5, tolerance=(1e-7, 1e-6), localize=False)
    assert not bad.passed


def test_tolerance_tuple_and_object() -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, tolerance=(1e-3, 0.0))
    assert check.rows[0].tolerance == Tolerance(1e-3, 0.0, "numerical")
    # A tolerance tighter than the method's accuracy fails: the tolerance is really used.
    tight = check_gradients(model, x, y, tolerance=Tolerance(0.0, 0.0), localize=False)
    assert not tight.passed


def test_lesson_convention() -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, loss="lesson")
    assert check.passed and check.info["loss"] == "lesson"
    # A derivative not divided by the batch size: caught.
    unscaled = check_gradients(model, x, y, loss=buggy_loss("missing_batch_division"))
    assert not unscaled.passed
    # The lesson derivative against the exact loss is off by the output width (3): every row.
    mixed = Loss("mixed", LOSSES["exact"].value, LOSSES["lesson"].derivative, "")
    check = check_gradients(model, x, y, loss=mixed)
    assert check.failures == check.rows
    assert [row.path for row in check.root_causes] == ["loss"]


@pytest.mark.parametrize("method", ["central", "autograd", "directional"])
def test_float32_model_uses_float32_row(method: str) -> None:
    model, x, y = problem(dtype=np.float32)
    check = check_gradients(model, x, y, method=method)
    assert check.passed, check.message()
    assert check.info["dtype"] == "float32"
    assert check.rows[0].tolerance.rtol == TOLERANCES[("float32", method)].rtol
    if method != "directional":
        assert check.rows[0].tolerance == TOLERANCES[("float32", method)]


def test_float32_model_still_catches_a_one_percent_bug() -> None:
    model, x, y = problem(dtype=np.float32)
    check = check_gradients(inject(model, "input_gradient_scaled", layer=1), x, y)
    assert [r.path for r in check.failures] == ["layers[0].weights", "layers[0].biases",
                                                "layers[0].inputs", "layers[1].inputs"]


def test_assert_gradients_close_message() -> None:
    model, x, y = problem()
    assert assert_gradients_close(model, x, y).passed
    bad = inject(model, "bias_averaged", layer=1)
    with pytest.raises(AssertionError) as info:
        assert_gradients_close(bad, x, y)
    text = str(info.value)
    assert "layers[1].biases: 6 / 6 mismatched; worst at (0, " in text
    assert "analytic" in text and "numerical" in text
    assert "abs error " in text and "rel error " in text  # the relative error beside the absolute
    assert "allowed 1e-07*max|numerical| + 1e-06*|numerical| + " in text
    assert "root cause" in text


def test_assert_gradients_close_hides_its_own_frames_from_pytest(tmp_path) -> None:
    """Under pytest a failure points at the caller's line, not into verify (__tracebackhide__)."""
    import subprocess
    import sys
    from pathlib import Path

    test = tmp_path / "test_users_backprop.py"
    test.write_text(
        "import numpy as np\n"
        "from reference_mlp import MLP\n"
        "from verify import assert_gradients_close\n"
        "from verify.bugs import inject\n\n"
        "def test_mine():\n"
        "    model = MLP.build([3, 4, 2], ['tanh', 'linear'], seed=0)\n"
        "    rng = np.random.default_rng(0)\n"
        "    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))\n"
        "    bad = inject(model, 'bias_averaged', layer=1)\n"
        "    assert_gradients_close(bad, x, y)  # the line the failure must point at\n"
    )
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p",
                          "no:cacheprovider", "--tb=long", str(test)], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=120).stdout
    assert "1 failed" in out, out
    assert "test_users_backprop.py:11: AssertionError" in out, out
    assert re.search(r"^>\s+assert_gradients_close\(bad, x, y\)", out, re.M), out
    assert "verify/check.py" not in out, out  # none of verify's frames is shown
    assert "layers[1].biases: 2 / 2 mismatched" in out and "rel error" in out, out


def test_relu_stencil_across_a_kink_is_not_a_failure() -> None:
    model = MLP.build([2, 1, 1], ["relu", "linear"], seed=0)
    model.layers[0].weights = np.array([[1.0], [2.0]])
    model.layers[0].biases = np.array([[1e-10]])  # example 0 sits on the kink
    x = np.array([[0.5, -0.25], [1.0, 0.5]])
    y = np.array([[1.0], [-1.0]])
    for method in ("central", "forward", "directional", "complex_step", "autograd"):
        check = check_gradients(model, x, y, method=method, seed=0)
        assert check.passed, check.message()
        if method in ("forward", "complex_step", "autograd"):
            continue  # forward: z = 1e-10 > 0 and [b, b + h] stays on the positive side
        assert check["layers[0].biases"].kinks == 1
        assert "kink" in check["layers[0].biases"].message()
    assert check_gradients(model, x, y).info["kinks"] >= 1
    # A wrong derivative at that very entry is still caught despite the kink.
    bad = inject(model, "bias_averaged", layer=0)
    assert not check_gradients(bad, x, y)["layers[0].biases"].passed


def test_complex_step_notes_non_smooth_layers() -> None:
    model, x, y = problem()
    check = check_gradients(model, x, y, method="complex_step")
    assert check.passed
    assert "Re(z)" in check["layers[1].weights"].note
    assert check["layers[0].weights"].note == ""


def test_missing_gradient_is_a_failure() -> None:
    model, x, y = problem()

    class Lazy(type(model.layers[0])):
        def backward(self, d_outputs):
            out = super().backward(d_outputs)
            self.d_biases = None
            return out

    lazy = model.copy()
    layer = lazy.layers[2]
    layer.__class__ = Lazy
    check = check_gradients(lazy, x, y, localize=False)
    row = check["layers[2].biases"]
    assert not row.passed and row.verdict == "missing"
    assert row.message() == ("layers[2].biases: missing (3 entries): layers[2].d_biases was not "
                             "set by backward() (none of d_biases, dBiases, db)")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "finite"}, ValueError, "unknown method 'finite'"),
        ({"loss": "huber"}, ValueError, "unknown loss convention 'huber'"),
        ({"step": -1.0}, ValueError, "step must be a finite number > 0"),
        ({"step": 1e-5, "method": "autograd"}, ValueError, "step does not apply"),
        ({"dtype": "float32"}, ValueError, "dtype selects the torch twin"),
        ({"tolerance": 1e-3}, TypeError, "tolerance must be a Tolerance"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be a positive integer"),
        ({"max_memory": -5}, ValueError, "max_memory must be a positive integer"),
    ],
    ids=["method", "loss", "step", "step-autograd", "dtype-central", "tolerance", "chunk",
         "memory"],
)
def test_bad_arguments(kwargs, error, match) -> None:
    model, x, y = problem()
    with pytest.raises(error, match=match):
        check_gradients(model, x, y, **kwargs)


def test_bad_data() -> None:
    model, x, y = problem()
    with pytest.raises(ValueError, match=r"x has 3 columns but 4 were expected"):
        check_gradients(model, x[:, :3], y)
    with pytest.raises(ValueError, match=r"x has 6 rows but y has 5"):
        check_gradients(model, x, y[:5])
    with pytest.raises(ValueError, match="non-finite"):
        check_gradients(model, np.full_like(x, np.nan), y)
    with pytest.raises(TypeError, match="model must be a sequence of layers"):
        check_gradients("net", x, y)
    with pytest.raises(ValueError, match="no layers"):
        check_gradients(MLP(), x, y)
    with pytest.raises(TypeError, match=r"layers\[0\] \(str\) has no forward or backward"):
        check_gradients(["dense"], x, y)


def test_public_exports() -> None:
    assert set(verify.__all__) >= {"check_gradients", "assert_gradients_close", "GradientCheck",
                                   "GradientRecord", "tolerance_for", "TOLERANCES", "strategies"}
    from verify import strategies

    assert hasattr(strategies, "network_specs")


@pytest.mark.parametrize("method", ["central", "forward", "directional", "complex_step"])
def test_opposite_crossings_are_no_false_alarm(method: str) -> None:
    # Reported by helper B: five pre-activations of example 0 at +-1e-9.
    model = MLP.build([3, 5, 1], ["relu", "linear"], seed=42)
    rng = np.random.default_rng([42, 1])
    x = rng.uniform(-1, 1, (4, 3))
    y = rng.uniform(-1, 1, (4, 1))
    z0 = x[0] @ model.layers[0].weights
    model.layers[0].biases = (-z0 + np.array([1e-9, -1e-9, 1e-9, -1e-9, 1e-9])).reshape(1, -1)
    for seed in range(5):
        check = check_gradients(model, x, y, method=method, seed=seed)
        assert check.passed, check.message()
    if method != "complex_step":
        assert check.info["kinks"] > 0
    bad = inject(model, "input_gradient_scaled", layer=1)
    assert not check_gradients(bad, x, y, method=method, seed=0)["layers[0].inputs"].passed


def test_bench_quick_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from verify.bench import main

    assert main(["--quick", "--repeats", "1", "--loop-sample", "3"]) == 0
    out = capsys.readouterr().out
    for name in ("central (structured)", "per-parameter NumPy loop", "gradcheck (slow mode)",
                 "gradcheck (fast mode)", "directional"):
        assert name in out
    with pytest.raises(SystemExit):
        main(["--repeats", "0"])


def test_impossible_tolerance_does_not_blame_the_network() -> None:
    """A correct model failing only an impossible tolerance has no root cause in the model."""
    model = MLP.build([3, 5, 4, 2], ["relu", "tanh", "linear"], seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    check = check_gradients(model, x, y, tolerance=(0.0, 0.0))
    assert not check.passed
    assert check.root_causes == []
    assert "no root cause in the model" in check.message()
    assert "network.backward" not in check.message()


def test_unchained_network_is_still_blamed_under_a_tight_tolerance() -> None:
    model = inject(MLP.build([3, 3, 3], ["tanh", "linear"], seed=1), "not_chained")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    check = check_gradients(model, x, y, tolerance=(0.0, 0.0))
    assert [row.path for row in check.root_causes] == ["network.backward"]


# --- review regressions --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ALL_METHODS)
def test_complex128_model_is_checked_without_warnings(method: str) -> None:
    import warnings

    model, x, y = problem(dtype=np.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. ComplexWarning from a complex -> float cast
        check = check_gradients(model, x, y, method=method, seed=0)
    assert check.passed, check.message()
    bad = inject(model, "input_gradient_scaled", layer=1)
    assert not check_gradients(bad, x, y, method=method, seed=0)["layers[1].inputs"].passed


def test_complex_data_is_rejected_by_name() -> None:
    model, x, y = problem(dtype=np.complex128)
    with pytest.raises(ValueError, match=r"x has non-zero imaginary parts"):
        check_gradients(model, x + 0.5j, y)
    with pytest.raises(ValueError, match=r"y has non-zero imaginary parts"):
        check_gradients(model, x, y - 1j)
    assert check_gradients(model, x + 0j, y + 0j).passed  # a zero imaginary part is fine


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tolerance": ("a", 0.0)}, TypeError, r"tolerance must be .*\(atol, rtol\).*'a'"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer or None, got -1"),
        ({"seed": 1.5, "method": "directional"}, ValueError, "seed must be a non-negative integer"),
    ],
    ids=["tolerance-str", "seed-negative", "seed-float"],
)
def test_more_bad_arguments(kwargs, error, match) -> None:
    model, x, y = problem()
    with pytest.raises(error, match=match):
        check_gradients(model, x, y, **kwargs)


def test_autograd_info_reports_kinks_like_the_other_methods() -> None:
    model, x, y = problem()
    assert check_gradients(model, x, y, method="autograd").info["kinks"] == 0


# --- any loss -------------------------------------------------------------------------------------


def ce_problem(seed=0):
    model, x, _ = problem(acts=("relu", "tanh", "linear"), seed=seed)
    labels = np.random.default_rng(seed).integers(0, 3, x.shape[0])
    return model, x, labels


@pytest.mark.parametrize("method", ALL_METHODS)
def test_cross_entropy_is_checked_by_every_method(method: str) -> None:
    model, x, labels = ce_problem()
    for targets in (labels, np.eye(3)[labels]):
        check = check_gradients(model, x, targets, loss="cross_entropy", method=method, seed=3)
        assert check.passed and check.info["loss"] == "cross_entropy", check.message()
    bad = inject(model, "input_gradient_scaled", layer=1)  # a 1% error in one gradient
    check = check_gradients(bad, x, labels, loss="cross_entropy", method=method, seed=3)
    assert {row.path for row in check.failures} == {
        "layers[1].inputs", "layers[0].weights", "layers[0].biases", "layers[0].inputs"}
    assert [row.path for row in check.root_causes] == ["layers[1].inputs"]


class TwoPercentOff(DenseLayer):
    """A reference layer whose ``kind`` gradient is 1.02 times what it should be."""

    kind = "weights"

    def backward(self, d_outputs):
        d_in = super().backward(d_outputs)
        if self.kind == "weights":
            self.d_weights = 1.02 * self.d_weights
        elif self.kind == "biases":
            self.d_biases = 1.02 * self.d_biases
        else:
            d_in = 1.02 * d_in
        return d_in


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("kind", ["weights", "biases", "inputs"])
def test_cross_entropy_flags_a_two_percent_error_in_any_one_gradient(layer: int,
                                                                      kind: str) -> None:
    model, x, labels = ce_problem()
    bad = model.copy()
    bad.layers[layer].__class__ = type("Off", (TwoPercentOff,), {"kind": kind})
    own = f"layers[{layer}].{kind}"
    fed = {own} | ({f"layers[{i}].{k}" for i in range(layer)
                    for k in ("weights", "biases", "inputs")} if kind == "inputs" else set())
    for method in ALL_METHODS:
        check = check_gradients(bad, x, labels, loss="cross_entropy", method=method, seed=3)
        assert {r.path for r in check.failures} == fed, (method, check.message())
        assert [r.path for r in check.root_causes] == [own], method


def test_cross_entropy_derivative_bug_is_the_root_cause() -> None:
    model, x, labels = ce_problem(seed=1)
    ce = LOSSES["cross_entropy"]
    halved = Loss("ce_half", ce.value, lambda t, p: 0.5 * ce.derivative(t, p), "")
    check = check_gradients(model, x, labels, loss=halved)
    assert check.failures == check.rows
    assert [row.path for row in check.root_causes] == ["loss"]


def test_a_loss_given_as_a_pair_of_callables() -> None:
    model, x, y = problem()

    def log_cosh(t, p):
        return float(np.sum(np.log(np.cosh(p - t)))) / len(t)

    def log_cosh_derivative(t, p):
        return np.tanh(p - t) / len(t)

    for method in ("central", "forward", "directional"):
        check = check_gradients(model, x, y, loss=(log_cosh, log_cosh_derivative),
                                method=method, seed=0)
        assert check.passed and check.info["loss"] == "log_cosh", check.message()
    off = check_gradients(model, x, y,
                          loss=(log_cosh, lambda t, p: 1.02 * log_cosh_derivative(t, p)))
    assert off.failures == off.rows and [r.path for r in off.root_causes] == ["loss"]
    for method, match in (("complex_step", "complex-analytic loss"),
                          ("autograd", "torch twin cannot differentiate")):
        with pytest.raises(ValueError, match=match):
            check_gradients(model, x, y, loss=(log_cosh, log_cosh_derivative), method=method)


class _IntDense:
    """A user's dense layer (W, b, dW, db), its backward right or off by a factor."""

    def __init__(self, n_in: int, n_out: int, seed: int, factor: float = 1.0) -> None:
        rng = np.random.default_rng(seed)
        self.W, self.b, self.factor = rng.normal(size=(n_in, n_out)), np.zeros((1, n_out)), factor

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, d):
        self.dW = self.factor * (self.x.T @ d)
        self.db = d.sum(axis=0, keepdims=True)
        return d @ self.W.T


class _IntTanh:
    def forward(self, x):
        self.a = np.tanh(x)
        return self.a

    def backward(self, d):
        return d * (1 - self.a**2)


@pytest.mark.parametrize("factor, passed", [(1.0, True), (1.5, False)], ids=["correct", "dW-x1.5"])
def test_integer_inputs_are_checked_as_real_numbers(factor: float, passed: bool) -> None:
    """XOR's 0/1 table as an integer array: every row used to come out 'inconclusive' (an
    allowance of the integers' 'rounding'), for a correct and for a wrong gradient alike."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    model = [_IntDense(2, 3, 0), _IntTanh(), _IntDense(3, 1, 1, factor)]
    check = check_gradients(model, x, y)
    assert check.passed is passed, check.message()
    statuses = {r.path: r.status for r in check.rows}
    assert "inconclusive" not in statuses.values(), check.message()
    if not passed:
        assert statuses["layers[2].weights"] == "mismatch"
