#!/usr/bin/env bash
# Installs everything the project needs, into the active Python environment (a venv is best):
#   - torch 2.13.0, the CPU build: from PyTorch's CPU wheel index when it answers (plain PyPI's
#     torch is the CUDA build: ~2.6 GB with its nvidia-* and triton packages), else the plain pin;
#   - then the project and its other Python packages (pip install -e ".[test]");
#   - Node.js and npm (Debian's, only where `node` is missing) and the math.js the JS grader runs, from the
#     committed lock file (npm ci), so nothing is fetched at grading time;
#   - bubblewrap for the grader's sandbox, where it is missing (the grader falls back to rlimits without it).
# System packages are installed only as root with apt-get; otherwise the script says what is missing.
#
# Where torch comes from, VERIFY_TORCH_INDEX:
#   auto (default)  the CPU index if it answers within 4 seconds, else the plain pin (pip's own
#                   configuration decides: a local CPU wheel, or PyPI's CUDA build);
#   cpu             the CPU index, no probe;    pypi   the plain pin, no probe;
#   <URL>           that package index.
# VERIFY_TORCH_CPU_INDEX replaces the CPU index's URL (a mirror; the tests use a local stand-in).
#   bash scripts/setup.sh --dry-run   prints the two pip commands it would run, and runs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH="torch==2.13.0"
CPU_INDEX="${VERIFY_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
PROBE_S=4  # the longest the CPU index may take to answer (pip would retry it for minutes)

dry_run=0
case "${1:-}" in
    "") ;;
    --dry-run) dry_run=1 ;;
    *) echo "usage: bash scripts/setup.sh [--dry-run]" >&2; exit 2 ;;
esac

# Does the index at $1 serve torch: an HTTP 200 for its torch page within PROBE_S seconds, name
# resolution included (the request runs in a thread that the probe stops waiting for)?
index_answers() {
    python - "${1%/}/torch/" "$PROBE_S" <<'EOF'
import os, sys, threading, urllib.request

url, limit = sys.argv[1], float(sys.argv[2])
answer = []

def probe() -> None:
    try:
        with urllib.request.urlopen(url, timeout=limit) as response:
            answer.append(response.status)
    except Exception:
        pass

thread = threading.Thread(target=probe, daemon=True)
thread.start()
thread.join(limit)
os._exit(0 if answer == [200] else 1)
EOF
}

torch_index=()
choice="${VERIFY_TORCH_INDEX:-auto}"
case "$choice" in
    auto)
        if index_answers "$CPU_INDEX"; then
            torch_index=(--index-url "$CPU_INDEX")
        else
            echo "setup: PyTorch's CPU wheel index ($CPU_INDEX) is unreachable or did not" \
                 "answer within ${PROBE_S}s: installing the plain $TORCH (from plain PyPI that is" \
                 "the CUDA build, several GB; VERIFY_TORCH_INDEX=cpu insists on the CPU index)" >&2
        fi ;;
    cpu) torch_index=(--index-url "$CPU_INDEX") ;;
    pypi) ;;
    http://*|https://*|file://*) torch_index=(--index-url "$choice") ;;
    *) echo "setup: VERIFY_TORCH_INDEX must be auto, cpu, pypi or an index URL, got '$choice'" >&2
       exit 2 ;;
esac
torch_cmd=(python -m pip install "${torch_index[@]}" "$TORCH")
project_cmd=(python -m pip install -e ".[test]")
if [ "$dry_run" = 1 ]; then
    echo "${torch_cmd[*]}"
    echo "${project_cmd[*]}"
    exit 0
fi
echo "+ ${torch_cmd[*]}"
"${torch_cmd[@]}"
echo "+ ${project_cmd[*]}"
"${project_cmd[@]}"

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
