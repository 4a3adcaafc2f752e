"""The drawn cases (verify/grade/cases.py): every seed draws, away from the relu kink."""

from __future__ import annotations

import numpy as np
import pytest

from verify.grade.cases import KINK_MARGIN, LayerCase, NetCase, draw_cases, forward_layers
from verify.grade.rubric import DEFAULT_POINTS

# Seeds that made the old drawing give up ("could not draw inputs away from the relu kink"):
# a relu unit fed by a width-1 layer sees nearly the same pre-activation for every input.
ONCE_FAILING = [909, 1308, 1428, 1503, 2512, 2860, 7431]


def _relu_margins(seed: int) -> list[float]:
    out = []
    for test in draw_cases(seed):
        for part in test.parts:
            case = part.case
            if isinstance(case, (LayerCase, NetCase)):
                layers = (case.layer,) if isinstance(case, LayerCase) else case.layers
                for x, _ in case.rounds:
                    for z, spec in zip(forward_layers(layers, x)[1], layers, strict=True):
                        if spec.activation == "relu":
                            out.append(float(np.min(np.abs(z))))
    return out


@pytest.mark.parametrize("seed", ONCE_FAILING, ids=lambda s: f"seed-{s}")
def test_seeds_that_once_crashed_the_grader_draw(seed: int) -> None:
    assert min(_relu_margins(seed)) >= KINK_MARGIN


@pytest.mark.corpus_wide
def test_every_one_of_20000_seeds_draws() -> None:
    """About 1 seed in 1,100 used to raise; each failing seed zeroed a student (or a batch)."""
    for seed in range(20_000):
        tests = draw_cases(seed)
        assert len(tests) == len(DEFAULT_POINTS)
