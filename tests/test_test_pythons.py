"""scripts/test-pythons.sh: the grader's tests on the oldest declared Python and the newest one.

CI runs it as part of the README's test command; a Python it cannot find is an error, never a
skip. Here only the look-up is exercised (``--which``), with stand-in interpreters.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "test-pythons.sh"


def _which(tmp_path: Path, pythons: str | None = None,
           **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VERIFY_PYTHONS"}
    env.update(env_vars)
    if pythons is not None:
        env["VERIFY_PYTHONS"] = pythons
    return subprocess.run(["bash", str(SCRIPT), "--which"], env=env, capture_output=True, text=True,
                          timeout=60)


def _fake_python(path: Path, version: str | None) -> Path:
    """A 'python' answering the script's version question with ``version``; None: one that fails
    (as a pyenv shim of a version that is not selected does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = (f'echo "{version}"' if version
            else 'echo "pyenv: python: command not found" >&2; exit 127')
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_the_readme_test_command_runs_it_with_the_default_pythons() -> None:
    block = re.search(r"^```sh\n(.*?)^```$", (ROOT / "README.md").read_text(), re.S | re.M)
    assert block is not None
    commands = block.group(1).splitlines()
    assert len(commands) == 2 and "bash scripts/test-pythons.sh" in commands[1]
    assert "VERIFY_PYTHONS" not in commands[1]


def test_the_default_pythons_are_the_oldest_declared_and_3_13(tmp_path: Path) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    floor = re.search(r'^requires-python = ">=(\d+\.\d+)"', pyproject, re.M)
    assert floor is not None and floor.group(1) == "3.10"
    fake = tmp_path / "bin"
    root = tmp_path / "pyenv"
    _fake_python(root / "versions" / "3.10.2" / "bin" / "python3.10", "3.10")
    _fake_python(root / "versions" / "3.10.13" / "bin" / "python3.10", "3.10")  # newest patch first
    _fake_python(fake / "python3.13", None)  # a shim that does not run this version...
    _fake_python(tmp_path / "other" / "python3.13", "3.13")  # ...and one that does, later on PATH
    path = f"{fake}:{tmp_path / 'other'}:/usr/bin:/bin"
    result = _which(tmp_path, PYENV_ROOT=str(root), PATH=path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"3.10 {root}/versions/3.10.13/bin/python3.10",
        f"3.13 {tmp_path}/other/python3.13",
    ]


def test_a_missing_python_fails_loudly_by_name(tmp_path: Path) -> None:
    empty = tmp_path / "pyenv"
    (empty / "versions").mkdir(parents=True)
    fake = tmp_path / "bin"
    _fake_python(fake / "python3.10", None)  # a pyenv shim for a version that is not installed
    _fake_python(fake / "python3.13", "3.13")
    result = _which(tmp_path, PYENV_ROOT=str(empty), PATH=f"{fake}:/usr/bin:/bin")
    assert result.returncode != 0 and result.stdout == ""
    assert "MISSING: Python 3.10" in result.stderr and "MISSING: Python 3.13" not in result.stderr
    assert "cannot test the grader on every Python it supports" in result.stderr


def test_verify_pythons_takes_versions_and_paths(tmp_path: Path) -> None:
    result = _which(tmp_path, f"{sys.executable} 3.99 /nonexistent/python3")
    assert result.returncode != 0
    assert "MISSING: Python 3.99" in result.stderr
    assert "MISSING: /nonexistent/python3 (does not run)" in result.stderr
    result = _which(tmp_path, sys.executable)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{sys.version_info.major}.{sys.version_info.minor} {sys.executable}\n"
    result = _which(tmp_path, "three")
    assert result.returncode != 0 and "neither a version like 3.10 nor a path" in result.stderr


def test_the_other_pythons_leave_out_only_the_corpus_wide_figures() -> None:
    """The default run on the other Pythons drops the corpus_wide tests (minutes of the grader's
    own numerics over the whole corpus) but keeps the golden lesson-4 scores and diagnoses,
    which check those numerics with that Python's numpy."""
    default = re.search(r"else args=\((.*)\); fi", SCRIPT.read_text())
    assert default is not None and '-m "not corpus_wide"' in default.group(1)
    files = ["tests/test_grade_assignments.py", "tests/test_grade_explanations.py",
             "tests/test_grade_cases.py"]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "not corpus_wide", *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = collected.stdout
    assert "test_lesson4_scores_are_what_they_were_before_assignments" in ids
    assert "test_the_engine_names_each_kind_only_on_its_own_bug" in ids  # no corpus needed
    # What depends on the Python the child runs: tested on every Python, on its own files.
    for name in ("test_overflow_loses_points_and_names_the_stable_form",
                 "test_gradients_accumulated_over_rounds_are_state",
                 "test_state_kept_by_the_forward_is_blamed_on_the_forward",
                 "test_state_no_number_explains_is_found_by_a_fresh_object"):
        assert name in ids, name
    assert "test_figures_every_caught_bug_explained_none_misleading" not in ids
    assert "test_every_one_of_20000_seeds_draws" not in ids
