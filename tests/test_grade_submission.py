"""Multi-file submissions (verify/grade/submission.py): the entry file, the helper modules copied
beside it (and nothing else), and the choice of the entry in a folder."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from verify.grade import grade_submission
from verify.grade.assignments import load_assignment
from verify.grade.runners.node import NodeRunner
from verify.grade.sandbox import bwrap_unavailable_reason
from verify.grade.seeding import derive_seed
from verify.grade.submission import (
    MAX_HELPERS,
    Submission,
    defined_names,
    find_submission,
    helpers_beside,
)

MULTI = Path(__file__).parent / "submissions" / "multifile"
CONTRACT = load_assignment("mlp").contract
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    bwrap_unavailable_reason() is not None, reason=f"bwrap: {bwrap_unavailable_reason()}"))]
needs_node = pytest.mark.skipif(NodeRunner().unavailable_reason() is not None,
                                reason=f"node: {NodeRunner().unavailable_reason()}")


def _found(folder: Path, entry: str | None = None) -> Submission:
    found = find_submission(folder, entry, CONTRACT)
    assert isinstance(found, Submission), found
    return found


def _names(paths: tuple[Path, ...]) -> list[str]:
    return sorted(p.name for p in paths)


# ------------------------------------------------------------------------------ the entry


def test_the_entry_is_the_file_defining_the_contract() -> None:
    sub = _found(MULTI / "python" / "correct")
    assert sub.entry.name == "mlp.py"
    assert _names(sub.helpers) == ["activations.py", "layers.py", "losses.py"]  # not README.md
    assert defined_names(sub.entry, CONTRACT) == {"DenseLayer", "MLP", "mse", "mse_derivative"}
    assert defined_names(MULTI / "python" / "correct" / "layers.py", CONTRACT) == {"DenseLayer"}
    js = _found(MULTI / "js" / "correct")
    assert js.entry.name == "mlp.js" and _names(js.helpers) == ["activations.js", "layers.js",
                                                                  "losses.js"]


def test_several_candidates_name_the_files_and_suggest_entry(tmp_path: Path) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("class DenseLayer: pass\nclass MLP: pass\n")
    (tmp_path / "c.py").write_text("x = 1\n")
    found = find_submission(tmp_path, None, CONTRACT)
    assert isinstance(found, str)
    assert "several candidate files: a.py, b.py, c.py" in found and "--entry" in found
    assert _found(tmp_path, "b.py").entry.name == "b.py"
    assert _names(_found(tmp_path, "b.py").helpers) == ["a.py", "c.py"]
    missing = find_submission(tmp_path, "mlp.py", CONTRACT)
    assert isinstance(missing, str) and "mlp.py is not among them" in missing


def test_tests_and_files_that_do_not_parse_are_judged_fairly(tmp_path: Path) -> None:
    """A student's test file imports every name too: it is not the entry. A file that does
    not parse is read as words (its syntax error is then the student's feedback)."""
    (tmp_path / "mlp.py").write_text("class DenseLayer:\n    pass\nclass MLP\n    pass\n"
                                     "def mse(): pass\ndef mse_derivative(): pass\n")
    (tmp_path / "test_mlp.py").write_text("from mlp import DenseLayer, MLP, mse, mse_derivative\n")
    assert _found(tmp_path).entry.name == "mlp.py"
    (tmp_path / "only_tests").mkdir()
    (tmp_path / "only_tests" / "test_mlp.py").write_text("from mlp import MLP\n")
    assert _found(tmp_path / "only_tests").entry.name == "test_mlp.py"  # the only candidate


def test_nothing_in_a_folder_makes_the_search_raise(tmp_path: Path) -> None:
    assert find_submission(tmp_path, None, CONTRACT) == \
        f"no submission file (.ipynb, .js, .mjs, .py) in {tmp_path.name}"
    deep = tmp_path / "deep"
    for _ in range(40):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "mlp.py").write_text("class MLP: pass\n")
    (tmp_path / "link.py").symlink_to("/etc/passwd")
    (tmp_path / "weird \udce9 name.py").write_bytes(b"\xff\xfe not utf-8 \x00")
    (tmp_path / "bomb.py").write_text("(" * 200_000)  # the parser's recursion limit
    (tmp_path / ".hidden.py").write_text("class MLP: pass\n")
    found = find_submission(tmp_path, None, CONTRACT)
    # The link is named (grading it would say it is a link), never read through.
    assert isinstance(found, str) and "several candidate files: bomb.py, link.py, weird" in found
    assert ".hidden" not in found and "/d/d/d/d/d/d/d/" not in found


def test_a_file_too_deep_to_be_searched_is_said_not_hidden(tmp_path: Path) -> None:
    """'no submission file' for a folder whose only file lay 7 levels down: the search's bound
    must be named, or the student is told there is nothing when there is."""
    deep = tmp_path / "a" / "b" / "c" / "d" / "e" / "f" / "g"
    deep.mkdir(parents=True)
    (deep / "mlp.py").write_text("class MLP: pass\n")
    found = find_submission(tmp_path, None, CONTRACT)
    assert isinstance(found, str) and found.startswith("no submission file")
    assert "folders more than 6 levels deep were not searched" in found
    shallow = tmp_path / "a" / "b" / "c" / "d" / "e" / "f"  # 6 levels: searched
    (shallow / "mlp.py").write_text("class MLP: pass\n")
    assert not isinstance(find_submission(tmp_path, None, CONTRACT), str)


def test_helpers_left_out_are_named(tmp_path: Path) -> None:
    entry = tmp_path / "mlp.py"
    entry.write_text("")
    (tmp_path / "big.py").write_bytes(b"#" * (3 << 20))
    (tmp_path / "linked.py").symlink_to(entry)
    (tmp_path / "my helper.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "other.js").write_text("")
    for i in range(MAX_HELPERS + 2):
        (tmp_path / f"h{i:02d}.py").write_text("")
    helpers, notes = helpers_beside(entry)
    assert len(helpers) == MAX_HELPERS and all(h.suffix == ".py" for h in helpers)
    assert len(notes) == 1
    for why in ("big.py (over 2 MiB)", "linked.py (a symbolic link)", "my helper.py (use "
                "letters", f"h{MAX_HELPERS + 1:02d}.py (more than {MAX_HELPERS} helper files)"):
        assert why in notes[0]
    assert "notes.txt" not in notes[0] and "other.js" not in notes[0]


# ------------------------------------------------------------------------------ grading


def test_the_seed_covers_every_file(tmp_path: Path) -> None:
    """One file: its content alone, as always; several: every file's name and content."""
    src = MULTI / "python" / "correct"
    folder = tmp_path / "s"
    shutil.copytree(src, folder)
    sub = _found(folder)
    single = grade_submission(folder / "losses.py", fd_check=False, secret=b"k" * 32,
                              assignment="losses")
    assert single.seed == derive_seed((folder / "losses.py").read_bytes(), b"k" * 32)
    files = [(f.name, f.read_bytes()) for f in sub.files]
    report = grade_submission(sub, fd_check=False, sandbox="rlimits")
    assert report.seed == derive_seed(files) and report.seed_source == "content"
    (folder / "layers.py").write_text((folder / "layers.py").read_text() + "\n# edited\n")
    assert grade_submission(_found(folder), fd_check=False, sandbox="rlimits").seed != report.seed


@pytest.mark.parametrize("mode", MODES)
def test_multi_file_python_correct_and_buggy(mode: str) -> None:
    report = grade_submission(_found(MULTI / "python" / "correct"), seed=7, sandbox=mode)
    assert report.score == report.max_score == 108, [t.output for t in report.tests
                                                     if not t.passed]
    buggy = _found(MULTI / "python" / "buggy_not_chained")
    expected = re.search(r"EXPECT: (\w+)", buggy.entry.read_text())
    assert expected
    report = grade_submission(buggy, seed=7, sandbox=mode)
    net = next(t for t in report.tests if t.id == "network_backward")
    assert report.score < report.max_score and net.diagnoses[0] == expected.group(1)
    assert "your BACKWARD is at fault" in net.output


@needs_node
@pytest.mark.parametrize("mode", MODES)
def test_multi_file_js_correct_and_buggy(mode: str) -> None:
    report = grade_submission(_found(MULTI / "js" / "correct"), seed=7, sandbox=mode,
                              fd_check=False)
    assert report.score == report.max_score > 0, [t.output for t in report.tests if not t.passed]
    report = grade_submission(_found(MULTI / "js" / "bug_transposed_dweights"), seed=7,
                              sandbox=mode, fd_check=False)
    layer = next(t for t in report.tests if t.id == "backward_relu")
    assert report.score < report.max_score and layer.diagnoses == ["transposed_d_weights"]


@pytest.mark.parametrize("mode", MODES)
def test_only_the_entry_and_its_helpers_reach_the_sandbox(mode: str, tmp_path: Path) -> None:
    folder = tmp_path / "alice"
    shutil.copytree(MULTI / "python" / "correct", folder)
    (folder / "data.csv").write_text("1,2\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "deeper.py").write_text("")
    entry = folder / "mlp.py"
    entry.write_text("import os\nprint('FILES', sorted(os.listdir(os.path.dirname("
                     "os.path.abspath(__file__)))))\n" + entry.read_text())
    report = grade_submission(_found(folder), seed=3, sandbox=mode, fd_check=False)
    assert report.score == report.max_score == 108
    listed = re.search(r"FILES (\[.*?\])", report.student_output)
    assert listed, report.student_output
    assert listed.group(1) == str(sorted(["mlp.py", "activations.py", "layers.py", "losses.py"]))


def test_a_missing_helper_is_the_students_import_error(tmp_path: Path) -> None:
    folder = tmp_path / "bob"
    shutil.copytree(MULTI / "python" / "correct", folder)
    os.remove(folder / "losses.py")
    report = grade_submission(_found(folder), seed=3, sandbox="rlimits", fd_check=False)
    assert report.graded and report.score == 0
    assert "ModuleNotFoundError: while loading the submission: No module named 'losses'" in \
        report.tests[0].output
