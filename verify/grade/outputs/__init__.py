"""Where grades go: one module per platform, picked by name (``--format``).

Each output module defines ``NAME``, ``results_dict(report) -> dict`` (the platform's results
document for a :class:`~verify.grade.scoring.GradeReport`) and ``error_results(message) ->
dict`` (a valid document when nothing could be graded). :func:`write_results` writes any of
them atomically, with every string made storable (:func:`~verify.grade.text.safe_json`).

Adding a platform: a module here and a line in :data:`OUTPUTS`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from ..text import safe_json
from . import gradescope, plain, prairielearn

__all__ = ["OUTPUTS", "output_for", "write_results"]

OUTPUTS: dict[str, ModuleType] = {m.NAME: m for m in (gradescope, prairielearn, plain)}
"""Every output format by name."""


def output_for(name: str) -> ModuleType:
    """The output module called ``name``; ValueError naming the known ones otherwise."""
    try:
        return OUTPUTS[name]
    except KeyError:
        raise ValueError(f"unknown output format {name!r}; expected one of "
                         f"{', '.join(sorted(OUTPUTS))}") from None


def write_results(data: dict[str, Any], path: str | Path) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a temp file in the same folder, fsync,
    rename): readers see the old file or the new one, never half of one. Every string is made
    storable on the way (``\\u0000`` and lone surrogates become visible escapes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(safe_json(data), indent=2, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
