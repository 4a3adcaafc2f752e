"""Rubric points for test expectations, read from the default rubric (never hard-coded)."""

from __future__ import annotations

from verify.grade.rubric import DEFAULT_POINTS

FORWARD = ("forward_linear", "forward_relu", "forward_sigmoid", "forward_tanh")
LOSSES = ("mse", "mse_derivative")


def points(*test_ids: str) -> float:
    """The default rubric's points for ``test_ids`` together."""
    return float(sum(DEFAULT_POINTS[t] for t in test_ids))


TOTAL = points(*DEFAULT_POINTS)
