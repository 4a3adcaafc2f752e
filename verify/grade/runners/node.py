"""The Node runner's entry: how to start ``js/node_runner.js`` on a ``.js``/``.mjs`` submission.

The child is a small trusted supervisor (``node_runner.js``) that starts the submission in a
second Node process (``node_worker.js``) with its own heap limit and Node's permission model,
and answers the same protocol as the Python runner (PROTOCOL.md). math.js comes from
``js/node_modules``, installed by ``npm ci --prefix verify/grade/runners/js`` from the committed
lock file, never fetched at grading time.

Memory (measured with Node 20.20, see js/README.md): an address-space rlimit breaks V8's start-up
below about 1 GiB (it reserves address space it never touches), so this runner enforces
``limits.memory_mb`` itself (``memory_limit = "self"``): V8's heap flag
(``--max-old-space-size`` = half the limit) stops a JavaScript-heap hog, and ``RLIMIT_DATA``
(= the limit, set with util-linux ``prlimit``; V8's reservations are not counted in it) stops
ArrayBuffer/typed-array hogs, which live outside V8's heap. (Where ``prlimit`` is missing, only
the heap flag applies: util-linux is essential on Debian and Ubuntu.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from . import RUNNER_DIR, Mount, Runner

if TYPE_CHECKING:
    from ..limits import Limits

__all__ = ["JS_DIR", "MIN_DATA_MB", "MIN_NODE", "NodeRunner", "node_version"]

JS_DIR = RUNNER_DIR / "js"
"""The runner's own files: node_runner.js, node_worker.js, package(-lock).json, node_modules."""

MIN_NODE = (18, 0)
"""Oldest Node.js the runner supports (math.js 15 needs 18; the permission model needs 20)."""

_SYSTEM_PREFIXES = ("/usr/", "/lib", "/bin/")
MIN_DATA_MB = 192
"""The lowest data limit the runner sets: Node with math.js needs ~128 MiB just to start (at
64 MiB V8 aborts at start-up; at 32 MiB it was seen to hang)."""
_INSTALL_HINT = ("install Node.js (Debian/Ubuntu: apt-get install nodejs npm), then "
                 "npm ci --prefix verify/grade/runners/js")


def node_version(node: str | os.PathLike[str]) -> tuple[int, ...] | None:
    """``node --version`` as a tuple (e.g. ``(20, 20, 2)``), or None if it does not run."""
    try:
        out = subprocess.run([os.fspath(node), "--version"], capture_output=True, text=True,
                             timeout=20, env={"PATH": "/usr/bin:/bin"}).stdout.strip()
        return tuple(int(part) for part in out.lstrip("v").split("."))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


class NodeRunner(Runner):
    name = "js"  # the language id used everywhere; this runner runs it on Node.js
    extensions = (".js", ".mjs")
    memory_limit = "self"
    isolates_tasks = True
    """Each task runs under its own time budget in the runner (a hang or crash costs that task
    only; a fresh worker takes the rest), so the grader sends all of a submission's tasks to
    one child and saves the per-child start-up (two Node processes + math.js: ~0.15-0.2 s of CPU
    for CommonJS submissions, ~0.6 s for ES modules, which read every math.js function)."""

    @cached_property
    def node(self) -> Path | None:
        """The real ``node`` binary on the grader's PATH (``$VERIFY_NODE`` overrides)."""
        found = os.environ.get("VERIFY_NODE") or shutil.which("node")
        return Path(os.path.realpath(found)) if found else None

    @cached_property
    def version(self) -> tuple[int, ...] | None:
        return node_version(self.node) if self.node is not None else None

    @cached_property
    def prlimit(self) -> str | None:
        found = shutil.which("prlimit", path="/usr/bin:/bin")
        return os.path.realpath(found) if found else None

    def unavailable_reason(self) -> str | None:
        if self.node is None:
            return f"Node.js (node) is not installed on the grading machine: {_INSTALL_HINT}"
        if self.version is None:
            return f"{self.node} does not run (node --version failed): {_INSTALL_HINT}"
        if self.version[:2] < MIN_NODE:
            have = ".".join(map(str, self.version))
            want = ".".join(map(str, MIN_NODE))
            return f"Node.js {have} is too old (the runner needs {want} or newer): {_INSTALL_HINT}"
        if not (JS_DIR / "node_modules" / "mathjs" / "package.json").is_file() \
                or not (JS_DIR / "mathjs_shim" / "index.cjs").is_file():
            return ("math.js is not installed for the Node runner: run "
                    "npm ci --prefix verify/grade/runners/js (it also builds mathjs_shim/)")
        return None

    def mounts(self) -> list[Mount]:
        mounts = [Mount(JS_DIR, "runner")]
        if self.node is not None and not str(self.node).startswith(_SYSTEM_PREFIXES):
            # e.g. nvm's ~/.nvm/versions/node/vX/bin/node: its whole install, at the same path
            prefix = self.node.parent.parent if self.node.parent.name == "bin" else self.node.parent
            mounts.append(Mount(prefix, str(prefix)))
        return mounts

    def command(self, root: str, submission: str, limits: Limits) -> list[str]:
        node = str(self.node or "node")
        argv = [node, "--max-old-space-size=256", "--v8-pool-size=1",
                f"{root}/runner/node_runner.js", f"--wall-s={limits.wall_s:g}",
                f"--memory-mb={int(limits.memory_mb)}", "--", submission]
        if self.prlimit is not None:  # per process: the supervisor and the worker each
            data_mb = max(int(limits.memory_mb), MIN_DATA_MB)
            argv = [self.prlimit, f"--data={data_mb << 20}", "--", *argv]
        return argv

    def env(self, root: str, limits: Limits) -> dict[str, str]:
        return {"UV_THREADPOOL_SIZE": "1"}
