"""The lesson's walkthrough: build a two-layer MLP, run forward, loss and backward, read the
gradients."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np
from tabulate import tabulate

from .layers import DenseLayer
from .losses import mse, mse_derivative
from .network import MLP

__all__ = ["main", "run"]


def _fmt(values: np.ndarray) -> str:
    return np.array2string(np.asarray(values), precision=4, suppress_small=True, max_line_width=72)


def run(
    *, seed: int = 42, n_inputs: int = 3, n_hidden: int = 4, n_outputs: int = 1, batch: int = 4
) -> str:
    """Return the walkthrough's text for the given seed and sizes."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(batch, n_inputs))
    y = rng.uniform(1.0, 2.0, size=(batch, n_outputs))  # targets above the untrained outputs

    model = MLP()
    model.add_layer(DenseLayer(n_inputs, n_hidden, "relu", seed=seed))
    model.add_layer(DenseLayer(n_hidden, n_outputs, "linear", seed=seed + 1))

    out: list[str] = []
    out.append(f"Network: {n_inputs} -> {n_hidden} (relu) -> {n_outputs} (linear), seed {seed}")
    out.append(f"\nInputs x {x.shape}:\n{_fmt(x)}\nTargets y {y.shape}:\n{_fmt(y)}")

    pred = model.forward(x)
    loss = mse(y, pred)
    out.append(f"\n1. Forward pass: predictions {pred.shape}:\n{_fmt(pred)}")
    out.append(f"2. Loss: mse = mean((y_pred - y_true)^2) = {loss:.6f}")
    d_loss = mse_derivative(y, pred)
    out.append(f"3. dLoss/dPrediction = 2 * (y_pred - y_true) / {y.size}:\n{_fmt(d_loss)}")
    d_x = model.backward(d_loss)
    out.append(f"4. Backward pass, layers in reverse; dLoss/dx {d_x.shape}:\n{_fmt(d_x)}")

    rows = []
    for i, layer in enumerate(model.layers):
        for name, grad in (("d_weights", layer.d_weights), ("d_biases", layer.d_biases)):
            assert grad is not None
            rows.append(
                [
                    f"layers[{i}] ({layer.activation.name})",
                    name,
                    "x".join(map(str, grad.shape)),
                    f"{np.abs(grad).max():.4g}",
                    int(np.sum(grad == 0)),
                    _fmt(grad),
                ]
            )
    out.append(
        "\nGradients stored per layer:\n"
        + tabulate(rows, headers=["layer", "gradient", "shape", "max |g|", "zeros", "values"])
    )

    hidden, last = model.layers[0], model.layers[-1]
    assert hidden.pre_activation is not None and last.d_biases is not None
    inactive = int(np.sum(hidden.pre_activation <= 0))
    dead_units = [j for j in range(n_hidden) if np.all(hidden.pre_activation[:, j] <= 0)]
    reading = [
        "\nReading the gradients:",
        f"- layers[0] (relu): {inactive} of {hidden.pre_activation.size} pre-activations are <= 0, "
        "where relu's derivative is 0, so those examples send no gradient to the weights feeding "
        "them." + (f" Units {dead_units} are inactive for the whole batch: their columns of "
                   "d_weights and their d_biases are exactly 0." if dead_units else ""),
    ]
    bias = float(np.real(last.d_biases[0, 0]))
    direction = "too low" if bias < 0 else "too high"
    reading.append(
        f"- layers[{len(model.layers) - 1}] (linear): d_biases[0, 0] = {bias:.4f}. Its sign says "
        f"the predictions are {direction} on average; gradient descent moves the bias against it "
        f"({'up' if bias < 0 else 'down'})."
    )
    reading.append(
        "- Each gradient has its parameter's shape; an SGD step is p -= learning_rate * gradient."
    )
    out.extend(reading)
    return "\n".join(out)


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "a non-negative integer")  # numpy seeds are non-negative


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_mlp",
        description="The lesson's walkthrough: a two-layer MLP (relu then linear), a forward pass, "
        "the MSE loss, the backward pass and each layer's gradients.",
    )
    parser.add_argument("--seed", type=_seed, default=42,
                        help="seed for data and weights (default 42)")
    parser.add_argument("--inputs", type=_positive, default=3, help="input width (default 3)")
    parser.add_argument("--hidden", type=_positive, default=4, help="hidden width (default 4)")
    parser.add_argument("--outputs", type=_positive, default=1, help="output width (default 1)")
    parser.add_argument("--batch", type=_positive, default=4, help="batch size (default 4)")
    args = parser.parse_args(argv)
    print(
        run(
            seed=args.seed,
            n_inputs=args.inputs,
            n_hidden=args.hidden,
            n_outputs=args.outputs,
            batch=args.batch,
        )
    )
    return 0
