"""The code stays clean: ruff's rules and mypy's types (pyproject.toml) hold on every file.

Both tools are in the ``test`` extra, pinned, so a new release cannot turn CI red on its own.
A missing tool fails here rather than skipping: a check that silently skips is no check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["ruff", "check", "."], ["mypy"]], ids=["ruff", "mypy"])
def test_the_tool_is_clean(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert "No module named" not in proc.stderr, (
        f"{argv[0]} is not installed: pip install -e '.[test]' (scripts/setup.sh does)")
    assert proc.returncode == 0, f"{' '.join(argv)} found problems:\n{proc.stdout[-6000:]}"
