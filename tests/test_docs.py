"""Every code block in README.md and docs/ runs as written.

``python`` blocks run in a fresh interpreter, ``bash``/``sh`` blocks in bash (``-euo
pipefail``), each in an empty temporary directory where ``tests/`` and ``docs/`` link to the
repository's (so a block can name the corpus and the example files, and nothing it writes lands
in the repository). Blocks in other
languages are not run: ``text`` (output, listings), ``toml``/``json``/``yaml`` (configuration,
validated where a page says so), ``js`` (must be a file of the JavaScript corpus, graded by its
tests).
The first block of README.md is the set-up itself (CI runs it). A block preceded by
``<!-- docs-test: skip (why) -->`` is not run; each such skip must say why.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.M | re.S)
RUN = {"python", "bash", "sh"}
SHOWN = {"text", "toml", "json", "js", "yaml"}
SKIP = re.compile(r"<!-- docs-test: skip \((.+?)\) -->\s*$")


def _blocks() -> list[tuple[Path, int, str, str, str | None]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = SKIP.search(before)
            found.append((page, line, m.group(1), m.group(2), skip.group(1) if skip else None))
    return found


BLOCKS = _blocks()


def _id(block: tuple[Path, int, str, str, str | None]) -> str:
    return f"{block[0].relative_to(REPO)}:{block[1]}"


def test_every_block_says_its_language() -> None:
    bad = [_id(b) for b in BLOCKS if b[2] not in RUN | SHOWN]
    assert not bad, f"code blocks with no or an unknown language tag: {bad}"


def test_js_blocks_are_files_of_the_tested_corpus() -> None:
    corpus = {p.read_text() for p in (REPO / "tests" / "submissions").rglob("*.js")}
    for block in BLOCKS:
        if block[2] == "js":
            assert block[3] in corpus, f"{_id(block)}: not a file of tests/submissions"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b[2] in RUN], ids=_id)
def test_block_runs_as_written(block: tuple[Path, int, str, str, str | None],
                               tmp_path: Path) -> None:
    page, line, lang, code, skip = block
    if page.name == "README.md" and block is BLOCKS[0]:
        pytest.skip("the set-up commands: CI runs them (.ci/run)")
    if skip is not None:
        pytest.skip(skip)
    for name in ("tests", "docs"):  # read-only inputs a block may name
        (tmp_path / name).symlink_to(REPO / name)
    argv = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail",
                                                                  "-c", code]
    env = {**os.environ, "VERIFY_DOCS_TEST": "1"}
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, (f"{_id(block)} exited {done.returncode}\n--- stdout\n"
                                  f"{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        text = BLOCK.sub("", page.read_text(encoding="utf-8"))
        for target in LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, broken


def test_readmes_own_backprop_example_is_a_users_model() -> None:
    """Issue 12: the quick example for "check my own backprop" checks a duck-typed model of the
    reader's own (a custom activation, a layer without a bias), not the reference network."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Check my own backprop", 1)[1].split("\n## ", 1)[0]
    code = next(m.group(2) for m in BLOCK.finditer(section) if m.group(1) == "python")
    assert "reference_mlp" not in code
    assert "def forward" in code and "def backward" in code
    assert "bias=False" in code and "class Swish" in code
    assert "check_gradients(model, x, y)" in code
