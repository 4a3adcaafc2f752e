"""Anyone's model (verify.protocol, verify.user_model): checked against its own forward.

A duck-typed NumPy model of the kind a course or an engineer writes by hand: dense layers with
``W``/``b`` and ``dW``/``db``, a custom activation layer the reference does not know (swish), a
last layer without a bias, and a 2*tanh layer whose forward and backward agree. Every method that
applies passes it, and a 1-2% error in any one gradient is flagged in its own row (and the rows
it feeds), by every method.
"""

from __future__ import annotations

import numpy as np
import pytest

from verify import assert_gradients_close, check_gradients

METHODS = ["central", "forward", "complex_step", "directional"]


class Dense:
    """``x @ W + b``; ``bias=False`` leaves ``b`` out altogether."""

    def __init__(self, n_in, n_out, rng, bias=True, dtype=np.float64):
        self.W = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)).astype(dtype)
        if bias:
            self.b = (0.1 * rng.normal(size=(1, n_out))).astype(dtype)

    def forward(self, x):
        self.x = x
        out = x @ self.W
        return out + self.b if hasattr(self, "b") else out

    def backward(self, d_out):
        self.dW = self.x.T @ d_out
        if hasattr(self, "b"):
            self.db = d_out.sum(axis=0, keepdims=True)
        return d_out @ self.W.T


class Swish:
    """``z * sigmoid(z)``: an activation the reference does not have."""

    def forward(self, z):
        self.z = z
        self.s = 1 / (1 + np.exp(-z))
        return z * self.s

    def backward(self, d_out):
        s = self.s
        return d_out * (s + self.z * s * (1 - s))


class TwoTanh:
    """``2 tanh(z)``: forward and backward agree (the reference's tanh would not)."""

    def forward(self, z):
        self.t = np.tanh(z)
        return 2 * self.t

    def backward(self, d_out):
        return 2 * d_out * (1 - self.t**2)


class Net:
    """A plain object with a ``layers`` list; the checker walks the layers itself."""

    def __init__(self, seed=0, dtype=np.float64, sizes=(4, 8, 6, 3)):
        rng = np.random.default_rng(seed)
        self.layers = [Dense(sizes[0], sizes[1], rng, dtype=dtype), Swish(),
                       Dense(sizes[1], sizes[2], rng, dtype=dtype), TwoTanh(),
                       Dense(sizes[2], sizes[3], rng, bias=False, dtype=dtype)]


ROWS = ["layers[0].weights", "layers[0].biases", "layers[0].inputs", "layers[1].inputs",
        "layers[2].weights", "layers[2].biases", "layers[2].inputs", "layers[3].inputs",
        "layers[4].weights", "layers[4].inputs"]


def data(seed=0, batch=7, n_in=4, n_out=3, dtype=np.float64):
    rng = np.random.default_rng(seed + 100)
    return (rng.normal(size=(batch, n_in)).astype(dtype),
            rng.normal(size=(batch, n_out)).astype(dtype))


@pytest.mark.parametrize("method", METHODS)
def test_a_users_model_passes_every_method_that_applies(method: str) -> None:
    x, y = data()
    check = check_gradients(Net(), x, y, method=method, seed=3)
    assert check.passed, check.message()
    assert [row.path for row in check.rows] == ROWS
    assert [row.activation for row in check.rows[:4]] == ["Dense"] * 3 + ["Swish"]
    assert check.info["reference"] == "finite differences of the model's own forward"
    assert check.info["complex_step"] == "applies"


def test_autograd_does_not_apply_to_a_users_model() -> None:
    x, y = data()
    with pytest.raises(ValueError, match="method 'autograd' needs a model built from reference"):
        check_gradients(Net(), x, y, method="autograd")


def off_by(row: str, factor: float = 1.02):
    """A Net whose gradient ``row`` is ``factor`` times what it should be (a subclass of the
    layer's class, so that it survives the checker's copy of the model)."""
    net = Net()
    index, kind = int(row[7]), row.split(".")[1]
    layer = net.layers[index]
    base = type(layer)

    def backward(self, d_out):
        d_in = base.backward(self, d_out)
        if kind == "weights":
            self.dW = factor * self.dW
        elif kind == "biases":
            self.db = factor * self.db
        else:
            d_in = factor * d_in
        return d_in

    layer.__class__ = type(f"Wrong{base.__name__}", (base,), {"backward": backward})
    return net


def fed_by(row: str) -> set[str]:
    """The rows a wrong ``row`` makes wrong: itself and, for an input gradient, every row of
    the layers below it."""
    index = int(row[7])
    if not row.endswith("inputs"):
        return {row}
    return {row} | {r for r in ROWS if int(r[7]) < index}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("row", ROWS)
def test_a_two_percent_error_in_any_one_gradient_is_flagged_in_its_own_row(row, method) -> None:
    x, y = data()
    check = check_gradients(off_by(row), x, y, method=method, seed=3)
    assert {r.path for r in check.failures} == fed_by(row), check.message()
    assert all(r.verdict == "mismatch" for r in check.failures)
    assert [r.path for r in check.root_causes] == [row]


def test_a_one_percent_error_is_flagged_too() -> None:
    x, y = data()
    for row in ("layers[0].biases", "layers[3].inputs", "layers[4].weights"):
        check = check_gradients(off_by(row, 1.01), x, y)
        assert {r.path for r in check.failures} == fed_by(row)


class Model:
    """A model with its own forward and backward (the walk is then part of what is checked)."""

    def __init__(self):
        self.layers = Net().layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, d_loss):
        grad = d_loss
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad


def test_a_model_with_its_own_walk_and_a_walk_that_does_not_chain() -> None:
    x, y = data()
    assert check_gradients(Model(), x, y).passed

    class Unchained(Model):
        def backward(self, d_loss):
            grad = self.layers[-1].backward(d_loss)
            self.layers[-2].backward(grad)
            for layer in reversed(self.layers[:-2]):  # forgets to use what layers[3] returned
                grad = layer.backward(grad)
            return grad

    check = check_gradients(Unchained(), x, y)
    assert not check.passed
    assert [r.path for r in check.root_causes] == ["network.backward"]
    assert "fed layers[2]" in check.root_causes[0].note


def test_a_plain_list_of_layers_is_a_model() -> None:
    x, y = data()
    assert check_gradients(Net().layers, x, y).passed
    assert_gradients_close(Net().layers, x, y, method="directional", seed=0)


def test_cross_entropy_on_a_users_model() -> None:
    x, _ = data()
    labels = np.random.default_rng(1).integers(0, 3, x.shape[0])
    for method in METHODS:
        check = check_gradients(Net(), x, labels, loss="cross_entropy", method=method, seed=2)
        assert check.passed, check.message()
    check = check_gradients(off_by("layers[2].biases"), x, labels, loss="cross_entropy")
    assert [r.path for r in check.failures] == ["layers[2].biases"]


@pytest.mark.parametrize("row", ROWS)
def test_cross_entropy_flags_a_two_percent_error_in_any_one_gradient(row: str) -> None:
    x, _ = data()
    labels = np.random.default_rng(1).integers(0, 3, x.shape[0])
    for method in METHODS:
        check = check_gradients(off_by(row), x, labels, loss="cross_entropy", method=method,
                                seed=3)
        assert {r.path for r in check.failures} == fed_by(row), (method, check.message())
        assert [r.path for r in check.root_causes] == [row], method


def test_a_float32_model_on_unscaled_inputs() -> None:
    x, y = data(dtype=np.float32)
    x = (x * 100 + 200).astype(np.float32)  # like raw features: far from unit scale
    net = Net(dtype=np.float32)
    check = check_gradients(net, x, y)
    assert check.passed and check.info["dtype"] == "float32", check.message()
    assert check.info["reference_dtype"] == "float64"  # the forward ran on an upcast copy
    assert check.rows[0].tolerance.rtol == 1e-4  # the float32 row of the table


def test_float32_user_model_still_catches_a_two_percent_error() -> None:
    x, y = data(dtype=np.float32)
    net = off_by("layers[3].inputs")
    for layer in net.layers:
        for name in ("W", "b"):
            if hasattr(layer, name):
                setattr(layer, name, getattr(layer, name).astype(np.float32))
    check = check_gradients(net, x, y)
    assert {r.path for r in check.failures} == fed_by("layers[3].inputs")


class NoReturn(Dense):
    def backward(self, d_out):
        super().backward(d_out)


def test_a_layer_that_returns_nothing_is_named() -> None:
    x, y = data()
    net = Net()
    net.layers[2].__class__ = NoReturn
    check = check_gradients(net, x, y)
    assert check["layers[2].inputs"].verdict == "missing"
    assert "layers[2].backward returned None" in check["layers[2].inputs"].note
    assert "layers[2].inputs" in [r.path for r in check.root_causes]


class AbsActivation:
    """``|z|`` through ``np.abs``: correct real gradients, but not complex-analytic."""

    def forward(self, z):
        self.z = z
        return np.abs(z)

    def backward(self, d_out):
        return d_out * np.sign(self.z)


def test_complex_step_is_refused_where_the_forward_drops_the_imaginary_part() -> None:
    x, y = data()
    net = Net()
    net.layers[1] = AbsActivation()
    assert check_gradients(net, x, y).passed
    with pytest.raises(ValueError, match="complex_step does not apply to this model"):
        check_gradients(net, x, y, method="complex_step")


def test_layers_named_like_the_lesson_and_like_the_reference() -> None:
    class Lesson:
        def __init__(self, rng):
            self.weights = rng.normal(size=(4, 3))
            self.biases = np.zeros((1, 3))

        def forward(self, x):
            self.inputs = x
            return x @ self.weights + self.biases

        def backward(self, d):
            self.dWeights = self.inputs.T @ d
            self.dBiases = d.sum(axis=0, keepdims=True)
            return d @ self.weights.T

    x, y = data()
    check = check_gradients([Lesson(np.random.default_rng(0))], x, y)
    assert check.passed and [r.path for r in check.rows] == [
        "layers[0].weights", "layers[0].biases", "layers[0].inputs"]


@pytest.mark.parametrize(("model", "error", "match"), [
    (object(), TypeError, "model must be a sequence of layers"),
    ([], ValueError, "no layers"),
    ([Swish(), "dense"], TypeError, r"layers\[1\] \(str\) has no forward or backward"),
])
def test_what_is_not_a_model_is_refused_by_name(model, error, match) -> None:
    x, y = data()
    with pytest.raises(error, match=match):
        check_gradients(model, x, y)


def test_a_float32_row_that_only_float32_breaks_is_inconclusive_never_a_match() -> None:
    from verify.compare import compare, tolerance_for
    from verify.user_model import PRECISION_NOTE, _precision_only

    ref = np.array([1.0, 2.0, 3.0])
    kw = {"path": "layers[0].weights", "layer": 0, "activation": "Dense", "parameter": "weights",
          "method": "central", "tolerance": tolerance_for(np.float32, "central")}
    wrong32 = compare(np.array([1.0, 2.0, 3.3]), ref, **kw)
    assert wrong32.verdict == "mismatch"
    # The same code in float64 matches: float32 rounding, not the code, is what is off.
    rec = _precision_only(wrong32, compare(ref.copy(), ref, **kw))
    assert rec.verdict == "inconclusive" and not rec.passed and PRECISION_NOTE in rec.note
    # Wrong in float64 too: the code is wrong, and stays a mismatch.
    assert _precision_only(wrong32, compare(np.array([1.0, 2.0, 3.3]), ref, **kw)) is wrong32


# --- a relu fed exactly 0 by a saturated unit ---------------------------------------------------
#
# Found by hypothesis (test_properties.test_no_false_alarm_on_users_models): an unscaled input of
# -3000 saturates every swish unit of its row to exactly 0 (``z * sigmoid(z)``, sigmoid 0), so the
# next dense layer (no bias) feeds the relu exactly 0, a kink. There the model's own forward has
# no derivative: the user's relu'(0) = 0 is as right as any value between the one-sided
# derivatives, and the central difference (their mean) or the layer-local reference's convention
# is no more right. Neither a row nor a root cause may call it a mismatch; a wrong gradient
# away from the kink still is one.


class ReLU:
    def forward(self, z):
        self.on = z > 0
        return z * self.on

    def backward(self, d_out):
        return d_out * self.on


class KinkNet:
    """Dense(1->3, no bias) -> Swish -> Dense(3->3, no bias) -> ReLU -> Dense(3->2), with
    explicit weights; ``wrong``: the row whose gradient is 5% too large (or None)."""

    def __init__(self, wrong: str | None = None):
        d0, d2, d4 = Dense.__new__(Dense), Dense.__new__(Dense), Dense.__new__(Dense)
        d0.W = np.array([[0.5, 0.8, 1.1]])
        d2.W = np.array([[0.3, -0.7, 0.9], [1.2, 0.4, -0.5], [-0.6, 0.8, 0.2]])
        d4.W = np.array([[0.7, -0.4], [-0.3, 0.9], [0.5, 0.6]])
        d4.b = np.array([[0.1, -0.2]])
        self.layers = [d0, Swish(), d2, ReLU(), d4]
        if wrong is not None:
            self.layers[int(wrong[7])] = _wrong_weights(self.layers[int(wrong[7])])


def _wrong_weights(layer: Dense) -> Dense:
    def backward(self, d_out):
        d_in = Dense.backward(self, d_out)
        self.dW = 1.05 * self.dW
        return d_in

    layer.__class__ = type("WrongDense", (Dense,), {"backward": backward})
    return layer


# Row 0: every swish saturates to exactly 0. Row 1: an ordinary input, or one so large that the
# round-off floor of a loss change (which grows with the prediction) once hid the kink's jump.
KINK_XS = {"other-row-small": np.array([[-3000.0], [2.0]]),
           "other-row-huge": np.array([[-3000.0], [3000.0]])}
KINK_Y = np.array([[0.3, -0.5], [1.0, 0.2]])


@pytest.mark.parametrize("x", list(KINK_XS.values()), ids=list(KINK_XS))
def test_the_kink_model_feeds_its_relu_exactly_zero(x) -> None:
    a = x
    with np.errstate(all="ignore"):
        for layer in KinkNet().layers[:3]:
            a = layer.forward(a)
    assert np.all(a[0] == 0) and np.all(a[1] != 0)


@pytest.mark.parametrize("method", ["central", "forward", "directional"])
@pytest.mark.parametrize("x", list(KINK_XS.values()), ids=list(KINK_XS))
@pytest.mark.parametrize("wrong", [None, "layers[2].weights", "layers[4].weights"],
                         ids=["correct", "wrong-dW-before-relu", "wrong-dW-after-relu"])
def test_a_relu_fed_exactly_zero_by_a_saturated_unit(wrong: str | None, x, method: str) -> None:
    with np.errstate(all="ignore"):
        check = check_gradients(KinkNet(wrong), x, KINK_Y, method=method, seed=3)
    rows = {r.path: r.verdict for r in check.rows}
    if wrong is None:
        assert "mismatch" not in rows.values(), check.message()
        assert not any(r.verdict == "mismatch" for r in check.root_causes), check.message()
        assert check.root_causes == [], check.message()
        if method != "directional":  # the kink is met, and the message says why
            # relu'(0) = 0 is the left derivative: a valid choice; the input gradient below it
            # moves three relus off 0 at once, so no one-sided derivative matches it.
            assert rows["layers[3].inputs"] == "match", check.message()
            assert rows["layers[2].inputs"] == "inconclusive", check.message()
            assert "sit at a kink of the code's own forward" in check.message()
    else:
        assert rows[wrong] == "mismatch", check.message()
        assert [r.path for r in check.root_causes] == [wrong], check.message()
