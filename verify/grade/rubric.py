"""The rubric: points per test (default sums to 100), overridable by a TOML or JSON file.

File format (TOML shown; JSON is the same structure)::

    [points]            # any subset of the test ids; others keep their default
    api = 5
    hidden_network = 0  # 0 drops a test from the grade (it is still run and reported)

    [visibility]        # Gradescope visibility per test id
    hidden_network = "after_due_date"

Tests whose visibility is ``after_due_date`` or ``hidden`` never show expected values.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_POINTS", "VISIBILITIES", "Rubric", "load_rubric"]

DEFAULT_POINTS: dict[str, float] = {
    "api": 4,
    "forward_linear": 3,
    "forward_relu": 3,
    "forward_sigmoid": 3,
    "forward_tanh": 3,
    "mse": 5,
    "mse_derivative": 7,
    "backward_linear": 8,
    "backward_relu": 8,
    "backward_sigmoid": 8,
    "backward_tanh": 8,
    "network_backward": 16,
    "multiple_rounds": 8,
    "edge_shapes": 8,
    "hidden_network": 8,
}
"""Default points per test id (sum: 100)."""

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
"""Gradescope's test visibilities."""

DEFAULT_VISIBILITY: dict[str, str] = {"hidden_network": "after_due_date"}


@dataclass(frozen=True)
class Rubric:
    points: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    visibility: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_VISIBILITY))
    source: str = "default"

    @property
    def total(self) -> float:
        return float(sum(self.points.values()))

    def visibility_of(self, test_id: str) -> str:
        return self.visibility.get(test_id, "visible")

    def hides_values(self, test_id: str) -> bool:
        return self.visibility_of(test_id) in ("hidden", "after_due_date")


def _toml_module(path: Path) -> Any:
    """``tomllib`` (Python >= 3.11), else the ``tomli`` backport it came from (the same API).

    Python 3.10 is supported (Gradescope's Ubuntu 22.04 image has it): pyproject.toml and the
    bundle's setup.sh install ``tomli`` there.
    """
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ValueError(f"rubric {path}: reading TOML needs Python >= 3.11 or the tomli "
                             f"package (this is Python {sys.version_info.major}."
                             f"{sys.version_info.minor}: pip install 'tomli>=1.1'), or give the "
                             f"rubric as .json") from None
    return tomllib


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"rubric {path}: cannot be read as UTF-8 text: {exc}") from None
    if path.suffix.lower() == ".toml":
        toml = _toml_module(path)
        try:
            return toml.loads(text)
        except toml.TOMLDecodeError as exc:
            raise ValueError(f"rubric {path}: invalid TOML: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"rubric {path}: invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"rubric {path}: expected a JSON object, got {type(data).__name__}")
        return data
    raise ValueError(f"rubric {path}: expected a .toml or .json file")


def load_rubric(path: str | Path | None = None) -> Rubric:
    """The default rubric, or the default overridden by the TOML/JSON file at ``path``."""
    if path is None:
        return Rubric()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"rubric file {path} " + ("is not a file" if path.exists() else "does not exist"))
    data = _parse(path)
    unknown_keys = set(data) - {"points", "visibility"}
    if unknown_keys:
        raise ValueError(f"rubric {path}: unknown section(s) {sorted(unknown_keys)}; "
                         f"expected 'points' and/or 'visibility'")
    valid = ", ".join(DEFAULT_POINTS)
    points = dict(DEFAULT_POINTS)
    for key, value in (data.get("points") or {}).items():
        if key not in DEFAULT_POINTS:
            raise ValueError(f"rubric {path}: unknown test id {key!r} in points; expected one of {valid}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"rubric {path}: points.{key} must be a number >= 0, got {value!r}")
        points[key] = float(value)
    visibility = dict(DEFAULT_VISIBILITY)
    for key, value in (data.get("visibility") or {}).items():
        if key not in DEFAULT_POINTS:
            raise ValueError(f"rubric {path}: unknown test id {key!r} in visibility; expected one of {valid}")
        if value not in VISIBILITIES:
            raise ValueError(f"rubric {path}: visibility.{key} must be one of {VISIBILITIES}, got {value!r}")
        visibility[key] = value
    if sum(points.values()) <= 0:
        raise ValueError(f"rubric {path}: the points sum to 0; at least one test must score")
    return Rubric(points, visibility, str(path))
