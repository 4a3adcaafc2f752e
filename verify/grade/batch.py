"""Batch grading: every submission in a folder, ``--jobs N`` at a time, with a progress bar,
a summary table per student and test, and a CSV.

A folder's submissions are its files with a supported extension (``.py``; ``.js``/``.mjs``
once the Node runner is installed) and its sub-folders holding exactly one such file (or a file
named ``--entry``), as Gradescope's "download all submissions" export lays them out. Each
student's seed comes from their file (and the course's secret), as in a single grading, unless
``--seed`` gives everyone the same one; it is recorded in the CSV.

Whatever one student's folder holds, the others are graded: a folder too deep or too large to
search (:data:`MAX_DEPTH`, :data:`MAX_ENTRIES`), unreadable, or a link, gives that student a
NOT GRADED report saying why; names that are not UTF-8 are shown escaped (``\\udcff``).
"""

from __future__ import annotations

import csv
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .assignments import Assignment, load_assignment
from .grader import GradeReport, grade_submission, not_graded_report
from .limits import Limits
from .rubric import Rubric
from .runners import runner_for, supported_extensions
from .sandbox import check_isolation, resolve_mode
from .text import safe_text

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "BatchResult", "FolderProblem", "Found",
           "find_submissions", "grade_folder", "pick_submission", "results_name", "write_csv"]

MAX_DEPTH = 16
"""Folder levels searched below a student's folder for their file."""
MAX_ENTRIES = 10_000
"""Files and folders looked at in one student's folder before giving up."""


class FolderProblem(Exception):
    """A student's folder that cannot be searched (too deep, too large, unreadable): the
    message says why, for that student's NOT GRADED report."""


def _candidates(folder: Path, exts: set[str]) -> list[Path]:
    """Files (or links: the grader refuses those with a clear message) with a supported
    extension below ``folder``, hidden ones left out; without recursion and without following
    links, so no layout can exhaust the stack. FolderProblem past the limits."""
    found: list[Path] = []
    stack: list[tuple[Path, int]] = [(folder, 0)]
    seen = 0
    while stack:
        current, depth = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            raise FolderProblem(f"{safe_text(current.relative_to(folder.parent))} cannot be "
                                f"read ({exc.strerror})") from None
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                raise FolderProblem(f"{safe_text(folder.name)} holds more than {MAX_ENTRIES} "
                                    f"files and folders; submit only your code")
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False) or entry.is_symlink()
            except OSError:
                continue
            if is_dir:
                if depth + 1 > MAX_DEPTH:
                    raise FolderProblem(f"{safe_text(folder.name)} is nested more than "
                                        f"{MAX_DEPTH} folders deep; submit only your code")
                stack.append((Path(entry.path), depth + 1))
            elif is_file and os.path.splitext(entry.name)[1].lower() in exts:
                found.append(Path(entry.path))
    return sorted(found)


def pick_submission(folder: Path, entry: str | None = None) -> Path | None:
    """The one submission file in ``folder``: ``entry`` if given and present, else the only
    file with a supported extension; None if there is none or several. FolderProblem if the
    folder cannot be searched (:data:`MAX_DEPTH`, :data:`MAX_ENTRIES`, unreadable)."""
    if entry and (folder / entry).is_file():
        return folder / entry
    found = _candidates(folder, set(supported_extensions()))
    return found[0] if len(found) == 1 else None


@dataclass
class Found:
    """What a batch folder holds: student name -> submission file; students whose folder
    could not be searched -> why; warnings (folders skipped, names shared)."""

    submissions: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def find_submissions(folder: Path, entry: str | None = None) -> Found:
    """Every student's submission in ``folder`` (see the module's docstring)."""
    exts = set(supported_extensions())
    found = Found()
    for item in sorted(Path(e.path) for e in os.scandir(folder)):
        chosen: Path | None
        if item.name.startswith("."):
            continue
        try:
            mode = os.lstat(item).st_mode
        except OSError:
            continue
        if (stat.S_ISREG(mode) or stat.S_ISLNK(mode)) and item.suffix.lower() in exts:
            chosen, name = item, item.stem
        elif stat.S_ISDIR(mode):
            name = item.name
            try:
                chosen = pick_submission(item, entry)
            except FolderProblem as exc:
                found.problems[name] = str(exc)
                continue
            if chosen is None:
                found.warnings.append(f"{safe_text(item.name)}: no single submission file "
                                      f"({', '.join(sorted(exts))}) found; skipped")
                continue
        else:
            continue
        if name in found.submissions:  # alice.py next to alice.js or a folder alice/: both
            found.warnings.append(f"{safe_text(item.name)}: another submission is also named "
                                  f"{safe_text(name)!r}; this one is graded as "
                                  f"{safe_text(item.name)!r}")
            name = item.name
        found.submissions[name] = chosen
    return found


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
                 assignment: Assignment | str | None = None,
                 unsafe_sandbox: bool = False) -> BatchResult:
    """Grade every submission in ``folder`` against ``assignment`` (default ``mlp``), ``jobs``
    at a time. Each student gets the grade a single run would give them (same seed derivation,
    same feedback). A language this machine cannot run is reported once, in ``warnings``, and
    its students are not graded (never 0); so is a student whose folder cannot be searched.
    ValueError if ``folder`` is not a folder; :class:`~verify.grade.sandbox.SandboxRefused` if
    the sandbox cannot keep students apart here (unless ``unsafe_sandbox``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    # Students graded side by side: refuse a sandbox that cannot keep them apart.
    check_isolation(resolve_mode(sandbox), batch=True, unsafe=unsafe_sandbox)
    spec = load_assignment(assignment)
    found = find_submissions(folder, entry)
    subs, warnings = dict(found.submissions), found.warnings
    rubric = rubric or Rubric.of(spec)
    start = time.monotonic()
    reports: dict[str, GradeReport] = {}
    for name, why in found.problems.items():
        subs[name] = folder / name
        warnings.append(f"{safe_text(name)}: NOT GRADED: {why}")
        reports[name] = not_graded_report(folder / name, seed or 0, str(sandbox or "auto"),
                                          "unknown", rubric, why, time.monotonic())
    runnable: dict[str, Path] = {}
    unavailable: dict[str, tuple[str, list[str]]] = {}
    for name, path in subs.items():
        if name in reports:
            continue
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
                                             assignment=spec, unsafe_sandbox=unsafe_sandbox)
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: silent when stderr is not a terminal (CI logs, pipes), as in the report.
        bar = tqdm(total=len(runnable), unit="submission", desc="grading", leave=True,
                   disable=None)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_submission, path, seed=seed, secret=secret, rubric=rubric,
                               limits=limits, sandbox=sandbox, fd_check=fd_check,
                               assignment=spec, unsafe_sandbox=unsafe_sandbox): name
                   for name, path in runnable.items()}
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                reports[name] = fut.result()
            except Exception as exc:  # a grader bug must not lose the other students' grades
                warnings.append(f"{safe_text(name)}: internal grader error "
                                f"({type(exc).__name__}: {safe_text(exc)})")
                reports[name] = not_graded_report(subs[name], seed or 0, str(sandbox or "auto"),
                                                  "unknown", rubric,
                                                  f"internal grader error: {exc}",
                                                  time.monotonic(), spec)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    ordered = {name: reports[name] for name in sorted(subs)}
    return BatchResult(seed, ordered, warnings, time.monotonic() - start)


def results_name(name: str) -> str:
    """The file name of a student's results document in ``--results-dir``: the name made
    storable (names that are not UTF-8 escaped), never a path."""
    text = safe_text(name).replace("/", "_")
    return ("_" + text if text.startswith(".") or not text else text)[:200] + ".json"


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
            w.writerow([safe_text(name), rep.submission,
                        f"{rep.score:g}" if rep.graded else "not graded",
                        f"{rep.max_score:g}", *scores, ";".join(diags), rep.seed, rep.sandbox])
