"""Error versus step size: the round-off / truncation V of central differences, per layer.

For each case, the central-difference check runs over a grid of relative steps ``r`` (``h = r *
max(1, |theta|)``), with a tolerance given as an absolute pair so that the raw difference quotients
are kept (no entry is refined), and the largest absolute error of each layer's ``weights``,
``biases`` and ``inputs`` is plotted against ``r`` on log-log axes, one panel per parameter and one
line per layer. Large steps show the truncation error (slope 2 for a smooth network),
small ones the round-off (slope -1); the dashed line marks the step the checker chose by
itself. A piecewise-linear network (relu, linear) has no curvature, so only the round-off arm
shows, and an error of exactly 0 is left out (log axes).

The figure is drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch, no display needed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verify.compare import PARAMETERS, GradientCheck, Tolerance

from .suite import Problem

__all__ = ["STEPS", "StepSweep", "plot_filename", "plot_sweep", "sweep_steps"]

STEPS: tuple[float, ...] = tuple(float(r) for r in np.logspace(-1, -12, 23))
"""Relative steps swept: 1e-1 down to 1e-12 in half decades."""


@dataclass(frozen=True)
class StepSweep:
    """``errors[path][i]`` is the max abs error of row ``path`` at ``steps[i]``."""

    label: str
    network: str
    dtype: str
    steps: tuple[float, ...]
    errors: dict[str, list[float]]
    chosen_step: float | None
    chosen_errors: dict[str, float]
    layers: dict[str, str]  # path -> "layers[i] activation"
    parameters: dict[str, str]  # path -> weights / biases / inputs


def sweep_steps(
    problem: Problem, *, label: str, seed: int, steps: Sequence[float] = STEPS
) -> StepSweep:
    """Run the central-difference check at every step of ``steps`` and at the default one."""
    from verify import check_gradients

    def run(step: float | None) -> GradientCheck:
        return check_gradients(
            problem.model, problem.x, problem.y, method="central", loss=problem.loss,
            step=step, seed=seed, localize=False, tolerance=Tolerance(0.0, 0.0),
        )

    errors: dict[str, list[float]] = {}
    for step in steps:
        for row in run(step).rows:
            errors.setdefault(row.path, []).append(row.max_abs_error)
    chosen = run(None)
    chosen_step = chosen.info.get("step")
    return StepSweep(
        label=label, network=problem.network, dtype=problem.dtype, steps=tuple(steps),
        errors=errors,
        chosen_step=float(chosen_step) if isinstance(chosen_step, (int, float)) else None,
        chosen_errors={row.path: row.max_abs_error for row in chosen.rows},
        layers={row.path: f"layers[{row.layer}] {row.activation}" for row in chosen.rows},
        parameters={row.path: row.parameter for row in chosen.rows},
    )


def plot_filename(label: str) -> str:
    """A file name for a case label.

    ``several-outputs[loss=lesson]`` -> ``several-outputs_loss-lesson.png``.
    """
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", label.replace("=", "-")).strip("_")
    return f"{stem}.png"


def plot_sweep(sweep: StepSweep, path: Path) -> Path:
    """Draw ``sweep`` into a PNG at ``path`` (parents created); returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    # Fixed margins: constrained layout would double the drawing time for the same picture.
    fig = Figure(figsize=(12, 3.8), dpi=100)
    fig.subplots_adjust(left=0.065, right=0.99, bottom=0.14, top=0.86, wspace=0.06)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(PARAMETERS), sharey=True)
    steps = np.asarray(sweep.steps)
    paths_by_parameter = {p: [k for k, v in sweep.parameters.items() if v == p] for p in PARAMETERS}
    colors = {layer: f"C{i % 10}" for i, layer in enumerate(dict.fromkeys(sweep.layers.values()))}
    for ax, parameter in zip(axes, PARAMETERS, strict=True):
        for row in paths_by_parameter[parameter]:
            values = np.asarray(sweep.errors.get(row, []), dtype=float)
            values = np.where(values > 0, values, np.nan)  # 0 cannot be drawn on a log axis
            color = colors[sweep.layers[row]]
            ax.plot(steps[: len(values)], values, marker=".", color=color,
                    label=sweep.layers[row])
            chosen = sweep.chosen_errors.get(row)
            if sweep.chosen_step is not None and chosen is not None and chosen > 0:
                ax.plot([sweep.chosen_step], [chosen], marker="o", markersize=7,
                        markerfacecolor="none", color=color)
        if sweep.chosen_step is not None:
            ax.axvline(sweep.chosen_step, color="0.4", linestyle="--", linewidth=1,
                       label=f"chosen r = {sweep.chosen_step:.2g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(parameter)
        ax.set_xlabel("relative step r  (h = r * max(1, |theta|))")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("max |analytic - central diff.|")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles, labels, fontsize=7, loc="best")
    fig.suptitle(f"{sweep.label}: {sweep.network} ({sweep.dtype})", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.draw()
    # A 64-colour palette PNG is a third the size of matplotlib's RGBA one and looks the same
    # (flat colours, thin lines): 13 of them are committed and embedded in the HTML. Pillow is
    # matplotlib's own dependency; its PNG carries no timestamp, so the bytes depend on the data.
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, format="PNG",
                                                                     optimize=True)
    return path
