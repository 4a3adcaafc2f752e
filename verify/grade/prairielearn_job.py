"""One PrairieLearn external-grading job: ``python -m verify grade --prairielearn [ROOT]``.

PrairieLearn runs the grader image once per submission with (``ROOT`` = ``/grade``):

* ``ROOT/student/``: the student's files (an entry file and any helper modules, a notebook);
* ``ROOT/data/data.json``: the question's ``data`` object; its ``params.verify`` object, where
  present, configures this grader for the question::

      {"params": {"verify": {"entry": "mlp.py", "assignment": "mlp",
                             "rubric": {"points": {"api": 5}}}}}

  ``entry``: the file name to grade (default: the one file, or the one defining the contract's
  names); ``assignment``: a built-in's name or a ``.toml`` file; ``rubric``: a ``.toml``/
  ``.json`` file or the rubric itself as an object. Files are relative to ``ROOT``
  (``tests/rubric.toml``: the question's ``tests/`` folder; ``serverFilesCourse/...``). The
  command line's ``--entry``, ``--assignment`` and ``--rubric`` win over ``params.verify``.
* ``ROOT/results/results.json``: written here, always (PrairieLearn's format,
  :mod:`.outputs.prairielearn`), whatever the submission does. A submission that cannot be
  graded (no submission file, several candidates, an unreadable notebook) is not gradable: no
  points awarded or lost, the attempt not counted. A configuration error (a bad ``data.json``,
  an unknown assignment) also writes a not-gradable result, naming the error, and exits 2.

The whole grading fits PrairieLearn's default job timeout of 30 s: a submission has 20 s
(``--wall-limit``) whatever it does (:class:`.limits.Limits`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .assignments import Assignment, load_assignment
from .limits import Limits
from .outputs import prairielearn, write_results
from .rubric import Rubric, load_rubric
from .scoring import GradeReport

__all__ = ["DEFAULT_ROOT", "Job", "ConfigError", "read_job", "run_job"]

DEFAULT_ROOT = "/grade"
_MAX_DATA_BYTES = 16 << 20


class ConfigError(ValueError):
    """The question's configuration (data.json, an assignment or rubric file) is wrong."""


@dataclass
class Job:
    """A job's paths and its configuration, resolved."""

    root: Path
    entry: str | None
    assignment: Assignment
    rubric: Rubric

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def results(self) -> Path:
        return self.root / "results" / "results.json"


def _params(root: Path) -> dict[str, Any]:
    path = root / "data" / "data.json"
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > _MAX_DATA_BYTES:
            raise ConfigError(f"{path} is larger than {_MAX_DATA_BYTES >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read as JSON: {exc}") from None
    params = data.get("params") if isinstance(data, dict) else None
    config = params.get("verify") if isinstance(params, dict) else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: params.verify must be an object, got "
                          f"{type(config).__name__}")
    unknown = set(config) - {"entry", "assignment", "rubric"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in params.verify: {sorted(unknown)}; "
                          f"expected entry, assignment, rubric")
    for key in ("entry", "assignment"):
        if key in config and not isinstance(config[key], str):
            raise ConfigError(f"{path}: params.verify.{key} must be a string")
    if "rubric" in config and not isinstance(config["rubric"], (str, dict)):
        raise ConfigError(f"{path}: params.verify.rubric must be a file name or an object")
    return config


def _file(root: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else root / path


def read_job(root: str | Path, *, entry: str | None = None, assignment: str | None = None,
             rubric: str | None = None) -> Job:
    """The job in ``root``: the command line's ``entry``/``assignment``/``rubric`` where given,
    else ``data.json``'s ``params.verify``. ConfigError saying what is wrong otherwise."""
    root = Path(root)
    config = _params(root)
    try:
        name = assignment if assignment is not None else config.get("assignment")
        if name is not None and assignment is None and (name.endswith(".toml") or "/" in name):
            name = str(_file(root, name))
        spec = load_assignment(name)
        raw = rubric if rubric is not None else config.get("rubric")
        if isinstance(raw, dict):
            with tempfile.TemporaryDirectory(prefix="verify-pl-rubric-") as tmp:
                inline = Path(tmp) / "rubric.json"
                inline.write_text(json.dumps(raw))
                loaded = load_rubric(inline, spec)
                loaded = Rubric(loaded.points, loaded.visibility, "data.json params.verify.rubric")
        elif raw is not None:
            loaded = load_rubric(raw if rubric is not None else _file(root, raw), spec)
        else:
            loaded = Rubric.of(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return Job(root, entry if entry is not None else config.get("entry"), spec, loaded)


def run_job(job: Job, *, seed: int | None = None, secret: bytes = b"",
            limits: Limits = Limits(), sandbox: str | None = None,  # noqa: B008 - frozen
            fd_check: bool = True, unsafe_sandbox: bool = False,
            ) -> tuple[dict[str, Any], GradeReport | None]:
    """Grade the job's submission and write ``results.json``; (the document, the report or
    None when there was nothing to grade). Never raises for anything the student submitted;
    :class:`~verify.grade.sandbox.SandboxRefused` (nothing run) if the sandbox cannot isolate
    untrusted code here, unless ``unsafe_sandbox``."""
    from .grader import grade_submission
    from .submission import find_submission

    found = (find_submission(job.student, job.entry, job.assignment.contract)
             if job.student.is_dir() else f"no submission: {job.student} does not exist")
    if isinstance(found, str):
        data = prairielearn.error_results(found)
        write_results(data, job.results)
        return data, None
    report = grade_submission(found, seed=seed, secret=secret, rubric=job.rubric, limits=limits,
                              sandbox=sandbox, fd_check=fd_check, assignment=job.assignment,
                              unsafe_sandbox=unsafe_sandbox)
    data = prairielearn.results_dict(report)
    write_results(data, job.results)
    return data, report


def config_error_results(root: str | Path, message: str) -> dict[str, Any]:
    """Write (and return) the not-gradable document for a configuration error."""
    data = prairielearn.error_results(f"the question's grader configuration is wrong ({message}); "
                                      f"please tell the course staff")
    write_results(data, Path(root) / "results" / "results.json")
    return data
