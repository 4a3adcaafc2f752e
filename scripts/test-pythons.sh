#!/usr/bin/env bash
# Runs the grader's tests (tests/test_grade_*.py: rubrics and TOML, bundles, the sandbox, the
# runners) on the oldest Python the project declares (requires-python in pyproject.toml: 3.10,
# the Python of Gradescope's Ubuntu 22.04 image) and on the newest one CI has (3.13). The main
# test run covers the Python of the active environment.
#
# Each interpreter gets its own venv under .venv-pythons/<version> holding what the Gradescope
# bundle installs for the grader (GRADER_REQUIREMENTS in verify/grade/bundle.py: no torch, which
# the grader never imports) plus the test tools pyproject.toml names; the project itself is not
# installed but put on PYTHONPATH, as on Gradescope. A Python that cannot be found is an error,
# never a skip.
#
#   bash scripts/test-pythons.sh [pytest arguments]
#       default: -q -n 2 -m "not corpus_wide" tests/test_grade_*.py. The corpus_wide tests (the
#       diagnosis figures over 141 graded corpus files, draws for 20,000 seeds) are the
#       grader's own numerics over the whole corpus, five minutes per Python: the main run has
#       them. Here the golden lesson-4 scores and diagnoses (39 files) check those numerics in
#       part, with this Python's numpy. `-q -n 2 tests/test_grade_*.py` runs them here too.
#   bash scripts/test-pythons.sh --which              prints "<version> <interpreter>" per Python
#
# Interpreters are looked up as `pyenv root`/versions/<X.Y>.* (newest patch release first), then
# every pythonX.Y on PATH, /usr/bin and /usr/local/bin; the first that runs and is X.Y is used.
# VERIFY_PYTHONS (space-separated) replaces the default list: versions ("3.10 3.12") are looked
# up the same way, paths (/opt/py/bin/python3) are used as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

NEWEST=3.13  # the newest Python CI has; raise it with CI's

die() { echo "test-pythons: $*" >&2; exit 1; }

oldest=$(sed -n 's/^requires-python *= *">= *\([0-9][0-9]*\.[0-9][0-9]*\)".*/\1/p' pyproject.toml)
[ -n "$oldest" ] || die "cannot read the oldest Python from requires-python in pyproject.toml"
read -r -a wanted <<< "${VERIFY_PYTHONS:-$oldest $NEWEST}"
[ "${#wanted[@]}" -gt 0 ] || die "VERIFY_PYTHONS names no Python"

version_of() {  # "3.10" for a Python that runs, nothing otherwise
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

find_python() {  # find_python 3.10 -> the path of a working Python 3.10, or fail
    local v=$1 root c
    local candidates=()
    if root=$(pyenv root 2>/dev/null) || root=${PYENV_ROOT:-$HOME/.pyenv}; then
        while IFS= read -r c; do
            candidates+=("$c/bin/python$v")
        done < <(find "$root/versions" -mindepth 1 -maxdepth 1 -name "$v.*" 2>/dev/null | sort -rV)
    fi
    while IFS= read -r c; do
        candidates+=("$c")
    done < <(type -a -P "python$v" 2>/dev/null || true)
    candidates+=("/usr/bin/python$v" "/usr/local/bin/python$v")
    for c in "${candidates[@]}"; do
        # pyenv's shims exist for every version but run only the selected ones: ask each one.
        if [ -x "$c" ] && [ "$(version_of "$c")" = "$v" ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# Find every interpreter before running anything: a missing one fails at once, by name.
pythons=() versions=() missing=()
for want in "${wanted[@]}"; do
    if [[ $want == */* ]]; then
        v=$(version_of "$want")
        if [ -n "$v" ]; then
            pythons+=("$want") versions+=("$v")
        else
            missing+=("$want (does not run)")
        fi
    elif [[ $want =~ ^[0-9]+\.[0-9]+$ ]]; then
        if py=$(find_python "$want"); then
            pythons+=("$py") versions+=("$want")
        else
            missing+=("Python $want")
        fi
    else
        die "VERIFY_PYTHONS: '$want' is neither a version like 3.10 nor a path to a python"
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    for m in "${missing[@]}"; do echo "test-pythons: MISSING: $m" >&2; done
    die "cannot test the grader on every Python it supports (wanted: ${wanted[*]}). Install the" \
        "missing ones (pyenv install X.Y; Debian/Ubuntu: apt-get install pythonX.Y" \
        "pythonX.Y-venv)," \
        "or point VERIFY_PYTHONS at interpreters (paths)."
fi
if [ "${1:-}" = --which ]; then
    for i in "${!pythons[@]}"; do echo "${versions[$i]} ${pythons[$i]}"; done
    exit 0
fi

# The grader's requirements, read from bundle.py without importing it (numpy is not there yet).
requirements() {
    "$1" - <<'EOF'
import ast
tree = ast.parse(open("verify/grade/bundle.py", encoding="utf-8").read())
for node in tree.body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "GRADER_REQUIREMENTS"
                                            for t in node.targets):
        print("\n".join(ast.literal_eval(node.value)))
        break
else:
    raise SystemExit("GRADER_REQUIREMENTS not found in verify/grade/bundle.py")
EOF
}
# The test tools (hypothesis, the test extra), read from pyproject.toml by the venv's python:
# tomllib, or on 3.10 the tomli the grader's requirements just installed.
test_requirements() {
    "$1" - <<'EOF'
try:
    import tomllib
except ImportError:
    import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
tools = [r for r in project["dependencies"] if r.replace(" ", "").startswith("hypothesis")]
print("\n".join(tools + project["optional-dependencies"]["test"]))
EOF
}

if [ $# -gt 0 ]; then args=("$@"); else args=(-q -n 2 -m "not corpus_wide" tests/test_grade_*.py); fi
failed=()
for i in "${!pythons[@]}"; do
    py=${pythons[$i]} v=${versions[$i]}
    venv=.venv-pythons/$v
    echo "== Python $v ($py)"
    if [ "$(version_of "$venv/bin/python")" != "$v" ] \
            || [ "$(cat "$venv/.interpreter" 2>/dev/null)" != "$py" ]; then
        rm -rf "$venv"
        "$py" -m venv "$venv" \
            || die "cannot make a venv with $py (Debian/Ubuntu: install python$v-venv)"
        echo "$py" > "$venv/.interpreter"
    fi
    mapfile -t reqs < <(requirements "$venv/bin/python")
    [ "${#reqs[@]}" -gt 0 ] || die "no grader requirements read from verify/grade/bundle.py"
    "$venv/bin/python" -m pip install -q "${reqs[@]}"
    mapfile -t tools < <(test_requirements "$venv/bin/python")
    [ "${#tools[@]}" -gt 0 ] || die "no test requirements read from pyproject.toml"
    "$venv/bin/python" -m pip install -q "${tools[@]}"
    echo "+ python$v -m pytest ${args[*]@Q}"
    if ! PYTHONPATH="$PWD" "$venv/bin/python" -m pytest "${args[@]}"; then
        failed+=("$v")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    die "the grader's tests FAILED on Python ${failed[*]}"
fi
echo "test-pythons: the grader's tests passed on Python ${versions[*]}"
