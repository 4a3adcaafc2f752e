"""Runners: one per submission language, picked by file extension.

A runner says how to start the child that loads a submission and answers the JSON protocol of
``verify/grade/PROTOCOL.md`` (which documents this interface for runner authors).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..limits import Limits

__all__ = ["RUNNERS", "Mount", "Runner", "runner_for", "supported_extensions"]

RUNNER_DIR = Path(__file__).resolve().parent
"""This folder: the runners' own files (mounted read-only into the sandbox)."""


@dataclass(frozen=True)
class Mount:
    """A host path the child may read. Relative ``target``: under the sandbox root; absolute:
    the same path as ``source``. ``kind="tmpfs"`` hides ``target`` (bubblewrap only)."""

    source: Path
    target: str
    kind: Literal["ro", "tmpfs"] = "ro"


class Runner(abc.ABC):
    """How to run one language's submissions (see PROTOCOL.md, "Runner interface")."""

    name: str = ""
    """The language id (``python``, ``js``): what reports, ``--language`` and the contract use."""
    extensions: tuple[str, ...] = ()
    memory_limit: Literal["rlimit_as", "self"] = "rlimit_as"
    isolates_tasks: bool = False
    """True if one task's hang or crash costs that task only (the runner times each task and
    restarts after a crash, answering ``NotRun`` for tasks it had no time for): the grader then
    sends all of a submission's tasks to one child instead of one child per group."""

    streams: bool = False
    """True if the runner answers a request with ``"stream": true`` line by line (PROTOCOL.md):
    the grader then times every task itself and restarts a fresh child after one that hangs
    or crashes, so one bad task costs that task only."""

    def unavailable_reason(self) -> str | None:
        """Why this runner cannot run here (e.g. its interpreter is missing), or None."""
        return None

    @abc.abstractmethod
    def mounts(self) -> list[Mount]:
        """Host paths the child needs, read-only; the runner's own files at ``runner``."""

    @abc.abstractmethod
    def command(self, root: str, submission: str, limits: Limits) -> list[str]:
        """The child's argv, with paths as seen inside the sandbox."""

    def env(self, root: str, limits: Limits) -> dict[str, str]:
        """Extra environment variables for the child (the sandbox starts from an empty one)."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {'/'.join(self.extensions)}>"


def _build_registry() -> dict[str, Runner]:
    from .python import PythonRunner

    runners: list[Runner] = [PythonRunner()]
    try:  # the Node runner lives in its own module (issue 6); absent until it lands
        from .node import NodeRunner  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        runners.append(NodeRunner())
    return {ext: runner for runner in runners for ext in runner.extensions}


RUNNERS: dict[str, Runner] = _build_registry()
"""Every runner by file extension (lower case, with the dot)."""


def supported_extensions() -> list[str]:
    return sorted(RUNNERS)


def runner_for(path: str | Path) -> Runner:
    """The runner for ``path``'s extension; ValueError naming the supported ones otherwise."""
    suffix = Path(path).suffix.lower()
    try:
        return RUNNERS[suffix]
    except KeyError:
        raise ValueError(
            f"no runner for {str(path)!r} (extension {suffix or 'none'!r}); "
            f"expected one of {', '.join(supported_extensions())}"
        ) from None
