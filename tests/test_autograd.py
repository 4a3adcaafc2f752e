"""The torch twin: same weights, same conventions, agreement to ~1e-12; torch imported lazily."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from reference_mlp import ACTIVATIONS, MLP, get_loss
from reference_mlp.activations import Activation
from verify import check_gradients
from verify.autograd import autograd_gradients, torch_dtype
from verify.reference import KINDS, reference_net


def problem(acts, sizes=(4, 6, 5, 3), batch=5, seed=0, dtype=np.float64):
    model = MLP.build(list(sizes), acts, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = (0.1 * rng.standard_normal(layer.biases.shape)).astype(dtype)
    return model, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["exact", "lesson", "cross_entropy"])
def test_twin_agrees_with_the_reference_to_round_off(act: str, loss: str) -> None:
    model, x, y = problem(act)
    if loss == "cross_entropy":
        y = np.eye(3)[np.random.default_rng(1).integers(0, 3, x.shape[0])]
    grads = autograd_gradients(reference_net(model, x, y, loss))
    work = model.copy()
    work.backward(get_loss(loss).derivative(y, work.forward(x)))
    worst = 0.0
    for i, layer in enumerate(work.layers):
        for kind in KINDS:
            mine, theirs = getattr(layer, f"d_{kind}"), grads[(i, kind)]
            assert theirs.shape == mine.shape
            scale = np.abs(theirs).max() or 1.0
            worst = max(worst, float(np.abs(mine - theirs).max() / scale))
    assert worst < 1e-12


def test_relu_at_exactly_zero_uses_the_same_convention() -> None:
    model = MLP.build([2, 3, 1], ["relu", "leaky_relu"], seed=0)
    x = np.zeros((2, 2))  # every pre-activation of layer 0 is exactly its bias, 0
    y = np.ones((2, 1))
    check = check_gradients(model, x, y, method="autograd")
    assert check.passed, check.message()


def test_float32_twin_and_float32_model() -> None:
    model, x, y = problem("tanh", dtype=np.float32)
    check = check_gradients(model, x, y, method="autograd")
    assert check.passed, check.message()
    assert check.rows[0].tolerance.atol == pytest.approx(1e-5)  # the float32 row
    check = check_gradients(model, x, y, method="autograd", dtype="float32")
    assert check.passed and check.info["twin_dtype"] == "float32"


def test_torch_dtype_validation() -> None:
    import torch

    assert torch_dtype(None) is torch.float64
    assert torch_dtype(np.float32) is torch.float32
    with pytest.raises(ValueError, match="dtype must be"):
        torch_dtype("int8")
    with pytest.raises(ValueError, match="dtype must be"):
        torch_dtype(torch.float16)


def test_unknown_activation_is_a_clear_error() -> None:
    class Cube(Activation):
        def forward(self, z):
            return z**3

        def derivative(self, z):
            return 3 * z**2

    model = MLP.build([2, 2], Cube(name="cube"), seed=0)
    with pytest.raises(ValueError, match=r"layers\[0\] has activation 'cube'"):
        check_gradients(model, np.ones((1, 2)), np.ones((1, 2)), method="autograd")


def test_torch_is_imported_lazily() -> None:
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import verify
        from reference_mlp import MLP
        m = MLP.build([3, 4, 2], "relu", seed=0)
        x, y = np.ones((2, 3)), np.zeros((2, 2))
        for method in ("central", "forward", "complex_step", "directional"):
            verify.check_gradients(m, x, y, method=method)
        assert "torch" not in sys.modules, "a finite-difference check imported torch"
        assert "hypothesis" not in sys.modules, "importing verify imported hypothesis"
        verify.check_gradients(m, x, y, method="autograd")
        assert "torch" in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
