"""The Python runner's entry: how to start ``python_runner.py`` on a ``.py`` submission.

The child is the grader's *base* interpreter started with ``-I -S -B`` (isolated: no
site-packages, no user site, no ``PYTHON*`` variables, no bytecode written), so the only
third-party package it can import is numpy, mounted on its own at ``<root>/pylib``: not the
grader, not ``reference_mlp``, not torch, whatever else the grader's environment holds.
"""

from __future__ import annotations

import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ..isolation import shared_library_dir
from . import RUNNER_DIR, Mount, Runner

if TYPE_CHECKING:
    from ..limits import Limits

__all__ = ["PythonRunner"]

_SYSTEM_PREFIXES = ("/usr", "/lib", "/lib64", "/bin")


class PythonRunner(Runner):
    name = "python"
    extensions = (".py",)
    memory_limit = "rlimit_as"
    streams = True

    @cached_property
    def interpreter(self) -> Path:
        """The real (base) interpreter: a venv's ``bin/python`` is only a symlink to it."""
        base = getattr(sys, "_base_executable", None) or sys.executable
        return Path(os.path.realpath(base))

    @cached_property
    def _numpy_dir(self) -> Path | None:
        import importlib.util

        spec = importlib.util.find_spec("numpy")
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0]).resolve()

    def unavailable_reason(self) -> str | None:
        if not self.interpreter.exists():
            return f"the Python interpreter {self.interpreter} does not exist"
        if self._numpy_dir is None:
            return "numpy is not installed in the grader's environment"
        return None

    def mounts(self) -> list[Mount]:
        mounts = [Mount(RUNNER_DIR / "python_runner.py", "runner/python_runner.py")]
        prefix = Path(os.path.realpath(sys.base_prefix))
        if not str(prefix).startswith(_SYSTEM_PREFIXES) or prefix == Path("/"):
            mounts.append(Mount(prefix, str(prefix)))
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        site = prefix / "lib" / version / "site-packages"
        if site.is_dir():  # the base interpreter's own packages: not the child's business
            mounts.append(Mount(site, str(site), kind="tmpfs"))
        numpy_dir = self._numpy_dir
        if numpy_dir is not None:
            mounts.append(Mount(numpy_dir, "pylib/numpy"))
            libs = numpy_dir.parent / "numpy.libs"  # the wheel's bundled OpenBLAS, if any
            if libs.is_dir():
                mounts.append(Mount(libs, "pylib/numpy.libs"))
        return mounts

    def command(self, root: str, submission: str, limits: Limits) -> list[str]:
        # -u: what the student printed before a hang or crash is not lost in a buffer.
        return [str(self.interpreter), "-I", "-S", "-B", "-u",
                f"{root}/runner/python_runner.py", submission]

    def env(self, root: str, limits: Limits) -> dict[str, str]:
        env = {"VERIFY_PYLIB": f"{root}/pylib"}
        # A shared-libpython build (pyenv's) started from a copy or inside the sandbox cannot
        # reach the folder its RUNPATH names; the fallback points this at its copy instead.
        lib = shared_library_dir(os.path.realpath(sys.base_prefix))
        if lib is not None:
            env["LD_LIBRARY_PATH"] = str(lib)
        return env
