"""The weights fast path (column blocks, dropped relu units) and the ``kinds`` selection."""

from __future__ import annotations

import numpy as np
import pytest

from reference_mlp import MLP, get_loss
from verify import check_gradients
from verify.bugs import inject
from verify.finite_diff import numerical_gradient, stencil_crossings
from verify.kinks import change_roundoff
from verify.loop import central_loop
from verify.reference import reference_net

DEEP = {
    "relu-relu-relu-linear": ([24, 9, 7, 5, 3], ["relu", "relu", "relu", "linear"]),
    "relu-leaky-tanh": ([20, 8, 6, 2], ["relu", "leaky_relu", "tanh"]),
    "tanh-relu-relu": ([16, 6, 5, 4], ["tanh", "relu", "relu"]),
}


def deep_problem(name: str, batch: int = 9, seed: int = 2):
    sizes, acts = DEEP[name]
    model = MLP.build(sizes, acts, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    return model, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


@pytest.mark.parametrize("name", list(DEEP))
@pytest.mark.parametrize("chunk_size", [None, 5], ids=["default-chunks", "chunk-5"])
def test_column_blocks_equal_the_plain_loop(name: str, chunk_size: int | None) -> None:
    model, x, y = deep_problem(name)
    net = reference_net(model, x, y)
    for layer in range(net.n_layers):
        fd = numerical_gradient(net, layer, "weights", chunk_size=chunk_size)
        slow = central_loop(net, layer, "weights", full_forward=True)
        clear = ~fd.kink_mask  # kinked entries are checked against intervals, not the loop
        np.testing.assert_allclose(fd.estimate[clear], slow[clear], rtol=1e-7, atol=1e-9,
                                   err_msg=f"layers[{layer}].weights")


@pytest.mark.parametrize("name", list(DEEP))
def test_flags_stay_exact_when_off_units_are_dropped(name: str) -> None:
    # A huge step flags many stencils, in the relu layer after the weight (screened, where
    # units that are off are dropped) and in later layers (evaluated): the flags must equal
    # those of the plain evaluation with every unit carried.
    model, x, y = deep_problem(name)
    net = reference_net(model, x, y)
    plain = reference_net(model, x, y)
    for layer in range(net.n_layers - 1):
        got = stencil_crossings(net, layer, "weights", step=0.05)
        h = 0.05 * np.maximum(1.0, np.abs(plain.weights[layer]))
        want = np.zeros_like(got)
        for (i, j), step in np.ndenumerate(h):
            for sign in (1.0, -1.0):
                W = plain.weights[layer].copy()
                W[i, j] += sign * step
                a = plain.acts[layer]
                for k in range(layer, plain.n_layers):
                    z = a @ (W if k == layer else plain.weights[k]) + plain.biases[k]
                    if plain.activations[k].kinks:
                        want[i, j] |= bool(np.any((z > 0) != (plain.zs[k] > 0)))
                    a = plain.activations[k].forward(z)
        np.testing.assert_array_equal(got, want, err_msg=f"layers[{layer}].weights")
        assert got.any()


def test_kinds_selects_rows_and_still_catches_bugs() -> None:
    model, x, y = deep_problem("relu-relu-relu-linear")
    params = check_gradients(model, x, y, kinds=("weights", "biases"))
    assert params.passed and params.info["kinds"] == ["weights", "biases"]
    assert [r.path for r in params.rows][:3] == [
        "layers[0].weights", "layers[0].biases", "layers[1].weights"]
    assert all(r.parameter != "inputs" for r in params.rows)
    only_inputs = check_gradients(model, x, y, kinds=["inputs"], method="autograd")
    assert {r.parameter for r in only_inputs.rows} == {"inputs"}
    bad = inject(model, "missing_activation_derivative", layer=1)
    caught = check_gradients(bad, x, y, kinds=("weights", "biases"))
    assert not caught.passed
    assert not caught["layers[1].weights"].passed and not caught["layers[1].biases"].passed


@pytest.mark.parametrize("kinds, error", [
    (["foo"], ValueError), ([], ValueError), (("weights", "weights"), ValueError), (3, TypeError),
], ids=["unknown", "empty", "repeated", "not-a-sequence"])
def test_bad_kinds(kinds, error) -> None:
    model, x, y = deep_problem("tanh-relu-relu")
    with pytest.raises(error, match="kinds"):
        check_gradients(model, x, y, kinds=kinds)


def own_gradient(model: MLP, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    work = model.copy()
    work.backward(get_loss("exact").derivative(y, work.forward(x)))
    return work.layers[0].d_weights


def test_relu_column_grouping_equals_plain_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.structured as structured

    model = MLP.build([40, 6, 5, 3], ["relu", "relu", "linear"], seed=4)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 40)), rng.standard_normal((6, 3))
    net = reference_net(model, x, y)
    calls = []
    original = structured.column_block_change

    def spy(*args, **kwargs):
        calls.append(args[2].size)
        return original(*args, **kwargs)

    monkeypatch.setattr(structured, "column_block_change", spy)
    fast = numerical_gradient(net, 0, "weights", chunk_size=7)
    assert calls  # the grouped (one column per chunk, live rows only) path ran
    slow = central_loop(net, 0, "weights", full_forward=True)
    np.testing.assert_allclose(fast.estimate, slow, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fast.estimate, own_gradient(model, x, y),
                               rtol=1e-6, atol=1e-8)


KINK_NETS = {
    **DEEP,
    "relu-relu-linear": ([30, 12, 9, 4], ["relu", "relu", "linear"]),
    "leaky-relu-linear": ([10, 8, 6, 3], ["leaky_relu", "relu", "linear"]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(KINK_NETS))
def test_fast_paths_equal_the_general_path_to_round_off(name: str, dtype) -> None:
    # The per-example blocks (units on only, relu not applied to them) and the vectorised
    # output path against the general path that carries every unit through every activation:
    # the same flags, and the same loss changes to round-off wherever no kink is crossed.
    from verify.structured import loss_changes

    sizes, acts = KINK_NETS[name]
    model = MLP.build(sizes, acts, seed=5, dtype=dtype)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((11, sizes[0]))
    x[0] = 0.0  # an example at the kink of every unit of layer 0's biases
    net = reference_net(model, x, rng.standard_normal((11, sizes[-1])))
    for layer in range(net.n_layers):
        for r in (6e-6, 0.02):  # the default step, and one that crosses many kinks
            flat = net.weights[layer].reshape(-1)
            idx = np.arange(flat.size)
            h = r * np.maximum(1.0, np.abs(flat))
            kw = dict(track=True, chunk_size=None, max_memory=2**22)
            fast, f_fast = loss_changes(net, layer, "weights", idx, h, (1.0, -1.0),
                                        inexact_flagged=True, **kw)
            slow, f_slow = loss_changes(net, layer, "weights", idx, h, (1.0, -1.0), **kw)
            np.testing.assert_array_equal(f_fast, f_slow)
            clear = ~f_fast.any(axis=0)
            q_fast = (fast[0] - fast[1])[clear] / (2 * h[clear])
            q_slow = (slow[0] - slow[1])[clear] / (2 * h[clear])
            # To round-off: the paths order their operations differently (the quadratic of
            # a relu layer before the linear output sums fewer terms), so each quotient may
            # carry a loss change's round-off over its step.
            roundoff = change_roundoff(net) / h[clear]
            assert np.all(np.abs(q_fast - q_slow) <= 1e-9 * np.abs(q_slow) + roundoff), (
                f"layers[{layer}] step {r}: worst "
                f"{np.max(np.abs(q_fast - q_slow) / (1e-9 * np.abs(q_slow) + roundoff)):.3g}"
                " x the allowance")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_relu_layer_before_a_linear_output_changes_the_loss_by_its_quadratic(seed: int) -> None:
    # quadratic_terms: a change d of a_1[b, j] that moves no unit of layer 1 across the kink
    # changes sum((y - t)**2) by exactly alpha d**2 + beta d; here against the loss of the
    # whole forward pass with that one activation changed.
    from verify.column_blocks import quadratic_terms

    model = MLP.build([5, 7, 6, 3], ["relu", "relu", "linear"], seed=seed)
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    net = reference_net(model, x, t)
    alpha, beta = quadratic_terms(net, 1)
    assert alpha.shape == beta.shape == (4, 7)
    W1, b1, W2, b2 = (net.weights[1], net.biases[1], net.weights[2], net.biases[2])

    def loss(a1: np.ndarray) -> float:
        return float(np.sum((np.maximum(a1 @ W1 + b1, 0) @ W2 + b2 - t) ** 2))

    base = loss(net.acts[1])
    checked = 0
    for b in range(4):
        for j in range(7):
            for d in (1e-3, -2e-3):
                a1 = net.acts[1].copy()
                a1[b, j] += d
                z = a1[b] @ W1 + b1
                if np.any((z > 0) != (net.zs[1][b] > 0)):
                    continue  # crosses the kink: the quadratic does not apply (and is not used)
                want = loss(a1) - base
                got = alpha[b, j] * d**2 + beta[b, j] * d
                assert got == pytest.approx(want, rel=1e-7, abs=1e-13), (b, j, d)
                checked += 1
    assert checked > 40


@pytest.mark.parametrize("sizes", [[30, 12, 9, 4], [3, 80, 70, 2]],
                         ids=["narrow", "wide: many columns per call"])
def test_a_whole_tensor_and_its_entries_in_any_order_give_the_same_gradient(sizes) -> None:
    # The whole tensor is read and written block by block (rows x columns); any other set of
    # entries goes by index. Both must give every entry the same value, the plain loop's.
    model = MLP.build(sizes, ["relu", "relu", "linear"], seed=3)
    rng = np.random.default_rng(3)
    net = reference_net(model, rng.standard_normal((8, sizes[0])),
                        rng.standard_normal((8, sizes[-1])))
    for layer in range(3):
        whole = numerical_gradient(net, layer, "weights")
        clear = ~whole.kink_mask
        loop = central_loop(net, layer, "weights", full_forward=True)
        np.testing.assert_allclose(whole.estimate[clear], loop[clear], rtol=1e-7, atol=1e-9)
        # All columns in one call (row sums by reduceat past 32 columns), and one per call.
        for chunk in (10_000, 1):
            other = numerical_gradient(net, layer, "weights", chunk_size=chunk)
            np.testing.assert_allclose(other.estimate, whole.estimate, rtol=1e-12, atol=1e-15)
        size = net.weights[layer].size
        shuffled = numerical_gradient(net, layer, "weights", indices=rng.permutation(size))
        np.testing.assert_allclose(shuffled.estimate, whole.estimate, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(shuffled.kink_mask, whole.kink_mask)
        part = numerical_gradient(net, layer, "weights", indices=np.arange(0, size, 3))
        np.testing.assert_allclose(part.estimate.reshape(-1)[::3],
                                   whole.estimate.reshape(-1)[::3], rtol=1e-12, atol=1e-15)


def test_unsorted_rows_of_a_column_are_read_as_given() -> None:
    # Rows 2, 0, 4 of column 3 in one call: their first and last differ by P - 1 = 2, which
    # once made them read as the contiguous rows 2, 3, 4 (a hostile review).
    model = MLP.build([6, 8, 5, 3], ["relu", "relu", "linear"], seed=1)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    net = reference_net(model, rng.standard_normal((7, 6)), rng.standard_normal((7, 3)))
    idx = np.array([2, 0, 4]) * 8 + 3
    fd = numerical_gradient(net, 0, "weights", indices=idx, chunk_size=3)
    loop = central_loop(net, 0, "weights", full_forward=True)
    np.testing.assert_allclose(fd.estimate[[2, 0, 4], 3], loop[[2, 0, 4], 3], rtol=1e-7)


def test_the_quadratic_terms_of_a_wide_output_stay_within_a_few_mib() -> None:
    # alpha and beta need W_k[:, on] @ W_{k+1}[on] per example: (inputs, batch, outputs) numbers
    # at once would be 64 MiB here; a block of examples at a time keeps it to GROUP_BYTES.
    import tracemalloc

    from verify.column_blocks import GROUP_BYTES, quadratic_terms

    model = MLP.build([16, 128, 64, 256], ["relu", "relu", "linear"], seed=0)
    rng = np.random.default_rng(0)
    net = reference_net(model, rng.standard_normal((256, 16)), rng.standard_normal((256, 256)))
    _ = net.residual2
    tracemalloc.start()
    try:
        alpha, beta = quadratic_terms(net, 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert alpha.shape == beta.shape == (256, 128)
    assert peak <= 3 * GROUP_BYTES + alpha.nbytes + beta.nbytes, peak / 2**20
