"""Batch grading: every submission in a folder, ``--jobs N`` at a time, with a progress bar,
a summary table per student and test, and a CSV.

A folder's submissions are its files with a supported extension (``.py``; ``.js``/``.mjs``
once the Node runner is installed) and its sub-folders holding exactly one such file (or a file
named ``--entry``), as Gradescope's "download all submissions" export lays them out. Each
student's seed comes from their file (and the course's secret), as in a single grading, unless
``--seed`` gives everyone the same one; it is recorded in the CSV.
"""

from __future__ import annotations

import csv
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .assignments import Assignment, load_assignment
from .grader import GradeReport, grade_submission, not_graded_report
from .limits import Limits
from .rubric import Rubric
from .runners import runner_for, supported_extensions

__all__ = ["BatchResult", "find_submissions", "grade_folder", "pick_submission", "write_csv"]


def pick_submission(folder: Path, entry: str | None = None) -> Path | None:
    """The one submission file in ``folder``: ``entry`` if given and present, else the only
    file with a supported extension; None if there is none or several."""
    if entry and (folder / entry).is_file():
        return folder / entry
    exts = set(supported_extensions())
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return found[0] if len(found) == 1 else None


def find_submissions(folder: Path, entry: str | None = None) -> tuple[dict[str, Path], list[str]]:
    """Student name -> submission file, plus warnings for folders that hold none or several."""
    exts = set(supported_extensions())
    subs: dict[str, Path] = {}
    warnings: list[str] = []
    for item in sorted(folder.iterdir()):
        chosen: Path | None
        if item.name.startswith("."):
            continue
        if item.is_file() and item.suffix.lower() in exts:
            chosen, name = item, item.stem
        elif item.is_dir():
            chosen, name = pick_submission(item, entry), item.name
            if chosen is None:
                warnings.append(f"{item.name}: no single submission file "
                                f"({', '.join(sorted(exts))}) found; skipped")
                continue
        else:
            continue
        if name in subs:  # alice.py next to alice.js or a folder alice/: grade both
            warnings.append(f"{item.name}: another submission is also named {name!r}; "
                            f"this one is graded as {item.name!r}")
            name = item.name
        subs[name] = chosen
    return subs, warnings


@dataclass
class BatchResult:
    """Every student's report (in folder order), the run's warnings, and its seed: one
    ``--seed`` for everyone, or None when each student's seed came from their file."""

    seed: int | None
    reports: dict[str, GradeReport]
    warnings: list[str]
    wall_s: float

    @property
    def not_graded(self) -> list[str]:
        """Students the grader could not grade (e.g. a language it cannot run here)."""
        return [name for name, rep in self.reports.items() if not rep.graded]


def grade_folder(folder: str | Path, *, jobs: int = 2, seed: int | None = None,
                 secret: bytes = b"", rubric: Rubric | None = None, limits: Limits = Limits(),
                 sandbox: str | None = None, entry: str | None = None,
                 progress: bool = True, fd_check: bool = True,
                 assignment: Assignment | str | None = None) -> BatchResult:
    """Grade every submission in ``folder`` against ``assignment`` (default ``mlp``), ``jobs``
    at a time. Each student gets the grade a single run would give them (same seed derivation,
    same feedback). A language this machine cannot run is reported once, in ``warnings``, and
    its students are not graded (never 0)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    spec = load_assignment(assignment)
    subs, warnings = find_submissions(folder, entry)
    rubric = rubric or Rubric.of(spec)
    start = time.monotonic()
    reports: dict[str, GradeReport] = {}
    runnable: dict[str, Path] = {}
    unavailable: dict[str, tuple[str, list[str]]] = {}
    for name, path in subs.items():
        runner = runner_for(path)
        reason = runner.unavailable_reason()
        if reason is None:
            runnable[name] = path
        else:
            unavailable.setdefault(runner.name, (reason, []))[1].append(name)
    for language, (reason, names) in unavailable.items():
        warnings.append(f"CANNOT GRADE {len(names)} {language} submission(s) on this machine: "
                        f"{reason}. They are marked NOT GRADED (no score): "
                        f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
        for name in names:
            reports[name] = grade_submission(subs[name], seed=seed, secret=secret, rubric=rubric,
                                             limits=limits, sandbox=sandbox, fd_check=False,
                                             assignment=spec)
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: silent when stderr is not a terminal (CI logs, pipes), as in the report.
        bar = tqdm(total=len(runnable), unit="submission", desc="grading", leave=True,
                   disable=None)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_submission, path, seed=seed, secret=secret, rubric=rubric,
                               limits=limits, sandbox=sandbox, fd_check=fd_check,
                               assignment=spec): name
                   for name, path in runnable.items()}
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                reports[name] = fut.result()
            except Exception as exc:  # a grader bug must not lose the other students' grades
                warnings.append(f"{name}: internal grader error ({type(exc).__name__}: {exc})")
                reports[name] = not_graded_report(subs[name], seed or 0, str(sandbox or "auto"),
                                                  "unknown", rubric,
                                                  f"internal grader error: {exc}",
                                                  time.monotonic(), spec)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    ordered = {name: reports[name] for name in subs}
    return BatchResult(seed, ordered, warnings, time.monotonic() - start)


def write_csv(result: BatchResult, path: str | Path) -> None:
    """One row per student: total, max, then every test's score, the diagnoses, the seed and
    the sandbox. A student who could not be graded has ``not graded`` as total and no scores."""
    reports = list(result.reports.values())
    test_ids = [t.id for t in reports[0].tests] if reports else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "submission", "score", "max_score", *test_ids, "diagnoses",
                    "seed", "sandbox"])
        for name, rep in result.reports.items():
            by_id = {t.id: t for t in rep.tests}
            diags = sorted({d for t in rep.tests for d in t.diagnoses})
            scores = [f"{by_id[i].score:g}" if i in by_id and rep.graded else "" for i in test_ids]
            w.writerow([name, rep.submission, f"{rep.score:g}" if rep.graded else "not graded",
                        f"{rep.max_score:g}", *scores, ";".join(diags), rep.seed, rep.sandbox])
