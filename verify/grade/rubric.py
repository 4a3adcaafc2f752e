"""The rubric: points and visibility per test, an assignment's defaults (:mod:`.assignments`;
every built-in sums to 100) overridable by a TOML or JSON file.

File format (TOML shown; JSON is the same structure)::

    [points]            # any subset of the test ids; others keep their default
    api = 5
    hidden_network = 0  # 0 drops a test from the grade (it is still run and reported)

    [visibility]        # Gradescope visibility per test id
    hidden_network = "after_due_date"

Tests whose visibility is not ``visible`` never show expected values, and nothing students see
before the due date (the top-level output, other tests, printed output) reveals how they went.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tomlfile
from .assignments import BUILTINS, DEFAULT_ASSIGNMENT, VISIBILITIES, Assignment, load_assignment

__all__ = ["DEFAULT_POINTS", "VISIBILITIES", "Rubric", "load_rubric"]

DEFAULT_POINTS: dict[str, float] = BUILTINS[DEFAULT_ASSIGNMENT].points
"""The default assignment's (``mlp``, lesson 4) points per test id (sum: 100). Every
assignment's own are :attr:`Assignment.points`."""

DEFAULT_VISIBILITY: dict[str, str] = BUILTINS[DEFAULT_ASSIGNMENT].visibility


@dataclass(frozen=True)
class Rubric:
    points: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    visibility: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_VISIBILITY))
    source: str = "default"

    @classmethod
    def of(cls, assignment: Assignment) -> Rubric:
        """The default rubric of ``assignment``."""
        return cls(assignment.points, assignment.visibility, "default")

    @property
    def total(self) -> float:
        return float(sum(self.points.values()))

    def visibility_of(self, test_id: str) -> str:
        return self.visibility.get(test_id, "visible")

    def hides_values(self, test_id: str) -> bool:
        """True for a test students do not see before the due date (or ever): its feedback
        never shows values, and nothing visible may reveal how it went."""
        return self.visibility_of(test_id) != "visible"


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"rubric {path}: cannot be read as UTF-8 text: {exc}") from None
    if path.suffix.lower() == ".toml":
        try:
            return tomlfile.loads(text, f"rubric {path}")
        except ValueError as exc:
            if "needs Python" in str(exc):
                raise ValueError(f"{exc}, or give the rubric as .json") from None
            raise
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"rubric {path}: invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"rubric {path}: expected a JSON object, got {type(data).__name__}")
        return data
    raise ValueError(f"rubric {path}: expected a .toml or .json file")


def load_rubric(path: str | Path | None = None,
                assignment: Assignment | str | None = None) -> Rubric:
    """The default rubric of ``assignment`` (default: ``mlp``), or that default overridden by the
    TOML/JSON file at ``path``, whose test ids must be the assignment's (ValueError otherwise)."""
    spec = load_assignment(assignment)
    if path is None:
        return Rubric.of(spec)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"rubric file {path} "
                         + ("is not a file" if path.exists() else "does not exist"))
    data = _parse(path)
    unknown_keys = set(data) - {"points", "visibility"}
    if unknown_keys:
        raise ValueError(f"rubric {path}: unknown section(s) {sorted(unknown_keys)}; "
                         f"expected 'points' and/or 'visibility'")
    defaults = spec.points
    valid = ", ".join(defaults)
    points = dict(defaults)
    for key, value in (data.get("points") or {}).items():
        if key not in defaults:
            raise ValueError(f"rubric {path}: unknown test id {key!r} in points; expected one "
                             f"of {valid}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"rubric {path}: points.{key} must be a number >= 0, got {value!r}")
        points[key] = float(value)
    visibility = dict(spec.visibility)
    for key, value in (data.get("visibility") or {}).items():
        if key not in defaults:
            raise ValueError(f"rubric {path}: unknown test id {key!r} in visibility; expected "
                             f"one of {valid}")
        if value not in VISIBILITIES:
            raise ValueError(f"rubric {path}: visibility.{key} must be one of {VISIBILITIES}, "
                             f"got {value!r}")
        visibility[key] = value
    if sum(points.values()) <= 0:
        raise ValueError(f"rubric {path}: the points sum to 0; at least one test must score")
    return Rubric(points, visibility, str(path))
