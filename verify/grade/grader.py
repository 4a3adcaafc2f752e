"""Grade one submission: draw the cases, run the sandboxed children, check, diagnose, score.

The flow, one module per step:

1. the seed comes from the file's content and the course's secret (:mod:`.seeding`), and every
   test of the assignment (:mod:`.assignments`; ``mlp``, lesson 4, by default) has its numbers
   drawn from it (:mod:`.kinds`, :mod:`.cases`);
2. the tasks run in sandboxed children within the submission's time limit (:mod:`.schedule`,
   :mod:`.sandbox`). Tests students cannot see before the due date run in a child of their own,
   so that nothing visible - printed output, a limit hit, the time taken - depends on them;
3. every number is compared with the reference into records (:mod:`.checking`; lessons 2 and 5:
   :mod:`.course_checks`), known bugs are named (:mod:`.diagnosis`, :mod:`.descent`), and for
   wrong gradients one more child takes finite differences of the student's own forward to
   tell forward from backward (:mod:`.own_forward`);
4. the rubric turns checks into points and feedback (:mod:`.scoring`).

Nothing the submission does makes this raise; a fault in the grader's own code does (callers
report it as an internal error, never as the student's).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .assignments import Assignment, load_assignment
from .cases import LayerCase, TestCase
from .checking import Check, check_part, resolve
from .explain import Finding
from .limits import Limits
from .notebook import Converted, NotebookError, convert_notebook
from .own_forward import own_forward_lines
from .rubric import Rubric
from .runners import Runner
from .sandbox import SandboxMode, _safe_name, check_isolation, resolve_mode
from .schedule import Run, run_tasks
from .scoring import GradeReport, TestResult, score_test
from .seeding import derive_seed
from .submission import NOTEBOOK, Submission, candidate_extensions, runner_of
from .text import safe_text, truncate

__all__ = ["GradeReport", "TestResult", "grade_submission", "not_graded_report"]

DEFAULT_LIMITS = Limits()

_OUTPUT_SHOWN = 2000
"""Characters of the student's printed output quoted in the feedback."""


def _hidden(test: TestCase, rubric: Rubric) -> bool:
    return test.hidden or rubric.hides_values(test.id)


def not_graded_report(path: Path, seed: int, mode: str, language: str, rubric: Rubric,
                      reason: str, start: float,
                      assignment: Assignment | str | None = None,
                      seed_source: str = "none") -> GradeReport:
    """A report for a submission the grader could not grade at all (``graded=False``);
    ``seed_source`` as in :class:`GradeReport` ("none": no seed was derived or given)."""
    reason = safe_text(reason)
    spec = load_assignment(assignment)
    tests = [TestResult(t.id, t.name, 0.0, rubric.points.get(t.id, 0.0), False,
                        f"not graded: {reason}", rubric.visibility_of(t.id))
             for t in spec.tests]
    return GradeReport(safe_text(path), seed, mode, language, tests, time.monotonic() - start,
                       notes=[f"the submission could not be graded: {reason}"], graded=False,
                       assignment=spec.name, seed_source=seed_source)


def _matching_rubric(rubric: Rubric | None, spec: Assignment) -> Rubric:
    """``rubric``, or the assignment's default; ValueError when it is another assignment's."""
    if rubric is None:
        return Rubric.of(spec)
    if set(rubric.points) != set(spec.test_ids):
        raise ValueError(f"the rubric ({rubric.source}) does not fit assignment {spec.name!r}: "
                         f"its test ids are {', '.join(rubric.points)}; the assignment's are "
                         f"{', '.join(spec.test_ids)}")
    return rubric


def grade_submission(
    submission: str | Path | Submission,
    *,
    seed: int | None = None,
    secret: bytes = b"",
    rubric: Rubric | None = None,
    limits: Limits = DEFAULT_LIMITS,
    sandbox: str | None = None,
    fd_check: bool = True,
    assignment: Assignment | str | None = None,
    unsafe_sandbox: bool = False,
) -> GradeReport:
    """Grade one submission against ``assignment`` (an :class:`Assignment`, a built-in's name, a
    TOML file; default ``mlp``): a file (``.py``, ``.ipynb``, ``.js``, ``.mjs``), or a
    :class:`~.submission.Submission` (an entry file and the helper modules copied beside it).
    ``seed`` None derives it from the files' content and ``secret`` (:mod:`.seeding`).
    ``rubric`` None is the assignment's default. Never raises for anything the submission does:
    a missing, unsupported or oversized file (over ``limits.submission_bytes``), a notebook that
    cannot be read, or a language this machine cannot run, gives a report with
    ``graded=False`` whose tests all say why.

    Raises ValueError for an unknown assignment or a rubric of another assignment (usage
    errors); :class:`~verify.grade.sandbox.SandboxRefused` (a RuntimeError) before running
    anything if the sandbox cannot isolate untrusted code here, unless ``unsafe_sandbox``;
    ValueError/RuntimeError for an unknown or unusable ``sandbox``."""
    start = time.monotonic()
    sub = submission if isinstance(submission, Submission) else Submission(Path(submission))
    path = sub.entry
    spec = load_assignment(assignment)
    rubric = _matching_rubric(rubric, spec)
    mode: SandboxMode = resolve_mode(sandbox)
    check_isolation(mode, unsafe=unsafe_sandbox)
    seed_source = "given" if seed is not None else ("content+secret" if secret else "content")
    reason, runner = None, None
    notebook = path.suffix.lower() == NOTEBOOK
    try:
        runner = runner_of(path)
        reason = runner.unavailable_reason()
    except ValueError:
        reason = (f"no runner for {safe_text(path.name)!r}: expected a file ending in "
                  f"{', '.join(candidate_extensions())}")
    reason = _file_problem(sub.files, limits, reason)
    contents: list[tuple[str, bytes]] = []
    if reason is None:
        try:
            contents = [(f.name, f.read_bytes()) for f in sub.files]
        except OSError as exc:
            reason = f"{path.name} cannot be read: {exc}"
    if seed is None:
        # One file: its content alone (as before multi-file submissions); several: names too.
        seed = derive_seed(contents[0][1] if len(contents) == 1 else contents, secret)
    converted: Converted | None = None
    if reason is None and notebook:
        try:
            converted = convert_notebook(contents[0][1], path.name)
        except NotebookError as exc:
            reason = str(exc)
    if reason is not None or runner is None:
        return not_graded_report(path, int(seed), mode, runner.name if runner else "unknown",
                                 rubric, str(reason), start, spec,
                                 seed_source if contents or seed_source == "given" else "none")
    if converted is None:
        return _grade(sub, path, None, runner, int(seed), seed_source, spec, rubric, limits, mode,
                      fd_check, start, unsafe_sandbox)
    with tempfile.TemporaryDirectory(prefix="verify-notebook-") as staging:
        stem = Path(_safe_name(path)).stem
        if any(Path(_safe_name(h)).stem == stem for h in sub.helpers):
            stem += "_notebook"
        staged = Path(staging) / f"{stem}.py"
        staged.write_text(converted.source, encoding="utf-8")
        return _grade(sub, staged, converted, runner, int(seed), seed_source, spec, rubric,
                      limits, mode, fd_check, start, unsafe_sandbox)


def _file_problem(files: Iterable[Path], limits: Limits, reason: str | None) -> str | None:
    """``reason``, or (when None) why one of ``files`` cannot be graded: a symbolic link, not a
    file, unreadable, or over ``limits.submission_bytes``; None when all can."""
    for file in files:
        if reason is None and file.is_symlink():
            # A submission (a cloned repository, an archive) may hold a link to a file of the
            # grader's machine; copying it into the sandbox would hand the child that file.
            reason = f"{file.name} is a symbolic link: submit the file itself"
        elif reason is None and not file.is_file():
            reason = f"{file} is not a file"
        elif reason is None:
            try:
                size = file.stat().st_size
            except OSError as exc:
                size, reason = 0, f"{file.name} cannot be read: {exc.strerror}"
            if size > limits.submission_bytes:
                reason = (f"{file.name} is {size} bytes; the largest file graded is "
                          f"{limits.submission_bytes >> 20} MiB")
    return reason


def _grade(sub: Submission, path: Path, converted: Converted | None, runner: Runner, seed: int,
           seed_source: str, spec: Assignment, rubric: Rubric, limits: Limits, mode: SandboxMode,
           fd_check: bool, start: float, unsafe_sandbox: bool = False) -> GradeReport:
    """Grade ``path`` (the entry, or the Python file made from a notebook) with ``sub``'s
    helpers beside it."""
    tests = spec.draw(seed)
    deadline = start + limits.wall_s
    sections = {"visible": [t for t in tests if not _hidden(t, rubric)],
                "hidden": [t for t in tests if _hidden(t, rubric)]}

    def run(section: list[TestCase]) -> Run:
        tasks = [p.case.task(p.task_id) for t in section for p in t.parts]
        return run_tasks(runner, path, tasks, limits=limits, mode=mode, deadline=deadline,
                         contract=spec.contract, helpers=sub.helpers, unsafe=unsafe_sandbox)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(sections, pool.map(run, sections.values()), strict=True))
    deadline += max(r.waited_s for r in runs.values())  # one section's turn came after the other's
    if converted is not None:  # errors point at the notebook's cells, not the converted file
        for r in runs.values():
            _map_errors(r, converted, _safe_name(path), sub.entry.name)

    checks: dict[str, Check] = {}
    for name, section in sections.items():
        for test in section:
            c = Check(hide=name == "hidden")
            for part in test.parts:
                check_part(test, part, runs[name].results.get(part.task_id), c, limits)
            checks[test.id] = c

    # Equally good explanations: chosen by what explains the rest of the submission; visible
    # tests by visible ones only (nothing visible depends on a hidden test).
    visible = [checks[t.id] for t in sections["visible"]]
    # A cause every place of its test agrees with; in a network, none in DenseLayer.backward
    # when the layer's own (visible) backward parts all pass: the code shown right.
    layers_ok = "network.backward" in _functions(sections["visible"], checks)
    # ... and that the submission's other tests do not contradict (visible tests by visible
    # ones only).
    for c in checks.values():
        c.drop_refuted(layers_ok, list(checks.values()) if c.hide else visible)
    resolve([checks[t.id] for t in sections["hidden"]], list(checks.values()))
    resolve(visible, visible)
    extra: dict[str, list[str]] = {}
    found: dict[str, list[tuple[str, Finding]]] = {}
    if fd_check:
        requests = [(t, part, k, info) for t in tests for part, k, info in checks[t.id].fd_requests]
        if requests:
            extra, found = own_forward_lines(requests, runner, path, limits, mode, deadline,
                                             _functions(sections["visible"], checks),
                                             helpers=sub.helpers, unsafe=unsafe_sandbox)

    hidden_ids = [t.id for t in sections["hidden"]]
    notes = [*(converted.notes if converted else []), *sub.notes, *_notes(runs["visible"], limits)]
    # Side effects (an argument changed in place) are noted once, from the visible tests only.
    notes += list(dict.fromkeys(n for t in sections["visible"] for n in checks[t.id].side_effects))
    if hidden_ids:  # what the hidden child printed or hit belongs to the hidden tests only
        extra.setdefault(hidden_ids[0], []).extend(_notes(runs["hidden"], limits))
    results = [score_test(t, checks[t.id], extra.get(t.id, []), rubric, found.get(t.id))
               for t in tests]
    isolation = runs["visible"].isolation or runs["hidden"].isolation
    return GradeReport(safe_text(sub.entry), seed, mode, runner.name, results,
                       time.monotonic() - start, notes=[safe_text(n) for n in notes],
                       student_output=safe_text(runs["visible"].output), seed_source=seed_source,
                       assignment=spec.name, isolation=isolation)


def _map_errors(run: Run, converted: Converted, name: str, notebook: str) -> None:
    """Rewrite the locations in ``run``'s error messages and tracebacks (in the converted file
    ``name``) as the notebook's cells and lines."""
    for result in run.results.values():
        error = result.get("error") if isinstance(result, dict) else None
        if isinstance(error, dict):
            for key in ("message", "traceback"):
                if isinstance(error.get(key), str):
                    error[key] = converted.map_text(error[key], name, notebook)


def _functions(tests: list[TestCase], checks: dict[str, Check]) -> dict[str, str]:
    """Which functions a forward-or-backward verdict on a network blames: MLP's own when every
    single-layer part of the same kind passed (the layers alone are right), else the layer's.
    From the visible ``tests`` only: nothing visible depends on a hidden test."""
    ok = {"forward": True, "backward": True}
    seen = {"forward": False, "backward": False}
    for t in tests:
        for part in t.parts:
            if not isinstance(part.case, LayerCase):
                continue
            kind = "backward" if part.case.backward else "forward"
            seen[kind] = True
            prefix = f"{part.label}: "
            mine = [r for r in checks[t.id].scored if r.path.startswith(prefix)]
            wrong = any(not r.passed for r in mine) or any(
                label == part.label for label, _ in checks[t.id].errors)
            if kind == "backward":
                ok["backward"] &= not wrong
                ok["forward"] &= not any(not r.passed and r.parameter == "output" for r in mine)
            else:
                ok["forward"] &= not wrong
    out = {}
    # A layer right alone may still go wrong inside an MLP: state the MLP sets on its layers
    # (a flag from add_layer) or that they share (a class attribute). And a backward is
    # cleared only where the layer's forward is right too (a backward consistent with the
    # reference's forward, not with its own, passes alone).
    if seen["backward"] and ok["backward"] and ok["forward"]:
        out["network.backward"] = ("MLP's code (add_layer, backward) or state it sets on or "
                                   "shares between the layers: your DenseLayer's backward passes "
                                   "alone")
    if (seen["forward"] or seen["backward"]) and ok["forward"]:
        out["network.forward"] = ("MLP's code (add_layer, forward) or state it sets on or "
                                  "shares between the layers: your DenseLayer's forward passes "
                                  "alone")
    return out


def _notes(run: Run, limits: Limits) -> list[str]:
    notes = [safe_text(n) for n in dict.fromkeys(run.notes)]
    if run.output_dropped:
        notes.append(f"your program printed more than the output limit of "
                     f"{limits.output_bytes // 1024} KiB; the rest ({run.output_dropped} bytes) "
                     f"was not kept (no deduction)")
    if run.output:
        notes.append("your program printed (first lines):\n"
                      + truncate(safe_text(run.output), _OUTPUT_SHOWN, "printed output"))
    return notes
