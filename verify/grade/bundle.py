"""``python -m verify grade bundle``: build a Gradescope autograder bundle (a zip).

The zip holds, at its root (Gradescope unpacks it to ``/autograder/source``): ``setup.sh``,
``run_autograder``, the grader (``verify/``, ``reference_mlp/``), ``pyproject.toml`` and the
rubric. ``setup.sh`` installs Python, numpy/tabulate/tqdm in ``/opt/verify-venv`` (torch is not
needed to grade), bubblewrap (used where the container allows namespaces; otherwise the
rlimits fallback runs), Node.js and the runner's math.js for JavaScript assignments, and makes
``/autograder/source`` readable by root only: the fallback runs each child as an unprivileged uid,
which then cannot read the grader or the reference.

    python -m verify grade bundle --out autograder.zip [--language python|js] [--entry mlp.py]
                                  [--rubric rubric.toml] [--sandbox auto]
"""

from __future__ import annotations

import argparse
import shlex
import stat
import sys
import zipfile
from pathlib import Path

from .rubric import load_rubric

__all__ = ["build_bundle", "main"]

_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("verify", "reference_mlp")
_SKIP_DIRS = {"__pycache__", "node_modules", ".pytest_cache", ".mypy_cache"}

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap {apt_extra}
python3 -m venv /opt/verify-venv
/opt/verify-venv/bin/pip install --no-cache-dir "numpy>=1.26" "tabulate>=0.9" "tqdm>=4.66"
{js_setup}
# The grader and the reference: root only. Children run as unprivileged uids in the fallback;
# they may read the runners' own files (not secret) and nothing else of the source.
chmod -R go-rwx /autograder/source
chmod o+x /autograder/source /autograder/source/verify /autograder/source/verify/grade
chmod -R o+rX /autograder/source/verify/grade/runners
chmod -R o+rX /opt/verify-venv
"""

JS_SETUP = """\
if [ -f /autograder/source/verify/grade/runners/js/package-lock.json ]; then
  (cd /autograder/source/verify/grade/runners/js && npm ci --omit=dev --no-audit --no-fund)
fi
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. Exit 0 with a valid results.json, whatever happens.
cd /autograder/source
mkdir -p /autograder/results
PYTHONPATH=/autograder/source /opt/verify-venv/bin/python -m verify grade \\
  --gradescope /autograder/submission {entry} --results /autograder/results/results.json \\
  {rubric} --sandbox {sandbox} || true
if ! /opt/verify-venv/bin/python -c "import json,sys; json.load(open(sys.argv[1]))" \\
     /autograder/results/results.json 2>/dev/null; then
  echo '{{"score": 0, "output": "The autograder failed to run; please contact the course staff.", "tests": []}}' \\
    > /autograder/results/results.json
fi
exit 0
"""


def _add_tree(zf: zipfile.ZipFile, folder: Path, arc: str) -> None:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _SKIP_DIRS for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            zf.write(path, f"{arc}/{rel.as_posix()}")


def _add_text(zf: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name)
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)


def build_bundle(out: str | Path, *, language: str = "python", entry: str | None = None,
                 rubric: str | Path | None = None, sandbox: str = "auto") -> Path:
    """Write the autograder zip to ``out`` and return its path."""
    if language not in ("python", "js"):
        raise ValueError(f"--language must be 'python' or 'js', got {language!r}")
    if sandbox not in ("auto", "bwrap", "rlimits"):
        raise ValueError(f"--sandbox must be auto, bwrap or rlimits, got {sandbox!r}")
    load_rubric(rubric)  # validate now, not on Gradescope
    out = Path(out)
    if out.suffix != ".zip":
        raise ValueError(f"--out must name a .zip file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rubric_arg = ""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for pkg in _PACKAGES:
            _add_tree(zf, _ROOT / pkg, pkg)
        if (_ROOT / "pyproject.toml").is_file():
            zf.write(_ROOT / "pyproject.toml", "pyproject.toml")
        if rubric is not None:
            name = "rubric" + Path(rubric).suffix.lower()
            zf.write(rubric, name)
            rubric_arg = f"--rubric {name}"
        js = language == "js"
        _add_text(zf, "setup.sh", SETUP_SH.format(
            apt_extra="nodejs npm" if js else "", js_setup=JS_SETUP if js else ""), True)
        _add_text(zf, "run_autograder", RUN_AUTOGRADER.format(
            entry=f"--entry {shlex.quote(entry)}" if entry else "", rubric=rubric_arg,
            sandbox=sandbox), True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m verify grade bundle",
                                description="Build a Gradescope autograder zip.")
    p.add_argument("--out", default="autograder.zip", help="the zip to write (default %(default)s)")
    p.add_argument("--language", choices=("python", "js"), default="python",
                   help="the assignment's language (js also installs Node.js and math.js)")
    p.add_argument("--entry", help="the file name students submit (e.g. mlp.py); default: the "
                                   "one supported file in the submission")
    p.add_argument("--rubric", help="a rubric override (.toml or .json) to ship")
    p.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "rlimits"))
    args = p.parse_args(argv)
    try:
        out = build_bundle(args.out, language=args.language, entry=args.entry,
                           rubric=args.rubric, sandbox=args.sandbox)
    except (ValueError, OSError) as exc:
        print(f"python -m verify grade bundle: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment "
          f"(base image: Ubuntu; setup.sh installs everything)")
    return 0
