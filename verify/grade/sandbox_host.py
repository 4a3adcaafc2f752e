"""The machine: the sandbox modes, what it lets the sandbox apply (measured), constants, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, Literal, TypeVar

from .isolation import UidLease, interpreter_env

SandboxMode = Literal["bwrap", "rlimits"]


SANDBOX_MODES = ("auto", "bwrap", "rlimits")


ENV_MODE = "VERIFY_GRADE_SANDBOX"
"""Environment variable that forces a mode (``bwrap``, ``rlimits`` or ``auto``)."""


_LAUNCHER = Path(__file__).resolve().parent / "_launcher.py"


_SANDBOX_ROOT = "/opt/verify"


_SANDBOX_CWD = "/sandbox"


_NOBODY = 65534


_BASE_RO = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
            "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")


_FALLBACK_RO = ("/etc/ssl/openssl.cnf",)
"""Read also in the fallback: Node reads OpenSSL's configuration at start-up and stops on a
"permission denied" (bubblewrap does not mount it: "not found" is fine)."""


_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")


class SandboxRefused(RuntimeError):
    """The sandbox cannot be made safe for untrusted code on this machine: the message says
    what is missing and what to do (raised before any child starts)."""


RUNTIME_BROKEN_EXIT = 86
"""python_runner.py's exit status when numpy cannot be imported before the student's code runs
(``RUNTIME_BROKEN`` there: the runner is a standalone script and cannot import this)."""
_RUNTIME_BROKEN_LINE = re.compile(r"verify-grade runner: numpy cannot be imported[^\n]*")


class SandboxError(RuntimeError):
    """A child's sandbox could not be set up (a protection the grader requires could not be
    applied, a runtime could not be provided): a fault of the grading machine, never of the
    submission."""


@dataclass
class ChildOutcome:
    """What came back from one child. ``response`` is the parsed fd-3 document of a runner
    that answers at the end (or None); ``events`` the lines of a streaming one; ``problem``
    says in words why there is no (valid) response or what limit was hit. ``output`` is what
    the child printed (the first ``output_bytes``; ``output_dropped`` bytes more were not kept);
    ``stopped``: a :class:`Watch` deadline passed and the grader stopped the child.
    ``isolation``: the mode, the uid the child ran as and the protections in force
    (:func:`protections`)."""

    response: dict[str, Any] | None
    problem: str | None
    output: str
    output_dropped: int
    exit_code: int | None
    signal: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float
    mode: SandboxMode
    events: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    supervisor_lost: bool = False
    garbage: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] = field(default_factory=dict)


def _root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class Capabilities:
    """What this machine lets the sandbox apply, measured (not configured): the Landlock ABI
    (0: none), why seccomp cannot be used (None: it can), the ``pids`` cgroup the grader can
    make children's cgroups in (None: none, ``cgroup_why`` says why)."""

    root: bool
    landlock_abi: int
    seccomp: str | None
    cgroup: str | None
    cgroup_why: str | None


_T = TypeVar("_T")


def _once(probe: Callable[[], _T]) -> Callable[[], _T]:
    """``probe``, run once per process however many threads ask at the same moment.

    ``functools.lru_cache`` alone may run it once per thread that asks before the first call
    returns (its documentation says so). These probes make cgroups and start children, and a
    grading starts its children from two threads: the two ``capabilities()`` probes tried the
    same cgroup name, one failed ("File exists"), and its answer, no pids cgroup, was kept for
    the process's every child (1 grading process in 36 on a loaded machine). The result keeps
    ``cache_clear`` and ``__wrapped__`` (the probe itself, uncached)."""
    cached = lru_cache(maxsize=1)(probe)
    lock = threading.RLock()

    @wraps(probe)
    def once() -> _T:
        with lock:
            return cached()

    once.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return once


def _launcher_python() -> str:
    base = getattr(sys, "_base_executable", None)  # a venv's python is a link to it
    return os.path.realpath(base) if base else sys.executable


@_once
def capabilities() -> Capabilities:
    """Measured once per process (the launcher's self-test: ~30 ms)."""
    try:
        out = subprocess.run([_launcher_python(), "-I", "-S", "-B", str(_LAUNCHER), "--self-test"],
                             capture_output=True, timeout=30, env=interpreter_env())
        if out.returncode != 0:
            # Said as it is: a launcher that cannot run is not "Landlock not available".
            err = out.stderr.decode(errors="replace").strip().splitlines()
            raise ValueError(f"exit code {out.returncode}: {err[-1] if err else 'no message'}")
        found = json.loads(out.stdout.decode() or "{}")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        found = {"landlock": 0, "seccomp": f"the launcher's self-test failed ({exc})"}
    cgroup, why = _pids_cgroup()
    return Capabilities(_root(), int(found.get("landlock") or 0),
                        found.get("seccomp") if "seccomp" in found else "not tested",
                        cgroup, why)


def _pids_cgroup() -> tuple[str | None, str | None]:
    """A ``pids`` cgroup the grader may create children's cgroups in, or (None, why not)."""
    if not _root():
        return None, "needs root"
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError as exc:
        return None, f"/proc/self/cgroup: {exc.strerror}"
    parent = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):  # cgroup v1
            parent = f"/sys/fs/cgroup/pids{path.rstrip('/')}"
            break
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():  # v2
            candidate = f"/sys/fs/cgroup{path.rstrip('/')}"
            try:
                if "pids" in Path(candidate, "cgroup.subtree_control").read_text().split():
                    parent = candidate
            except OSError:
                pass
    if parent is None:
        return None, "no pids controller this process may use (cgroup v2 delegates none here)"
    # The pid and a random part: unique even beside another thread's or PID namespace's probe.
    test = Path(parent, f"verify-grade-test-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        test.mkdir()
        try:
            Path(test, "pids.max").write_text("8")
        finally:
            test.rmdir()
    except OSError as exc:
        return None, f"{parent}: {exc.strerror}"
    return parent, None


def _bwrap_base_args() -> list[str]:
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    for path in _BASE_RO:
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--uid", str(_NOBODY), "--gid", str(_NOBODY), "--cap-drop", "ALL"]
    return args


@_once
def bwrap_unavailable_reason() -> str | None:
    """Why bubblewrap cannot be used here (not installed, namespaces refused), or None. When
    the grader is root, bubblewrap is tried as a uid of the children's own, as it will run."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    argv = [exe, *_bwrap_base_args(), "--", "/bin/true"]
    try:
        if _root():
            lease = UidLease()
            try:
                status = _run_launcher(argv, {"uid": lease.uid, "gid": lease.uid}, timeout=20)
            finally:
                lease.release()
            if status.get("exit_code") != 0:
                err = status.get("output", "").strip().splitlines()
                return ("bubblewrap cannot create namespaces as an unprivileged uid here: "
                        f"{err[-1] if err else status}")
            return None
        proc = subprocess.run(argv, capture_output=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot create namespaces here: {err[-1] if err else proc.returncode}"
    return None


def _run_launcher(argv: list[str], extra: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``argv`` through the launcher (no sandboxing beyond ``extra``); its status report
    plus ``output`` (what it printed)."""
    status_r, status_w = os.pipe()
    result_r, result_w = os.pipe()
    config = {"result_fd": result_w, "status_fd": status_w, "rlimits": {}, "wall_s": timeout,
              "cwd": "/", "env": {"PATH": "/usr/bin:/bin"}, **extra}
    try:
        proc = subprocess.run([_launcher_python(), "-I", "-S", "-B", str(_LAUNCHER),
                               json.dumps(config), "--", *argv],
                              pass_fds=(status_w, result_w), capture_output=True,
                              timeout=timeout + 10, env=interpreter_env(), cwd="/")
    finally:
        os.close(status_w)
        os.close(result_w)
        os.close(result_r)
    sink: dict[str, Any] = {}
    _read_capped(status_r, 65536, sink)
    try:
        status = json.loads(sink.get("data", b"").decode() or "{}")
    except ValueError:
        status = {}
    status["output"] = (proc.stdout + proc.stderr).decode(errors="replace")
    return dict(status)


def available_modes() -> dict[str, str | None]:
    """Each concrete mode with the reason it is unavailable (None: usable)."""
    return {"bwrap": bwrap_unavailable_reason(), "rlimits": None}


def resolve_mode(requested: str | None = None) -> SandboxMode:
    """``auto`` (default; or ``$VERIFY_GRADE_SANDBOX``) picks bwrap where it works, else rlimits.

    Asking for ``bwrap`` where it cannot work is an error that says why.
    """
    mode = (requested or os.environ.get(ENV_MODE) or "auto").strip().lower()
    if mode not in SANDBOX_MODES:
        raise ValueError(f"unknown sandbox {mode!r}; expected one of {', '.join(SANDBOX_MODES)}")
    if mode == "auto":
        return "bwrap" if bwrap_unavailable_reason() is None else "rlimits"
    if mode == "bwrap":
        reason = bwrap_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"--sandbox bwrap is not usable: {reason}; use --sandbox rlimits")
    return mode  # type: ignore[return-value]


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _read_capped(fd: int, cap: int, sink: dict[str, Any]) -> None:
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            size += len(data)
            if size > cap:
                sink["overflow"] = True
                break
            chunks.append(data)
    finally:
        os.close(fd)
    sink["data"] = b"".join(chunks)
