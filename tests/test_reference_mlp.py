"""The reference MLP: activations, layer and network backward, losses, dtypes, training, bad
input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from reference_mlp import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    SGD,
    DenseLayer,
    cross_entropy,
    cross_entropy_derivative,
    get_activation,
    layer_backward,
    mse,
    mse_derivative,
    mse_lesson,
    mseDerivative,
    one_hot,
    softmax,
    train,
)
from reference_mlp.walkthrough import main as walkthrough_main

ALL_ACTIVATIONS = sorted(ACTIVATIONS)
SMOOTH = sorted(name for name, act in ACTIVATIONS.items() if act.smooth)

# --- activations -------------------------------------------------------------------------------

# Closed forms written independently of the implementation (plain math, no stable tricks).
INDEPENDENT = {
    "linear": (lambda z: z, lambda z: 1.0),
    "relu": (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
    "sigmoid": (
        lambda z: 1 / (1 + np.exp(-z)),
        lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2,
    ),
    "tanh": (np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    "softplus": (lambda z: np.log(1 + np.exp(z)), lambda z: 1 / (1 + np.exp(-z))),
}
GRID = np.array([-7.5, -3.0, -1.0, -0.3, -1e-3, 1e-3, 0.25, 1.0, 2.5, 6.0])


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_matches_independent_closed_form(name: str) -> None:
    act = get_activation(name)
    f, df = INDEPENDENT[name]
    np.testing.assert_allclose(act.forward(GRID), [f(z) for z in GRID], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(act.derivative(GRID), [df(z) for z in GRID], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_derivative_matches_central_difference(name: str) -> None:
    act = get_activation(name)
    h = 1e-6
    numerical = (act.forward(GRID + h) - act.forward(GRID - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(GRID), numerical, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_activation_complex_step_gives_derivative(name: str) -> None:
    act = get_activation(name)
    h = 1e-200
    derivative = np.imag(act.forward(GRID + 1j * h)) / h
    np.testing.assert_allclose(derivative, act.derivative(GRID), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "tanh"])
def test_saturating_activations_finite_and_warning_free_at_1000(name: str) -> None:
    act = get_activation(name)
    z = np.array([-1000.0, -745.0, 0.0, 745.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        values = act.forward(z)
        derivative = act.derivative(z)
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(derivative))
    if name == "softplus":
        assert values[-1] == 1000.0 and values[0] == 0.0
    if name == "sigmoid":
        assert values[-1] == 1.0 and values[0] == 0.0 and values[2] == 0.5


def test_relu_derivative_at_zero_is_zero() -> None:
    relu = get_activation("relu")
    assert relu.derivative(np.array([0.0]))[0] == 0.0
    assert get_activation("leaky_relu").derivative(np.array([0.0]))[0] == 0.01


def test_piecewise_activations_decide_by_real_part_on_complex_input() -> None:
    z = np.array([2.0 + 1e-20j, -2.0 + 1e-20j])
    np.testing.assert_array_equal(get_activation("relu").forward(z), [2.0 + 1e-20j, 0.0])
    np.testing.assert_array_equal(get_activation("relu").derivative(z), [1.0, 0.0])


def test_unknown_activation_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*'relu'.*'softplus'"):
        get_activation("swish")
    with pytest.raises(ValueError, match="unknown activation"):
        DenseLayer(2, 3, "ReLu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128], ids=str)
@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_preserves_dtype(name: str, dtype: type) -> None:
    z = GRID.astype(dtype)
    act = get_activation(name)
    assert act.forward(z).dtype == dtype
    assert act.derivative(z).dtype == dtype


# --- a hand-checked example ----------------------------------------------------------------------


def _hand_layer() -> DenseLayer:
    layer = DenseLayer(2, 2, "relu")
    layer.weights = np.array([[1.0, -1.0], [2.0, 0.5]])
    layer.biases = np.array([[0.5, -1.0]])
    return layer


X_HAND = np.array([[1.0, 2.0], [-1.0, 0.0]])


def test_layer_forward_and_backward_by_hand() -> None:
    # z = x @ W + b = [[5.5, -1], [-0.5, 0]]; relu'(0) = 0.
    layer = _hand_layer()
    out = layer.forward(X_HAND)
    np.testing.assert_array_equal(out, [[5.5, 0.0], [0.0, 0.0]])
    d_x = layer.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    # dz = [[1, 0], [0, 0]]; dW = x.T @ dz; db = sum over batch; dx = dz @ W.T
    np.testing.assert_array_equal(layer.d_weights, [[1.0, 0.0], [2.0, 0.0]])
    np.testing.assert_array_equal(layer.d_biases, [[1.0, 0.0]])
    np.testing.assert_array_equal(d_x, [[1.0, 2.0], [0.0, 0.0]])
    assert layer.dWeights is layer.d_weights and layer.dBiases is layer.d_biases
    # The pure function the layer's backward is: the same numbers from the same arrays.
    dx, dW, db = layer_backward(np.array([[1.0, 2.0], [3.0, 4.0]]), X_HAND,
                                layer.pre_activation, layer.weights, layer.activation)
    np.testing.assert_array_equal(dx, d_x)
    np.testing.assert_array_equal(dW, layer.d_weights)
    np.testing.assert_array_equal(db, layer.d_biases)


def test_network_backward_by_hand() -> None:
    model = MLP()
    model.addLayer(_hand_layer())
    out_layer = model.add_layer(DenseLayer(2, 1, "linear"))
    out_layer.weights = np.array([[2.0], [-3.0]])
    out_layer.biases = np.array([[1.0]])
    y = np.array([[10.0], [0.0]])
    pred = model.forward(X_HAND)
    np.testing.assert_array_equal(pred, [[12.0], [1.0]])
    assert mse(y, pred) == 2.5
    d_loss = mse_derivative(y, pred)
    np.testing.assert_array_equal(d_loss, [[2.0], [1.0]])
    d_x = model.backward(d_loss)
    grads = dict(model.named_gradients())
    np.testing.assert_array_equal(grads["layers[1].weights"], [[11.0], [0.0]])
    np.testing.assert_array_equal(grads["layers[1].biases"], [[3.0]])
    np.testing.assert_array_equal(grads["layers[0].weights"], [[4.0, 0.0], [8.0, 0.0]])
    np.testing.assert_array_equal(grads["layers[0].biases"], [[4.0, 0.0]])
    np.testing.assert_array_equal(d_x, [[4.0, 8.0], [0.0, 0.0]])
    assert [p for p, _ in model.named_parameters()] == [
        "layers[0].weights", "layers[0].biases", "layers[1].weights", "layers[1].biases",
    ]


# --- losses --------------------------------------------------------------------------------------


def _central_loss_gradient(value, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(y_pred)
    h = 1e-6
    for idx in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (value(y_true, up) - value(y_true, down)) / (2 * h)
    return grad


@pytest.mark.parametrize("n_outputs", [1, 3], ids=["1-output", "3-outputs"])
@pytest.mark.parametrize("convention", sorted(LOSSES))
def test_loss_pair_is_self_consistent(convention: str, n_outputs: int) -> None:
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.normal(size=(2, 5, n_outputs))
    if convention == "cross_entropy":  # class targets: one-hot rows
        y_true = np.eye(n_outputs)[rng.integers(0, n_outputs, 5)]
    loss = LOSSES[convention]
    numerical = _central_loss_gradient(loss.value, y_true, y_pred)
    np.testing.assert_allclose(loss.derivative(y_true, y_pred), numerical, rtol=1e-7, atol=1e-10)


def test_exact_derivative_is_gradient_of_mse_for_any_width() -> None:
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.normal(size=(2, 4, 3))
    numerical = _central_loss_gradient(mse, y_true, y_pred)
    np.testing.assert_allclose(mse_derivative(y_true, y_pred), numerical, rtol=1e-7, atol=1e-10)


def test_lesson_convention_divides_by_batch_only() -> None:
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.normal(size=(2, 4, 3))
    lesson = mse_derivative(y_true, y_pred, convention="lesson")
    np.testing.assert_allclose(lesson, 2 * (y_pred - y_true) / 4)
    np.testing.assert_allclose(lesson, 3 * mse_derivative(y_true, y_pred))
    assert np.isclose(mse_lesson(y_true, y_pred), 3 * mse(y_true, y_pred))
    # one output: both conventions agree
    np.testing.assert_array_equal(
        mseDerivative(y_true[:, :1], y_pred[:, :1], convention="lesson"),
        mse_derivative(y_true[:, :1], y_pred[:, :1]),
    )


def test_cross_entropy_takes_one_hot_rows_or_integer_labels_alike() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4))
    labels = np.array([0, 3, 1, 1, 2, 0])
    onehot = np.eye(4)[labels]
    for targets in (labels, labels.reshape(-1, 1), labels.astype(float), onehot):
        assert cross_entropy(targets, logits) == pytest.approx(cross_entropy(onehot, logits),
                                                               rel=1e-15)
        np.testing.assert_array_equal(cross_entropy_derivative(targets, logits),
                                      cross_entropy_derivative(onehot, logits))
    # The textbook definition, written independently: -mean log softmax of the true class.
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert cross_entropy(labels, logits) == pytest.approx(-np.mean(np.log(p[np.arange(6), labels])),
                                                          rel=1e-13)
    np.testing.assert_allclose(cross_entropy_derivative(labels, logits), (p - onehot) / 6,
                               rtol=1e-13)
    np.testing.assert_allclose(softmax(logits), p, rtol=1e-14)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [-2e4, -2e4 + 1.0, -2e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = cross_entropy([0, 1], logits)
        grad = cross_entropy_derivative([0, 1], logits)
    # row 0: the right class wins by 1e4, loss 0; row 1: log(1 + 2e^-1) = 1 - log(e) + ...
    expected = (0.0 + (np.log(np.exp(-1.0) * 2 + 1.0))) / 2
    assert value == pytest.approx(expected, rel=1e-14)
    assert np.all(np.isfinite(grad)) and abs(grad.sum()) < 1e-15


def test_cross_entropy_targets_are_validated() -> None:
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"class label 4, outside 0 \.\. 3"):
        cross_entropy([0, 1, 4], logits)
    with pytest.raises(ValueError, match="non-integral"):
        cross_entropy([0.5, 1, 2], logits)
    with pytest.raises(ValueError, match=r"y_true has shape \(3, 2\)"):
        cross_entropy(np.zeros((3, 2)), logits)
    with pytest.raises(ValueError, match="3 rows but y_pred has 2"):
        cross_entropy([0, 1, 2], logits[:2])
    with pytest.raises(ValueError, match="negative"):
        cross_entropy(-np.eye(4)[:3], logits)
    assert one_hot([2], 3).tolist() == [[0.0, 0.0, 1.0]]


def test_training_with_cross_entropy_lowers_the_loss() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 2))
    labels = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = MLP.build([2, 8, 2], ["tanh", "linear"], seed=0)
    history = train(model, x, np.eye(2)[labels], loss="cross_entropy", epochs=30,
                    learning_rate=0.5, seed=0)
    assert history[-1] < 0.5 * history[0]


def test_unknown_loss_convention() -> None:
    with pytest.raises(ValueError, match=r"unknown loss convention 'sum'.*'exact', 'lesson'"):
        mse_derivative(np.ones((2, 1)), np.ones((2, 1)), convention="sum")


# --- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128], ids=str)
def test_dtype_is_preserved_end_to_end(dtype: type) -> None:
    model = MLP.build([3, 5, 4, 2], ["relu", "tanh", "sigmoid"], seed=0, dtype=dtype)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(dtype)
    y = np.zeros((6, 2), dtype=dtype)
    pred = model.forward(x)
    d_loss = mse_derivative(y, pred)
    d_x = model.backward(d_loss)
    assert pred.dtype == dtype and d_loss.dtype == dtype and d_x.dtype == dtype
    assert mse(y, pred).dtype == dtype
    for path, param, grad in model.parameters_and_gradients():
        assert param.dtype == dtype and grad.dtype == dtype, path
        assert grad.shape == param.shape, path


def test_float32_layer_keeps_float32_with_float64_data() -> None:
    layer = DenseLayer(3, 2, "sigmoid", seed=0, dtype=np.float32)
    out = layer.forward(np.ones((4, 3)))  # float64 data
    assert out.dtype == np.float32
    assert layer.backward(np.ones((4, 2))).dtype == np.float32


def test_complex_step_through_the_network_gives_the_gradient() -> None:
    model = MLP.build([2, 3, 1], ["tanh", "softplus"], seed=3)
    x = np.random.default_rng(3).normal(size=(4, 2))
    y = np.ones((4, 1))
    model.backward(mse_derivative(y, model.forward(x)))
    analytic = model.layers[0].d_weights[1, 2]
    w = model.layers[0].weights
    model.layers[0].weights = w.astype(np.complex128)
    model.layers[0].weights[1, 2] += 1e-200j
    step = np.imag(mse(y.astype(np.complex128), model.forward(x))) / 1e-200
    assert abs(step - analytic) <= 1e-14 * max(1.0, abs(analytic))


def test_initialisation_is_seeded_and_scaled() -> None:
    a = DenseLayer(400, 300, "relu", seed=7)
    b = DenseLayer(400, 300, "relu", seed=7)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, DenseLayer(400, 300, "relu", seed=8).weights)
    assert abs(a.weights.std() - np.sqrt(2 / 400)) < 0.01 * np.sqrt(2 / 400) * 5  # He
    c = DenseLayer(400, 300, "tanh", seed=7)
    assert abs(c.weights.std() - np.sqrt(2 / 700)) < 0.05 * np.sqrt(2 / 700)  # Xavier
    assert a.weights.shape == (400, 300) and a.biases.shape == (1, 300)
    assert not a.biases.any()


# --- training ------------------------------------------------------------------------------------


def test_training_lowers_the_loss_on_a_small_regression() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 2))
    y = (np.sin(2 * x[:, :1]) + 0.5 * x[:, 1:] ** 2)
    model = MLP.build([2, 16, 1], ["tanh", "linear"], seed=0)
    history = train(model, x, y, epochs=200, batch_size=16, learning_rate=0.1, seed=0)
    assert len(history) == 200
    assert history[-1] < 0.1 * history[0]
    assert history[-1] == pytest.approx(float(mse(y, model.forward(x))), rel=0.5)


def test_training_is_reproducible_with_a_seed() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    runs = []
    for _ in range(2):
        model = MLP.build([3, 4, 1], ["relu", "linear"], seed=5)
        runs.append(train(model, x, y, epochs=5, batch_size=6, seed=9))
    assert runs[0] == runs[1]


def test_sgd_step_moves_against_the_gradient() -> None:
    model = MLP.build([2, 1], "linear", seed=0)
    x, y = np.ones((3, 2)), np.zeros((3, 1))
    model.backward(mse_derivative(y, model.forward(x)))
    before = model.layers[0].weights.copy()
    SGD(0.5).step(model)
    np.testing.assert_allclose(model.layers[0].weights, before - 0.5 * model.layers[0].d_weights)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((0, 3), ValueError, "n_inputs must be a positive integer, got 0"),
        ((3, -1), ValueError, "n_neurons must be a positive integer, got -1"),
        ((2.5, 3), TypeError, "n_inputs must be a positive integer, got 2.5"),
        ((True, 3), TypeError, "n_inputs must be a positive integer"),
    ],
    ids=["zero-inputs", "negative-neurons", "float-size", "bool-size"],
)
def test_bad_layer_sizes(args: tuple, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DenseLayer(*args)


def test_bad_dtype() -> None:
    with pytest.raises(ValueError, match="unsupported dtype.*float32, float64, complex128"):
        DenseLayer(2, 2, dtype=np.int64)


def test_input_width_mismatch_names_both_widths() -> None:
    layer = DenseLayer(3, 2)
    with pytest.raises(ValueError, match=r"has 4 columns but 3 were expected.*\(batch, 3\)"):
        layer.forward(np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"must be 2-D with shape \(batch, 3\), got shape \(3,\)"):
        layer.forward(np.ones(3))
    with pytest.raises(ValueError, match=r"forward inputs must be a rectangular 2-D array"):
        layer.forward([[1.0, 2.0, 3.0], [4.0]])  # ragged: named, not numpy's bare message


def test_add_layer_rejects_mismatched_width_at_add_time() -> None:
    model = MLP()
    model.add_layer(DenseLayer(3, 4))
    with pytest.raises(ValueError, match=r"layers\[1\] takes 5 inputs but layers\[0\] outputs 4"):
        model.add_layer(DenseLayer(5, 2))
    assert len(model) == 1
    with pytest.raises(TypeError, match="add_layer expects a DenseLayer"):
        model.add_layer("relu")


def test_backward_before_forward() -> None:
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        DenseLayer(2, 2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="no layers"):
        MLP().forward(np.ones((1, 2)))


@pytest.mark.parametrize(
    "shape", [(4, 1), (2, 2), (4,), (1, 2)],
    ids=["too-narrow", "wrong-batch", "1-D", "broadcastable"]
)
def test_upstream_gradient_of_wrong_shape_is_rejected(shape: tuple) -> None:
    layer = DenseLayer(3, 2)
    layer.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"(expected \(4, 2\)|must be 2-D)"):
        layer.backward(np.ones(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_values_are_rejected(bad: float) -> None:
    layer = DenseLayer(2, 2)
    x = np.ones((3, 2))
    x[1, 0] = bad
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\).*first at \(1, 0\)"):
        layer.forward(x)
    layer.forward(np.ones((3, 2)))
    g = np.ones((3, 2))
    g[2, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        layer.backward(g)
    with pytest.raises(ValueError, match="y_true contains 1 non-finite"):
        mse(x, np.ones((3, 2)))


def test_loss_never_broadcasts() -> None:
    with pytest.raises(ValueError, match=r"y_true has shape \(4,\)|must be 2-D"):
        mse(np.ones(4), np.ones((4, 1)))
    with pytest.raises(ValueError,
                       match=r"y_true has shape \(4, 2\) but y_pred has shape \(4, 1\)"):
        mse_derivative(np.ones((4, 2)), np.ones((4, 1)))


def test_reassigned_parameters_of_wrong_shape_are_rejected() -> None:
    layer = DenseLayer(3, 2)
    layer.biases = np.zeros(2)
    with pytest.raises(ValueError, match=r"biases has shape \(2,\), expected \(1, 2\)"):
        layer.forward(np.ones((1, 3)))


def test_bad_training_arguments() -> None:
    model = MLP.build([2, 1], "linear", seed=0)
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
        SGD(-1.0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train(model, np.ones((4, 2)), np.ones((4, 1)), batch_size=0)
    with pytest.raises(ValueError, match="x has 4 rows but y has 3"):
        train(model, np.ones((4, 2)), np.ones((3, 1)))


def test_build_validates_activation_count() -> None:
    with pytest.raises(ValueError, match="got 1 activations for 2 layers"):
        MLP.build([2, 3, 1], ["relu"])


# --- walkthrough ---------------------------------------------------------------------------------


def test_walkthrough_prints_the_lesson(capsys: pytest.CaptureFixture[str]) -> None:
    assert walkthrough_main(["--seed", "3", "--hidden", "5"]) == 0
    out = capsys.readouterr().out
    for text in ("3 -> 5 (relu) -> 1 (linear)", "Forward pass", "Loss: mse", "Backward pass",
                 "layers[0] (relu)", "layers[1] (linear)", "d_weights", "d_biases",
                 "Reading the gradients"):
        assert text in out


def test_walkthrough_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        walkthrough_main(["--hidden", "0"])
    assert exc.value.code == 2
    assert "expected a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        walkthrough_main(["--seed", "-1"])  # not a numpy traceback
    assert exc.value.code == 2
    assert "--seed: expected a non-negative integer, got -1" in capsys.readouterr().err


# --- review regressions --------------------------------------------------------------------------


def test_integer_parameters_do_not_truncate_the_inputs() -> None:
    # Reassigned integer weights (e.g. loaded from JSON) must not make the layer compute in int.
    layer = DenseLayer(2, 1, "linear")
    layer.weights = np.array([[1], [1]])
    layer.biases = np.array([[0]])
    out = layer.forward(np.array([[0.5, 0.25]]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.75]])
    d_x = layer.backward(np.array([[2.0]]))
    np.testing.assert_array_equal(d_x, [[2.0, 2.0]])
    np.testing.assert_array_equal(layer.d_weights, [[1.0], [0.5]])


def test_a_nan_weight_in_a_relu_layer_is_not_silently_zeroed() -> None:
    # relu(NaN) is NaN (as np.maximum and torch.relu), so the next layer's input check reports it.
    model = MLP.build([2, 3, 1], ["relu", "linear"], seed=0)
    model.layers[0].weights[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite value\(s\)"):
        model.forward(np.ones((2, 2)))
    assert np.isnan(get_activation("relu").forward(np.array([np.nan, -1.0, 2.0])))[0]


def test_backward_rejects_parameters_reassigned_to_a_wrong_shape() -> None:
    layer = DenseLayer(3, 2)
    layer.forward(np.ones((4, 3)))
    layer.weights = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"weights has shape \(2, 3\), expected \(3, 2\)"):
        layer.backward(np.ones((4, 2)))


def test_sgd_accepts_numpy_scalars_and_rejects_bools() -> None:
    assert SGD(np.float32(0.1)).learning_rate == pytest.approx(0.1)
    assert SGD(np.int64(1)).learning_rate == 1
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
        SGD(True)


def test_astype_keeps_each_layers_class_and_activation() -> None:
    class Marked(DenseLayer):
        pass

    model = MLP.build([3, 4, 2], ["leaky_relu", "linear"], seed=0)
    model.layers[0].__class__ = Marked
    model.forward(np.ones((2, 3)))
    cast = model.astype(np.float32)
    assert type(cast.layers[0]) is Marked and cast.layers[0].dtype == np.float32
    assert cast.layers[0].activation is model.layers[0].activation
    assert cast.layers[0].inputs is None and cast.layers[0].d_weights is None
    np.testing.assert_array_equal(cast.layers[1].weights,
                                  model.layers[1].weights.astype(np.float32))
    assert model.layers[0].weights.dtype == np.float64  # the original is untouched


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activations_of_integer_arrays_are_not_truncated(name: str) -> None:
    # leaky_relu's slope 0.01 cast to an integer dtype would be 0.
    act = get_activation(name)
    z = np.array([-3, 0, 2])
    f, df = INDEPENDENT[name]
    np.testing.assert_allclose(act.forward(z), [f(float(v)) for v in z], rtol=1e-13)
    np.testing.assert_allclose(act.derivative(z), [df(float(v)) for v in z], rtol=1e-12)
