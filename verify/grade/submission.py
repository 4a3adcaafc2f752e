"""What a student submitted: an entry file, the helper modules beside it, or a notebook.

A submission is one **entry** file (``.py``, ``.ipynb``, ``.js``, ``.mjs``), which the runner
loads and which must define the contract's names, plus the **helper modules** submitted beside
it (the other files of the entry's language in the entry's folder: ``.py`` for Python and
notebooks, ``.js``/``.mjs`` for JavaScript), which the entry may import (``import layers``,
``require('./layers')``). The entry and its helpers, and nothing else of the folder, are copied
into the sandbox.

In a folder the entry is ``--entry`` when given, else the only candidate file, else the one
candidate that defines more of the contract's top-level names (``DenseLayer``, ``MLP``, ``mse``,
...) than every other: read without running anything (Python's ``ast``; in JavaScript, the names
as words of the file). When that does not single one out, :func:`find_submission` says which
files it found and suggests ``--entry``.

Nothing a folder holds makes this raise: odd names, links, deep trees and huge files are
skipped or reported in words.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .contract import Contract
from .runners import RUNNERS, Runner, runner_for, supported_extensions
from .sandbox import _safe_name

__all__ = ["MAX_HELPERS", "NOTEBOOK", "Submission", "candidate_extensions", "defined_names",
           "find_submission", "helpers_beside", "language_of", "runner_of"]

NOTEBOOK = ".ipynb"
MAX_HELPERS = 32
"""At most this many helper modules are copied beside the entry (the rest are named in a note)."""
MAX_HELPER_BYTES = 2 << 20
"""A helper module larger than this is not copied (a note says so)."""
_MAX_SCAN = 5000
"""Entries of a student's folder looked at, at most (a deep or huge tree is not walked further)."""
_MAX_DEPTH = 6
_ANALYSED_BYTES = 4 << 20
_SKIPPED_DIRS = {"__pycache__", "node_modules", "__MACOSX"}
_TEST_NAME = re.compile(r"^(test_.*|.*_test|.*\.test|.*\.spec|tests?)$", re.I)


@dataclass(frozen=True)
class Submission:
    """The entry file, the helper modules copied beside it, and notes on what was left out."""

    entry: Path
    helpers: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.entry, *self.helpers)


def candidate_extensions() -> list[str]:
    """File extensions a submission's entry may have: the runners' and notebooks."""
    return sorted({*supported_extensions(), NOTEBOOK})


def language_of(path: Path) -> str | None:
    """``python`` (``.py``, ``.ipynb``), ``js``, ...: the runner's language; None if none."""
    suffix = path.suffix.lower()
    if suffix == NOTEBOOK:
        return "python"
    runner = RUNNERS.get(suffix)
    return runner.name if runner is not None else None


def runner_of(path: Path) -> Runner:
    """The runner for ``path`` (a notebook: Python's); ValueError naming the extensions
    supported otherwise."""
    return runner_for(path.with_suffix(".py") if path.suffix.lower() == NOTEBOOK else path)


def _helper_extensions(language: str) -> set[str]:
    return {ext for ext, runner in RUNNERS.items() if runner.name == language}


def helpers_beside(entry: Path) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """The helper modules in ``entry``'s folder (files of its language, other than the entry),
    and notes naming any that are not copied (a link, too large, too many, a name that would
    not survive the copy)."""
    language = language_of(entry)
    if language is None:
        return (), ()
    exts = _helper_extensions(language)
    entry_name = _safe_name(entry)
    helpers: list[Path] = []
    left: list[str] = []
    try:
        items = sorted(entry.parent.iterdir())
    except OSError:
        return (), ()
    for item in items[:_MAX_SCAN]:
        if item.name == entry.name or item.name.startswith(".") or item.suffix.lower() not in exts:
            continue
        try:
            if item.is_symlink() or not item.is_file():
                if item.is_symlink():
                    left.append(f"{item.name} (a symbolic link)")
                continue
            size = item.stat().st_size
        except OSError:
            continue
        if _safe_name(item) != item.name or _safe_name(item) == entry_name:
            left.append(f"{item.name} (use letters, digits, - and _ only)")
        elif size > MAX_HELPER_BYTES:
            left.append(f"{item.name} (over {MAX_HELPER_BYTES >> 20} MiB)")
        elif len(helpers) >= MAX_HELPERS:
            left.append(f"{item.name} (more than {MAX_HELPERS} helper files)")
        else:
            helpers.append(item)
    notes: tuple[str, ...] = ()
    if left:
        notes = (f"not copied beside {entry.name}, so not importable: {', '.join(left[:10])}"
                 + (f" and {len(left) - 10} more" if len(left) > 10 else ""),)
    return tuple(helpers), notes


def _walk(folder: Path, skipped: list[str] | None = None) -> Iterator[Path]:
    """The files under ``folder`` (not hidden, no links, bounded depth and count); what the
    bounds left unsearched is appended to ``skipped`` (in words), so that "no submission file"
    never hides a file that was not looked for."""
    seen = 0
    stack = [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for item in entries:
            seen += 1
            if seen > _MAX_SCAN:
                if skipped is not None:
                    skipped.append(f"only the first {_MAX_SCAN} entries were searched")
                return
            if item.name.startswith(".") or item.name in _SKIPPED_DIRS:
                continue
            try:
                if item.is_symlink():  # a linked file is named (the grader refuses it, saying
                    if item.is_file():  # why); a linked folder is not followed
                        yield Path(item.path)
                    continue
                if item.is_dir():
                    if depth < _MAX_DEPTH:
                        subdirs.append((Path(item.path), depth + 1))
                    elif skipped is not None:
                        skipped.append(f"folders more than {_MAX_DEPTH} levels deep were not "
                                       f"searched")
                elif item.is_file():
                    yield Path(item.path)
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(_ANALYSED_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound at the top level of a module (defs, classes, assignments, imports), also
    inside top-level ``if``/``try``/``with`` blocks."""
    names: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, block, []):
                    body.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return names


def defined_names(path: Path, contract: Contract) -> set[str]:
    """The contract's top-level roles that ``path`` defines (never runs it): bound at the top
    level of a Python file or notebook; named as a word in a JavaScript file (or a Python file
    that does not parse)."""
    if path.is_symlink():  # never read through a link (it may point anywhere)
        return set()
    if path.suffix.lower() == NOTEBOOK:
        from .notebook import MAX_NOTEBOOK_BYTES, NotebookError, convert_notebook

        try:
            with open(path, "rb") as f:
                text = convert_notebook(f.read(MAX_NOTEBOOK_BYTES + 1), path.name).source
        except (OSError, NotebookError, RuntimeError):
            return set()
    else:
        text = _read_text(path)
    roles = {role: contract.roles[role].spellings for role in contract.module_roles()}
    if language_of(path) == "python":
        try:
            bound = _module_names(ast.parse(text))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
        else:
            return {role for role, names in roles.items() if bound.intersection(names)}
    words = set(re.findall(r"[A-Za-z_$][\w$]*", text))
    return {role for role, names in roles.items() if words.intersection(names)}


def find_submission(folder: Path, entry: str | None, contract: Contract) -> Submission | str:
    """The submission in ``folder`` (an entry and its helpers), or why there is none, in words
    (the files found, and ``--entry`` when several could be the entry)."""
    exts = set(candidate_extensions())
    skipped: list[str] = []
    found = [p for p in _walk(folder, skipped) if p.suffix.lower() in exts]
    rel = {p: p.relative_to(folder).as_posix() for p in found}
    chosen: Path | None = None
    if entry:
        named = [p for p in found if p.name == entry or rel[p] == entry]
        if len(named) == 1:
            chosen = named[0]
        elif len(named) > 1:
            return (f"several files are named {entry}: {', '.join(rel[p] for p in named)}; "
                    f"give the path inside the folder with --entry")
    if chosen is None and len(found) == 1:
        chosen = found[0]
    if chosen is None and not found:
        return (f"no submission file ({', '.join(sorted(exts))}) in {folder.name or folder}"
                + (f" (expected {entry})" if entry else "")
                + (f"; {'; '.join(dict.fromkeys(skipped))}" if skipped else ""))
    if chosen is None:
        chosen = _by_contract(found, contract)
    if chosen is None:
        listed = ", ".join(rel[p] for p in found[:12]) + (" ..." if len(found) > 12 else "")
        names = ", ".join(contract.describe(r) for r in contract.module_roles())
        missing = f" ({entry} is not among them)" if entry else ""
        return (f"several candidate files: {listed}{missing}; none defines more of the "
                f"contract's names ({names}) than the others, so the entry file is not clear: "
                f"name it with --entry FILE")
    helpers, notes = helpers_beside(chosen)
    return Submission(chosen, helpers, notes)


def _by_contract(found: list[Path], contract: Contract) -> Path | None:
    """The one file defining the most of the contract's top-level names (files named like tests
    count only when nothing else defines any); None when no single file does."""
    scores = {p: len(defined_names(p, contract)) for p in found}
    for pool in ([p for p in found if not _TEST_NAME.match(p.stem)], found):
        best = max((scores[p] for p in pool), default=0)
        top = [p for p in pool if scores[p] == best]
        if best > 0 and len(top) == 1:
            return top[0]
        if best > 0:
            return None
    return None
