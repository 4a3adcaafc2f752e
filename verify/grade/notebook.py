"""Jupyter notebooks as submissions: the code cells, in order, as one Python file.

A ``.ipynb`` submission is read with ``nbformat`` (any notebook version, converted to version 4;
never executed here) and turned into the Python file the sandboxed runner loads: every code
cell's source in notebook order, markdown and raw cells left out. What only IPython understands
is not run, and the student is told so: line magics (``%matplotlib inline``), shell escapes
(``!pip install ...``, ``files = !ls``), help lines (``np.mean?``) and cells whose cell magic
runs something other than Python (``%%bash``, ``%%writefile``, ...). Each such line becomes a
``pass`` at its own indentation, so that every line of the converted file is the same line of
the same cell: :meth:`Converted.locate` maps an error's line back to ``cell N, line M``, and
:meth:`Converted.map_text` rewrites a traceback or a ``SyntaxError`` message that way.

Cells are numbered from the top of the notebook, starting at 1, markdown cells included (as
they appear on screen, top to bottom).

Nothing a notebook holds makes this raise anything but :class:`NotebookError` (a file that is
not a notebook, or not a Python one), which the grader reports as not graded.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_NOTEBOOK_BYTES", "Converted", "NotebookError", "convert_notebook"]

MAX_NOTEBOOK_BYTES = 20 << 20
"""Larger notebooks are not read (their outputs, e.g. images, make up most of their size)."""

_MAGIC_CELL_PYTHON = {"time", "timeit", "capture", "prun"}
"""Cell magics whose body is Python that IPython runs: the body is kept (run once)."""

_LINE_MAGIC = re.compile(r"^\s*[%!]")
_HELP = re.compile(r"^\s*(\?\??[\w.]+|[\w.]+\?\??)\s*(#.*)?$")
_ASSIGNED = re.compile(r"^\s*[\w.\[\], ]+?\s*=\s*[%!]\s*[\w/.-]")
_SHOWN_LINE = 80
_NOTES_LISTED = 5


class NotebookError(ValueError):
    """The file is not a notebook this grader can grade (why, in words)."""


@dataclass
class Converted:
    """A notebook as Python: ``source``, and for every line of it (``lines[i]`` for line
    ``i + 1``) the ``(cell, line)`` it came from; ``notes`` say what was left out."""

    source: str
    lines: list[tuple[int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    code_cells: int = 0

    def locate(self, line: int) -> tuple[int, int] | None:
        """The ``(cell, line in cell)`` of line ``line`` (1-based) of the converted file."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return None

    def map_text(self, text: str, converted: str, notebook: str) -> str:
        """``text`` (a traceback, an error message) with every location in the converted file
        ``converted`` (its file name, e.g. ``mlp.py``) given as the notebook's cell and line:
        ``File "/sandbox/mlp.py", line 12`` -> ``File "mlp.ipynb", cell 3, line 2`` and
        ``(mlp.py, line 12)`` -> ``(mlp.ipynb, cell 3, line 2)``."""
        if not text or converted not in text:
            return text
        name = re.escape(converted)

        def where(line: str) -> str:
            found = self.locate(int(line))
            return f"cell {found[0]}, line {found[1]}" if found else f"line {line}"

        text = re.sub(r'File "(?:[^"\n]*/)?' + name + r'", line (\d+)',
                      lambda m: f'File "{notebook}", {where(m.group(1))}', text)
        return re.sub(r"\((?:[^()\n]*/)?" + name + r", line (\d+)\)",
                      lambda m: f"({notebook}, {where(m.group(1))})", text)


def _cell_text(cell: Any) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _short(line: str) -> str:
    line = line.strip()
    return line if len(line) <= _SHOWN_LINE else line[:_SHOWN_LINE] + "..."


def _in_string(line: str, state: str | None) -> str | None:
    """The triple quote still open after ``line`` (``'''``, ``\"\"\"`` or None), given the one
    open before it. A line-level approximation, enough to leave a ``!`` or ``%`` that starts a
    line inside a docstring alone."""
    i = 0
    while i < len(line):
        if state is None and line[i] == "#":
            return None
        for quote in ('"""', "'''"):
            if line.startswith(quote, i) and state in (None, quote):
                state = None if state == quote else quote
                i += 3
                break
        else:
            if line[i] == "\\":
                i += 1
            i += 1
    return state


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _python_notebook(nb: Any) -> None:
    meta = nb.get("metadata") or {}
    info = meta.get("language_info") or {}
    kernel = meta.get("kernelspec") or {}
    language = (info.get("name") if isinstance(info, dict) else None) or (
        kernel.get("language") if isinstance(kernel, dict) else None) or "python"
    if not isinstance(language, str) or language.strip().lower() not in ("python", "python3",
                                                                           "ipython", "ipython3"):
        raise NotebookError(f"it is a {str(language)[:40]!r} notebook; only Python notebooks are "
                            f"graded (a JavaScript submission is a .js or .mjs file)")


def convert_notebook(data: bytes, name: str = "notebook.ipynb") -> Converted:
    """The Python file for the notebook ``data`` (the file's bytes); NotebookError when it is
    not a Python notebook that can be read."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{name} is {len(data) >> 20} MiB; notebooks over "
                            f"{MAX_NOTEBOOK_BYTES >> 20} MiB are not read (clear the outputs "
                            f"before submitting)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{name} is not UTF-8 text, so not a notebook ({exc})") from None
    try:
        import nbformat
        from nbformat.reader import reads as read_any

        with warnings.catch_warnings():  # missing cell ids and the like: not the student's worry
            warnings.simplefilter("ignore")
            nb = nbformat.convert(read_any(text), 4)
    except ImportError as exc:  # the grader's environment, not the student
        raise RuntimeError(f"nbformat is needed to grade notebooks: pip install nbformat "
                           f"({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - any malformed notebook, whatever nbformat raises
        raise NotebookError(f"{name} is not a notebook nbformat can read: "
                            f"{type(exc).__name__}: {str(exc)[:300]}") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{name} has no list of cells: not a notebook")
    _python_notebook(nb)
    return _convert_cells(cells, name)


_IPYTHON_SHIM = (
    "display = lambda *objs, **kwargs: print(*objs); get_ipython = lambda: type("
    "'NoIPython', (), {'__getattr__': lambda self, name: (lambda *args, **kwargs: None)})()"
)
"""One line before the first cell where the notebook calls IPython's ``display`` or
``get_ipython``, which a notebook has without importing them: a correct notebook that shows a
result with ``display`` used to fail at load with a NameError and score 0."""


def _convert_cells(cells: list[Any], name: str) -> Converted:
    out: list[str] = []
    where: list[tuple[int, int]] = []
    ignored: list[str] = []
    skipped: list[str] = []
    other = 0
    code = 0
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            other += 1
            continue
        code += 1
        source = _cell_text(cell)
        lines = source.splitlines()
        first = lines[0].strip() if lines else ""
        keep_from = len(lines) if _parses(source) else 0  # plain Python: kept as it is
        if first.startswith("%%"):
            magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
            if magic not in _MAGIC_CELL_PYTHON:
                skipped.append(f"cell {number} ({_short(first)})")
                lines = [""] * len(lines)
            else:
                ignored.append(f"cell {number}, line 1: {_short(first)}")
                lines[0] = "pass"
                keep_from = 1
        state: str | None = None
        for index, line in enumerate(lines, start=1):
            if index > keep_from and state is None and (
                    _LINE_MAGIC.match(line) or _HELP.match(line) or _ASSIGNED.match(line)):
                ignored.append(f"cell {number}, line {index}: {_short(line)}")
                indent = line[:len(line) - len(line.lstrip())]
                line = f"{indent}pass  # not run: IPython syntax"
            else:
                state = _in_string(line, state)
            out.append(line)
            where.append((number, index))
    body = "\n".join(out)
    shims = [n for n in ("display", "get_ipython") if re.search(rf"\b{n}\s*\(", body)]
    if shims and not body.lstrip().startswith("from __future__"):  # those must come first
        out.insert(0, _IPYTHON_SHIM)
        where.insert(0, (0, 0))
    notes = [f"{name}: graded from its {code} code cell{'s' if code != 1 else ''}, run in order "
             f"as one Python file (cells are numbered from the top, markdown included; "
             f"{other} markdown or raw cell{'s' if other != 1 else ''} ignored)"]
    if ignored:
        shown = "; ".join(ignored[:_NOTES_LISTED])
        more = f"; and {len(ignored) - _NOTES_LISTED} more" if len(ignored) > _NOTES_LISTED else ""
        notes.append(f"{name}: {len(ignored)} line{'s' if len(ignored) != 1 else ''} of IPython "
                     f"syntax (magics, shell escapes, help) not run, as a plain Python file "
                     f"cannot run them: {shown}{more}")
    if shims and out and out[0] == _IPYTHON_SHIM:
        notes.append(f"{name}: {' and '.join(n + '()' for n in shims)} of IPython run as in a "
                     f"plain Python file: display() prints its arguments, get_ipython() "
                     f"does nothing")
    if skipped:
        notes.append(f"{name}: cells whose cell magic runs something other than Python were not "
                     f"run: {'; '.join(skipped[:_NOTES_LISTED])}"
                     + (f"; and {len(skipped) - _NOTES_LISTED} more"
                        if len(skipped) > _NOTES_LISTED else ""))
    return Converted("\n".join(out) + "\n", where, notes, code)
