"""The step-size sweep behind the plots: the round-off / truncation V, and the PNG itself."""

from __future__ import annotations

import numpy as np
from PIL import Image

from verify.report.plots import STEPS, plot_filename, plot_sweep, sweep_steps
from verify.report.suite import CASES


def test_sweep_shows_the_v_on_a_smooth_network_and_marks_the_chosen_step(tmp_path):
    sweep = sweep_steps(CASES["deep-tanh"].build(seed=42), label="deep-tanh", seed=42)
    assert sweep.steps == STEPS and sweep.chosen_step is not None
    assert 1e-7 < sweep.chosen_step < 1e-4  # eps**(1/3) for central differences
    tanh_rows = [path for path, layer in sweep.layers.items() if "tanh" in layer]
    assert len(tanh_rows) == 6 * 3
    for path in tanh_rows:
        errors = np.asarray(sweep.errors[path])
        assert errors.shape == (len(STEPS),)
        chosen = sweep.chosen_errors[path]
        # Truncation dominates at r = 1e-1, round-off at r = 1e-12; the chosen step beats both
        # by orders of magnitude.
        assert chosen < errors[0] / 100 and chosen < errors[-1] / 100, path


def test_piecewise_linear_network_has_no_truncation_arm():
    # relu then linear with a quadratic loss: central differences are exact up to round-off
    # away from kinks, so the error only grows as the step shrinks.
    sweep = sweep_steps(CASES["lesson-example"].build(seed=42), label="lesson-example", seed=42)
    for path, errors in sweep.errors.items():
        assert errors[0] < 1e-12 < errors[-1], path


def test_plot_is_a_png_of_the_expected_size(tmp_path):
    sweep = sweep_steps(CASES["width-1"].build(seed=42), label="width-1", seed=42)
    path = plot_sweep(sweep, tmp_path / "sub" / plot_filename("width-1"))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(path) as image:
        assert image.size == (1200, 380)
    # Same data, same bytes (no timestamp): the committed PNGs are reproducible.
    again = plot_sweep(sweep, tmp_path / "again.png")
    assert again.read_bytes() == path.read_bytes()


def test_plot_filename_is_safe():
    assert plot_filename("several-outputs[loss=lesson]") == "several-outputs_loss-lesson.png"
    assert plot_filename("float32-vs-float64[float32]") == "float32-vs-float64_float32.png"
    assert plot_filename("../x y") == ".._x_y.png"  # no separator: stays inside plots/
