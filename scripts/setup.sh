#!/usr/bin/env bash
# Installs everything the project needs, into the active Python environment (a venv is best):
#   - the Python packages, torch pinned to the 2.13.0 CPU wheel (a looser pin pulls a multi-GB CUDA build);
#   - Node.js and npm (Debian's, only where `node` is missing) and the math.js the JS grader runs, from the
#     committed lock file (npm ci), so nothing is fetched at grading time;
#   - bubblewrap for the grader's sandbox, where it is missing (the grader falls back to rlimits without it).
# System packages are installed only as root with apt-get; otherwise the script says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install "torch==2.13.0" -e ".[test]"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: missing ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})." >&2
        echo "setup: until then JS submissions get an error result and the sandbox uses rlimits only." >&2
    fi
fi

major=$(node --version 2>/dev/null | sed -n 's/^v\([0-9][0-9]*\)\..*/\1/p')
if [ -n "$major" ] && [ "$major" -lt 20 ]; then
    echo "setup: Node.js $(node --version) found; the JS grader wants >= 20 (Node's permission model is its" >&2
    echo "setup: file and process guard in the rlimits sandbox; math.js needs >= 18). VERIFY_NODE=/path/to/node" >&2
    echo "setup: picks another binary (the Gradescope bundle installs Node 20 by itself)." >&2
fi

if [ -f verify/grade/runners/js/package-lock.json ] && command -v npm >/dev/null 2>&1; then
    npm ci --prefix verify/grade/runners/js --no-audit --no-fund --loglevel=error
fi
