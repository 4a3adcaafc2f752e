"""Text from submissions (verify/grade/text.py): storable in PostgreSQL's JSON types, and unable
to drive the grader's terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from points import TOTAL, points

from verify.grade.text import safe_json, safe_text

CORRECT = Path(__file__).parent / "submissions" / "python" / "correct_snake_exact.py"
REPO = Path(__file__).resolve().parents[1]
# What PostgreSQL's json/jsonb reject: NUL (\u0000) and unpaired surrogates (\udce9).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(raw: str) -> list[str]:
    """Every string in the JSON document ``raw`` (keys too) holding what PostgreSQL rejects."""
    found: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, str):
            found.extend([v] if UNSTORABLE.search(v) else [])
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(json.loads(raw))
    return found


def test_control_characters_surrogates_and_bidi_marks_become_visible_escapes() -> None:
    assert safe_text("a\x00b") == "a\\x00b"
    assert safe_text("caf" + b"\xe9".decode("utf-8", "surrogateescape")) == "caf\\udce9"
    assert safe_text("\x1b[2J\x1b[Hfake") == "\\x1b[2J\\x1b[Hfake"
    assert safe_text("over\rwrite\x08\x9b") == "over\\x0dwrite\\x08\\x9b"
    assert safe_text("evil\u202etxt.py") == "evil\\u202etxt.py"
    assert safe_text("kept:\n\ttab, é, ∂L/∂W, 漢字") == "kept:\n\ttab, é, ∂L/∂W, 漢字"


@given(st.text())
def test_any_text_becomes_storable_and_stays_so(text: str) -> None:
    safe = safe_text(text)
    assert safe_text(safe) == safe
    raw = json.dumps(safe_json({"output": safe, text: [text]}))
    assert not _unstorable(raw)
    json.dumps(safe_json(text), ensure_ascii=False).encode("utf-8")  # strict: no lone surrogates


def _submission(tmp_path: Path, prefix: str, suffix: str = "") -> Path:
    path = tmp_path / "mlp.py"
    path.write_text(textwrap.dedent(prefix) + CORRECT.read_text() + textwrap.dedent(suffix))
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "verify", "grade", *args], cwd=REPO,
                          capture_output=True, text=True, errors="surrogateescape",
                          env={**os.environ, **(env or {})}, timeout=120)


def test_nul_and_lone_surrogates_never_reach_results_json(tmp_path: Path) -> None:
    sub = _submission(tmp_path, 'print("hello\\x00world")\n', '''
        def mse(y_true, y_pred):
            name = b"caf\\xe9.txt".decode("utf-8", "surrogateescape")
            raise ValueError("bad file " + name + " and \\x00 nul")
        ''')
    out = tmp_path / "results.json"
    done = _cli(str(sub), "--results", str(out), "-q", env={"PYTHONIOENCODING": "utf-8:strict"})
    assert done.returncode == 0, done.stderr  # printing it did not crash the CLI
    raw = out.read_text(encoding="utf-8")
    assert not _unstorable(raw)
    data = json.loads(raw)
    assert "hello\\x00world" in data["output"]
    mse = next(t for t in data["tests"] if t["tags"][0] == "mse")
    assert "bad file caf\\udce9.txt and \\x00 nul" in mse["output"]
    assert data["score"] == TOTAL - points("mse")  # only mse lost its points


def test_printed_escape_codes_cannot_drive_the_terminal(tmp_path: Path) -> None:
    sub = _submission(tmp_path, 'print("\\x1b[2J\\x1b[H" + "Total: 100 / 100")\n', '''
        def mse(y_true, y_pred):
            raise ValueError("\\x1b[1A\\x1b[2K\\rall good")
        ''')
    done = _cli(str(sub), "-v")
    assert done.returncode == 0
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    assert "\\x1b[2J\\x1b[HTotal: 100 / 100" in done.stdout
    assert f"Total: {TOTAL - points('mse'):g} / {TOTAL:g}" in done.stdout
