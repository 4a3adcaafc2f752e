"""``python -m verify grade bench``: how fast grading is, single and in batch.

Grades the assignment's example submission (``--assignment``, default ``mlp``: with
``--language python`` :data:`contract.EXAMPLE_PYTHON`, with ``--language js``
``tests/submissions/js/readme_example.js``, the README's math.js example; for another built-in,
the first ``correct_*`` file of ``tests/submissions/<assignment>/<language>/``; all get full
marks) once per run for ``--single`` runs (median and max wall time, end to end through
:func:`grade_submission`), then a folder of ``--n`` copies with ``--jobs`` workers, then (unless
``--no-worst-case``; lesson 4 only) the worst case: a submission that hangs in every function,
with the default limits. Targets: a correct submission in <= 3 s; 100 submissions in <= 2
minutes on 2 cores; the worst case in <= 25 s, so that a platform's 30 s job limit (PrairieLearn's
default) never strikes first.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from .assignments import builtin
from .batch import grade_folder
from .contract import EXAMPLE_PYTHON
from .grader import grade_submission
from .limits import Limits
from .runners import runner_for
from .sandbox import resolve_mode

__all__ = ["EXAMPLE_JS_PATH", "main"]

_TESTS = Path(__file__).resolve().parents[2] / "tests" / "submissions"
EXAMPLE_JS_PATH = _TESTS / "js" / "readme_example.js"
"""The README's math.js example (full marks), kept with the JS test corpus."""
WORST_CASE = {"python": _TESTS / "python" / "hostile_hang_everywhere.py",
              "js": _TESTS / "js" / "hostile_hang_everywhere.js"}
"""Submissions that loop forever in every function (the worst case for the time limits)."""


def _example(language: str, assignment: str = "mlp") -> tuple[str, str]:
    """(source, file extension) of the example submission; ValueError if it cannot be graded."""
    if assignment != "mlp":
        folder = _TESTS / assignment / language
        found = sorted(folder.glob("correct_*.py" if language == "python" else "correct_*.js"))
        if not found:
            raise ValueError(f"no example for {assignment} in {folder} (the examples ship with "
                             f"the repository's tests, not with the package)")
        if language == "js" and (reason := runner_for(found[0]).unavailable_reason()):
            raise ValueError(f"cannot benchmark JavaScript grading: {reason}")
        return found[0].read_text(), found[0].suffix
    if language == "python":
        return EXAMPLE_PYTHON, ".py"
    if not EXAMPLE_JS_PATH.is_file():
        raise ValueError(f"the JavaScript example {EXAMPLE_JS_PATH} is missing (it ships with the "
                         f"repository's tests, not with the package)")
    reason = runner_for(EXAMPLE_JS_PATH).unavailable_reason()
    if reason is not None:
        raise ValueError(f"cannot benchmark JavaScript grading: {reason}")
    return EXAMPLE_JS_PATH.read_text(), ".js"


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its reaped children (sandboxed graders)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m verify grade bench", description="How fast grading is.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python -m verify grade bench                    # docs/performance.md's table\n"
               "  python -m verify grade bench --language js --sandbox rlimits\n"
               "  python -m verify grade bench --n 4 --single 1 --no-worst-case   # a smoke run\n\n"
               "exit status: 0 every copy of the example got full marks; 1 otherwise;\n"
               "2 the example cannot be graded here (e.g. no Node.js for --language js).")
    p.add_argument("--n", type=int, default=100, help="submissions in the batch (default 100)")
    p.add_argument("--jobs", type=int, default=2, help="batch workers (default 2)")
    p.add_argument("--single", type=int, default=5, help="single-submission runs (default 5)")
    p.add_argument("--sandbox", default=None, choices=("auto", "bwrap", "rlimits"))
    p.add_argument("--language", default="python", choices=("python", "js"),
                   help="grade the README's Python example or its math.js example (default python)")
    p.add_argument("--assignment", default="mlp",
                   help="a built-in assignment (default mlp): its correct example is graded")
    p.add_argument("--no-worst-case", action="store_true",
                   help="skip the worst case (a submission that hangs everywhere: ~20 s)")
    args = p.parse_args(argv)
    if args.n < 1 or args.jobs < 1 or args.single < 1:
        p.error("--n, --jobs and --single must be at least 1")
    try:
        assignment = builtin(args.assignment).name
        source, ext = _example(args.language, assignment)
    except ValueError as exc:
        print(f"python -m verify grade bench: {exc}", file=sys.stderr)
        return 2
    mode = resolve_mode(args.sandbox)
    with tempfile.TemporaryDirectory(prefix="verify-grade-bench-") as tmp:
        folder = Path(tmp) / "subs"
        folder.mkdir()
        for i in range(args.n):
            (folder / f"student{i:03d}{ext}").write_text(source)
        single = []
        for _ in range(args.single):
            t = time.perf_counter()
            rep = grade_submission(folder / f"student000{ext}", sandbox=mode,
                                   assignment=assignment)
            single.append(time.perf_counter() - t)
            if rep.score != rep.max_score:
                print(f"warning: the example scored {rep.score} / {rep.max_score}")
        t, cpu = time.perf_counter(), _cpu_s()
        result = grade_folder(folder, jobs=args.jobs, sandbox=mode, progress=False,
                              assignment=assignment)
        batch, cpu = time.perf_counter() - t, _cpu_s() - cpu
    worst = None
    if not args.no_worst_case and assignment == "mlp" and WORST_CASE[args.language].is_file():
        t = time.perf_counter()
        grade_submission(WORST_CASE[args.language], sandbox=mode)
        worst = time.perf_counter() - t
    full = sum(r.score == r.max_score for r in result.reports.values())
    rows = [
        ["single submission (median)", f"{statistics.median(single):.2f} s", "<= 3 s"],
        ["single submission (max)", f"{max(single):.2f} s", "<= 3 s"],
        [f"batch of {len(result.reports)} (--jobs {args.jobs})", f"{batch:.1f} s",
         "<= 120 s (100, 2 cores)"],
        ["per submission in batch", f"{batch / max(1, len(result.reports)):.2f} s", ""],
        ["CPU per submission in batch", f"{cpu / max(1, len(result.reports)):.2f} s",
         "(grader + children, user + system)"],
    ]
    if worst is not None:
        rows.append(["worst case: hangs in every function", f"{worst:.1f} s",
                     f"<= 25 s (limit {Limits().wall_s:g} s)"])
    print(tabulate(rows, headers=["what", "wall time", "target"]))
    print(f"\n{args.language} example of {assignment}; sandbox {mode}; {os.cpu_count()} CPUs; "
          f"{full} / {len(result.reports)} full marks")
    return 0 if full == len(result.reports) else 1
