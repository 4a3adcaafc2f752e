"""``python -m verify grade bench``: how fast grading is, single and in batch.

Grades the README's example submission (:data:`contract.EXAMPLE_PYTHON`, full marks) once per
run for ``--single`` runs (median and max wall time, end to end through :func:`grade_submission`),
then a folder of ``--n`` copies with ``--jobs`` workers. Targets (issue 5): a correct submission
in <= 3 s; 100 submissions in <= 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from .batch import grade_folder
from .contract import EXAMPLE_PYTHON
from .grader import grade_submission
from .sandbox import resolve_mode

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m verify grade bench")
    p.add_argument("--n", type=int, default=100, help="submissions in the batch (default 100)")
    p.add_argument("--jobs", type=int, default=2, help="batch workers (default 2)")
    p.add_argument("--single", type=int, default=5, help="single-submission runs (default 5)")
    p.add_argument("--sandbox", default=None, choices=("auto", "bwrap", "rlimits"))
    args = p.parse_args(argv)
    mode = resolve_mode(args.sandbox)
    with tempfile.TemporaryDirectory(prefix="verify-grade-bench-") as tmp:
        folder = Path(tmp) / "subs"
        folder.mkdir()
        for i in range(max(1, args.n)):
            (folder / f"student{i:03d}.py").write_text(EXAMPLE_PYTHON)
        single = []
        for _ in range(max(1, args.single)):
            t = time.perf_counter()
            rep = grade_submission(folder / "student000.py", sandbox=mode)
            single.append(time.perf_counter() - t)
            if rep.score != rep.max_score:
                print(f"warning: the example scored {rep.score} / {rep.max_score}")
        t = time.perf_counter()
        result = grade_folder(folder, jobs=args.jobs, sandbox=mode, progress=False)
        batch = time.perf_counter() - t
    full = sum(r.score == r.max_score for r in result.reports.values())
    rows = [
        ["single submission (median)", f"{statistics.median(single):.2f} s", "<= 3 s"],
        ["single submission (max)", f"{max(single):.2f} s", "<= 3 s"],
        [f"batch of {len(result.reports)} (--jobs {args.jobs})", f"{batch:.1f} s", "<= 120 s (100, 2 cores)"],
        ["per submission in batch", f"{batch / max(1, len(result.reports)):.2f} s", ""],
    ]
    print(tabulate(rows, headers=["what", "wall time", "target"]))
    print(f"\nsandbox {mode}; {os.cpu_count()} CPUs; {full} / {len(result.reports)} full marks")
    return 0
