"""Process helpers shared by the sandbox tests."""

from __future__ import annotations

import os
import shutil
import site
import sys
import tempfile
from pathlib import Path


def survivors(marker: str) -> list[int]:
    """PIDs (other than this one) whose command line mentions ``marker``."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                pass
    return pids


def marked_copy(source: Path, corpus_marker: str, marker: str, folder: Path) -> Path:
    """A copy of ``source`` in ``folder`` (made if missing) with every ``corpus_marker``
    replaced by ``marker``: a detached process the file starts then carries a marker of the
    test's own, which another test grading the same file at this moment cannot share."""
    text = source.read_text()
    assert corpus_marker in text, f"{source.name} no longer holds {corpus_marker}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / source.name
    path.write_text(text.replace(corpus_marker, marker))
    return path


REPO = Path(__file__).resolve().parents[1]
ORDINARY_UID = 61001
"""The uid tests run the grader as, to see it as an ordinary user would (not in the children's
pool, 62000-62999)."""


def grade_cli(*args: str) -> list[str]:
    """argv of ``python -m verify grade ARGS`` with this interpreter, as this user."""
    return [sys.executable, "-m", "verify", "grade", *args]


def denying(groups: str, argv: list[str]) -> list[str]:
    """``argv`` run with the system calls of ``groups`` refused (tests/deny_syscalls.py)."""
    return [sys.executable, str(REPO / "tests" / "deny_syscalls.py"), groups, "--", *argv]


def ordinary_user() -> tuple[list[str], dict[str, str]] | str:
    """(argv prefix, environment) that run ``python -m verify grade`` as :data:`ORDINARY_UID`, or
    why that is not possible here (needs root and setpriv; the interpreter, this checkout and
    its site-packages readable by that uid, or a readable copy of the interpreter)."""
    if os.geteuid() != 0:
        return "needs root, to run the grader as another user"
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return "needs setpriv (util-linux)"
    from verify.grade.isolation import reachable, runtime_copy

    exe = Path(os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable))
    prefix = Path(os.path.realpath(sys.base_prefix))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    if not reachable(exe):
        copy = runtime_copy(prefix)
        exe = copy / exe.relative_to(prefix)
        env["LD_LIBRARY_PATH"] = str(copy / "lib")
    sites = [p for p in site.getsitepackages() if Path(p).is_dir()]
    if not reachable(REPO) or not all(reachable(p) for p in sites):
        return f"{REPO} or its site-packages cannot be read by other users"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *sites])
    return [setpriv, f"--reuid={ORDINARY_UID}", f"--regid={ORDINARY_UID}", "--clear-groups",
            str(exe), "-m", "verify", "grade"], env


def shared_folder(prefix: str) -> Path:
    """A fresh folder every user can read (for a grader run as an ordinary user), under
    /var/tmp; the caller removes it."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp" if os.path.isdir("/var/tmp")
                                 else None))
    path.chmod(0o755)
    return path
