"""What grading one submission may use: :class:`Limits`.

Kept apart from :mod:`.sandbox` so that runners (which read the limits to build their command
lines) and the sandbox (which enforces them) do not import each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """Limits for grading one submission. Seconds and bytes, except ``memory_mb`` (MiB).

    Time is budgeted at three levels, so that a submission that hangs everywhere is still
    graded well inside a platform's own job limit (PrairieLearn's default is 30 s):

    * ``wall_s``: the whole submission, every child process together (default 20 s). Tests
      not reached in that time are reported as not run, never silently dropped.
    * ``load_s``: loading the file (module-level code), per child (default 10 s).
    * ``task_s``: one task, i.e. one part of a test (default 2 s; correct code needs a few
      milliseconds). A task that runs past it is stopped and the child restarted for the rest.

    ``cpu_s``, ``memory_mb``, ``nproc`` and ``file_bytes`` bound each child process;
    ``output_bytes`` is how much printed output is kept per child (the rest is dropped, the
    submission is not stopped); ``result_bytes`` caps what a child may send back.
    ``disk_bytes`` and ``disk_files`` bound what one child may write in all (bytes on disk;
    files and folders), in its working directory and temporary folders: past either it is
    stopped. ``submission_bytes`` is the largest submission file graded.
    """

    wall_s: float = 20.0
    load_s: float = 10.0
    task_s: float = 2.0
    cpu_s: int = 10
    memory_mb: int = 1024
    output_bytes: int = 1 << 20
    file_bytes: int = 1 << 20
    result_bytes: int = 16 << 20
    nproc: int = 64
    disk_bytes: int = 64 << 20
    disk_files: int = 10_000
    submission_bytes: int = 4 << 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                    or not math.isfinite(value):
                raise ValueError(f"Limits.{f.name} must be a positive finite number, got {value!r}")

    def describe(self) -> str:
        return (f"{self.wall_s:g} s per submission, {self.load_s:g} s to load, {self.task_s:g} s "
                f"per task, CPU {self.cpu_s} s, memory {self.memory_mb} MiB, output "
                f"{self.output_bytes // 1024} KiB")
