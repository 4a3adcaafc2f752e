"""Notebook submissions (verify/grade/notebook.py): graded from their code cells in order,
IPython syntax left out with a note, errors pointing at the cell and line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from verify.grade import grade_submission
from verify.grade.assignments import load_assignment
from verify.grade.notebook import Converted, NotebookError, convert_notebook
from verify.grade.sandbox import bwrap_unavailable_reason
from verify.grade.submission import find_submission

NOTEBOOKS = Path(__file__).parent / "submissions" / "notebooks"
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    bwrap_unavailable_reason() is not None, reason=f"bwrap: {bwrap_unavailable_reason()}"))]


def _nb(*cells: str, markdown_first: bool = True) -> bytes:
    book = new_notebook(cells=([new_markdown_cell("# title")] if markdown_first else [])
                        + [new_code_cell(c) for c in cells])
    return nbformat.writes(book).encode()


def _converted(*cells: str) -> Converted:
    return convert_notebook(_nb(*cells), "nb.ipynb")


# ------------------------------------------------------------------------------ conversion


def test_code_cells_in_order_with_every_line_mapped_back() -> None:
    conv = _converted("import numpy as np", "x = 1\ny = 2", "")
    assert conv.source == "import numpy as np\nx = 1\ny = 2\n"
    assert conv.lines == [(2, 1), (3, 1), (3, 2)]
    assert conv.code_cells == 3
    assert conv.notes == ["nb.ipynb: graded from its 3 code cells, run in order as one Python "
                          "file (cells are numbered from the top, markdown included; 1 markdown "
                          "or raw cell ignored)"]


def test_ipython_syntax_is_left_out_line_for_line_with_a_note() -> None:
    conv = _converted("%matplotlib inline\n!pip install numpy\nfiles = !ls\nimport numpy as np",
                      "def f():\n    !echo hi\n    return 1\nnp.mean?",
                      '"""a docstring\n!not a shell line\n%not a magic\n"""\ns = ("%d"\n     % 3)')
    lines = conv.source.splitlines()
    assert lines[:4] == ["pass  # not run: IPython syntax"] * 3 + ["import numpy as np"]
    assert lines[5] == "    pass  # not run: IPython syntax"  # its indentation kept
    assert lines[7] == "pass  # not run: IPython syntax"
    assert lines[8:] == ['"""a docstring', "!not a shell line", "%not a magic", '"""',
                         's = ("%d"', "     % 3)"]  # a cell that parses is kept as it is
    assert len(lines) == len(conv.lines)
    compile(conv.source, "nb.py", "exec")
    assert "5 lines of IPython syntax" in conv.notes[1]
    assert "cell 2, line 1: %matplotlib inline; cell 2, line 2: !pip install numpy" in conv.notes[1]
    assert "and 0 more" not in conv.notes[1]


def test_cell_magics() -> None:
    conv = _converted("%%time\nx = 1\ny = x + 1", "%%bash\necho not python\nls",
                      "%%writefile a.py\nz")
    assert conv.source.splitlines() == ["pass", "x = 1", "y = x + 1", "", "", "", "", ""]
    assert "cell 2, line 1: %%time" in conv.notes[1]
    assert conv.notes[2] == ("nb.ipynb: cells whose cell magic runs something other than Python "
                             "were not run: cell 3 (%%bash); cell 4 (%%writefile a.py)")


def test_locations_become_cells_and_lines() -> None:
    conv = _converted("a = 1\nb = 2", "def f():\n    return g()")
    text = ('Traceback (most recent call last):\n  File "/sandbox/nb.py", line 4, in f\n'
            "    return g()\nNameError: x\ninvalid syntax (nb.py, line 3)\n"
            'File "/sandbox/other.py", line 4\nFile "/sandbox/nb.py", line 99')
    mapped = conv.map_text(text, "nb.py", "nb.ipynb")
    assert 'File "nb.ipynb", cell 3, line 2, in f' in mapped
    assert "(nb.ipynb, cell 3, line 1)" in mapped
    assert 'File "/sandbox/other.py", line 4' in mapped  # a helper module: left alone
    assert 'File "nb.ipynb", line 99' in mapped  # beyond the file: no cell to name


@pytest.mark.parametrize(("data", "why"), [
    (b"{not json", "not a notebook nbformat can read"),
    (b'{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "TypeError"),
    (b'{"cells": ["junk"], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     "ValidationError"),
    (b"\xff\xfe\x00", "not UTF-8 text"),
    (json.dumps({"cells": [], "metadata": {"kernelspec": {"language": "javascript"}},
                 "nbformat": 4, "nbformat_minor": 5}).encode(), "a 'javascript' notebook"),
])
def test_what_is_not_a_python_notebook_says_why(data: bytes, why: str) -> None:
    with pytest.raises(NotebookError, match=re.escape(why)):
        convert_notebook(data, "nb.ipynb")


def test_odd_cells_and_old_notebooks_are_read() -> None:
    """Sources as lists of lines, raw cells, no cell ids, a version 3 notebook (worksheets)."""
    odd = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "y = 2"], "metadata": {},
                      "outputs": [], "execution_count": None},
                     {"cell_type": "raw", "source": "!not run", "metadata": {}}],
           "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    assert convert_notebook(json.dumps(odd).encode()).source == "x = 1\ny = 2\n"
    v3 = {"metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0,
          "worksheets": [{"cells": [{"cell_type": "code", "input": "z = 3", "language": "python",
                                     "outputs": [], "metadata": {}}], "metadata": {}}]}
    assert convert_notebook(json.dumps(v3).encode()).source == "z = 3\n"


# ------------------------------------------------------------------------------ grading


@pytest.mark.parametrize("mode", MODES)
def test_correct_and_buggy_notebooks(mode: str) -> None:
    report = grade_submission(NOTEBOOKS / "correct_lesson.ipynb", seed=7, sandbox=mode)
    assert report.score == report.max_score == 108, [t.output for t in report.tests
                                                     if not t.passed]
    assert report.language == "python" and report.submission.endswith("correct_lesson.ipynb")
    notes = "\n".join(report.notes)
    assert "graded from its 8 code cells" in notes and "cell 2, line 1: %matplotlib inline" in notes
    assert "cell 11 (%%bash)" in notes
    buggy = NOTEBOOKS / "buggy_missing_activation_derivative.ipynb"
    expected = re.search(r"EXPECT: (\w+)", buggy.read_text())
    assert expected
    report = grade_submission(buggy, seed=7, sandbox=mode)
    layer = next(t for t in report.tests if t.id == "backward_tanh")
    assert report.score < report.max_score and layer.diagnoses == [expected.group(1)]
    assert "your BACKWARD is at fault" in layer.output


@pytest.mark.parametrize("mode", MODES)
def test_errors_point_at_the_cell_and_line(mode: str) -> None:
    report = grade_submission(NOTEBOOKS / "crash_attribute_error.ipynb", seed=7, sandbox=mode)
    out = report.tests[0].output
    assert 'File "crash_attribute_error.ipynb", cell 7, line 14, in backward' in out
    assert "self.d_weights = self.input.T @ dz  # typo: input" in out  # the source line too
    assert "/sandbox/" not in out and "crash_attribute_error.py" not in out
    report = grade_submission(NOTEBOOKS / "bad_syntax_error.ipynb", seed=7, sandbox=mode)
    assert report.score == 0
    assert "SyntaxError: while loading the submission: expected ':' (bad_syntax_error.ipynb, " \
           "cell 8, line 8)" in report.tests[0].output


def test_a_notebook_that_cannot_be_read_is_not_graded(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ipynb"
    bad.write_text('{"cells": [')
    report = grade_submission(bad, seed=1)
    assert not report.graded
    assert "broken.ipynb is not a notebook nbformat can read" in report.notes[0]


def test_a_notebook_may_import_helper_modules_beside_it(tmp_path: Path) -> None:
    """The notebook is the entry (it defines the contract's names); losses.py is copied
    beside the converted file."""
    folder = tmp_path / "carol"
    folder.mkdir()
    book = nbformat.read(NOTEBOOKS / "correct_lesson.ipynb", as_version=4)
    for cell in book.cells:
        if "def mse(" in cell.source:
            cell.source = "from losses import mse, mse_derivative"
    nbformat.write(book, folder / "mlp.ipynb")
    shutil.copy(Path(__file__).parent / "submissions" / "multifile" / "python" / "correct" /
                "losses.py", folder / "losses.py")
    found = find_submission(folder, None, load_assignment("mlp").contract)
    assert not isinstance(found, str) and found.entry.name == "mlp.ipynb"
    assert [h.name for h in found.helpers] == ["losses.py"]
    report = grade_submission(found, seed=2, sandbox="rlimits", fd_check=False)
    assert report.score == report.max_score == 108, [t.output for t in report.tests if not t.passed]


@pytest.mark.parametrize("call", ["display(x)", "get_ipython().run_line_magic('time', 'y = 1')"],
                         ids=["display", "get_ipython"])
def test_ipython_builtins_a_notebook_has_without_importing_them_run(
        call: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A correct notebook that showed a value with display() failed at load (NameError) and
    scored 0; errors are still located in the notebook's own cells."""
    conv = convert_notebook(_nb("x = 41 + 1", call, "raise ValueError('here')"))
    assert any("does nothing" in n for n in conv.notes)
    with pytest.raises(ValueError, match="here") as info:
        exec(compile(conv.source, "mlp.py", "exec"), {})
    line = info.traceback[-1].lineno + 1  # pytest's line numbers are 0-based
    assert conv.locate(line) == (4, 1)  # cell 4 (after the markdown cell), its first line
    if call.startswith("display"):
        assert capsys.readouterr().out == "42\n"
