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
from dataclasses import dataclass, field
from pathlib import Path

from .assignments import Assignment, load_assignment
from .grader import GradeReport, grade_submission, not_graded_report
from .limits import Limits
from .records import ResultStore, grading_base
from .rubric import Rubric
from .runners import supported_extensions
from .students import Person, in_shard, student_names
from .submission import (
    Submission,
    candidate_extensions,
    find_submission,
    helpers_beside,
    runner_of,
)

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


def find_submissions(folder: Path, entry: str | None = None,
                     assignment: Assignment | str | None = None,
                     ) -> tuple[dict[str, Path], list[str]]:
    """Student name -> submission (entry) file, plus warnings for folders that hold none, or
    several candidates none of which defines more of ``assignment``'s names than the others
    (:func:`.submission.find_submission`)."""
    exts = set(candidate_extensions())
    contract = load_assignment(assignment).contract
    subs: dict[str, Path] = {}
    warnings: list[str] = []
    for item in sorted(folder.iterdir()):
        chosen: Path | None
        if item.name.startswith("."):
            continue
        if item.is_file() and item.suffix.lower() in exts:
            chosen, name = item, item.stem
        elif item.is_dir():
            found = find_submission(item, entry, contract)
            if isinstance(found, str):
                warnings.append(f"{item.name}: {found}; skipped")
                continue
            chosen, name = found.entry, item.name
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
                 shard: tuple[int, int] | None = None) -> BatchResult:
    """Grade every submission in ``folder`` against ``assignment`` (default ``mlp``), ``jobs``
    at a time. Each student gets the grade a single run would give them (same seed derivation,
    same feedback). A language this machine cannot run is reported once, in ``warnings``, and
    its students are not graded (never 0).

    Students are named from Gradescope's ``submission_metadata.yml`` where the folder holds one
    (:mod:`.students`). ``shard=(K, N)`` grades only the students of shard K of N. With a
    ``store`` (a results folder), each student's results are written the moment they are
    graded, and ``resume`` keeps a student's stored result instead of grading again when it
    was graded from the same files, secret, seed, assignment, rubric, limits and grader
    (:mod:`.records`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    spec = load_assignment(assignment)
    entries, warnings = find_submissions(folder, entry, spec)
    names, people, name_warnings = student_names(folder, entries)
    warnings += name_warnings
    # A student's own folder may hold helper modules beside the entry; files at the top level
    # are each a student of their own.
    subs = {names[n]: Submission(path, *helpers_beside(path)) if path.parent != folder
            else Submission(path) for n, path in entries.items()}
    if shard is not None:
        subs = {name: sub for name, sub in subs.items() if in_shard(name, *shard)}
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
            store.save(name, report, base=base, rubric=rubric, files=files,
                       people=people.get(name, []))

    runnable: dict[str, Submission] = {}
    unavailable: dict[str, tuple[str, list[str]]] = {}
    for name, sub in subs.items():
        if store is not None:
            bases[name] = _base(sub, secret, seed, spec, limits, fd_check)
            kept = store.load(name, bases[name][0], rubric) if resume else None
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
    for language, (reason, names_) in unavailable.items():
        warnings.append(f"CANNOT GRADE {len(names_)} {language} submission(s) on this machine: "
                        f"{reason}. They are marked NOT GRADED (no score): "
                        f"{', '.join(names_[:10])}{' ...' if len(names_) > 10 else ''}")
        for name in names_:
            finish(name, grade_submission(targets[name], seed=seed, secret=secret,
                                          rubric=rubric, limits=limits, sandbox=sandbox,
                                          fd_check=False, assignment=spec))
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: silent when stderr is not a terminal (CI logs, pipes), as in the report.
        bar = tqdm(total=len(runnable), unit="submission", desc="grading", leave=True,
                   disable=None)
    def grade_one(name: str) -> GradeReport:
        report = grade_submission(targets[name], seed=seed, secret=secret, rubric=rubric,
                                  limits=limits, sandbox=sandbox, fd_check=fd_check,
                                  assignment=spec)
        finish(name, report)  # on disk before this worker takes the next student
        return report

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, name): name for name in runnable}
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                fut.result()
            except Exception as exc:  # a grader bug must not lose the other students' grades
                warnings.append(f"{name}: internal grader error ({type(exc).__name__}: {exc})")
                finish(name, not_graded_report(subs[name].entry, seed or 0,
                                               str(sandbox or "auto"), "unknown", rubric,
                                               f"internal grader error: {exc}",
                                               time.monotonic(), spec))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    ordered = {name: reports[name] for name in subs}
    return BatchResult(seed, ordered, warnings, time.monotonic() - start, resumed=resumed,
                       people={n: p for n, p in people.items() if n in subs}, shard=shard)


def _base(sub: Submission, secret: bytes, seed: int | None, spec: Assignment, limits: Limits,
          fd_check: bool) -> tuple[str, list[tuple[str, bytes]]]:
    """The record's digest of what grading ``sub`` depends on (:func:`.records.grading_base`),
    and its files' contents."""
    files = []
    for path in sub.files:
        try:
            files.append((path.name, b"" if path.is_symlink() else path.read_bytes()))
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
