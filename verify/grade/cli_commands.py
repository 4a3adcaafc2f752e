"""``python -m verify grade rescore`` and ``... assignments``, and the batch table.

``rescore`` applies another rubric to stored results without running anything again;
``assignments`` lists assignments (built-in or from files) with their contract, tests and
points, or the test kinds an assignment file may use. Reached through :func:`verify.grade.cli.main`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from .assignments import Assignment, load_assignment
from .outputs import OUTPUTS
from .rubric import Rubric, load_rubric
from .scoring import GradeReport

if TYPE_CHECKING:
    from .batch import BatchResult


def _print_batch(result: BatchResult) -> None:
    """The batch's table: one row per student, every test's points and the diagnoses."""
    ids = [t.id for t in next(iter(result.reports.values())).tests]
    rows = [[name, f"{rep.score:g}" if rep.graded else "NOT GRADED",
             *[f"{t.score:g}" if rep.graded else "-" for t in rep.tests],
             ", ".join(sorted({d.split('@')[0] for t in rep.tests for d in t.diagnoses}))]
            for name, rep in result.reports.items()]
    print(tabulate(rows, headers=["student", "total", *ids, "diagnoses"], disable_numparse=True))


def _rescore(argv: list[str]) -> int:
    """``python -m verify grade rescore RESULTS_DIR [--rubric FILE]``: new points for stored
    results, without running any student code."""
    from .batch import BatchResult, write_csv
    from .records import ResultStore, report_from_json, rescore_report
    from .students import Person

    p = argparse.ArgumentParser(
        prog="python -m verify grade rescore",
        description="Re-weight the results a batch stored in RESULTS_DIR (--results-dir) with a "
                    "new rubric's points, without running student code: every test's score is "
                    "points x the fraction of its checks that passed, as a fresh run with the "
                    "rubric gives. Rewrites each student's results and record; --csv writes "
                    "the summary (also the way to collect the shards of a cluster run).")
    p.add_argument("results_dir", metavar="RESULTS_DIR")
    p.add_argument("--rubric", metavar="FILE",
                   help="the new points (.toml or .json; visibility may not change); default: "
                        "the rubric each result was graded with")
    p.add_argument("--assignment", metavar="NAME|FILE",
                   help="the assignment the rubric is for (default: the one recorded; needed "
                        "for an instructor's .toml assignment)")
    p.add_argument("--format", choices=sorted(OUTPUTS),
                   help="rewrite the results documents in this format (default: as stored)")
    p.add_argument("--csv", metavar="PATH", help="write the summary CSV here")
    p.add_argument("--quiet", "-q", action="store_true", help="no table")
    args = p.parse_args(argv)
    folder = Path(args.results_dir)
    records = [(path, r) for path, r in ResultStore(folder).records()]
    if not records:
        print(f"python -m verify grade rescore: no records in {folder / 'records'} (grade with "
              f"--results-dir {folder} first)", file=sys.stderr)
        return 2
    rescored: dict[str, tuple[dict[str, Any], GradeReport, Rubric]] = {}
    specs: dict[str, Assignment] = {}
    try:
        for path, record in records:
            try:
                report = report_from_json(record["report"])
                student = str(record["student"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: not a record this grader wrote ({exc})") from None
            name = args.assignment or report.assignment
            if name not in specs:
                specs[name] = load_assignment(name)
            if args.rubric:
                rubric = load_rubric(args.rubric, specs[name])
            else:
                stored = record.get("rubric") or {}
                rubric = Rubric(dict(stored.get("points") or {}),
                                dict(stored.get("visibility") or {}),
                                str(stored.get("source", "as graded")))
            rescored[student] = (record, rescore_report(report, rubric), rubric)
    except ValueError as exc:  # nothing is written unless every record can be rescored
        print(f"python -m verify grade rescore: {exc}", file=sys.stderr)
        return 2
    stores: dict[str, ResultStore] = {}
    reports: dict[str, GradeReport] = {}
    people: dict[str, list[Person]] = {}
    for student, (record, report, rubric) in rescored.items():
        fmt = args.format or str(record.get("output_format") or "gradescope")
        store = stores.setdefault(fmt, ResultStore(folder, fmt))
        store.save(student, report, base=str(record.get("base", "")), rubric=rubric,
                   file_digests=record.get("files") or [], people=record.get("people") or [])
        reports[student] = report
        people[student] = [Person(**{k: str(v) for k, v in p.items()
                                     if k in ("name", "sid", "email")})
                           for p in record.get("people") or [] if isinstance(p, dict)]
    result = BatchResult(None, reports, [], 0.0,
                         people={k: v for k, v in people.items() if v})
    if args.csv:
        write_csv(result, args.csv)
    if not args.quiet:
        _print_batch(result)
        scores = [r.score for r in reports.values() if r.graded]
        mean = f"mean {sum(scores) / len(scores):.1f}" if scores else "none graded"
        print(f"\n{len(reports)} results rescored in {folder} (no code run); {mean}")
    return 0


def _assignments(argv: list[str]) -> int:
    """``python -m verify grade assignments [NAME|FILE ...] [--kinds]``."""
    from .assignments import BUILTINS
    from .kinds import KINDS, REQUIRED

    p = argparse.ArgumentParser(
        prog="python -m verify grade assignments",
        description="List assignments (the built-ins, or the ones named) with their contract, "
                    "tests and points; --kinds lists the test kinds an assignment file may use.")
    p.add_argument("names", nargs="*", metavar="NAME|FILE",
                   help="built-in names (losses, lesson3, ...) or .toml files (default: every "
                        "built-in)")
    p.add_argument("--kinds", action="store_true",
                   help="list the test kinds and their parameters instead")
    args = p.parse_args(argv)
    if args.kinds:
        for kind in KINDS.values():
            print(f"{kind.name}: {kind.summary}")
            print(f"    op {kind.op}; needs {', '.join(kind.roles) or 'nothing'}")
            for param in kind.params:
                default = ("required" if param.default is REQUIRED
                           else f"default {_toml(param.default)}")
                choices = f"; one of {', '.join(param.choices)}" if param.choices else ""
                print(f"    {param.name} ({param.type}, {default}{choices}): {param.doc}")
            print()
        return 0
    try:
        chosen = [load_assignment(n) for n in args.names] or list(BUILTINS.values())
    except ValueError as exc:
        print(f"python -m verify grade assignments: {exc}", file=sys.stderr)
        return 2
    print("\n\n".join(a.describe() for a in chosen))
    return 0


def _toml(value: object) -> str:
    """``[3, 4]``, ``"relu"``, ``0.1``: a value as an assignment file writes it."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)
