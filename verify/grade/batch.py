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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .assignments import Assignment, load_assignment
from .grader import GradeReport, grade_submission, not_graded_report
from .limits import Limits
from .records import ResultStore, grading_base
from .rubric import Rubric
from .runners import supported_extensions
from .sandbox import check_isolation, resolve_mode
from .students import Person, in_shard, student_names
from .submission import (
    Submission,
    candidate_extensions,
    find_submission,
    helpers_beside,
    runner_of,
)
from .text import safe_text

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "BatchResult", "FolderProblem", "Found",
           "find_submissions", "grade_folder", "pick_submission", "write_csv"]

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


def find_submissions(folder: Path, entry: str | None = None,
                     assignment: Assignment | str | None = None) -> Found:
    """Every student's submission in ``folder`` (see the module's docstring): a student's
    folder gives its entry file (:func:`.submission.find_submission`: ``entry``, the only one,
    or the one defining the most of ``assignment``'s names); a folder holding none, or several
    candidates none of which defines more of them than the others, is skipped with a warning."""
    exts = set(candidate_extensions())
    contract = load_assignment(assignment).contract
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
                _candidates(item, exts)  # FolderProblem: too deep, too large, unreadable
            except FolderProblem as exc:
                found.problems[name] = str(exc)
                continue
            sub = find_submission(item, entry, contract)
            if isinstance(sub, str):
                found.warnings.append(f"{safe_text(item.name)}: {safe_text(sub)}; skipped")
                continue
            chosen = sub.entry
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
    ``--seed`` for everyone, or None when each student's seed came from their file.
    ``resumed``: students whose stored result was kept (``--resume``); ``people``: each
    student's submitters where Gradescope's export names them; ``shard``: ``(K, N)`` or None."""

    seed: int | None
    reports: dict[str, GradeReport]
    warnings: list[str]
    wall_s: float
    resumed: list[str] = field(default_factory=list)
    people: dict[str, list[Person]] = field(default_factory=dict)
    shard: tuple[int, int] | None = None

    @property
    def not_graded(self) -> list[str]:
        """Students the grader could not grade (e.g. a language it cannot run here)."""
        return [name for name, rep in self.reports.items() if not rep.graded]


def grade_folder(folder: str | Path, *, jobs: int = 2, seed: int | None = None,
                 secret: bytes = b"", rubric: Rubric | None = None, limits: Limits = Limits(),
                 sandbox: str | None = None, entry: str | None = None,
                 progress: bool = True, fd_check: bool = True,
                 assignment: Assignment | str | None = None,
                 store: ResultStore | None = None, resume: bool = False,
                 shard: tuple[int, int] | None = None,
                 unsafe_sandbox: bool = False) -> BatchResult:
    """Grade every submission in ``folder`` against ``assignment`` (default ``mlp``), ``jobs``
    at a time. Each student gets the grade a single run would give them (same seed derivation,
    same feedback). A language this machine cannot run is reported once, in ``warnings``, and
    its students are not graded (never 0); so is a student whose folder cannot be searched.
    ValueError if ``folder`` is not a folder; :class:`~verify.grade.sandbox.SandboxRefused` if
    the sandbox cannot keep students apart here (unless ``unsafe_sandbox``).

    Students are named from Gradescope's ``submission_metadata.yml`` where the folder holds one
    (:mod:`.students`). ``shard=(K, N)`` grades only the students of shard K of N. With a
    ``store`` (a results folder), each student's results are written the moment they are
    graded, and ``resume`` keeps a student's stored result instead of grading again when it
    was graded from the same files, secret, seed, assignment, rubric, limits and grader
    (:mod:`.records`).

    A little over 80 lines because of this docstring and the two closures that record each
    student's result the moment it is known; the steps themselves are helpers."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    # Students graded side by side: refuse a sandbox that cannot keep them apart.
    check_isolation(resolve_mode(sandbox), batch=True, unsafe=unsafe_sandbox)
    spec = load_assignment(assignment)
    subs, problems, people, warnings = _students(folder, entry, spec, shard)
    # What grade_submission is given: the file alone where it has no helpers (as always).
    targets = {name: sub if sub.helpers or sub.notes else sub.entry
               for name, sub in subs.items()}
    rubric = rubric or Rubric.of(spec)
    start = time.monotonic()
    reports: dict[str, GradeReport] = {}
    bases: dict[str, tuple[str, list[tuple[str, bytes]]]] = {}
    resumed: list[str] = []

    def finish(name: str, report: GradeReport) -> None:
        reports[name] = report
        if store is not None:
            base, files = bases.get(name) or _base(subs[name], secret, seed, spec, limits,
                                                   fd_check)
            try:  # one student's files failing to be written must not stop the others'
                store.save(name, report, base=base, rubric=rubric, files=files,
                           people=people.get(name, []))
            except OSError as exc:
                warnings.append(f"{name}: results not written ({exc})")

    for name, why in problems.items():
        if name in subs:
            warnings.append(f"{name}: NOT GRADED: {why}")
            finish(name, not_graded_report(subs[name].entry, seed or 0, str(sandbox or "auto"),
                                           "unknown", rubric, why, time.monotonic(), spec,
                                           "given" if seed is not None else "none"))

    runnable, unavailable = _sort_students(
        subs, reports, resumed, bases, store if resume else None, store is not None, rubric,
        lambda sub: _base(sub, secret, seed, spec, limits, fd_check))
    for language, (reason, names_) in unavailable.items():
        warnings.append(f"CANNOT GRADE {len(names_)} {language} submission(s) on this machine: "
                        f"{reason}. They are marked NOT GRADED (no score): "
                        f"{', '.join(names_[:10])}{' ...' if len(names_) > 10 else ''}")
        for name in names_:
            finish(name, grade_submission(targets[name], seed=seed, secret=secret,
                                          rubric=rubric, limits=limits, sandbox=sandbox,
                                          fd_check=False, assignment=spec,
                                          unsafe_sandbox=unsafe_sandbox))

    def grade_one(name: str) -> GradeReport:
        report = grade_submission(targets[name], seed=seed, secret=secret, rubric=rubric,
                                  limits=limits, sandbox=sandbox, fd_check=fd_check,
                                  assignment=spec, unsafe_sandbox=unsafe_sandbox)
        finish(name, report)  # on disk before this worker takes the next student
        return report

    def failed(name: str, exc: Exception) -> None:
        warnings.append(f"{name}: internal grader error "
                        f"({type(exc).__name__}: {safe_text(exc)})")
        finish(name, not_graded_report(subs[name].entry, seed or 0,
                                       str(sandbox or "auto"), "unknown", rubric,
                                       f"internal grader error: {exc}",
                                       time.monotonic(), spec,
                                       "given" if seed is not None else "none"))

    _run_pool(list(runnable), grade_one, failed, jobs, progress)
    ordered = {name: reports[name] for name in sorted(subs)}
    return BatchResult(seed, ordered, warnings, time.monotonic() - start, resumed=resumed,
                       people={n: p for n, p in people.items() if n in subs}, shard=shard)


def _students(folder: Path, entry: str | None, spec: Assignment,
              shard: tuple[int, int] | None
              ) -> tuple[dict[str, Submission], dict[str, str], dict[str, list[Person]],
                         list[str]]:
    """The students in ``folder`` (of ``shard``) by name: their submissions, why some cannot
    be graded, who they are, and the warnings found on the way."""
    found = find_submissions(folder, entry, spec)
    warnings = found.warnings
    names, people, name_warnings = student_names(folder, [*found.submissions, *found.problems])
    warnings += name_warnings
    names = {n: safe_text(shown) for n, shown in names.items()}  # not UTF-8: shown escaped
    people = {safe_text(n): p for n, p in people.items()}
    # A student's own folder may hold helper modules beside the entry; files at the top level
    # are each a student of their own.
    subs = {names[n]: Submission(path, *helpers_beside(path)) if path.parent != folder
            else Submission(path) for n, path in found.submissions.items()}
    problems = {names[n]: why for n, why in found.problems.items()}
    for n in found.problems:
        subs[names[n]] = Submission(folder / n)
    if shard is not None:
        subs = {name: sub for name, sub in subs.items() if in_shard(name, *shard)}
    return subs, problems, people, warnings


def _sort_students(subs: dict[str, Submission], reports: dict[str, GradeReport],
                   resumed: list[str], bases: dict[str, tuple[str, list[tuple[str, bytes]]]],
                   resume_from: ResultStore | None, stored: bool, rubric: Rubric,
                   base_of: Callable[[Submission], tuple[str, list[tuple[str, bytes]]]]
                   ) -> tuple[dict[str, Submission], dict[str, tuple[str, list[str]]]]:
    """The students still to grade: those this machine can run, and per language it cannot,
    why and who. A stored result kept (``resume_from``) goes to ``reports`` and ``resumed``;
    with a store (``stored``) each student's base goes to ``bases``."""
    runnable: dict[str, Submission] = {}
    unavailable: dict[str, tuple[str, list[str]]] = {}
    for name, sub in subs.items():
        if name in reports:
            continue
        if stored:
            bases[name] = base_of(sub)
            kept = resume_from.load(name, bases[name][0], rubric) if resume_from else None
            if kept is not None:
                reports[name] = kept
                resumed.append(name)
                continue
        runner = runner_of(sub.entry)
        reason = runner.unavailable_reason()
        if reason is None:
            runnable[name] = sub
        else:
            unavailable.setdefault(runner.name, (reason, []))[1].append(name)
    return runnable, unavailable


def _run_pool(names: list[str], grade_one: Callable[[str], GradeReport],
              failed: Callable[[str, Exception], None], jobs: int, progress: bool) -> None:
    """``grade_one`` for each name, ``jobs`` at a time, with a progress bar; ``failed`` for
    one that raised (a grader bug must not lose the other students' grades)."""
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: silent when stderr is not a terminal (CI logs, pipes), as in the report.
        bar = tqdm(total=len(names), unit="submission", desc="grading", leave=True,
                   disable=None)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, name): name for name in names}
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                fut.result()
            except Exception as exc:  # a grader bug must not lose the other students' grades
                failed(name, exc)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()


def _base(sub: Submission, secret: bytes, seed: int | None, spec: Assignment, limits: Limits,
          fd_check: bool) -> tuple[str, list[tuple[str, bytes]]]:
    """The record's digest of what grading ``sub`` depends on (:func:`.records.grading_base`),
    and its files' contents."""
    files = []
    for path in sub.files:
        try:
            big = path.is_symlink() or path.stat().st_size > limits.submission_bytes
            # A link or an oversized file is not graded (the report says why): its name only.
            files.append((path.name, b"" if big else path.read_bytes()))
        except OSError:
            files.append((path.name, b""))
    return grading_base(files, secret=secret, seed=seed, assignment=spec, limits=limits,
                        fd_check=fd_check), files


def write_csv(result: BatchResult, path: str | Path) -> None:
    """One row per student: total, max, then every test's score, the diagnoses, the seed and
    the sandbox; where Gradescope's export names the submitters, their ``sid`` and ``email``
    too (``;``-separated for a group). A student who could not be graded has ``not graded`` as
    total and no scores."""
    reports = list(result.reports.values())
    test_ids = [t.id for t in reports[0].tests] if reports else []
    ids = ["sid", "email"] if result.people else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "submission", "score", "max_score", *test_ids, "diagnoses",
                    "seed", "sandbox", *ids])
        for name, rep in result.reports.items():
            by_id = {t.id: t for t in rep.tests}
            diags = sorted({d for t in rep.tests for d in t.diagnoses})
            scores = [f"{by_id[i].score:g}" if i in by_id and rep.graded else "" for i in test_ids]
            who = [";".join(getattr(p, k) for p in result.people.get(name, [])) for k in ids]
            w.writerow([name, rep.submission, f"{rep.score:g}" if rep.graded else "not graded",
                        f"{rep.max_score:g}", *scores, ";".join(diags), rep.seed, rep.sandbox,
                        *who])
