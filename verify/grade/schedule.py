"""Run a submission's tasks in sandboxed children, within the time the submission has.

Two kinds of runner (PROTOCOL.md):

* **Streaming** (``Runner.streams``: Python). The child writes a line when it has loaded the
  file and one per task as it finishes, and the grader - outside the sandbox, where the
  submission cannot reach it - gives each line its own deadline: ``Limits.load_s`` for loading,
  ``Limits.task_s`` per task. A task that runs past it, or that crashes the process, costs
  that task only: the child is stopped and a fresh one takes the tasks after it (tasks of the
  op that failed go last, so a ``forward`` that never returns does not starve the loss tests).
* **Isolating** (``Runner.isolates_tasks``: Node). The runner times each task itself and
  restarts its own worker; tasks it had no time for come back ``NotRun`` and are run again in a
  fresh child while time is left.

Everything happens before ``deadline`` (the submission's ``Limits.wall_s``); what could not be
reached by then is reported as not run, saying why. Nothing here trusts what the child sent
beyond its shape: results are matched to the task that was running.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import LESSON4, Contract
from .isolation import process_cap_turn
from .limits import Limits
from .runners import Runner
from .sandbox import ChildOutcome, SandboxMode, disk_message, run_child, shares_grader_uid

__all__ = ["SYNTHETIC_ERRORS", "Run", "run_tasks"]

SYNTHETIC_ERRORS = ("Timeout", "LoadTimeout", "Crash", "NotRun", "NoResult")
"""Error types the grader writes itself (their message says everything; no traceback)."""

_MIN_RESTART_S = 0.3
"""No fresh child is started with less time than this left (start-up alone takes ~0.1 s)."""


@dataclass
class Run:
    """What running some tasks produced: a result per task id (PROTOCOL.md's result objects,
    including the grader's own ``SYNTHETIC_ERRORS``), what the children printed, and notes."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    output: str = ""
    output_dropped: int = 0
    notes: list[str] = field(default_factory=list)
    children: int = 0
    helpers: tuple[Path, ...] = ()
    """The submission's helper modules, copied beside it into every child."""
    unsafe: bool = False
    isolation: dict[str, Any] = field(default_factory=dict)
    """What the first child ran under (:func:`~verify.grade.sandbox.protections`)."""
    waited_s: float = 0.0
    """Seconds spent waiting for other children's turn (not the submission's time)."""


def _error(tid: str, etype: str, message: str) -> dict[str, Any]:
    return {"id": tid, "ok": False, "error": {"type": etype, "message": message, "traceback": ""}}


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _ended(outcome: ChildOutcome, limits: Limits) -> str:
    """Why a child that did not finish its work ended, in words."""
    if outcome.info.get("disk_exceeded"):
        return f"the process {disk_message(limits)[3:]}"
    if outcome.signal == signal.SIGXCPU or (
            outcome.signal == signal.SIGKILL and outcome.cpu_s >= limits.cpu_s - 0.05):
        return f"the process used more than the CPU-time limit of {limits.cpu_s} s"
    if outcome.signal is not None:
        hint = {signal.SIGSEGV: " (a crash in native code, e.g. ctypes or a C extension)",
                signal.SIGKILL: " (often the memory limit)",
                signal.SIGABRT: " (aborted)"}.get(outcome.signal, "")  # type: ignore[call-overload]
        return f"the process was killed by {_signal_name(outcome.signal)}{hint}"
    if outcome.exit_code not in (None, 0):
        return f"the process exited with status {outcome.exit_code} (sys.exit / os._exit?)"
    return "the process ended without answering (os._exit, or the result channel was closed?)"


class _TaskWatch:
    """Deadlines for one streaming child: loading, then each task in order."""

    def __init__(self, ids: list[str], limits: Limits, deadline: float) -> None:
        self.ids = ids
        self.limits = limits
        self.submission_deadline = deadline
        self.last = self.started = time.monotonic()
        self.pos = -1  # -1: loading; i: waiting for the result of ids[i]
        self.load_error: dict[str, Any] | None = None
        self.done = False
        self.results: dict[str, dict[str, Any]] = {}
        self.stray = 0

    def event(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        kind = message.get("event")
        if self.pos == -1 and kind == "loaded":
            self.pos, self.last = 0, now
        elif self.pos == -1 and kind == "load_error" and isinstance(message.get("error"), dict):
            self.load_error, self.done = message["error"], True
        elif kind == "done" and self.pos == len(self.ids):
            self.done = True
        elif 0 <= self.pos < len(self.ids) and message.get("id") == self.ids[self.pos] \
                and isinstance(message.get("ok"), bool):
            self.results[self.ids[self.pos]] = message
            self.pos, self.last = self.pos + 1, now
        else:
            self.stray += 1

    def deadline(self) -> float | None:
        if self.done:
            return None
        step = self.limits.load_s if self.pos == -1 else self.limits.task_s
        return min(self.last + step, self.submission_deadline)

    @property
    def hit_submission_deadline(self) -> bool:
        step = self.limits.load_s if self.pos == -1 else self.limits.task_s
        return self.submission_deadline <= self.last + step


def run_tasks(runner: Runner, submission: Path, tasks: list[dict[str, Any]], *, limits: Limits,
              mode: SandboxMode, deadline: float, contract: Contract = LESSON4,
              helpers: Sequence[Path] = (), unsafe: bool = False) -> Run:
    """Run ``tasks`` (protocol task objects, each with an ``id`` and an ``op``) on
    ``submission`` (and the ``helpers`` beside it) before ``deadline`` (``time.monotonic()``);
    a result for every task id. Every request carries ``contract`` (the names the submission
    defines). ``unsafe``: see :func:`~verify.grade.sandbox.check_isolation`."""
    run = Run(helpers=tuple(helpers), unsafe=unsafe)
    if not tasks:
        return run
    base = {"protocol": 1, "contract": contract.to_request(runner.name)}
    # Waiting for another child's turn (children of the grader's uid run one at a time) is not
    # this submission's time.
    with process_cap_turn(shares_grader_uid()) as waited:
        deadline += waited
        run.waited_s = waited
        if runner.streams:
            _run_streaming(runner, submission, tasks, limits, mode, deadline, run, base)
        else:
            _run_isolating(runner, submission, tasks, limits, mode, deadline, run, base)
    for task in tasks:  # whatever happened, every task has an answer
        tid = str(task["id"])
        run.results.setdefault(tid, _error(tid, "NoResult", "no result came back for this part"))
    return run


def _child(runner: Runner, submission: Path, request: dict[str, Any], limits: Limits,
           mode: SandboxMode, deadline: float, run: Run, watch: _TaskWatch | None = None
           ) -> ChildOutcome:
    outcome = run_child(runner, submission, request, limits=limits, mode=mode,
                        wall_s=max(0.1, deadline - time.monotonic()) + 0.5, watch=watch,
                        helpers=run.helpers, unsafe=run.unsafe)
    run.children += 1
    if not run.isolation:
        run.isolation = outcome.isolation
    room = limits.output_bytes - len(run.output)
    if outcome.output and room > 0:
        run.output += outcome.output[:room]
    run.output_dropped += outcome.output_dropped + max(0, len(outcome.output) - max(room, 0))
    return outcome


def _not_run(tid: str, limits: Limits) -> dict[str, Any]:
    return _error(tid, "NotRun", f"not run: the time limit for the whole submission "
                                 f"({limits.wall_s:g} s) was used up by earlier parts that did "
                                 f"not finish")


def _run_streaming(runner: Runner, submission: Path, tasks: list[dict[str, Any]],
                   limits: Limits, mode: SandboxMode, deadline: float, run: Run,
                   base: dict[str, Any]) -> None:
    remaining = list(tasks)
    suspects: set[str] = set()
    while remaining:
        if deadline - time.monotonic() < _MIN_RESTART_S:
            for t in remaining:
                run.results[str(t["id"])] = _not_run(str(t["id"]), limits)
            return
        ids = [str(t["id"]) for t in remaining]
        watch = _TaskWatch(ids, limits, deadline)
        outcome = _child(runner, submission, {**base, "stream": True, "tasks": remaining},
                         limits, mode, deadline, run, watch)
        run.results.update(watch.results)
        if watch.stray or outcome.garbage:
            run.notes.append("your code wrote lines of its own to the grader's result channel; "
                             "they were ignored")
        if outcome.supervisor_lost:
            for tid in ids[max(watch.pos, 0):]:
                run.results[tid] = _error(tid, "NoResult", outcome.problem or "no result")
            return
        if watch.load_error is not None:
            for tid in ids:
                run.results[tid] = {"id": tid, "ok": False, "error": watch.load_error}
            return
        if watch.pos == -1:  # never finished loading: the same would happen again
            if outcome.stopped:
                err = [_error(tid, "LoadTimeout", _load_timeout(limits, watch)) for tid in ids]
            else:
                why = f"while loading your file, {_ended(outcome, limits)}"
                err = [_error(tid, "Crash", why) for tid in ids]
            for e in err:
                run.results[e["id"]] = e
            return
        if watch.pos >= len(ids):
            return
        current = remaining[watch.pos]
        tid = str(current["id"])
        if outcome.stopped and watch.hit_submission_deadline:
            for t in remaining[watch.pos:]:
                run.results[str(t["id"])] = _not_run(str(t["id"]), limits)
            return
        if outcome.stopped:
            run.results[tid] = _error(tid, "Timeout", (
                f"your code did not finish this part within {limits.task_s:g} s (the time limit "
                f"per part; correct code needs milliseconds): an infinite loop, or very slow "
                f"code? It was stopped, and the parts after it ran in a fresh process"))
        else:
            run.results[tid] = _error(tid, "Crash", (
                f"{_ended(outcome, limits)} during this part; the parts after it ran in a fresh "
                f"process"))
        suspects.add(str(current.get("op")))
        rest = remaining[watch.pos + 1:]
        remaining = [t for t in rest if str(t.get("op")) not in suspects] + \
                    [t for t in rest if str(t.get("op")) in suspects]


def _load_timeout(limits: Limits, watch: _TaskWatch) -> str:
    # Limits, never measured times, in feedback: a regrade must say the same thing.
    if watch.hit_submission_deadline:
        limit = f"the {limits.wall_s:g} s time limit for the whole submission"
    else:
        limit = f"{limits.load_s:g} s (the time limit for loading it)"
    return (f"loading your file did not finish within {limit}: code at module level (a "
            f"training loop, input(), a long sleep) runs when the file is loaded; put it under "
            f"`if __name__ == \"__main__\":`")


def _run_isolating(runner: Runner, submission: Path, tasks: list[dict[str, Any]],
                   limits: Limits, mode: SandboxMode, deadline: float, run: Run,
                   base: dict[str, Any]) -> None:
    remaining = list(tasks)
    while remaining:
        left = max(0.1, deadline - time.monotonic())
        request = {**base, "tasks": remaining,
                   "limits": {"wall_s": round(left, 3), "task_s": limits.task_s,
                              "load_s": limits.load_s, "submission_s": limits.wall_s}}
        outcome = _child(runner, submission, request, limits, mode, deadline, run)
        ids = {str(t["id"]) for t in remaining}
        if outcome.response is None:
            for tid in ids:
                run.results[tid] = _error(tid, "NoResult", outcome.problem or "no result")
            return
        if outcome.problem:
            run.notes.append(outcome.problem)
        got: dict[str, dict[str, Any]] = {}
        for r in outcome.response.get("results", []):
            if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"] in ids:
                got.setdefault(r["id"], r)
        retry = []
        for t in remaining:
            tid = str(t["id"])
            r = got.get(tid)
            if r is None:
                run.results[tid] = _error(tid, "NoResult", (
                    "the submission corrupted or did not produce results: no result for this "
                    "part on the result channel"))
            elif _is_not_run(r):
                run.results[tid] = r
                retry.append(t)
            else:
                run.results[tid] = r
        budget_gone = any(r.get("error", {}).get("message", "").startswith(
            "not run: the time limit for the whole submission") for r in got.values()
            if isinstance(r.get("error"), dict))
        if not retry or budget_gone or deadline - time.monotonic() < _MIN_RESTART_S + limits.task_s:
            return
        remaining = retry


def _is_not_run(result: dict[str, Any]) -> bool:
    """A task the runner skipped (PROTOCOL.md: ``NotRun``), not one the submission failed."""
    error = result.get("error")
    return result.get("ok") is False and isinstance(error, dict) and error.get("type") == "NotRun"
